"""Temporal smoothing of gestures on the kiosk's stream: a gesture counts once it is held.

Holds are measured in seconds, with a minimum number of frames, so a gesture takes as long to
confirm on a machine that analyses 15 frames a second as on one that manages 5 (only when a
machine is so slow that the minimum frames take longer than the time does the count decide).
Used by the check-in machine (``CheckInMachine`` builds one per state from
``MachineConfig.gesture_hold_s``, ``gesture_hold_frames`` and ``gesture_min_score``, i.e.
``KIOSK_CHECKIN_*``).
"""

from __future__ import annotations

from ..vision.gestures import IDLE, GesturePrediction

DEFAULT_HOLD_S = 0.3
DEFAULT_HOLD_FRAMES = 3
DEFAULT_MIN_SCORE = 0.6


class GestureHold:
    """Reports a gesture once the same one has been seen on consecutive frames for ``hold_s``
    seconds and on at least ``hold_frames`` frames.

    Feed it one prediction per frame with the frame's time (None when nobody was seen). A frame
    whose score is below ``min_score``, an idle frame, or a frame without a person breaks the run.
    ``update`` returns the held gesture (O, X or capture) on every frame once the hold is complete,
    else None; :meth:`progress` (0..1) and :meth:`remaining_s` are for the screen ("keep holding").
    Pure Python, no model.
    """

    def __init__(
        self,
        hold_s: float = DEFAULT_HOLD_S,
        hold_frames: int = DEFAULT_HOLD_FRAMES,
        min_score: float = DEFAULT_MIN_SCORE,
    ) -> None:
        if not hold_s >= 0.0:
            raise ValueError("hold_s must be a number of seconds >= 0")
        if hold_frames < 1:
            raise ValueError("hold_frames must be at least 1")
        if not 0.0 <= min_score <= 1.0:
            raise ValueError("min_score must be between 0 and 1")
        self.hold_s = float(hold_s)
        self.hold_frames = int(hold_frames)
        self.min_score = float(min_score)
        self.current: str | None = None
        self.frames = 0
        self.started_at: float | None = None  # time of the run's first frame
        self.last_at: float | None = None  # time of the run's latest frame

    def reset(self) -> None:
        self.current, self.frames, self.started_at, self.last_at = None, 0, None, None

    def update(self, prediction: GesturePrediction | None, now: float) -> str | None:
        if prediction is None or prediction.gesture == IDLE or prediction.score < self.min_score:
            self.reset()
            return None
        if prediction.gesture == self.current:
            self.frames += 1
        else:
            self.current, self.frames, self.started_at = prediction.gesture, 1, now
        self.last_at = now
        return self.current if self.complete else None

    @property
    def held_s(self) -> float:
        """How long the current run has lasted, from its first frame to its latest."""
        if self.started_at is None or self.last_at is None:
            return 0.0
        return max(0.0, self.last_at - self.started_at)

    @property
    def complete(self) -> bool:
        return self.current is not None and self.held_s >= self.hold_s and self.frames >= self.hold_frames

    @property
    def progress(self) -> float:
        """0..1: the share of the hold done (the slower of the time and the frame count)."""
        if self.current is None:
            return 0.0
        by_time = self.held_s / self.hold_s if self.hold_s > 0 else 1.0
        return min(1.0, by_time, self.frames / self.hold_frames)

    @property
    def remaining_s(self) -> float:
        """Seconds still to hold, as of the latest frame (the page counts down between answers)."""
        if self.current is None:
            return self.hold_s
        return max(0.0, self.hold_s - self.held_s)
