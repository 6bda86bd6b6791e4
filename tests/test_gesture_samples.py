"""Site calibration: recording gesture samples and retraining the site model (real trainer).

The recorded landmarks are real YMCA rows (landmarks from a real video, placed into 33-row
MediaPipe arrays), and frames for ``landmarks_from_image_bytes`` are real photos.
"""

from __future__ import annotations

import hashlib
import json

import cv2
import numpy as np
import pytest
from gesture_helpers import GESTURE_DATA, heldout_rows, landmarks_from_arms

from kiosk.errors import InvalidInput, UnprocessableImage
from kiosk.models import GestureSample
from kiosk.services import gesture_samples
from kiosk.vision import gestures as g


def _m_rows() -> np.ndarray:
    """Steady held-out "hands on the head" rows, which the shipped model reads as idle."""
    labels, arms, steady = heldout_rows()
    return arms[(labels == "M") & steady]


def test_record_sample_stores_landmarks_with_the_frame_size(app):
    landmarks = landmarks_from_arms(_m_rows()[0], (1280, 720))
    sample = gesture_samples.record_sample("idle", landmarks)
    stored = json.loads(sample.landmarks_json)
    assert stored["image_size"] == [1280, 720] and len(stored["landmarks"]) == 33
    assert gesture_samples.sample_counts() == {"O": 0, "X": 0, "capture": 0, "idle": 1}
    # The JSON a browser would post (x, y, visibility rows) is accepted too.
    gesture_samples.record_sample("O", {"landmarks": landmarks.array[:, [0, 1, 3]].tolist(), "image_size": [1280, 720]})
    assert gesture_samples.sample_counts()["O"] == 1


@pytest.mark.parametrize(
    "label, payload, code",
    [
        ("yes", None, "bad_label"),
        ("O", [[0.1, 0.2]] * 5, "bad_landmarks"),
        ("O", "{not json", "bad_landmarks"),
        ("O", "hidden", "arms_not_visible"),
    ],
)
def test_bad_samples_are_refused(app, label, payload, code):
    if payload is None:
        payload = landmarks_from_arms(_m_rows()[0], (1280, 720))
    elif payload == "hidden":
        payload = landmarks_from_arms(_m_rows()[0], (1280, 720), visibility=0.2)
    with pytest.raises(InvalidInput) as err:
        gesture_samples.record_sample(label, payload)
    assert err.value.code == code
    assert gesture_samples.sample_counts() == {"O": 0, "X": 0, "capture": 0, "idle": 0}


@pytest.mark.models
def test_landmarks_from_a_real_frame_and_refusals(app):
    frame = (GESTURE_DATA / "obama_folded_arms_2.jpg").read_bytes()
    landmarks = gesture_samples.landmarks_from_image_bytes(frame)
    assert landmarks.array.shape == (33, 4)
    blank = cv2.imencode(".jpg", np.full((480, 640, 3), 128, np.uint8))[1].tobytes()
    with pytest.raises(UnprocessableImage) as nobody:
        gesture_samples.landmarks_from_image_bytes(blank)
    assert nobody.value.code == "no_person"
    with pytest.raises(UnprocessableImage) as broken:
        gesture_samples.landmarks_from_image_bytes(frame[: len(frame) // 2])
    assert broken.value.code == "bad_image"


def test_retraining_without_samples_is_refused(app):
    with pytest.raises(InvalidInput) as err:
        gesture_samples.retrain_from_site_samples()
    assert err.value.code == "no_samples"


def test_site_samples_retrain_the_model_the_kiosk_uses(app, data_dir):
    """A site decides that hands on the head means yes: 25 recorded samples move the boundary."""
    m_rows = _m_rows()
    recorded, unseen = m_rows[0::2][:25], m_rows[1::2]  # the rows in between are never recorded
    landmarks = [landmarks_from_arms(arms, (1280, 720)) for arms in unseen]
    before = [g.classify(lm).gesture for lm in landmarks]
    assert np.mean(np.array(before) == "idle") >= 0.95
    default_hash = hashlib.sha256(g.default_model_path().read_bytes()).hexdigest()

    for arms in recorded:
        gesture_samples.record_sample("O", landmarks_from_arms(arms, (1280, 720)))
    stages = []
    result = gesture_samples.retrain_from_site_samples(progress=lambda f, s: stages.append((f, s)))

    assert result["site_samples"] == {"O": 25, "X": 0, "capture": 0, "idle": 0}
    assert (data_dir / "models" / "gesture.joblib").is_file()
    assert stages and stages[-1][0] > stages[0][0]
    after = [g.classify(lm).gesture for lm in landmarks]
    assert np.mean(np.array(after) == "O") >= 0.9, after  # rows that were not recorded
    assert gesture_samples.model_info()["source"] == "site"
    # The other poses are still read as before, and the shipped model is untouched.
    assert result["ymca_heldout_steady"]["A->O"] >= 0.95
    assert result["ymca_heldout_steady"]["Y->capture"] >= 0.95
    assert result["ymca_heldout_steady"]["dance->idle"] >= 0.95 and result["warnings"] == []
    assert hashlib.sha256(g.default_model_path().read_bytes()).hexdigest() == default_hash

    assert gesture_samples.delete_samples() == 25
    assert gesture_samples.remove_site_model() is True
    assert gesture_samples.model_info()["source"] == "default"
    assert g.classify(landmarks[0]).gesture == "idle"
    assert app.extensions["sqlalchemy"].session.query(GestureSample).count() == 0
