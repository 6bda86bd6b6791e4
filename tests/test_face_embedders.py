"""The embedders: dlib on real photos; FaceNet's real loading and inference path on made-up weights of
the right shape (the real file cannot be downloaded here); ``kiosk models fetch facenet``'s failure
message and sha256 check, with local files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from kiosk.vision import embedders
from kiosk.vision.embedders import (
    DlibEmbedder,
    FaceNetEmbedder,
    FetchFailed,
    fetch_facenet_weights,
    get_embedder,
    install_weights,
    resolve_embedder_name,
)
from kiosk.vision.faces import analyze_frame, canonical_crop
from kiosk.vision.image import load_image
from kiosk.vision.lazy import ModelUnavailable

FACES = Path(__file__).resolve().parent / "data" / "faces"


def crop_of(path: Path) -> np.ndarray:
    image = load_image(path)
    return canonical_crop(image, analyze_frame(image).face)


@pytest.fixture(scope="module")
def crops() -> dict[str, np.ndarray]:
    return {
        "obama1": crop_of(FACES / "fr_obama" / "1.jpg"),
        "obama2": crop_of(FACES / "fr_obama" / "2.jpg"),
        "biden": crop_of(FACES / "fr_biden" / "1.jpg"),
        "powell": crop_of(FACES / "lfw_Colin_Powell" / "1.jpg"),
    }


@pytest.fixture(scope="session")
def made_up_facenet_weights(tmp_path_factory) -> Path:
    """Randomly initialised InceptionResNetV1 weights saved in keras-facenet's file layout."""
    from kiosk.benchmarks.faces import write_made_up_facenet_weights

    folder = tmp_path_factory.mktemp("models") / "facenet"
    return write_made_up_facenet_weights(folder / embedders.FACENET_WEIGHTS_FILENAME)


def test_dlib_embeddings_separate_people(crops):
    dlib = get_embedder("dlib")
    assert isinstance(dlib, DlibEmbedder) and dlib is get_embedder("dlib")
    vectors = dlib.embed_crops([crops["obama1"], crops["obama2"], crops["biden"], crops["powell"]])
    assert vectors.shape == (4, 128) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    same = np.linalg.norm(vectors[0] - vectors[1])
    assert same < 0.4
    assert np.linalg.norm(vectors[0] - vectors[2]) > same + 0.1
    assert np.linalg.norm(vectors[0] - vectors[3]) > same + 0.1
    assert dlib.embed_crops([]).shape == (0, 128)


def test_embed_from_the_frame_equals_embed_from_the_crop(crops):
    image = load_image(FACES / "fr_obama" / "1.jpg")
    face = analyze_frame(image).face
    dlib = get_embedder("dlib")
    assert np.allclose(dlib.embed(image, [face]), dlib.embed_crops([crops["obama1"]]), atol=1e-5)


def test_auto_means_facenet_only_when_its_weights_are_there(app, tmp_path):
    app.config["KIOSK_MODELS_DIR"] = str(tmp_path)
    assert resolve_embedder_name("auto") == "dlib"
    app.config["KIOSK_EMBEDDER"] = "auto"
    assert resolve_embedder_name() == "dlib"
    (tmp_path / "facenet").mkdir()
    (tmp_path / "facenet" / embedders.FACENET_WEIGHTS_FILENAME).write_bytes(b"weights")
    assert resolve_embedder_name() == "facenet"
    app.config["KIOSK_EMBEDDER"] = "dlib"
    assert resolve_embedder_name() == "dlib"
    with pytest.raises(ValueError, match="KIOSK_EMBEDDER"):
        resolve_embedder_name("openface")


def test_facenet_path_with_made_up_weights(made_up_facenet_weights, crops):
    facenet = FaceNetEmbedder(weights_path=made_up_facenet_weights)
    vectors = facenet.embed_crops([crops["obama1"], crops["biden"]])
    assert vectors.shape == (2, 512) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # Deterministic, and batching does not change a face's embedding.
    again = facenet.embed_crops([crops["biden"]])
    assert np.allclose(again[0], vectors[1], atol=1e-4)
    # The network is the real InceptionResNetV1 with the weights from that file.
    model, _ = facenet.model
    assert model.count_params() > 20_000_000 and model.output_shape[-1] == 512


def test_facenet_preprocessing_is_rgb_and_standardised(crops):
    batch = FaceNetEmbedder.preprocess(crops["obama1"])
    assert batch.shape == (160, 160, 3) and batch.dtype == np.float32
    assert -1.0 <= batch.min() and batch.max() <= 1.0
    blue_bgr = np.zeros((224, 224, 3), np.uint8)
    blue_bgr[..., 0] = 255
    rgb = FaceNetEmbedder.preprocess(blue_bgr)
    assert np.allclose(rgb[..., 2], 1.0) and np.allclose(rgb[..., 0], -1.0)


