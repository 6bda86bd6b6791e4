"""Best-frame selection for the SMILING step: the happiest frame becomes the check-in photo, taken
at once on the capture gesture or after a timeout. Pure Python: no Flask, no models.

The state machine feeds every analysed frame with its happy score; :class:`SmileCapture` keeps
the happiest frame seen so far and decides when the photo is taken:

* ``smile``: the happy score stayed at or above ``threshold`` on consecutive scored frames for
  ``hold_s`` seconds and at least ``hold_frames`` frames (one grinning frame is not enough: the
  score flickers between frames; seconds, so a fast and a slow machine need the same smile). The
  photo is the happiest frame of the whole step, which is normally one of the held ones;
* ``gesture``: the person made the capture gesture. The caller calls :meth:`SmileCapture.capture_now`
  and then feeds the gesture's frame to :meth:`SmileCapture.update` as usual, which returns the
  capture at once. The person chose that moment, so the photo is the frame of the gesture, not an
  earlier happier one (if that update carries no frame, the latest scored frame is taken);
* ``timeout``: ``timeout_s`` passed since the step started; the happiest frame so far is taken,
  so nobody is held up for not smiling.

A frame whose face could not be scored (``happy=None``: no face, face turned away) never becomes
the photo and breaks a held smile. If the step times out before a single frame was scored there is
nothing worth keeping: :meth:`update` returns ``None`` and :attr:`SmileCapture.expired` is true
(the state machine goes back to IDLE).

Frames are kept by reference, not copied (a 640x480 copy per frame is wasted work: the kiosk
decodes a fresh array for every frame). A caller that reuses or draws on its frame buffers must
pass a copy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from numpy.typing import NDArray

from ..vision.emotion import SMILE_THRESHOLD

CaptureReason = Literal["smile", "gesture", "timeout"]

DEFAULT_HOLD_S = 0.3
DEFAULT_HOLD_FRAMES = 2
DEFAULT_TIMEOUT_S = 8.0


@dataclass(frozen=True)
class Capture:
    frame: NDArray[Any]  # BGR, the very array passed to update()
    happy: float  # the happy score of that frame (0..1)
    reason: CaptureReason
    at: float  # the ``now`` of the frame that was taken


class SmileCapture:
    """Keeps the happiest frame and says when to take the photo. One instance per SMILING step."""

    def __init__(
        self,
        threshold: float = SMILE_THRESHOLD,
        hold_frames: int = DEFAULT_HOLD_FRAMES,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        started_at: float | None = None,
        hold_s: float = DEFAULT_HOLD_S,
    ) -> None:
        if not (0.0 < threshold <= 1.0):
            raise ValueError(f"threshold must be in (0, 1], not {threshold!r}")
        if int(hold_frames) != hold_frames or hold_frames < 1:
            raise ValueError(f"hold_frames must be a whole number >= 1, not {hold_frames!r}")
        if not (hold_s >= 0 and math.isfinite(hold_s)):
            raise ValueError(f"hold_s must be a number of seconds >= 0, not {hold_s!r}")
        if not (timeout_s > 0 and math.isfinite(timeout_s)):
            raise ValueError(f"timeout_s must be a positive number of seconds, not {timeout_s!r}")
        self.threshold = float(threshold)
        self.hold_frames = int(hold_frames)
        self.hold_s = float(hold_s)
        self.timeout_s = float(timeout_s)
        self.started_at: float | None = None if started_at is None else float(started_at)
        self.best_frame: NDArray[Any] | None = None
        self.best_happy: float | None = None
        self.best_at: float | None = None
        self.held = 0  # consecutive scored frames at or above the threshold
        self.held_since: float | None = None  # the time of the first of them
        self.held_until: float | None = None  # the time of the latest of them
        self.result: Capture | None = None
        self.expired = False
        self._latest: tuple[NDArray[Any], float, float] | None = None  # last scored frame
        self.gesture_pending = False

    @property
    def done(self) -> bool:
        return self.result is not None or self.expired

    def start(self, now: float) -> None:
        """Start the timeout clock (otherwise the first :meth:`update` starts it)."""
        if self.started_at is None:
            self.started_at = float(now)

    def remaining(self, now: float) -> float:
        """Seconds before the timeout (for the countdown on screen); the full timeout before the start."""
        if self.started_at is None:
            return self.timeout_s
        return max(0.0, self.timeout_s - (float(now) - self.started_at))

    def update(self, frame: NDArray[Any] | None, happy: float | None, now: float) -> Capture | None:
        """Feed one frame; returns the :class:`Capture` once, when the photo is taken, else ``None``.

        ``happy`` is the frame's happy score, or ``None`` when the face could not be scored
        (``frame`` may then be ``None`` too). After the capture (or expiry) it returns ``None``.
        """
        if self.done:
            return None
        self.start(now)
        score = _valid_score(happy)
        if self.gesture_pending:
            if frame is not None:
                return self._take(frame, 0.0 if score is None else score, "gesture", float(now))
            if self._latest is not None:
                return self._take(*self._latest[:2], "gesture", self._latest[2])
        if score is not None and frame is not None:
            kept = frame
            self._latest = (kept, score, float(now))
            if self.best_happy is None or score > self.best_happy:
                self.best_frame, self.best_happy, self.best_at = kept, score, float(now)
            self._count_held(score >= self.threshold, float(now))
            if self.held >= self.hold_frames and self.held_s >= self.hold_s:
                assert self.best_frame is not None and self.best_happy is not None and self.best_at is not None
                return self._take(self.best_frame, self.best_happy, "smile", self.best_at)
        else:
            self._count_held(False, float(now))
        assert self.started_at is not None  # set by start() above
        if float(now) - self.started_at >= self.timeout_s:
            if self.best_frame is None:
                self.expired = True
                return None
            assert self.best_happy is not None and self.best_at is not None  # kept with the frame
            return self._take(self.best_frame, self.best_happy, "timeout", self.best_at)
        return None

    def _count_held(self, smiling: bool, now: float) -> None:
        if not smiling:
            self.held, self.held_since, self.held_until = 0, None, None
            return
        if self.held == 0:
            self.held_since = now
        self.held += 1
        self.held_until = now

    @property
    def held_s(self) -> float:
        """How long the current smile has been held (first to latest smiling frame)."""
        if self.held_since is None or self.held_until is None:
            return 0.0
        return self.held_until - self.held_since

    @property
    def hold_progress(self) -> float:
        """0..1: the share of the smile hold done (the slower of the time and the frame count)."""
        if self.held == 0:
            return 0.0
        by_time = self.held_s / self.hold_s if self.hold_s > 0 else 1.0
        return min(1.0, by_time, self.held / self.hold_frames)

    def capture_now(self) -> None:
        """The capture gesture was seen: the next :meth:`update` returns a ``gesture`` capture of its frame.

        (If that update has no frame, the latest scored frame is taken; with no frame at all yet,
        the request waits for the first frame.)
        """
        if not self.done:
            self.gesture_pending = True

    def _take(self, frame: NDArray[Any], happy: float, reason: CaptureReason, at: float) -> Capture:
        self.result = Capture(frame=frame, happy=happy, reason=reason, at=at)
        return self.result


def _valid_score(happy: float | None) -> float | None:
    if happy is None:
        return None
    happy = float(happy)
    if math.isnan(happy):
        return None
    return min(1.0, max(0.0, happy))
