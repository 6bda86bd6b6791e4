"""Decoding images from bytes or files, the one place where untrusted pixels enter.

Every image the kiosk handles (a camera frame, an uploaded enrollment photo, a webcam shot,
a gesture sample's frame, a file given on the command line) goes through
:func:`decode_image`, so the formats, the layouts, the limits and the colour order are
decided once:

* JPEG, PNG, WebP, BMP and TIFF are read (recognised by their first bytes); anything else,
  PNM/PAM and GIF included, is refused;
* the result is always a 3-channel **BGR** ``uint8`` array (OpenCV's order), whatever the
  file holds: gray, gray+alpha, RGBA, 16-bit, palette, CMYK. Alpha is dropped and 16 bits
  become 8. Code that feeds a model wanting RGB converts with :func:`bgr_to_rgb` at that
  model's door;
* the EXIF orientation is applied (a phone portrait stored sideways comes out upright): for
  JPEG and PNG by OpenCV, for WebP here;
* bytes after a JPEG's end-of-image marker or a PNG's IEND chunk are ignored (some phones
  append data there), but a file that stops *before* them is refused as truncated: OpenCV
  would otherwise fill the missing part with grey;
* anything undecodable, truncated, or more than ``max_pixels`` raises :class:`BadImage` with
  a message a person can read.

:func:`image_size` reads the size an image declares in its header without decoding it, for
callers that refuse images too large for their purpose first (the kiosk's frame API).
"""

from __future__ import annotations

import io
import struct
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image

# 40 megapixels: larger than any phone photo, far smaller than a decompression bomb.
DEFAULT_MAX_PIXELS = 40_000_000

_JPEG_MAGIC = b"\xff\xd8\xff"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_EXIF_ORIENTATION_TAG = 0x0112
# Markers that stand alone (no length field): TEM, RSTn, SOI, EOI.
_JPEG_STANDALONE = {0x01, *range(0xD0, 0xD8), 0xD8, 0xD9}
# Start-of-frame markers (the ones carrying the size); C4, C8 and CC share the range but are not.
_JPEG_SOF = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


class BadImage(ValueError):
    """The bytes are not an image the kiosk can use. ``str(err)`` is shown to people."""


def _jpeg_layout(data: bytes) -> tuple[tuple[int, int] | None, bool]:
    """(width, height) from the frame header, and whether the end-of-image marker is reached.

    Walks the segments by their lengths (so a thumbnail inside the EXIF segment, which has an
    end marker of its own, is skipped) and, after each start of scan, the entropy-coded data
    up to the next real marker (``FF 00`` is a stuffed byte, ``FF D0``-``D7`` restart markers).
    Progressive files have several scans; each is followed the same way."""
    size: tuple[int, int] | None = None
    n = len(data)
    i = 2
    while i < n - 1:
        if data[i] != 0xFF:  # stray bytes between segments: skip them as libjpeg does
            i += 1
            continue
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0xD9:
            return size, True
        if marker in _JPEG_STANDALONE or marker == 0x00:
            i += 2
            continue
        if i + 4 > n:
            return size, False
        seg_len = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if marker in _JPEG_SOF and i + 9 <= n:
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            size = (int(width), int(height))
        i += 2 + seg_len
        if marker == 0xDA:  # start of scan: skip the entropy-coded data to the next marker
            while True:
                i = data.find(b"\xff", i)
                if i < 0 or i + 1 >= n:
                    return size, False
                following = data[i + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF:
                    i += 1 if following == 0xFF else 2
                    continue
                break
    return size, False


def _png_layout(data: bytes) -> tuple[tuple[int, int] | None, bool]:
    """(width, height) from IHDR, and whether the IEND chunk is reached (chunks walked by length)."""
    size = None
    if len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        size = (int(width), int(height))
    i, n = 8, len(data)
    while i + 8 <= n:
        length, kind = struct.unpack(">I4s", data[i : i + 8])
        if kind == b"IEND":
            return size, i + 12 <= n  # with its CRC
        i += 12 + length
    return size, False


# The formats the kiosk takes, by their first bytes. OpenCV reads more (PNM/PAM, Sun raster,
# JPEG 2000, HDR, ...), but nobody sends a photo in those, it reads some wrongly (a PAM with
# gray+alpha comes out as two channels, or scrambled as colour), and each is one more parser
# facing the network.
ACCEPTED_FORMATS = "JPEG, PNG, WebP, BMP or TIFF"


def _format(data: bytes) -> str | None:
    if data.startswith(_JPEG_MAGIC):
        return "jpeg"
    if data.startswith(_PNG_MAGIC):
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:2] == b"BM":
        return "bmp"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    return None


