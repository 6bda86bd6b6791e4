"""GestureHold: a gesture counts on the kiosk's stream only once it is held (kiosk.checkin).

Predictions are made by hand where a test needs an exact sequence, and by the shipped classifier
on real YMCA skeletons (tests/data/gestures/ymca_heldout.csv) for the wave through an O.
"""

from __future__ import annotations

import numpy as np
import pytest

from kiosk.checkin.gesture_hold import DEFAULT_HOLD_FRAMES, GestureHold
from kiosk.vision import gestures as g

from gesture_helpers import heldout_rows


def _prediction(name: str, score: float = 0.95) -> g.GesturePrediction:
    return g.GesturePrediction(gesture=name, score=score, probabilities={name: score})


def test_hold_reports_only_after_n_consecutive_frames():
    hold = GestureHold(hold_frames=3, min_score=0.6)
    assert [hold.update(_prediction("O")) for _ in range(4)] == [None, None, "O", "O"]
    assert hold.progress == 1.0


def test_hold_is_broken_by_idle_low_score_other_gesture_and_no_person():
    hold = GestureHold(hold_frames=3, min_score=0.6)
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
    reported = [hold.update(p) for p in sequence]
    assert reported == [None] * 12 + ["X"]


def test_hold_refuses_settings_that_make_no_sense():
    hold = GestureHold(hold_frames=7, min_score=0.8)
    assert (hold.hold_frames, hold.min_score) == (7, 0.8)
    with pytest.raises(ValueError):
        GestureHold(hold_frames=0)
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
    hold = GestureHold(hold_frames=DEFAULT_HOLD_FRAMES)
    assert longest < hold.hold_frames, names  # ... but only for a few frames
    assert all(hold.update(p) != "O" for p in predictions)

    # The same person holding the O: consecutive real A rows.
    held = classifier.predict_arms(arms[(labels == "A") & steady][: hold.hold_frames])
    hold.reset()
    reported = [hold.update(p) for p in held]
    assert reported[-1] == "O" and reported[:-1] == [None] * (hold.hold_frames - 1)
