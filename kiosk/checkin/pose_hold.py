"""Skip-and-hold between pose frames: while confirming and smiling, the pose model (MediaPipe
BlazePose, most of such a frame's cost) runs at most once every ``MachineConfig.pose_every_s``;
a frame in between reuses the last landmarks when nothing in the picture has moved.

Why this keeps gestures as they were: a pose only changes when the arms move, and a frame in
which anything moved gets a fresh reading. So a gesture being formed or let go is read on every
frame, as before, and only a pose held still is read less often: at the camera's 15 frames a
second and the default 0.2 s, one still frame in three runs the model and the two after it
repeat its reading (a gesture counts once it is held for ``gesture_hold_s`` *and*
``gesture_hold_frames`` frames, ``kiosk.checkin.gesture_hold``; a held O is read on the same
frame as with the model on every frame: tests/test_pose_hold.py, and ``kiosk bench``'s
``held_o_s``). A frame never repeats a reading:

* older than ``pose_every_s`` (a slow or busy kiosk gets the model on every frame),
* from another step or another check-in (the state and the time it was entered must match),
* when the face has moved (box overlap below :data:`STILL_FACE_IOU`) or anything in the picture
  has (an arm: more than :data:`MOVED_SHARE` of a small grey thumbnail changed by more than
  :data:`MOVED_LEVELS`, after taking out the whole picture's drift in exposure): a person who
  moves gets a fresh reading at once,
* when the last reading found nobody,
* when the last reading's frame had moved since the one before it: after a movement the
  tracker's landmarks (smoothed over frames) need a second look at the still picture to settle,
  so the model runs on every frame until two readings in a row saw the same picture.

``pose_every_s = 0`` runs the model on every frame (the behaviour before this cut).

Per kiosk session (``KioskSession.pose_hold``); no models here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from ..vision.faces import box_iou
from ..vision.pose import PoseLandmarks
from .contract import State

#: How much of the face box must overlap the one of the reading's frame for the reading to stand.
STILL_FACE_IOU = 0.8
#: Frame times come from a clock: a reading exactly ``pose_every_s`` old (give or take this) is old.
CLOCK_SLACK_S = 0.001
#: The picture "moved" when more than this share of its thumbnail's pixels changed by more than
#: MOVED_LEVELS grey levels (0..255). A 64x48 thumbnail averages a camera's noise away; a forearm
#: at a kiosk's distance covers tens of its pixels.
THUMBNAIL_SIZE = (64, 48)
MOVED_LEVELS = 12.0
MOVED_SHARE = 0.005


def _thumbnail(bgr: NDArray[Any]) -> NDArray[Any]:
    grey = cv2.cvtColor(cv2.resize(bgr, THUMBNAIL_SIZE, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
    return grey.astype(np.float32)


def _moved(before: NDArray[Any], after: NDArray[Any]) -> bool:
    difference = after - before
    difference -= float(np.median(difference))  # the camera's exposure drifting moves every pixel alike
    return bool(np.mean(np.abs(difference) > MOVED_LEVELS) > MOVED_SHARE)


@dataclass
class _Reading:
    landmarks: PoseLandmarks
    at: float  # monotonic seconds of the frame the model ran on
    face_box: tuple[int, int, int, int]
    step: tuple[State, float]  # (state, entered_at) of the machine then
    thumbnail: NDArray[Any]
    settled: bool  # the frame before this reading's showed the same picture


class PoseHold:
    """The last pose reading of one kiosk and whether the next frame may reuse it."""

    def __init__(self) -> None:
        self._reading: _Reading | None = None
        self.held_frames = 0  # frames answered from a held reading (figures for the bench)
        self.fresh_frames = 0  # frames the model ran on

    def reset(self) -> None:
        self._reading = None

    def held(
        self,
        bgr: NDArray[Any],
        step: tuple[State, float],
        face_box: tuple[int, int, int, int] | None,
        now: float,
        every_s: float,
    ) -> PoseLandmarks | None:
        """The landmarks this frame may reuse, or None when the model must run."""
        reading = self._reading
        if reading is None or every_s <= 0 or face_box is None or reading.step != step or not reading.settled:
            return None
        if not 0 <= now - reading.at < every_s - CLOCK_SLACK_S or box_iou(reading.face_box, face_box) < STILL_FACE_IOU:
            return None
        if _moved(reading.thumbnail, _thumbnail(bgr)):
            return None
        self.held_frames += 1
        return reading.landmarks

    def keep(
        self,
        bgr: NDArray[Any],
        landmarks: PoseLandmarks | None,
        step: tuple[State, float],
        face_box: tuple[int, int, int, int] | None,
        now: float,
        every_s: float,
    ) -> None:
        """Note the model's reading of this frame (None: nobody found, nothing to reuse)."""
        self.fresh_frames += 1
        if every_s <= 0:  # nothing will be reused: no bookkeeping either
            self._reading = None
        elif landmarks is None or face_box is None:
            self._reading = None
        else:
            box = (int(face_box[0]), int(face_box[1]), int(face_box[2]), int(face_box[3]))
            thumbnail, previous = _thumbnail(bgr), self._reading
            settled = (previous is not None and previous.step == step
                       and box_iou(previous.face_box, box) >= STILL_FACE_IOU
                       and not _moved(previous.thumbnail, thumbnail))
            self._reading = _Reading(landmarks, now, box, step, thumbnail, settled)