def _layout(kind: str, data: bytes) -> tuple[tuple[int, int] | None, bool]:
    """(declared size or None, complete) for JPEG and PNG, read before decoding (guards against
    bombs and truncation); other formats are left to OpenCV (size capped by
    ``OPENCV_IO_MAX_IMAGE_PIXELS``, see kiosk/__init__.py)."""
    if kind == "jpeg":
        return _jpeg_layout(data)
    if kind == "png":
        return _png_layout(data)
    return None, True


def _jpeg_header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the first start-of-frame segment, walking only the segments before it
    (libjpeg refuses a second frame header, so the first is the one that would be decoded)."""
    n = len(data)
    i = 2
    while i + 1 < n:
        if data[i] != 0xFF:  # stray bytes between segments, as libjpeg tolerates them
            i += 1
            continue
        marker = data[i + 1]
        if marker == 0xFF:
            i += 1
            continue
        if marker in _JPEG_STANDALONE or marker == 0x00:
            if marker == 0xD9:
                return None  # the end of the image before any frame header
            i += 2
            continue
        if marker == 0xDA:
            return None  # a scan before any frame header: nothing says how large the image is
        if i + 4 > n:
            return None
        if marker in _JPEG_SOF:
            if i + 9 > n:
                return None
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return int(width), int(height)
        i += 2 + struct.unpack(">H", data[i + 2 : i + 4])[0]
    return None


def _webp_header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the first chunk of a WebP: VP8 (lossy), VP8L (lossless) or VP8X
    (extended: the canvas size, which animations and alpha use)."""
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    return None


def _bmp_header_size(data: bytes) -> tuple[int, int] | None:
    if len(data) < 26:
        return None
    header_size = struct.unpack("<I", data[14:18])[0]
    if header_size == 12:  # OS/2 BITMAPCOREHEADER: 16-bit sizes
        width, height = struct.unpack("<HH", data[18:22])
        return int(width), int(height)
    width, height = struct.unpack("<ii", data[18:26])
    return abs(int(width)), abs(int(height))  # a negative height is a top-down bitmap


def _tiff_header_size(data: bytes) -> tuple[int, int] | None:
    """ImageWidth (256) and ImageLength (257) of the first image file directory."""
    order = "<" if data[:2] == b"II" else ">"
    if len(data) < 8:
        return None
    offset = struct.unpack(order + "I", data[4:8])[0]
    if offset + 2 > len(data):
        return None
    count = struct.unpack(order + "H", data[offset : offset + 2])[0]
    found: dict[int, int] = {}
    for number in range(count):
        entry = offset + 2 + 12 * number
        if entry + 12 > len(data):
            return None
        tag, kind = struct.unpack(order + "HH", data[entry : entry + 4])
        if tag in (256, 257):
            if kind == 3:  # SHORT
                found[tag] = struct.unpack(order + "H", data[entry + 8 : entry + 10])[0]
            elif kind == 4:  # LONG
                found[tag] = struct.unpack(order + "I", data[entry + 8 : entry + 12])[0]
            else:
                return None
            if len(found) == 2:
                return found[256], found[257]
    return None


def _png_header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the IHDR chunk, which must come first."""
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


_HEADER_SIZE = {"jpeg": _jpeg_header_size, "png": _png_header_size, "webp": _webp_header_size,
                "bmp": _bmp_header_size, "tiff": _tiff_header_size}


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height) as the image's header declares them, read without decoding a pixel: the
    JPEG frame header (SOF), the PNG IHDR chunk, the WebP VP8/VP8L/VP8X header, the BMP and
    TIFF headers. It costs microseconds whatever the image's size, so a caller can refuse an
    image too large for its purpose before paying for :func:`decode_image` (a 7000x5700 JPEG
    takes about half a second of CPU to decode).

    Raises :class:`BadImage` for bytes of another format and for a header cut short."""
    if not data:
        raise BadImage("The image is empty.")
    kind = _format(data)
    if kind is None:
        raise BadImage(f"The file is not an image the kiosk can read ({ACCEPTED_FORMATS}).")
    size = _HEADER_SIZE[kind](data)
    if size is None:
        raise BadImage("The image file is incomplete (its header is cut short or damaged); please send it again.")
    return size


