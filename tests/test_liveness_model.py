"""The passive liveness model (MiniFASNet in cv2.dnn) on real images: upstream's live and spoof
samples (tests/data/liveness, SOURCES.csv there) and the project's own test photos."""

from __future__ import annotations

import csv
import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from kiosk.vision.faces import detect_faces
from kiosk.vision.image import load_image
from kiosk.vision.lazy import ModelUnavailable
from kiosk.vision.liveness import (
    DEFAULT_FRAME_THRESHOLD,
    MODEL_FILES,
    PassiveLiveness,
    crop_box,
    passive_liveness,
)

pytestmark = pytest.mark.models  # real models: make test-fast skips these

SAMPLE = Path(__file__).resolve().parent / "data" / "liveness"
MODELS = Path(__file__).resolve().parent.parent / "models" / "liveness"


def _sample_rows() -> list[dict]:
    with open(SAMPLE / "SOURCES.csv", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="session")
def liveness_model() -> PassiveLiveness:
    model = passive_liveness()
    model.warm_up()
    return model


@pytest.fixture(scope="session")
def sample_scores(liveness_model) -> dict[str, list[float]]:
    scores: dict[str, list[float]] = {"real": [], "fake": []}
    for row in _sample_rows():
        bgr = load_image(SAMPLE / row["file"])
        faces = detect_faces(bgr)
        assert faces, row["file"]
        scores[row["label"]].append(liveness_model.predict(bgr, faces[0].box))
    return scores


def test_live_sample_scores_higher_than_spoof_sample(sample_scores):
    assert sample_scores["real"] and sample_scores["fake"]
    assert np.mean(sample_scores["real"]) > np.mean(sample_scores["fake"]) + 0.5, sample_scores
    assert min(sample_scores["real"]) >= DEFAULT_FRAME_THRESHOLD


def test_scores_are_between_0_and_1(sample_scores, liveness_model):
    for score in sample_scores["real"] + sample_scores["fake"]:
        assert 0.0 <= score <= 1.0
    bgr = load_image(SAMPLE / _sample_rows()[0]["file"])
    # A box at the image edge or bigger than the image still gives a score (the crop slides inside).
    for box in [(0, 0, 5, 5), (bgr.shape[1] - 3, bgr.shape[0] - 3, 3, 3), (0, 0, bgr.shape[1], bgr.shape[0])]:
        assert 0.0 <= liveness_model.predict(bgr, box) <= 1.0
    probabilities = liveness_model.class_probabilities(bgr, detect_faces(bgr)[0].box)
    assert probabilities.shape == (2, 3) and np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_crop_follows_upstream_rule():
    # 2.7x a 100 px box centred at (150, 150) in a 640x480 image: 270 px, inside the image.
    assert crop_box(640, 480, (100, 100, 100, 100), 2.7) == (15, 15, 285, 285)
    # Near the top-left corner the square slides inside rather than being padded.
    assert crop_box(640, 480, (0, 0, 100, 100), 2.7) == (0, 0, 270, 270)
    # Too big for the image: the scale shrinks to what fits ((480 - 1) / 150), the square stays square.
    x0, y0, x1, y1 = crop_box(640, 480, (245, 165, 150, 150), 4.0)
    assert (y0, y1) == (0, 479) and x1 - x0 == 479


def test_sample_files_match_sources():
    for row in _sample_rows():
        assert hashlib.sha256((SAMPLE / row["file"]).read_bytes()).hexdigest() == row["sha256"], row["file"]


def test_onnx_files_match_the_model_card():
    card = (MODELS / "MODEL_CARD.md").read_text()
    for name in MODEL_FILES:
        assert hashlib.sha256((MODELS / name).read_bytes()).hexdigest() in card, name


def test_missing_model_file_is_a_clear_error(tmp_path):
    shutil.copy(MODELS / "minifasnet_v2.onnx", tmp_path)  # the other one is missing
    with pytest.raises(ModelUnavailable, match="minifasnet_v1se.onnx") as caught:
        PassiveLiveness(tmp_path).predict(np.zeros((120, 160, 3), np.uint8), (40, 30, 60, 60))
    assert "export_minifasnet.py" in str(caught.value)


def test_corrupt_model_file_is_a_clear_error(tmp_path):
    for name in MODEL_FILES:
        (tmp_path / name).write_bytes(b"not an onnx file")
    with pytest.raises(ModelUnavailable, match="minifasnet_v2.onnx"):
        PassiveLiveness(tmp_path).warm_up()


def test_rejects_non_images(liveness_model):
    with pytest.raises(ValueError):
        liveness_model.predict(np.zeros((10, 10), np.uint8), (0, 0, 5, 5))


def test_two_kiosks_frames_are_scored_at_once_and_every_lane_scores_alike(monkeypatch):
    """A pair of networks per lane (issue 26): one kiosk's frame is scored while another holds a
    lane, and each lane gives the same score."""
    import threading

    monkeypatch.setenv("KIOSK_MODEL_LANES", "2")
    model = PassiveLiveness()
    row = _sample_rows()[0]
    bgr = load_image(SAMPLE / row["file"])
    box = detect_faces(bgr)[0].box
    model.warm_every_lane(bgr, box)
    assert len(model.model) == 2
    scores = [model.predict(bgr, box), model.predict(bgr, box)]  # free lanes are taken in turn
    assert scores[0] == pytest.approx(scores[1], abs=1e-6)
    found: list[float] = []
    with model.model.take():  # another kiosk's frame holds one lane
        thread = threading.Thread(target=lambda: found.append(model.predict(bgr, box)), daemon=True)
        thread.start()
        thread.join(timeout=60)
        assert not thread.is_alive() and found[0] == pytest.approx(scores[0], abs=1e-6)
