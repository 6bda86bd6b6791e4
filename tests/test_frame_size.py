"""Issue 21, part 4: a kiosk frame larger than the kiosk asks for is refused from its header
(413 ``frame_too_large``), before it costs a decode; a header cut short is a 400 ``bad_image``,
never a 500.

``kiosk.vision.image.image_size`` reads the declared size of real JPEG (baseline, progressive,
with an EXIF thumbnail), PNG, WebP (lossy VP8, lossless VP8L, extended VP8X), BMP and TIFF files
made by OpenCV and Pillow, and agrees with what the decoder makes of them.
"""

from __future__ import annotations

import io
import struct
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from kiosk.extensions import db
from kiosk.models import AttendanceEvent
from kiosk.vision.image import BadImage, decode_image, image_size

FRAMES = "/api/v1/kiosk/frames"
DATA = Path(__file__).resolve().parent / "data"


def photo_like(width: int, height: int, seed: int = 1) -> np.ndarray:
    """Smooth gradients with a little noise: compresses like a photo (a 7000x5700 one to ~0.7 MB
    as JPEG), not like flat grey or pure noise."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    image = np.empty((height, width, 3), np.uint8)
    image[..., 0] = (x * 0.6 + y * 0.3) % 256
    image[..., 1] = (x * 0.2 + y * 0.7) % 256
    image[..., 2] = np.clip((x + y) / 2 + rng.normal(0, 2, (height, width)), 0, 255)
    return image


def encoded(image: np.ndarray, ext: str, *params: int) -> bytes:
    ok, buffer = cv2.imencode(ext, image, list(params))
    assert ok
    return buffer.tobytes()


def pillow(image: np.ndarray, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    Image.fromarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB)).save(out, fmt, **options)
    return out.getvalue()


def with_exif_thumbnail(jpeg: bytes) -> bytes:
    """A JPEG whose APP1 (EXIF) segment carries a 160x120 JPEG thumbnail, as cameras write: its
    own SOF comes first in the file and must not be taken for the image's."""
    thumbnail = encoded(photo_like(160, 120, 3), ".jpg")
    # A minimal big-endian TIFF: IFD0 with no entries, IFD1 pointing at the thumbnail.
    ifd1_offset = 8 + 2 + 4
    ifd1 = struct.pack(">H", 2)
    data_offset = ifd1_offset + 2 + 2 * 12 + 4
    ifd1 += struct.pack(">HHII", 0x0201, 4, 1, data_offset) + struct.pack(">HHII", 0x0202, 4, 1, len(thumbnail))
    ifd1 += struct.pack(">I", 0)
    tiff = b"MM\x00*" + struct.pack(">I", 8) + struct.pack(">H", 0) + struct.pack(">I", ifd1_offset) + ifd1 + thumbnail
    payload = b"Exif\x00\x00" + tiff
    app1 = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    return jpeg[:2] + app1 + jpeg[2:]


SMALL = photo_like(320, 200)


def samples() -> dict[str, tuple[bytes, tuple[int, int]]]:
    image = SMALL
    size = (320, 200)
    return {
        "jpeg": (encoded(image, ".jpg", cv2.IMWRITE_JPEG_QUALITY, 85), size),
        "jpeg_progressive": (encoded(image, ".jpg", cv2.IMWRITE_JPEG_PROGRESSIVE, 1), size),
        "jpeg_exif_thumbnail": (with_exif_thumbnail(encoded(image, ".jpg")), size),
        "jpeg_pillow_optimised": (pillow(image, "JPEG", optimize=True, quality=80), size),
        "png": (encoded(image, ".png"), size),
        "png_gray_16bit": (encoded((cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.uint16) * 257), ".png"), size),
        "webp_lossy": (encoded(image, ".webp", cv2.IMWRITE_WEBP_QUALITY, 80), size),
        "webp_lossless": (encoded(image, ".webp", cv2.IMWRITE_WEBP_QUALITY, 101), size),
        "webp_extended": (pillow(image, "WEBP", quality=80, exif=Image.Exif().tobytes()), size),
        "webp_alpha": (encoded(cv2.cvtColor(image, cv2.COLOR_BGR2BGRA), ".webp", cv2.IMWRITE_WEBP_QUALITY, 80), size),
        "bmp": (encoded(image, ".bmp"), size),
        "tiff": (encoded(image, ".tiff"), size),
        "tiff_big_endian": (_big_endian_tiff(image), size),
    }


def _big_endian_tiff(image: np.ndarray) -> bytes:
    """A minimal uncompressed big-endian ("MM") RGB TIFF (OpenCV and Pillow write little-endian ones)."""
    height, width = image.shape[:2]
    pixels = cv2.cvtColor(image, cv2.COLOR_BGR2RGB).tobytes()
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8 << 16), (259, 3, 1, 1 << 16),
               (262, 3, 1, 2 << 16), (273, 4, 1, 0), (277, 3, 1, 3 << 16), (278, 4, 1, height),
               (279, 4, 1, len(pixels))]
    ifd_size = 2 + 12 * len(entries) + 4
    pixel_offset = 8 + ifd_size
    entries[5] = (273, 4, 1, pixel_offset)
    ifd = struct.pack(">H", len(entries)) + b"".join(struct.pack(">HHII", *entry) for entry in entries)
    return b"MM\x00*" + struct.pack(">I", 8) + ifd + struct.pack(">I", 0) + pixels


