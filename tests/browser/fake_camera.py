"""Chromium's fake camera, fed from real photos (BRIEF section 8).

``write_y4m(path, frames)`` writes the Y4M file ``--use-file-for-fake-video-capture``
plays in a loop at 15 fps; ``webcam_frames(photo)`` turns one photo into a few frames that
look like a webcam's: framed head-and-shoulders at 640x480, with the small shifts and
exposure changes of a live picture (identical frames would hide bugs in code that compares
consecutive frames).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import cv2
import numpy as np

WIDTH, HEIGHT = 640, 480
# C420jpeg and an F rate are required: C420p/C444 give NotFoundError, no F hangs getUserMedia.
Y4M_HEADER = b"YUV4MPEG2 W640 H480 F15:1 Ip A1:1 C420jpeg\n"
BACKGROUND_GRAY = 40


def place_on_canvas(image: np.ndarray, width: int = WIDTH, height: int = HEIGHT,
                    background: int = BACKGROUND_GRAY) -> np.ndarray:
    """``image`` (BGR) scaled to fit a ``width`` x ``height`` canvas, centred, gray around it."""
    scale = min(width / image.shape[1], height / image.shape[0])
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    resized = cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    canvas = np.full((height, width, 3), background, np.uint8)
    top = (height - resized.shape[0]) // 2
    left = (width - resized.shape[1]) // 2
    canvas[top:top + resized.shape[0], left:left + resized.shape[1]] = resized
    return canvas


def _largest_face(image: np.ndarray) -> tuple[int, int, int, int] | None:
    # OpenCV's bundled Haar cascade: only to frame the test picture like a webcam would,
    # independent of the detector under test.
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    minimum = max(24, min(image.shape[:2]) // 10)
    faces = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=6, minSize=(minimum, minimum))
    if len(faces) == 0:
        return None
    x, y, w, h = max(faces, key=lambda f: f[2] * f[3])
    return int(x), int(y), int(w), int(h)


def webcam_view(
    photo: np.ndarray, face_height_share: float = 0.25
) -> tuple[np.ndarray, tuple[int, int, int, int] | None]:
    """A 640x480 head-and-shoulders view of ``photo`` and the face box (x, y, w, h) in it.

    The crop is 4:3 around the largest face, so the face takes about ``face_height_share``
    of the frame height and sits a little above the middle, as in front of a kiosk.
    Without a detectable face the whole photo is letterboxed and the box is None.
    """
    face = _largest_face(photo)
    if face is None:
        return place_on_canvas(photo), None
    x, y, w, h = face
    img_h, img_w = photo.shape[:2]
    crop_h = min(img_h, h / face_height_share)
    crop_w = crop_h * WIDTH / HEIGHT
    if crop_w > img_w:
        crop_w = img_w
        crop_h = crop_w * HEIGHT / WIDTH
    centre_x = x + w / 2
    centre_y = y + h / 2 + 0.05 * crop_h  # the face a little above the middle
    left = int(round(min(max(centre_x - crop_w / 2, 0), img_w - crop_w)))
    top = int(round(min(max(centre_y - crop_h / 2, 0), img_h - crop_h)))
    crop = photo[top:top + int(round(crop_h)), left:left + int(round(crop_w))]
    frame = place_on_canvas(crop)
    # The face box in frame pixels (place_on_canvas may letterbox a little after rounding).
    scale = min(WIDTH / crop.shape[1], HEIGHT / crop.shape[0])
    pad_x = (WIDTH - round(crop.shape[1] * scale)) // 2
    pad_y = (HEIGHT - round(crop.shape[0] * scale)) // 2
    box = (round((x - left) * scale) + pad_x, round((y - top) * scale) + pad_y, round(w * scale), round(h * scale))
    return frame, box


def live_jitter(frame: np.ndarray, count: int = 6, seed: int = 0) -> list[np.ndarray]:
    """``count`` copies of ``frame`` shifted by up to 3 px and with +-4% exposure, like a
    steady person in front of a webcam."""
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(count):
        dx, dy = rng.integers(-3, 4, size=2)
        shift = np.float32([[1, 0, dx], [0, 1, dy]])
        moved = cv2.warpAffine(frame, shift, (frame.shape[1], frame.shape[0]), borderMode=cv2.BORDER_REPLICATE)
        gain = 1 + rng.uniform(-0.04, 0.04)
        frames.append(np.clip(moved.astype(np.float32) * gain, 0, 255).astype(np.uint8))
    return frames


def webcam_frames(photo_path: Path, count: int = 6, seed: int = 0) -> list[np.ndarray]:
    image = cv2.imread(str(photo_path))
    if image is None:
        raise FileNotFoundError(photo_path)
    frame, _ = webcam_view(image)
    return live_jitter(frame, count, seed)


def write_y4m(path: Path, frames: Iterable[np.ndarray]) -> Path:
    """Write BGR 640x480 ``frames`` as the Y4M Chromium's fake camera plays (looping, 15 fps)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with open(path, "wb") as handle:
        handle.write(Y4M_HEADER)
        for frame in frames:
            if frame.shape != (HEIGHT, WIDTH, 3) or frame.dtype != np.uint8:
                raise ValueError(f"fake-camera frames must be {WIDTH}x{HEIGHT} BGR uint8, got {frame.shape}")
            handle.write(b"FRAME\n")
            handle.write(cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
            count += 1
    if not count:
        raise ValueError("a fake-camera file needs at least one frame")
    return path
