"""Kiosk frames of presentation attacks and of live-like people, built from real photos.

No public data shows a person making the kiosk's gestures with a print over the face, nor the
same person neutral and then smiling in a kiosk's frame, so the liveness tests and the
evaluation (``training/evaluate_liveness.py``) build them from real photos, as the arm
composites of tests/data/gestures were built:

* :func:`held_print`: a head-and-shoulders print of an enrolled person (a real photo, cropped
  around the face, a white border) held over the face of a body making the gestures; its face
  sized like the covered face (the attacker wants it recognised), optionally moved and turned a
  little on each frame (a hand-held print);
* :func:`phone_screen`: the same photo on a phone screen (dark bezel, a little glare) held over
  the face;
* :func:`swap_face`: a live-like frame: another photo of the *same* person aligned onto the body's
  face (similarity transform on the eyes and mouth, Poisson-blended), so that one body can show
  the person's neutral face and then the person's smile.

Pure OpenCV and the kiosk's face detector; no Flask.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ..vision.faces import Face, detect_faces


def _main_face(bgr: np.ndarray) -> Face:
    faces = detect_faces(bgr)
    if not faces:
        raise ValueError("no face in the photo")
    return max(faces, key=lambda f: f.area)


def _anchor_points(face: Face) -> np.ndarray:
    keys = face.keypoints
    if all(k in keys for k in ("right_eye", "left_eye", "mouth_center")):
        return np.float32([keys["right_eye"], keys["left_eye"], keys["mouth_center"]])
    x, y, w, h = face.box
    return np.float32([[x + 0.3 * w, y + 0.35 * h], [x + 0.7 * w, y + 0.35 * h], [x + 0.5 * w, y + 0.78 * h]])


def swap_face(body: np.ndarray, source: np.ndarray) -> np.ndarray:
    """``body`` with the face of ``source`` (another photo of the same person) in place of its own:
    the inner face (eyes to chin) only, its colours matched to the body's, feathered in. A larger
    patch changed what the pose model read of the arms around the head (an O read as idle)."""
    target_face, source_face = _main_face(body), _main_face(source)
    matrix, _ = cv2.estimateAffinePartial2D(_anchor_points(source_face), _anchor_points(target_face))
    size = (body.shape[1], body.shape[0])
    warped = cv2.warpAffine(source, matrix, size, borderMode=cv2.BORDER_REFLECT).astype(np.float32)
    x, y, w, h = target_face.box
    mask = np.zeros(body.shape[:2], np.float32)
    cv2.ellipse(mask, (int(x + w / 2), int(y + h * 0.58)), (int(w * 0.36), int(h * 0.42)), 0, 0, 360, 1.0, -1)
    inside = mask > 0
    base = body.astype(np.float32)
    for channel in range(3):  # the source's light on the body's skin tone
        src, dst = warped[..., channel][inside], base[..., channel][inside]
        warped[..., channel] = (warped[..., channel] - src.mean()) / (src.std() + 1e-6) * dst.std() + dst.mean()
    mask = cv2.GaussianBlur(mask, (0, 0), max(1.0, w * 0.05))[..., None]
    return np.clip(warped * mask + base * (1 - mask), 0, 255).astype(np.uint8)


def _print_of(photo: np.ndarray, border: float = 0.04) -> tuple[np.ndarray, Face]:
    """A head-and-shoulders print cut from ``photo`` around its face, with a white border; and
    the face's place on the print."""
    face = _main_face(photo)
    x, y, w, h = face.box
    x0, x1 = int(max(0, x - 0.9 * w)), int(min(photo.shape[1], x + 1.9 * w))
    y0, y1 = int(max(0, y - 0.8 * h)), int(min(photo.shape[0], y + 2.0 * h))
    crop = photo[y0:y1, x0:x1]
    pad = max(2, int(border * crop.shape[1]))
    printed = cv2.copyMakeBorder(crop, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(245, 245, 245))
    return printed, Face((x - x0 + pad, y - y0 + pad, w, h), face.score)


def _paste(body: np.ndarray, item: np.ndarray, item_face: Face, scale: float, shift: tuple[float, float],
           angle: float) -> np.ndarray:
    """``item`` (a print, a phone) over ``body``'s face: its face ``scale`` x the body's face width,
    centred on the body's face centre plus ``shift`` (in body face widths), turned by ``angle``."""
    face = _main_face(body)
    zoom = scale * face.box[2] / item_face.box[2]
    fx, fy = item_face.center
    bx, by = face.center
    bx += shift[0] * face.box[2]
    by += shift[1] * face.box[2]
    matrix = cv2.getRotationMatrix2D((fx, fy), angle, zoom)
    matrix[0, 2] += bx - fx
    matrix[1, 2] += by - fy
    size = (body.shape[1], body.shape[0])
    warped = cv2.warpAffine(item, matrix, size, flags=cv2.INTER_AREA if zoom < 1 else cv2.INTER_LINEAR)
    mask = cv2.warpAffine(np.full(item.shape[:2], 255, np.uint8), matrix, size, flags=cv2.INTER_NEAREST)
    out = body.copy()
    out[mask > 0] = warped[mask > 0]
    return out


def held_print(body: np.ndarray, photo: np.ndarray, *, scale: float = 1.0, shift: tuple[float, float] = (0.0, 0.0),
               angle: float = 0.0) -> np.ndarray:
    """A print of ``photo``'s person held over the face in ``body``."""
    printed, face = _print_of(photo)
    return _paste(body, printed, face, scale, shift, angle)


def phone_screen(body: np.ndarray, photo: np.ndarray, *, scale: float = 1.0,
                 shift: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """``photo`` shown on a phone (a dark bezel, a brighter, bluish, slightly glared screen) over the face."""
    printed, face = _print_of(photo, border=0.0)
    screen = np.clip(printed.astype(np.float32) * [1.08, 1.0, 0.92] + 18, 0, 255)
    height, width = screen.shape[:2]
    glare = np.linspace(0, 1, width)[None, :, None] * np.linspace(1, 0, height)[:, None, None] * 40
    screen = np.clip(screen + glare, 0, 255).astype(np.uint8)
    bezel = max(4, width // 14)
    phone = cv2.copyMakeBorder(screen, bezel * 2, bezel * 2, bezel, bezel, cv2.BORDER_CONSTANT, value=(20, 20, 22))
    x, y, w, h = face.box
    return _paste(body, phone, Face((x + bezel, y + 2 * bezel, w, h), face.score), scale, shift, 0.0)


def wobble(count: int, seed: int = 0, reach: float = 0.06,
           turn: float = 4.0) -> list[tuple[tuple[float, float], float]]:
    """(shift, angle) per frame of a hand that holds something up: a slow sway plus a tremor."""
    rng = np.random.default_rng(seed)
    moves = []
    for i in range(count):
        sway = math.sin(i / 4.0)
        shift = (reach * sway + rng.normal(0, reach / 4), reach / 2 * math.cos(i / 5.0) + rng.normal(0, reach / 4))
        moves.append((shift, turn * sway + rng.normal(0, turn / 4)))
    return moves
