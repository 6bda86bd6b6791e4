"""Decoding images from bytes or files, the one place where untrusted pixels enter.

Every image the kiosk handles (a camera frame, an uploaded enrollment photo, a file
given on the command line) goes through :func:`decode_image`, so the limits and the
colour order are decided once:

* the result is always a 3-channel **BGR** ``uint8`` array (OpenCV's order); code that
  feeds a model wanting RGB converts with :func:`bgr_to_rgb` at that model's door;
* anything that is not a decodable JPEG/PNG/WebP/BMP, is truncated, or would decode
  to more than ``max_pixels`` raises :class:`BadImage` with a message a person can read.
"""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np

# 40 megapixels: larger than any phone photo, far smaller than a decompression bomb.
DEFAULT_MAX_PIXELS = 40_000_000

_JPEG_MAGIC = b"\xff\xd8\xff"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class BadImage(ValueError):
    """The bytes are not an image the kiosk can use. ``str(err)`` is shown to people."""


def _declared_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from the header, read before decoding (guards against bombs)."""
    if data.startswith(_PNG_MAGIC) and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data.startswith(_JPEG_MAGIC):
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                i += 1
                continue
            marker = data[i + 1]
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                i += 2
                continue
            seg_len = struct.unpack(">H", data[i + 2 : i + 4])[0]
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                height, width = struct.unpack(">HH", data[i + 5 : i + 9])
                return int(width), int(height)
            i += 2 + seg_len
    return None


def _is_truncated(data: bytes) -> bool:
    # OpenCV silently fills a truncated JPEG with grey; the end-of-image marker tells.
    if data.startswith(_JPEG_MAGIC):
        return not data.rstrip(b"\x00").endswith(b"\xff\xd9")
    if data.startswith(_PNG_MAGIC):
        return b"IEND" not in data[-16:]
    return False


def decode_image(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode image bytes to a BGR uint8 array, or raise :class:`BadImage`."""
    if not data:
        raise BadImage("The image is empty.")
    size = _declared_size(data)
    if size is not None:
        width, height = size
        if width <= 0 or height <= 0:
            raise BadImage("The image has no pixels.")
        if width * height > max_pixels:
            raise BadImage(
                f"The image is too large ({width}x{height} pixels); "
                f"the limit is {max_pixels // 1_000_000} megapixels."
            )
    if _is_truncated(data):
        raise BadImage("The image file is incomplete (truncated); please send it again.")
    buffer = np.frombuffer(data, dtype=np.uint8)
    try:
        image = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    except cv2.error as err:  # OpenCV raises on some malformed headers
        raise BadImage("The file could not be read as an image.") from err
    if image is None or image.size == 0:
        raise BadImage("The file is not an image the kiosk can read (JPEG, PNG, WebP or BMP).")
    if image.shape[0] * image.shape[1] > max_pixels:
        raise BadImage("The image is too large.")
    if image.dtype != np.uint8:
        # 16-bit PNGs: scale to 8 bits so every model sees the same range.
        image = (image / 257).astype(np.uint8) if image.dtype == np.uint16 else image.astype(np.uint8)
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return np.ascontiguousarray(image)


def load_image(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read and decode an image file; a missing or unreadable file is a :class:`BadImage`."""
    try:
        data = Path(path).read_bytes()
    except (FileNotFoundError, IsADirectoryError, PermissionError) as err:
        raise BadImage(f"Cannot read {path}: {err.strerror or err}.") from err
    return decode_image(data, max_pixels=max_pixels)


def bgr_to_rgb(image: np.ndarray) -> np.ndarray:
    """The single BGR->RGB conversion: call it where a model that wants RGB is fed."""
    return np.ascontiguousarray(image[:, :, ::-1])


def encode_jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise BadImage("The image could not be encoded as JPEG.")
    return buf.tobytes()
