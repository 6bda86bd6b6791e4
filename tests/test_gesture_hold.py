"""GestureHold: a gesture counts on the kiosk's stream only once it is held (kiosk.checkin).

Predictions are made by hand where a test needs an exact sequence, and by the shipped classifier
on real YMCA skeletons (tests/data/gestures/ymca_heldout.csv) for the wave through an O.
"""

from __future__ import annotations

import numpy as np
import pytest
from gesture_helpers import heldout_rows

from kiosk.checkin.gesture_hold import GestureHold
from kiosk.vision import gestures as g


def _prediction(name: str, score: float = 0.95) -> g.GesturePrediction:
    return g.GesturePrediction(gesture=name, score=score, probabilities={name: score})


def _feed(hold: GestureHold, predictions, fps: float = 15.0, start: float = 100.0) -> list[str | None]:
    return [hold.update(p, start + i / fps) for i, p in enumerate(predictions)]


@pytest.mark.parametrize("fps", [4.0, 15.0, 30.0])
def test_hold_reports_once_held_for_its_time_on_enough_frames(fps):
    hold = GestureHold(hold_s=0.4, hold_frames=3, min_score=0.6)
    reported = _feed(hold, [_prediction("O")] * 20, fps)
    first = reported.index("O")
    assert reported[:first] == [None] * first and set(reported[first:]) == {"O"}
    # The first frame on which the hold is complete: 0.4 s after the first, and the third frame at least.
    assert first == max(2, int(np.ceil(0.4 * fps - 1e-9)))
    assert hold.progress == 1.0 and hold.remaining_s == 0.0


def test_progress_and_remaining_time_follow_the_slower_of_time_and_frames():
    hold = GestureHold(hold_s=0.4, hold_frames=3)
    hold.update(_prediction("O"), 0.0)
    assert (hold.progress, hold.remaining_s) == (0.0, 0.4)
    hold.update(_prediction("O"), 0.3)  # 0.3 s of 0.4, but only 2 of 3 frames
    assert hold.progress == pytest.approx(2 / 3) and hold.remaining_s == pytest.approx(0.1)
    hold.update(_prediction("O"), 0.35)
    assert hold.progress == pytest.approx(0.35 / 0.4)
    assert hold.update(_prediction("O"), 0.41) == "O"


def test_hold_is_broken_by_idle_low_score_other_gesture_and_no_person():
    hold = GestureHold(hold_s=0.0, hold_frames=3, min_score=0.6)
    sequence = [
        _prediction("O"),
        _prediction("O"),
        _prediction("O", score=0.4),  # unsure: breaks the run
        _prediction("O"),
        _prediction("O"),
        None,  # nobody in this frame
        _prediction("O"),
        _prediction("X"),
        _prediction("O"),
        _prediction("idle"),
        _prediction("X"),
        _prediction("X"),
        _prediction("X"),
    ]
    assert _feed(hold, sequence) == [None] * 12 + ["X"]


def test_a_broken_run_starts_its_time_again():
    hold = GestureHold(hold_s=0.4, hold_frames=2)
    # Held 0.4 s, broken by a frame without a person, then held again from 0.6 s to 0.9 s.
    assert _feed(hold, [_prediction("O")] * 5 + [None] + [_prediction("O")] * 4, fps=10.0)[-1] is None
    assert hold.held_s == pytest.approx(0.3)
    assert hold.update(_prediction("O"), 100.0 + 1.0) == "O"


def test_hold_refuses_settings_that_make_no_sense():
    hold = GestureHold(hold_s=0.8, hold_frames=7, min_score=0.8)
    assert (hold.hold_s, hold.hold_frames, hold.min_score) == (0.8, 7, 0.8)
    with pytest.raises(ValueError):
        GestureHold(hold_frames=0)
    with pytest.raises(ValueError):
        GestureHold(hold_s=-1)
    with pytest.raises(ValueError):
        GestureHold(min_score=1.5)


def _interpolate(a: np.ndarray, b: np.ndarray, steps: int) -> list[np.ndarray]:
    return [a + (b - a) * t for t in np.linspace(0, 1, steps + 1)[1:]]


def test_a_wave_through_the_o_does_not_confirm_but_holding_it_does():
    """Arms swept from down, up through the O, out into the V and back down, on real YMCA
    skeletons (interpolated between real rows): the O is read on passing frames only."""
    labels, arms, steady = heldout_rows()
    down = arms[(labels == "dance") & steady][0]
    o_pose = arms[(labels == "A") & steady][0]
    v_pose = arms[(labels == "Y") & steady][0]
    frames = [down] + _interpolate(down, o_pose, 6) + _interpolate(o_pose, v_pose, 4) + _interpolate(v_pose, down, 6)
    classifier = g.GestureClassifier(g.default_model_path())
    predictions = classifier.predict_arms(np.asarray(frames))
    names = [p.gesture for p in predictions]
    assert "O" in names, names  # the sweep does pass through an O ...
    longest, run = 0, 0
    for name in names:
        run = run + 1 if name == "O" else 0
        longest = max(longest, run)
    hold = GestureHold()  # the defaults: 0.3 s on at least 3 frames
    fps = 15.0  # the kiosk camera's rate: the sweep takes ~1.1 s
    assert longest / fps < hold.hold_s, names  # ... but only for a moment
    assert all(reported != "O" for reported in _feed(hold, predictions, fps))

    # The same person holding the O: consecutive real A rows, for the hold time.
    count = int(np.ceil(hold.hold_s * fps)) + 1
    held = classifier.predict_arms(arms[(labels == "A") & steady][:count])
    hold.reset()
    reported = _feed(hold, held, fps)
    assert reported[-1] == "O" and reported[:-1] == [None] * (count - 1)
