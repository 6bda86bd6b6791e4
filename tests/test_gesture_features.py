"""Gesture features and the visibility gate (no MediaPipe here: landmarks only).

The skeletons are real YMCA rows (tests/data/gestures/ymca_heldout.csv, landmarks from real
video, not pixels) or simple hand-made arm positions where a test needs an exact geometry.
"""

from __future__ import annotations

import numpy as np
import pytest
from gesture_helpers import heldout_rows, landmarks_from_arms

from kiosk.vision import gestures as g
from kiosk.vision.pose import ARM_LANDMARKS, PoseLandmarks


def test_features_invariant_to_translation_and_scale():
    _, arms, _ = heldout_rows()
    sample = arms[::25]
    base = g.gesture_features(sample)
    rng = np.random.default_rng(0)
    for _ in range(5):
        scale = rng.uniform(0.2, 5.0)
        shift = rng.uniform(-3, 3, size=2)
        moved = g.gesture_features(sample * scale + shift)
        np.testing.assert_allclose(moved, base, atol=1e-9)


def test_features_change_with_the_pose():
    """The invariance test above must not pass because the features ignore everything."""
    labels, arms, _ = heldout_rows()
    o_pose = g.gesture_features(arms[labels == "A"][0])
    v_pose = g.gesture_features(arms[labels == "Y"][0])
    assert np.abs(o_pose - v_pose).max() > 0.5
    # Up is up: turning the skeleton upside down is a different pose.
    upside_down = arms[labels == "A"][0] * np.array([1.0, -1.0])
    assert np.abs(g.gesture_features(upside_down) - o_pose).max() > 0.5


def test_features_do_not_depend_on_left_right_labels():
    """MediaPipe now and then swaps left and right; the canonical order undoes it."""
    _, arms, _ = heldout_rows()
    swapped = arms[:, [1, 0, 3, 2, 5, 4], :]
    np.testing.assert_allclose(g.gesture_features(swapped), g.gesture_features(arms), atol=1e-9)


def test_arm_points_are_true_to_the_scene_whatever_the_frame_shape():
    """The same body seen in a 4:3 and a 16:9 frame gives the same features."""
    _, arms, _ = heldout_rows()
    skeleton = arms[0] - arms[0].min(axis=0) + 0.1  # isotropic units, inside the frame
    features = []
    for width, height in ((640, 480), (1280, 720), (480, 640)):
        lm = landmarks_from_arms(skeleton * 0.5, (width, height))
        features.append(g.gesture_features(lm.arm_points()))
    np.testing.assert_allclose(features[0], features[1], atol=1e-6)
    np.testing.assert_allclose(features[0], features[2], atol=1e-6)


def test_a_hidden_wrist_is_idle_without_asking_the_classifier():
    labels, arms, _ = heldout_rows()
    o_skeleton = arms[labels == "A"][0]
    lm = landmarks_from_arms(o_skeleton, (1280, 720))
    assert g.visibility_problem(lm) is None
    hidden = lm.array.copy()
    hidden[ARM_LANDMARKS[4], 3] = 0.1  # left wrist barely visible
    prediction = g.GestureClassifier(g.default_model_path()).predict(PoseLandmarks(hidden, lm.image_size))
    assert prediction.gesture == "idle" and prediction.reason == "arms_not_visible"
    outside = lm.array.copy()
    outside[ARM_LANDMARKS[5], 1] = -0.2  # right wrist above the top of the frame
    assert g.visibility_problem(PoseLandmarks(outside, lm.image_size)) == "arms_out_of_frame"


def test_payload_forms_round_trip():
    labels, arms, _ = heldout_rows()
    lm = landmarks_from_arms(arms[0], (1280, 720))
    again = PoseLandmarks.from_json(lm.to_json())
    np.testing.assert_allclose(again.array, lm.array, atol=1e-5)
    assert again.image_size == (1280, 720)
    xyv = PoseLandmarks.from_payload({"landmarks": lm.array[:, [0, 1, 3]].tolist(), "image_size": [1280, 720]})
    np.testing.assert_allclose(xyv.array[:, [0, 1, 3]], lm.array[:, [0, 1, 3]])
    with pytest.raises(ValueError):
        PoseLandmarks.from_payload([[0.1, 0.2]] * 10)
    with pytest.raises(ValueError):
        PoseLandmarks.from_payload({"landmarks": [["a", "b"]] * 33})
