"""Which identifying frames are worth an embedding: an embedding is the costly step of a frame, so
identifying spends it only on frames that bring new evidence.

The identity vote needs *independent* evidence: embeddings of the same face taken at different
moments. A frame that cannot add any is not embedded; face detection (every frame, ~2 ms) keeps
the face tracked in between. The time gap between embeddings is the machine's rule
(``MachineConfig.vote_gap_s``); this module holds the pixel rules, per tracked face:

* ``moving``: the face box moved faster than :data:`MAX_FACE_SPEED` face widths a second since the
  previous frame: the picture is likely smeared by motion, and the person is still settling;
* ``blurred``: the face is much softer than it was a moment ago (sharpness below
  :data:`BLUR_DROP` of the median of the last frames): a blink of motion blur or a focus hunt;
  relative to the same face, so a soft camera is never starved of votes;
* ``same_picture``: the face is the same picture as the last embedded one (grey thumbnails differ
  by less than :data:`SAME_PICTURE_DIFF` levels, box unchanged): a frozen or repeated camera frame,
  whose embedding would only repeat the last vote. Only for :data:`SAME_PICTURE_PATIENCE_S` after
  that vote: a person standing very still in front of a quiet camera is never starved of votes,
  they are only taken more slowly.

Closed eyes are not detected: BlazeFace gives the eye centres only, and a landmark model for the
eyelids would cost more than the embedding it saves.

No models here, no Flask: numpy and OpenCV on the frame and the detector's box.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from ..vision.faces import box_iou

MAX_FACE_SPEED = 1.5  # face widths per second
BLUR_DROP = 0.6
SAME_PICTURE_DIFF = 0.3  # mean absolute difference of 16x16 grey thumbnails, 0..255
SAME_PICTURE_IOU = 0.9
SAME_PICTURE_PATIENCE_S = 0.5
THUMB_SIDE = 16
SHARPNESS_HISTORY = 6

Box = tuple[int, int, int, int]


def face_thumbnail(bgr: NDArray[Any], box: Box) -> NDArray[Any]:
    x, y, w, h = box
    region = bgr[max(0, y) : y + h, max(0, x) : x + w]
    gray = cv2.cvtColor(region, cv2.COLOR_BGR2GRAY)
    return cv2.resize(gray, (THUMB_SIDE, THUMB_SIDE), interpolation=cv2.INTER_AREA).astype(np.float32)


@dataclass
class VoteEvidence:
    """The tracked face's recent frames and the picture of its last vote."""

    last_box: Box | None = None
    last_at: float | None = None
    sharpness: deque[float] = field(default_factory=lambda: deque(maxlen=SHARPNESS_HISTORY))
    voted_box: Box | None = None
    voted_thumb: NDArray[Any] | None = None
    voted_at: float | None = None

    def reset(self) -> None:
        self.last_box = self.last_at = self.voted_box = self.voted_thumb = self.voted_at = None
        self.sharpness.clear()

    def skip_reason(self, bgr: NDArray[Any], box: Box, sharpness: float, now: float) -> str | None:
        """Why this frame's face would add nothing to the vote (None: embed it). Also records the
        frame as the tracked face's latest, so call it once per frame with a usable face."""
        reason = None
        if self.last_box is not None and self.last_at is not None and now > self.last_at:
            (x0, y0, w0, h0), (x1, y1, w1, h1) = self.last_box, box
            shift = float(np.hypot((x1 + w1 / 2) - (x0 + w0 / 2), (y1 + h1 / 2) - (y0 + h0 / 2)))
            if shift / max(1.0, (w0 + w1) / 2) / (now - self.last_at) > MAX_FACE_SPEED:
                reason = "moving"
        if reason is None and len(self.sharpness) >= 3 and sharpness < BLUR_DROP * statistics.median(self.sharpness):
            reason = "blurred"
        if (
            reason is None
            and self.voted_thumb is not None
            and self.voted_at is not None
            and self.voted_box is not None
            and now - self.voted_at < SAME_PICTURE_PATIENCE_S
            and box_iou(self.voted_box, box) >= SAME_PICTURE_IOU
            and float(np.abs(face_thumbnail(bgr, box) - self.voted_thumb).mean()) < SAME_PICTURE_DIFF
        ):
            reason = "same_picture"
        self.last_box, self.last_at = box, now
        self.sharpness.append(sharpness)
        return reason

    def voted(self, bgr: NDArray[Any], box: Box, now: float) -> None:
        """This frame's face was embedded and voted."""
        self.voted_box, self.voted_thumb, self.voted_at = box, face_thumbnail(bgr, box), now
