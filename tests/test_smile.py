"""SmileCapture: the best-frame rules of the SMILING step (pure Python, synthetic frames).

The frames are tiny arrays stamped with an id so a test can tell which one was taken; the
happy scores are given directly (the emotion model is tested in test_emotion.py).
"""

from __future__ import annotations

import numpy as np
import pytest

from kiosk.checkin.smile import Capture, SmileCapture


def frame(tag: int) -> np.ndarray:
    return np.full((4, 4, 3), tag, dtype=np.uint8)


def tag(capture: Capture) -> int:
    return int(capture.frame[0, 0, 0])


def feed(smile: SmileCapture, scores, start: float = 0.0, step: float = 0.1):
    """Feed frames tagged 1, 2, ... with these scores; returns (index, capture) of the first capture."""
    for i, score in enumerate(scores, start=1):
        capture = smile.update(frame(i), score, start + i * step)
        if capture is not None:
            return i, capture
    return None, None


def test_held_smile_captures_the_happiest_frame():
    smile = SmileCapture(threshold=0.6, hold_frames=3, hold_s=0.2, timeout_s=10)
    index, capture = feed(smile, [0.1, 0.7, 0.95, 0.8])
    assert index == 4  # the third frame in a row above 0.6, 0.2 s after the first
    assert capture.reason == "smile"
    assert tag(capture) == 3 and capture.happy == pytest.approx(0.95)
    assert smile.done and smile.result is capture
    assert smile.update(frame(9), 0.99, 1.0) is None  # one capture per step


@pytest.mark.parametrize("fps", [4.0, 15.0, 30.0])
def test_a_smile_is_held_for_its_time_on_enough_frames_at_any_rate(fps):
    smile = SmileCapture(threshold=0.6, hold_frames=2, hold_s=0.3, timeout_s=10)
    index, capture = feed(smile, [0.9] * 30, step=1 / fps)
    assert capture.reason == "smile"
    held_s = (index - 1) / fps
    assert index >= 2 and max(0.3, 1 / fps) - 1e-9 <= held_s < max(0.3, 1 / fps) + 1 / fps


def test_a_smile_must_be_held_in_consecutive_frames():
    smile = SmileCapture(threshold=0.6, hold_frames=3, hold_s=0.0, timeout_s=10)
    # Flickering above/below the threshold, and an unscored frame (no face), never hold.
    index, _ = feed(smile, [0.7, 0.7, 0.2, 0.9, 0.9, None, 0.9, 0.9])
    assert index is None and smile.held == 2 and not smile.done
    index, capture = feed(smile, [0.61], start=1.0)
    assert capture.reason == "smile" and capture.happy == pytest.approx(0.9)


def test_threshold_is_inclusive_and_single_frame_hold():
    smile = SmileCapture(threshold=0.5, hold_frames=1, hold_s=0.0, timeout_s=5)
    assert smile.update(frame(1), 0.49, 0.0) is None
    capture = smile.update(frame(2), 0.5, 0.1)
    assert capture is not None and capture.reason == "smile" and tag(capture) == 2


def test_timeout_takes_the_best_frame_so_far():
    smile = SmileCapture(threshold=0.9, hold_frames=3, timeout_s=2.0)
    assert smile.update(frame(1), 0.2, 10.0) is None  # the clock starts at the first frame
    assert smile.update(frame(2), 0.45, 10.5) is None
    assert smile.update(frame(3), 0.3, 11.0) is None
    assert smile.update(None, None, 11.5) is None  # face lost for a frame
    assert smile.remaining(11.5) == pytest.approx(0.5)
    capture = smile.update(frame(4), 0.1, 12.0)
    assert capture is not None and capture.reason == "timeout"
    assert tag(capture) == 2 and capture.happy == pytest.approx(0.45) and capture.at == pytest.approx(10.5)


def test_timeout_with_no_scored_frame_expires_without_a_photo():
    smile = SmileCapture(timeout_s=1.0, started_at=0.0)
    assert smile.update(frame(1), None, 0.5) is None
    assert smile.update(None, None, 1.2) is None
    assert smile.expired and smile.done and smile.result is None


def test_started_at_counts_from_the_state_entry():
    smile = SmileCapture(threshold=0.9, timeout_s=3.0, started_at=100.0)
    capture = smile.update(frame(1), 0.3, 103.0)
    assert capture is not None and capture.reason == "timeout"


def test_gesture_takes_the_gesture_frame_even_if_an_earlier_one_was_happier():
    smile = SmileCapture(threshold=0.9, hold_frames=3, timeout_s=10)
    feed(smile, [0.8, 0.3])
    smile.capture_now()
    capture = smile.update(frame(7), 0.2, 1.0)
    assert capture is not None and capture.reason == "gesture"
    assert tag(capture) == 7 and capture.happy == pytest.approx(0.2)


def test_gesture_without_a_frame_takes_the_latest_scored_one():
    smile = SmileCapture(threshold=0.9, timeout_s=10)
    feed(smile, [0.8, 0.3])
    smile.capture_now()
    capture = smile.update(None, None, 1.0)
    assert capture.reason == "gesture" and tag(capture) == 2


def test_gesture_as_the_first_frame_of_the_step():
    """CONFIRMING -> capture gesture: the machine enters SMILING and takes this very frame."""
    smile = SmileCapture(started_at=5.0)
    smile.capture_now()
    capture = smile.update(frame(3), 0.0, 5.0)
    assert capture.reason == "gesture" and tag(capture) == 3


def test_the_capture_is_the_frame_that_was_passed_in():
    """Frames are kept by reference (no per-frame copy): the photo is the caller's own array."""
    smile = SmileCapture(threshold=0.9, timeout_s=1.0)
    best = frame(5)
    smile.update(best, 0.6, 0.0)
    capture = smile.update(frame(6), 0.1, 2.0)
    assert capture.reason == "timeout" and capture.frame is best


def test_scores_are_clipped_and_nan_is_unscored():
    smile = SmileCapture(threshold=0.9, hold_frames=1, hold_s=0.0, timeout_s=1.0)
    assert smile.update(frame(1), float("nan"), 0.0) is None
    capture = smile.update(frame(2), 1.0000002, 0.1)
    assert capture.happy == 1.0


@pytest.mark.parametrize(
    "kwargs",
    [{"threshold": 0}, {"threshold": 1.5}, {"hold_frames": 0}, {"hold_frames": 1.5}, {"timeout_s": 0},
     {"timeout_s": float("inf")}, {"hold_s": -0.1}, {"hold_s": float("nan")}],
)
def test_invalid_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        SmileCapture(**kwargs)