@pytest.mark.parametrize("name", list(samples()))
def test_header_size_of_real_files_matches_the_decoder(name):
    data, size = samples()[name]
    assert image_size(data) == size
    decoded = decode_image(data)
    assert (decoded.shape[1], decoded.shape[0]) == size


def test_header_size_of_the_committed_test_photos_matches_the_decoder():
    """Every real photo in tests/data (phones, LFW, composites, layouts): stored size = decoded
    size, or its transpose for a photo that EXIF turns upright."""
    checked = 0
    for path in sorted(DATA.rglob("*")):
        if path.suffix.lower() not in (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"):
            continue
        data = path.read_bytes()
        try:
            decoded = decode_image(data)
        except BadImage:
            continue  # the committed bad images (bombs, truncated) have tests of their own
        width, height = image_size(data)
        assert (width, height) in ((decoded.shape[1], decoded.shape[0]), (decoded.shape[0], decoded.shape[1])), path
        checked += 1
    assert checked >= 20


def cut_points(data: bytes, name: str) -> list[int]:
    """Lengths that stop inside or before the size fields of the header."""
    if name.startswith("jpeg"):
        sof = next(i for i in range(2, len(data) - 1) if data[i] == 0xFF and data[i + 1] in (0xC0, 0xC1, 0xC2))
        return [0, 1, 2, 3, 4, 5, 10, sof, sof + 1, sof + 4, sof + 6, sof + 8]
    if name.startswith("png"):
        return [0, 4, 8, 12, 16, 20, 23]
    if name.startswith("webp"):
        header_end = 25 if data[12:16] == b"VP8L" else 30  # the size fields end there
        return [0, 4, 11, 12, 16, 20, 22, header_end - 2, header_end - 1]
    if name == "bmp":
        return [0, 2, 14, 18, 22, 25]
    # TIFF: the header, the first directory's entry count, then up to the last of its width and
    # height entries.
    order = "<" if data[:2] == b"II" else ">"
    ifd = struct.unpack(order + "I", data[4:8])[0]
    count = struct.unpack(order + "H", data[ifd:ifd + 2])[0]
    tags = [struct.unpack(order + "H", data[ifd + 2 + 12 * k:ifd + 4 + 12 * k])[0] for k in range(count)]
    last = max(tags.index(256), tags.index(257))
    return [0, 2, 4, 7, ifd, ifd + 1, ifd + 2, ifd + 2 + 12 * last + 4, ifd + 2 + 12 * (last + 1) - 1]


@pytest.mark.parametrize("name", list(samples()))
def test_a_header_cut_short_is_a_bad_image(name):
    data, _ = samples()[name]
    for length in cut_points(data, name):
        with pytest.raises(BadImage):
            image_size(data[:length])


def test_other_formats_and_junk_are_bad_images():
    for data in (b"", b"GIF89a" + b"\x00" * 20, b"P6\n10 10\n255\n", b"not an image at all", b"\xff\xd8\xff"):
        with pytest.raises(BadImage):
            image_size(data)


# ---------------------------------------------------------------------------- through the frame API


@pytest.fixture(scope="module")
def huge_jpeg() -> bytes:
    """The issue's frame: a 7000x5700 photo-like JPEG (~0.7 MB)."""
    return encoded(photo_like(7000, 5700), ".jpg", cv2.IMWRITE_JPEG_QUALITY, 85)


def files_under(folder: Path) -> list[Path]:
    return sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file() and "kiosk.sqlite3" not in p.name)


