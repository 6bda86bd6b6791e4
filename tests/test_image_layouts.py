"""Every image layout a phone, a scanner or a webcam may send, decoded in one place
(kiosk/vision/image.py) to upright 8-bit BGR, or refused with a 400/422 ``bad_image``:
never a 500, on every path an image comes in by (kiosk frame, admin page, admin API, the live
face check, a gesture sample's frame, the command line).

The images are real photos from tests/data re-saved in each layout with Pillow/OpenCV.
"""

from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from kiosk.extensions import db
from kiosk.models import FaceSample, GestureSample, Person
from kiosk.vision.image import BadImage, decode_image

DATA = Path(__file__).resolve().parent / "data"
FACE = DATA / "faces" / "lfw_Colin_Powell" / "1.jpg"
BODY = DATA / "gestures" / "composite_obama_both_arms_up.jpg"


def pil_bytes(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def pam_gray_alpha(path: Path) -> bytes:
    """A PAM (P7) file with TUPLTYPE GRAYSCALE_ALPHA: OpenCV reads it as 2 channels."""
    pixels = np.asarray(Image.open(path).convert("LA"))
    height, width = pixels.shape[:2]
    header = f"P7\nWIDTH {width}\nHEIGHT {height}\nDEPTH 2\nMAXVAL 255\nTUPLTYPE GRAYSCALE_ALPHA\nENDHDR\n"
    return header.encode() + pixels.tobytes()


def png_gray_alpha_16bit(path: Path) -> bytes:
    """A 16-bit gray+alpha PNG (colour type 4), written chunk by chunk (Pillow cannot write one)."""
    gray = np.asarray(Image.open(path).convert("L")).astype(">u2") * 257
    pixels = np.dstack([gray, np.full_like(gray, 65535)]).astype(">u2")
    height, width = gray.shape
    raw = b"".join(b"\0" + row.tobytes() for row in pixels)

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", width, height, 16, 4, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def portrait_stored_sideways(path: Path, fmt: str = "JPEG") -> bytes:
    """What a phone writes for a portrait: pixels stored turned 90 degrees left, EXIF Orientation=6
    (rotate 90 degrees clockwise to show)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return pil_bytes(Image.open(path).convert("RGB").transpose(Image.Transpose.ROTATE_90), fmt, exif=exif, quality=95)


def layouts(path: Path) -> dict[str, bytes]:
    photo = Image.open(path).convert("RGB")
    bgr = cv2.imread(str(path))
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    return {
        "gray_png": pil_bytes(photo.convert("L"), "PNG"),
        "gray_alpha_png": pil_bytes(photo.convert("LA"), "PNG"),
        "gray_alpha_16bit_png": png_gray_alpha_16bit(path),
        "rgba_png": pil_bytes(photo.convert("RGBA"), "PNG"),
        "palette_png": pil_bytes(photo.convert("P"), "PNG"),
        "bilevel_png": pil_bytes(photo.convert("1"), "PNG"),
        "gray_16bit_png": cv2.imencode(".png", gray.astype(np.uint16) * 257)[1].tobytes(),
        "rgb_16bit_png": cv2.imencode(".png", bgr.astype(np.uint16) * 257)[1].tobytes(),
        "gray_jpeg": pil_bytes(photo.convert("L"), "JPEG", quality=95),
        "cmyk_jpeg": pil_bytes(photo.convert("CMYK"), "JPEG", quality=95),
        "cmyk_tiff": pil_bytes(photo.convert("CMYK"), "TIFF"),
        "gray_alpha_tiff": pil_bytes(photo.convert("LA"), "TIFF"),
        "palette_bmp": pil_bytes(photo.convert("P"), "BMP"),
        "rgba_webp": pil_bytes(photo.convert("RGBA"), "WEBP", lossless=True),
    }


@pytest.mark.parametrize("layout", sorted(layouts(FACE)))
def test_every_layout_decodes_to_8bit_bgr_as_pillow_reads_it(layout):
    data = layouts(FACE)[layout]
    # Pillow is the second opinion: its RGB reading of the same bytes (alpha dropped, CMYK,
    # palette and 16 bits converted), turned to BGR.
    expected = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))[:, :, ::-1].astype(int)
    if layout in ("gray_16bit_png", "gray_alpha_16bit_png"):  # Pillow clips 16-bit gray instead of scaling
        expected = np.repeat(cv2.cvtColor(cv2.imread(str(FACE)), cv2.COLOR_BGR2GRAY)[:, :, None], 3, axis=2)
    image = decode_image(data)
    assert image.dtype == np.uint8 and image.shape == expected.shape, (layout, image.shape, image.dtype)
    assert np.abs(image.astype(int) - expected).mean() < 3, layout


@pytest.mark.parametrize("name, data", [
    ("pam_gray_alpha", pam_gray_alpha(FACE)),
    ("pgm", b"P5\n250 250\n255\n" + bytes(250 * 250)),
    ("gif", pil_bytes(Image.open(FACE).convert("P"), "GIF")),
    ("float_tiff", pil_bytes(Image.open(FACE).convert("F"), "TIFF")),
])
def test_formats_the_kiosk_does_not_take_are_refused_with_a_message(name, data):
    with pytest.raises(BadImage) as refused:
        decode_image(data)
    assert "JPEG, PNG" in str(refused.value), name


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("fmt", ["JPEG", "WEBP"])
def test_exif_orientation_is_applied(orientation, fmt):
    upright = Image.open(FACE).convert("RGB")
    # The inverse of what each orientation asks a viewer to do, as cameras store it.
    stored = {
        1: upright,
        2: upright.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
        3: upright.transpose(Image.Transpose.ROTATE_180),
        4: upright.transpose(Image.Transpose.FLIP_TOP_BOTTOM),
        5: upright.transpose(Image.Transpose.TRANSPOSE),
        6: upright.transpose(Image.Transpose.ROTATE_90),
        7: upright.transpose(Image.Transpose.TRANSVERSE),
        8: upright.transpose(Image.Transpose.ROTATE_270),
    }[orientation]
    exif = Image.Exif()
    exif[0x0112] = orientation
    image = decode_image(pil_bytes(stored, fmt, exif=exif, quality=95))
    reference = cv2.imread(str(FACE))
    assert image.shape == reference.shape
    assert np.abs(image.astype(int) - reference).mean() < 6


def test_bytes_after_the_end_of_a_jpeg_or_png_are_ignored():
    jpeg = FACE.read_bytes()
    png = cv2.imencode(".png", cv2.imread(str(FACE)))[1].tobytes()
    for data in (jpeg, png):
        reference = decode_image(data)
        # What some phones append: padding, a second (preview) JPEG, vendor trailers.
        for trailer in (b"\0" * 1000, jpeg[:5000], b"\xff\xd8\xffSAMSUNG\x00trailer" * 20):
            assert np.array_equal(decode_image(data + trailer), reference)


def test_a_file_cut_before_its_end_is_still_refused_as_truncated():
    jpeg = FACE.read_bytes()
    progressive = cv2.imencode(".jpg", cv2.imread(str(FACE)), [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1].tobytes()
    png = cv2.imencode(".png", cv2.imread(str(FACE)))[1].tobytes()
    for data in (jpeg, progressive, png):
        for cut in range(len(data) // 10, len(data), len(data) // 10):
            with pytest.raises(BadImage, match="truncated"):
                decode_image(data[:cut])
        with pytest.raises(BadImage, match="truncated"):
            decode_image(data[:-1])
    # Cut inside the scan, then padded with zeros and a stray end marker from a thumbnail elsewhere.
    with pytest.raises(BadImage):
        decode_image(jpeg[: len(jpeg) // 2] + b"\0" * 64)


# ---------------------------------------------------------------------------- every way in


@pytest.fixture
def admin(client, sign_in_admin):
    client.csrf = sign_in_admin(client)
    return client


def samples_of(name: str) -> int:
    person = db.session.scalar(db.select(Person).where(Person.name == name))
    return 0 if person is None else len(person.samples)


def post_everywhere(admin, person_id: int, face: bytes, body: bytes) -> dict[str, object]:
    """The answers of every route an image comes in by: face photo ``face``, full-body frame ``body``."""
    csrf = {"X-CSRFToken": admin.csrf}
    return {
        "kiosk_frame": admin.post("/api/v1/kiosk/frames", data=face, content_type="image/png"),
        "check_frame": admin.post("/api/v1/enrollment/check-frame", headers=csrf,
                                  data={"frame": (io.BytesIO(face), "webcam.png")}),
        "api_enroll": admin.post(f"/api/v1/people/{person_id}/samples", headers=csrf,
                                 data={"photos": [(io.BytesIO(face), "photo.png")]}),
        "page_enroll": admin.post(f"/admin/people/{person_id}/enroll",
                                  data={"csrf_token": admin.csrf, "photos": [(io.BytesIO(face), "photo.png")]}),
        "gesture_sample": admin.post("/api/v1/models/gestures/samples", headers=csrf,
                                     data={"label": "capture", "frame": (io.BytesIO(body), "frame.png")}),
    }


@pytest.mark.models
def test_gray_alpha_images_are_used_everywhere_an_image_comes_in(admin, make_person):
    person = make_person("Colin Powell")
    answers = post_everywhere(admin, person.id, png_gray_alpha_16bit(FACE), png_gray_alpha_16bit(BODY))
    assert answers["kiosk_frame"].status_code == 200, answers["kiosk_frame"].get_json()
    assert answers["check_frame"].status_code == 200 and answers["check_frame"].get_json()["ok"] is True
    assert answers["api_enroll"].status_code == 201, answers["api_enroll"].get_json()
    assert answers["page_enroll"].status_code == 201
    assert answers["gesture_sample"].status_code == 201, answers["gesture_sample"].get_json()
    assert samples_of("Colin Powell") == 2
    assert db.session.scalar(db.select(db.func.count(GestureSample.id))) == 1


def test_a_gray_alpha_pam_is_refused_as_bad_image_everywhere_never_a_500(admin, make_person):
    """Issue 13, item 3: this file was a 500 on each of these paths."""
    person = make_person("Colin Powell")
    answers = post_everywhere(admin, person.id, pam_gray_alpha(FACE), pam_gray_alpha(BODY))
    assert answers["kiosk_frame"].status_code == 400
    assert answers["kiosk_frame"].get_json()["error"] == "bad_image"
    assert answers["check_frame"].status_code == 200  # the live check's verdict is the answer
    assert answers["check_frame"].get_json() | {"boxes": []} == answers["check_frame"].get_json()
    assert answers["check_frame"].get_json()["status"] == "bad_image"
    assert answers["api_enroll"].status_code == 422
    assert answers["api_enroll"].get_json()["results"][0]["code"] == "bad_image"
    assert answers["page_enroll"].status_code == 422 and 'data-code="bad_image"' in answers["page_enroll"].text
    assert answers["gesture_sample"].status_code == 422
    assert answers["gesture_sample"].get_json()["error"] == "bad_image"
    for name, answer in answers.items():
        # The kiosk's screen gets a sentence of its own; the reader's words are its detail.
        text = (answer.get_json().get("detail") or answer.get_json()["message"]) if answer.is_json else answer.text
        assert "JPEG, PNG" in text, name
    assert samples_of("Colin Powell") == 0
    assert db.session.scalar(db.select(db.func.count(GestureSample.id))) == 0


@pytest.mark.models
def test_a_phone_portrait_stored_sideways_is_enrolled_on_every_path(admin, make_person, runner, tmp_path):
    """Issue 13, item 5: Orientation=6 was refused with 422 no_face."""
    portrait = portrait_stored_sideways(FACE)
    person = make_person("Colin Powell")
    api = admin.post(f"/api/v1/people/{person.id}/samples", headers={"X-CSRFToken": admin.csrf},
                     data={"photos": [(io.BytesIO(portrait), "IMG_0001.jpg")]})
    assert api.status_code == 201, api.get_json()
    page = admin.post(f"/admin/people/{person.id}/enroll",
                      data={"csrf_token": admin.csrf, "photos": [(io.BytesIO(portrait), "IMG_0001.jpg")]})
    assert page.status_code == 201 and 'data-code="accepted"' in page.text
    path = tmp_path / "IMG_0001.jpg"
    path.write_bytes(portrait)
    result = runner.invoke(args=["people", "enroll", "Colin Powell", str(path)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.splitlines()[0])["status"] == "accepted"
    assert db.session.scalar(db.select(db.func.count(FaceSample.id))) == 3


@pytest.mark.models
def test_a_jpeg_with_bytes_after_its_end_is_enrolled(admin, make_person):
    """Issue 13, item 10: refused as truncated before."""
    person = make_person("Colin Powell")
    photo = FACE.read_bytes() + b"\0" * 512 + b"MPF trailer written by the phone"
    response = admin.post(f"/api/v1/people/{person.id}/samples", headers={"X-CSRFToken": admin.csrf},
                          data={"photos": [(io.BytesIO(photo), "phone.jpg")]})
    assert response.status_code == 201, response.get_json()