def _webp_orientation(data: bytes) -> int:
    """The EXIF orientation of a WebP (1 = upright); OpenCV applies it for JPEG and PNG itself."""
    if b"EXIF" not in data:
        return 1
    try:
        with Image.open(io.BytesIO(data)) as image:
            return int(image.getexif().get(_EXIF_ORIENTATION_TAG, 1))
    except Exception:  # noqa: BLE001 - an unreadable EXIF block leaves the pixels as stored
        return 1


# How to turn pixels stored with each EXIF orientation upright (2-8; 1 is upright already).
_UPRIGHT: dict[int, Callable[[NDArray[Any]], NDArray[Any]]] = {
    2: lambda image: cv2.flip(image, 1),
    3: lambda image: cv2.rotate(image, cv2.ROTATE_180),
    4: lambda image: cv2.flip(image, 0),
    5: cv2.transpose,
    6: lambda image: cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE),
    7: lambda image: cv2.rotate(cv2.transpose(image), cv2.ROTATE_180),
    8: lambda image: cv2.rotate(image, cv2.ROTATE_90_COUNTERCLOCKWISE),
}


def decode_image(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> NDArray[Any]:
    """Decode image bytes to an upright BGR uint8 array, or raise :class:`BadImage`."""
    if not data:
        raise BadImage("The image is empty.")
    kind = _format(data)
    if kind is None:
        raise BadImage(f"The file is not an image the kiosk can read ({ACCEPTED_FORMATS}).")
    size, complete = _layout(kind, data)
    if size is not None:
        width, height = size
        if width <= 0 or height <= 0:
            raise BadImage("The image has no pixels.")
        if width * height > max_pixels:
            raise BadImage(
                f"The image is too large ({width}x{height} pixels); "
                f"the limit is {max_pixels // 1_000_000} megapixels."
            )
    if not complete:
        raise BadImage("The image file is incomplete (truncated); please send it again.")
    buffer = np.frombuffer(data, dtype=np.uint8)
    try:
        # IMREAD_COLOR: every layout OpenCV reads comes out as 8-bit BGR (gray and gray+alpha
        # expanded, alpha dropped, 16 bits scaled, palettes and CMYK converted), upright for
        # JPEG and PNG. 32-bit integer and floating-point files decode to nothing: refused below.
        image = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    except cv2.error as err:  # OpenCV raises on some malformed headers
        raise BadImage("The file could not be read as an image.") from err
    if image is None or image.size == 0:
        raise BadImage(f"The file is not an image the kiosk can read ({ACCEPTED_FORMATS}).")
    if image.shape[0] * image.shape[1] > max_pixels:
        raise BadImage("The image is too large.")
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:  # not expected from IMREAD_COLOR
        raise BadImage("The image's pixel format is not supported; save it as an ordinary JPEG or PNG.")
    if kind == "webp":
        upright = _UPRIGHT.get(_webp_orientation(data))
        if upright is not None:
            image = upright(image)
    return np.ascontiguousarray(image)


def load_image(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> NDArray[Any]:
    """Read and decode an image file; a missing or unreadable file is a :class:`BadImage`."""
    try:
        data = Path(path).read_bytes()
    except (FileNotFoundError, IsADirectoryError, PermissionError) as err:
        raise BadImage(f"Cannot read {path}: {err.strerror or err}.") from err
    return decode_image(data, max_pixels=max_pixels)


def bgr_to_rgb(image: NDArray[Any]) -> NDArray[Any]:
    """The single BGR->RGB conversion: call it where a model that wants RGB is fed."""
    return np.ascontiguousarray(image[:, :, ::-1])


def encode_jpeg(image: NDArray[Any], quality: int = 90) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise BadImage("The image could not be encoded as JPEG.")
    return buf.tobytes()