def test_a_7000x5700_frame_is_refused_before_it_is_decoded(app, client, data_dir, huge_jpeg, monkeypatch):
    from kiosk.services import checkin
    from kiosk.web.api import kiosk as kiosk_api

    def must_not_decode(*args, **kwargs):
        raise AssertionError("an oversized frame reached the decoder")

    monkeypatch.setattr(checkin, "decode_image", must_not_decode)
    before = files_under(data_dir)
    sessions_before = len(checkin.registry)
    started = time.process_time()
    response = client.post(FRAMES, data=huge_jpeg, content_type="image/jpeg")
    refuse_cpu_s = time.process_time() - started
    assert response.status_code == 413, response.get_data(as_text=True)
    body = response.get_json()
    assert body["error"] == "frame_too_large"
    assert "7000x5700" in body["detail"] and "1280" in body["message"]
    assert (body["width"], body["height"], body["max_side"]) == (7000, 5700, 1280)
    assert "session" not in response.headers.get("Set-Cookie", "")  # no kiosk session was opened
    assert files_under(data_dir) == before
    assert db.session.query(AttendanceEvent).count() == 0
    assert len(checkin.registry) == sessions_before

    # The same refusal as multipart, the other way a frame may come.
    multipart = client.post(FRAMES, data={"frame": (io.BytesIO(huge_jpeg), "frame.jpg")},
                            content_type="multipart/form-data")
    assert multipart.status_code == 413 and multipart.get_json()["error"] == "frame_too_large"

    monkeypatch.undo()
    started = time.process_time()
    decode_image(huge_jpeg)
    decode_cpu_s = time.process_time() - started
    started = time.process_time()
    for _ in range(100):
        image_size(huge_jpeg)
    header_cpu_ms = (time.process_time() - started) * 10
    print(f"\n[frame size] 7000x5700 JPEG, {len(huge_jpeg) // 1024} KB: decode {decode_cpu_s * 1000:.0f} ms CPU; "
          f"header read {header_cpu_ms:.3f} ms; refused through the API in {refuse_cpu_s * 1000:.1f} ms CPU "
          f"(request handling included)")
    assert kiosk_api.FrameTooLarge.status == 413


@pytest.mark.parametrize("size", [(1281, 720), (720, 1281), (2000, 1500)])
@pytest.mark.parametrize("fmt", [".png", ".webp", ".bmp", ".jpg"])
def test_frames_wider_or_taller_than_the_limit_are_413_in_every_format(client, size, fmt):
    data = encoded(photo_like(*size), fmt)
    response = client.post(FRAMES, data=data, content_type="image/png" if fmt == ".png" else "image/jpeg")
    assert response.status_code == 413, (fmt, size, response.get_json())
    assert response.get_json()["error"] == "frame_too_large"


def test_the_limit_is_a_setting(app, client):
    app.config["KIOSK_MAX_FRAME_SIDE"] = 320
    response = client.post(FRAMES, data=encoded(photo_like(640, 480), ".jpg"), content_type="image/jpeg")
    assert response.status_code == 413 and "320 pixels" in response.get_json()["message"]


@pytest.mark.models
@pytest.mark.parametrize("size", [(640, 480), (480, 640), (1280, 960), (1280, 1280)])
def test_frames_the_page_sends_and_a_margin_above_are_analysed(client, size):
    """The page scales every frame to next_frame.width (640) on its longer side
    (static/js/kiosk.js frameSize); up to 1280 on each side is still analysed."""
    response = client.post(FRAMES, data=encoded(photo_like(*size), ".jpg"), content_type="image/jpeg")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["state"] == "IDLE"


@pytest.mark.parametrize("name", ["jpeg", "png", "webp_lossy", "webp_lossless", "webp_extended", "tiff"])
def test_a_frame_whose_header_is_cut_short_is_400_bad_image(client, data_dir, name):
    data, _ = samples()[name]
    before = files_under(data_dir)
    for length in cut_points(data, name)[1:]:
        response = client.post(FRAMES, data=data[:length], content_type="image/jpeg")
        assert response.status_code == 400, (name, length, response.get_data(as_text=True)[:200])
        assert response.get_json()["error"] == "bad_image"
    assert files_under(data_dir) == before


def test_the_kiosk_page_never_sends_a_frame_larger_than_asked():
    """static/js/kiosk.js scales the camera picture so that its longer side is at most the width
    the server asks for (never up): the server's largest ask (640) is half the limit."""
    from kiosk.checkin.machine import CheckInMachine, State
    from kiosk.config import Config

    script = (Path(__file__).resolve().parent.parent / "static" / "js" / "kiosk.js").read_text()
    assert "var scale = Math.min(1, width / Math.max(videoWidth, videoHeight));" in script
    assert "loop.frameWidth = wanted.width || DEFAULT_FRAME_WIDTH;" in script
    assert "var DEFAULT_FRAME_WIDTH = 640;" in script
    machine = CheckInMachine.__new__(CheckInMachine)
    widths = set()
    for state in State:
        machine.state = state
        widths.add(machine.frame_wanted()[0])
    assert max(widths) * 2 <= Config().KIOSK_MAX_FRAME_SIDE


def test_damaged_headers_never_raise_anything_but_bad_image():
    """Seeded mutations of every sample's first 200 bytes: a size (two non-negative ints) or
    BadImage, never another exception (the frame route turns BadImage into 400 bad_image)."""
    import random

    rng = random.Random(21)
    for name, (data, _) in samples().items():
        for _ in range(400):
            damaged = bytearray(data[: rng.choice((30, 60, 200, len(data)))])
            for _ in range(rng.randint(1, 12)):
                damaged[rng.randrange(len(damaged))] = rng.randrange(256)
            try:
                width, height = image_size(bytes(damaged))
            except BadImage:
                continue
            assert isinstance(width, int) and isinstance(height, int) and width >= 0 and height >= 0, name
