"""Temporal smoothing of gestures on the kiosk's stream: a gesture counts once it is held.

Used by the check-in machine (``CheckInMachine`` builds one per state from
``MachineConfig.gesture_hold_frames`` and ``gesture_min_score``, i.e. ``KIOSK_CHECKIN_*``).
"""

from __future__ import annotations

from ..vision.gestures import IDLE, GesturePrediction

DEFAULT_HOLD_FRAMES = 5
DEFAULT_MIN_SCORE = 0.6


class GestureHold:
    """Reports a gesture only once the same one has been seen on ``hold_frames`` consecutive frames.

    Feed it one prediction per frame (None when nobody was seen). A frame whose score is below
    ``min_score``, an idle frame, or a frame without a person breaks the run. ``update`` returns
    the held gesture (O, X or capture) on every frame from the ``hold_frames``-th on, else None;
    ``progress`` (0..1) is for the screen ("keep holding..."). Pure Python, no model.
    """

    def __init__(self, hold_frames: int = DEFAULT_HOLD_FRAMES, min_score: float = DEFAULT_MIN_SCORE) -> None:
        if hold_frames < 1:
            raise ValueError("hold_frames must be at least 1")
        if not 0.0 <= min_score <= 1.0:
            raise ValueError("min_score must be between 0 and 1")
        self.hold_frames = int(hold_frames)
        self.min_score = float(min_score)
        self.current: str | None = None
        self.frames = 0

    def reset(self) -> None:
        self.current, self.frames = None, 0

    def update(self, prediction: GesturePrediction | None) -> str | None:
        if prediction is None or prediction.gesture == IDLE or prediction.score < self.min_score:
            self.reset()
            return None
        if prediction.gesture == self.current:
            self.frames += 1
        else:
            self.current, self.frames = prediction.gesture, 1
        return self.current if self.frames >= self.hold_frames else None

    @property
    def progress(self) -> float:
        return min(1.0, self.frames / self.hold_frames)
