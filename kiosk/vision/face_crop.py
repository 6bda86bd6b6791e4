"""Aligned face crops: eyes level, the face box centred with a margin; the canonical crop that
enrollment stores and every embedder embeds from, and where the face lies inside it.

Detection and the quality checks that find the face are in :mod:`kiosk.vision.faces`.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
from numpy.typing import NDArray

from .faces import Face

# The stored enrollment crop: 224 px, the face box covering 1/(1 + 2*0.3) = 62% of it.
CANONICAL_CROP_SIZE = 224
CANONICAL_CROP_MARGIN = 0.3

def _eye_angle_degrees(face: Face) -> float:
    right = face.keypoints.get("right_eye")
    left = face.keypoints.get("left_eye")
    if not right or not left:
        return 0.0
    # The person's right eye is on the image's left: the eye line runs right_eye -> left_eye.
    angle = math.degrees(math.atan2(left[1] - right[1], left[0] - right[0]))
    # A detector keypoint swap or a face upside down would give ~180 degrees: do not flip faces.
    return angle if abs(angle) <= 45.0 else 0.0


def alignment_matrix(face: Face, size: int, margin: float) -> NDArray[Any]:
    """The 2x3 affine map from image pixels to the aligned crop (eyes level, box centred)."""
    x, y, w, h = face.box
    side = max(w, h) * (1.0 + 2.0 * margin)
    cx, cy = face.center
    scale = size / side
    matrix = cv2.getRotationMatrix2D((cx, cy), _eye_angle_degrees(face), scale)
    matrix[0, 2] += size / 2.0 - cx
    matrix[1, 2] += size / 2.0 - cy
    return matrix


def _scaled(face: Face, factor: float, dx: float, dy: float) -> Face:
    """``face`` in the coordinates of an image cut at (dx, dy) then resized by ``factor``."""
    x, y, w, h = face.box
    box = (
        int(round((x - dx) * factor)),
        int(round((y - dy) * factor)),
        max(1, int(round(w * factor))),
        max(1, int(round(h * factor))),
    )
    keypoints = {
        k: (int(round((px - dx) * factor)), int(round((py - dy) * factor))) for k, (px, py) in face.keypoints.items()
    }
    return Face(box=box, score=face.score, keypoints=keypoints)


def crop_face(
    bgr: NDArray[Any], face: Face, size: int = CANONICAL_CROP_SIZE, margin: float = CANONICAL_CROP_MARGIN
) -> NDArray[Any]:
    """An aligned square crop (BGR, ``size`` x ``size``): eyes level, the face box centred with
    ``margin`` x its side added on every side. Pixels outside the image repeat the edge."""
    side = max(face.box[2], face.box[3]) * (1.0 + 2.0 * margin)
    scale = size / side
    if scale < 0.75:
        # A big face in a big photo: warpAffine samples without averaging and would alias, so
        # shrink the neighbourhood of the face with INTER_AREA first, then align at ~1:1.
        cx, cy = face.center
        reach = side * 0.75  # half the diagonal of the rotated crop, plus a little
        x0, y0 = max(0, int(cx - reach)), max(0, int(cy - reach))
        x1, y1 = min(bgr.shape[1], int(cx + reach) + 1), min(bgr.shape[0], int(cy + reach) + 1)
        region = bgr[y0:y1, x0:x1]
        new_w, new_h = max(1, int(round(region.shape[1] * scale))), max(1, int(round(region.shape[0] * scale)))
        factor_x, factor_y = new_w / region.shape[1], new_h / region.shape[0]
        region = cv2.resize(region, (new_w, new_h), interpolation=cv2.INTER_AREA)
        face = _scaled(face, (factor_x + factor_y) / 2.0, x0, y0)
        bgr = region
    matrix = alignment_matrix(face, size, margin)
    return cv2.warpAffine(bgr, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def face_in_canonical_crop(size: int = CANONICAL_CROP_SIZE, margin: float = CANONICAL_CROP_MARGIN) -> Face:
    """Where the face box lies inside a crop made by :func:`crop_face` (eyes level, centred)."""
    side = size / (1.0 + 2.0 * margin)
    offset = (size - side) / 2.0
    box = (int(round(offset)), int(round(offset)), int(round(side)), int(round(side)))
    return Face(box=box, score=1.0, keypoints={})


def canonical_crop(bgr: NDArray[Any], face: Face) -> NDArray[Any]:
    """The crop enrollment stores and embedders embed from."""
    return crop_face(bgr, face, CANONICAL_CROP_SIZE, CANONICAL_CROP_MARGIN)
