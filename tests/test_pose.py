"""The MediaPipe pose wrapper on real photos (tests/data/gestures, sources in SOURCES.csv).

One static estimator (the process-wide one) and one tracking estimator are shared by the
whole module, so MediaPipe is loaded once.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from gesture_helpers import GESTURE_DATA

from kiosk.vision.image import load_image
from kiosk.vision.pose import (
    LEFT_SHOULDER,
    NOSE,
    RIGHT_SHOULDER,
    PoseEstimator,
    PoseLandmarks,
    static_pose_estimator,
)

pytestmark = pytest.mark.models  # real models: make test-fast skips these


@pytest.fixture(scope="module")
def static():
    return static_pose_estimator()


@pytest.fixture(scope="module")
def person() -> np.ndarray:
    return load_image(GESTURE_DATA / "obama_folded_arms_2.jpg")


def nobody_images() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    wall = np.full((480, 640, 3), (182, 190, 201), np.float32) + rng.normal(0, 3, (480, 640, 3))
    return {
        "black": np.zeros((480, 640, 3), np.uint8),
        "white": np.full((480, 640, 3), 255, np.uint8),
        "noise": rng.integers(0, 256, (480, 640, 3), dtype=np.uint8),
        "wall": wall.clip(0, 255).astype(np.uint8),
    }


def test_static_landmarks_of_a_real_photo(static, person):
    landmarks = static.estimate(person)
    assert isinstance(landmarks, PoseLandmarks)
    assert landmarks.array.shape == (33, 4)
    height, width = person.shape[:2]
    assert landmarks.image_size == (width, height)
    assert landmarks.is_visible(NOSE) and landmarks.is_visible(LEFT_SHOULDER) and landmarks.is_visible(RIGHT_SHOULDER)
    # The person faces the camera: their left shoulder is on the image's right, below the nose.
    pixels = landmarks.pixels()
    assert pixels[LEFT_SHOULDER, 0] > pixels[NOSE, 0] > pixels[RIGHT_SHOULDER, 0]
    assert pixels[NOSE, 1] < pixels[LEFT_SHOULDER, 1]
    np.testing.assert_allclose(pixels, landmarks.array[:, :2] * [width, height])


@pytest.mark.parametrize("name", list(nobody_images()))
def test_nobody_in_the_image(static, name):
    assert static.estimate(nobody_images()[name]) is None


def test_head_landmarks_lie_in_a_box_around_the_head_only(static, person):
    landmarks = static.estimate(person)
    head = landmarks.head_pixels()
    assert len(head) >= 8  # nose, eyes, ears, mouth are all visible on this portrait
    x0, y0 = head.min(axis=0)
    x1, y1 = head.max(axis=0)
    face_box = (x0 - 10, y0 - 20, x1 - x0 + 20, y1 - y0 + 40)
    assert landmarks.head_inside_box(face_box)
    elsewhere = (face_box[0] + 3 * face_box[2], face_box[1] + 2 * face_box[3], face_box[2], face_box[3])
    assert not landmarks.head_inside_box(elsewhere)
    # With the head hidden (visibility low) the body cannot vouch for any face.
    hidden = landmarks.array.copy()
    hidden[:11, 3] = 0.1
    assert not PoseLandmarks(hidden, landmarks.image_size).head_inside_box(face_box)


def test_tracking_follows_one_person_and_recovers_after_losing_them(static, person):
    tracker = PoseEstimator(tracking=True)
    try:
        reference = static.estimate(person).array
        for _ in range(4):
            landmarks = tracker.estimate(person)
            assert landmarks is not None
            assert np.abs(landmarks.array[11:17, :2] - reference[11:17, :2]).mean() < 0.03
        assert tracker.estimate(nobody_images()["wall"]) is None
        assert tracker.estimate(person) is not None  # the detector finds them again
        tracker.reset()
        assert not tracker.loaded
        assert tracker.estimate(person) is not None  # a new graph is loaded lazily
    finally:
        tracker.close()


def test_static_estimator_is_safe_to_share_between_threads(static, person):
    other = load_image(GESTURE_DATA / "biden_folded_arms.jpg")
    expected = {0: static.estimate(person).array, 1: static.estimate(other).array}
    errors: list[str] = []

    def work(which: int) -> None:
        image = (person, other)[which]
        for _ in range(3):
            got = static.estimate(image).array
            if not np.allclose(got, expected[which], atol=1e-5):
                errors.append(f"thread on image {which} got different landmarks")

    threads = [threading.Thread(target=work, args=(i % 2,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_estimate_refuses_what_is_not_a_bgr_image(static):
    with pytest.raises(ValueError):
        static.estimate(np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError):
        static.estimate(np.zeros((1, 1, 3), np.uint8))


def test_restarting_a_tracker_forgets_the_previous_person(person):
    """A pooled tracker lent to a new check-in: after restart_tracking the next person's
    landmarks are exactly what a fresh tracker gives, not smoothed towards the last person's."""
    o_pose = load_image(GESTURE_DATA / "composite_obama_o.jpg")
    fresh = PoseEstimator(tracking=True).estimate(person)
    reused = PoseEstimator(tracking=True)
    for _ in range(4):
        reused.estimate(o_pose)
    carried_over = reused.estimate(person)
    for _ in range(4):
        reused.estimate(o_pose)
    reused.restart_tracking()
    restarted = reused.estimate(person)
    assert np.abs(carried_over.array[11:17, :2] - fresh.array[11:17, :2]).max() > 0.01, "the test must show carry-over"
    assert np.abs(restarted.array[11:17, :2] - fresh.array[11:17, :2]).max() < 1e-3