def test_missing_or_damaged_facenet_weights_are_explained(tmp_path):
    with pytest.raises(ModelUnavailable, match="kiosk models fetch facenet"):
        FaceNetEmbedder(weights_path=tmp_path / "none.h5").embed_crops([np.zeros((224, 224, 3), np.uint8)])
    broken = tmp_path / "broken.h5"
    broken.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    with pytest.raises(ModelUnavailable, match="could not be loaded"):
        FaceNetEmbedder(weights_path=broken).warm_up()


def test_fetch_uses_keras_facenets_url_and_sha256():
    from keras_facenet.metadata import MODEL_METADATA

    meta = MODEL_METADATA[embedders.FACENET_KEY]
    assert embedders.FACENET_WEIGHTS_URL == meta["keras_weights_url"]
    assert embedders.FACENET_WEIGHTS_SHA256 == meta["keras_weights_sha256"]
    assert embedders.FACENET_WEIGHTS_FILENAME == meta["keras_weights_filename"]
    assert meta["dimensions"] == embedders.FACENET_DIM and meta["image_size"] == embedders.FACENET_IMAGE_SIZE
    assert meta["fixed_image_standardization"] is True  # hence (x - 127.5) / 127.5 in preprocess()


def test_fetch_without_network_fails_with_a_clear_message(tmp_path):
    destination = tmp_path / "facenet" / embedders.FACENET_WEIGHTS_FILENAME
    # Port 9 (discard) on localhost is closed here: the same failure as no internet, but instant.
    with pytest.raises(FetchFailed) as caught:
        fetch_facenet_weights(destination, url="http://127.0.0.1:9/20180402-114759-weights.h5", timeout=5)
    message = str(caught.value)
    assert "Could not download the FaceNet weights" in message
    assert "--from FILE" in message and embedders.FACENET_WEIGHTS_SHA256 in message
    assert not destination.exists() and list(destination.parent.iterdir()) == []


def test_fetch_checks_the_sha256(tmp_path):
    source = tmp_path / "download.h5"
    source.write_bytes(b"pretend weights")
    right = hashlib.sha256(b"pretend weights").hexdigest()
    destination = tmp_path / "models" / "facenet" / embedders.FACENET_WEIGHTS_FILENAME
    with pytest.raises(FetchFailed, match="not the expected file"):
        fetch_facenet_weights(destination, url=source.as_uri())  # keras-facenet's sha256: no match
    assert not destination.exists()
    assert fetch_facenet_weights(destination, url=source.as_uri(), sha256=right) == destination
    assert destination.read_bytes() == b"pretend weights"
    with pytest.raises(FetchFailed, match="not the expected file"):
        install_weights(source, destination, "0" * 64)


def test_models_fetch_command(app, runner, tmp_path):
    app.config["KIOSK_MODELS_DIR"] = str(tmp_path / "models")
    offline = runner.invoke(args=["models", "fetch", "facenet", "--url", "http://127.0.0.1:9/w.h5", "--timeout", "5"])
    assert offline.exit_code != 0
    assert "Could not download the FaceNet weights" in offline.output
    wrong = tmp_path / "wrong.h5"
    wrong.write_bytes(b"not the weights")
    refused = runner.invoke(args=["models", "fetch", "facenet", "--from", str(wrong)])
    assert refused.exit_code != 0 and "not the expected file" in refused.output
    assert not (tmp_path / "models" / "facenet" / embedders.FACENET_WEIGHTS_FILENAME).exists()


def test_training_with_facenet_re_embeds_and_identification_follows(trained_app, made_up_facenet_weights):
    """KIOSK_EMBEDDER=auto with FaceNet weights present: training re-embeds every stored crop with
    FaceNet, and identification then uses FaceNet too (made-up weights: who is named means nothing,
    the path is what is tested)."""
    from sqlalchemy import select

    from kiosk.extensions import db
    from kiosk.models import FaceSample
    from kiosk.services import recognition

    trained_app.config["KIOSK_MODELS_DIR"] = str(made_up_facenet_weights.parent.parent)
    trained_app.config["KIOSK_EMBEDDER"] = "auto"
    embedders.reset_embedders()
    try:
        summary = recognition.train_faces()
        assert summary["embedder"] == "facenet"
        assert summary["re_embedded"] == summary["samples"] > 0
        for sample in db.session.scalars(select(FaceSample)):
            assert sample.embedder == "facenet" and sample.embedding_array().shape == (512,)
        result = recognition.identify_image(load_image(FACES / "lfw_Colin_Powell" / "5.jpg"))
        assert result.status in ("ok", "unknown") and result.score is not None
        assert recognition.get_recognizer().model().embedder == "facenet"
    finally:
        embedders.reset_embedders()
