"""Malformed requests for the bad-input suite, by category. Each case says which answers are
right for it; none may be a 5xx, and none may write anything.

Frame bodies are built from real 640x480 frames (truncated, corrupted), crafted headers
(decompression bombs) and the committed 10 KB WebP that decodes to 805 MB
(tests/data/reliability/SOURCES.csv).

The categories after ``admin_cases`` are the inputs of the security probe of issue 13: image
layouts (gray+alpha PAM, 16-bit, CMYK, palette, EXIF-rotated, bytes after the end), a chunked body
over the limit (through Nginx and straight to gunicorn), dates past year 9998, ids past 2^63-1,
names with control or invisible characters and look-alikes, non-finite pose landmarks, and a
``next`` with CR/LF.
"""

from __future__ import annotations

import random
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from kiosk.vision.image import BadImage, decode_image

DATA = Path(__file__).resolve().parent.parent / "data" / "reliability"
BAD_REQUEST = frozenset({400})
ANY_4XX = frozenset(range(400, 500))


@dataclass
class Case:
    category: str
    method: str
    path: str
    body: bytes | None
    content_type: str | None
    expect: frozenset[int] = BAD_REQUEST
    admin: bool = False
    headers: dict = field(default_factory=dict)
    # A 200 is right only where the endpoint reports a bad image as its verdict (the admin's
    # live webcam check answers {"ok": false, "status": "bad_image"}).
    verdict_200: bool = False
    # A 200 is the right answer (an unusual but valid image; an unsafe ``next`` ignored).
    ok_200: bool = False
    # Sent with Transfer-Encoding: chunked (no Content-Length).
    chunked: bool = False
    # Sent straight to gunicorn, past Nginx (which refuses some of these itself).
    direct: bool = False
    # An admin page (HTML) answers: the refusal's message must be on it.
    page_text: str | None = None


def _refused_by_decoder(data: bytes) -> bool:
    try:
        decode_image(data)
    except BadImage:
        return True
    return False


# ---------------------------------------------------------------------------- crafted images


def jpeg_with_size(real_jpeg: bytes, width: int, height: int) -> bytes:
    """A real JPEG whose frame header (SOF) claims another size."""
    data = bytearray(real_jpeg)
    i = 2
    while i + 9 < len(data):
        marker, length = data[i + 1], struct.unpack(">H", data[i + 2:i + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            data[i + 5:i + 9] = struct.pack(">HH", height, width)
            return bytes(data)
        i += 2 + length
    raise ValueError("no SOF segment")


def png_with_size(width: int, height: int) -> bytes:
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def tiff_bomb(width: int = 12000, height: int = 12000) -> bytes:
    """~140 KB of deflated zeros that decode to a 144-megapixel grey image (432 MB as BGR)."""
    compressor = zlib.compressobj(9)
    row = b"\0" * width
    strip = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    tags = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 8), (262, 3, 1, 1),
            (273, 4, 1, 0), (277, 3, 1, 1), (278, 4, 1, height), (279, 4, 1, len(strip))]
    ifd_size = 2 + 12 * len(tags) + 4
    offset = 8 + ifd_size
    tags = [(tag, kind, count, offset if tag == 273 else value) for tag, kind, count, value in tags]
    ifd = struct.pack("<H", len(tags)) + b"".join(struct.pack("<HHII", *t) for t in tags) + b"\0\0\0\0"
    return b"II*\x00" + struct.pack("<I", 8) + ifd + strip


def bmp_with_size(width: int, height: int) -> bytes:
    header = b"BM" + struct.pack("<IHHI", 54 + 64, 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return header + info + b"\x7f" * 64


def webp_bomb() -> bytes:
    return (DATA / "bomb_16383x16383.webp").read_bytes()


# ---------------------------------------------------------------------------- the cases


def frame_cases(real_frames: list[bytes], png_frame: bytes, body_limit: int, seed: int = 20261121) -> list[Case]:
    rng = random.Random(seed)
    frames_url = "/api/v1/kiosk/frames"
    cases: list[Case] = []

    def add(category, body, content_type="image/jpeg", expect=BAD_REQUEST, **kwargs):
        cases.append(Case(category, "POST", frames_url, body, content_type, frozenset(expect), **kwargs))

    # Truncated JPEGs: cut anywhere, from the header to just before the end-of-image marker.
    for frame in real_frames[:4]:
        for cut in sorted(rng.sample(range(3, len(frame) - 2), 30)):
            add("truncated_jpeg", frame[:cut])
    for cut in sorted(rng.sample(range(9, len(png_frame) - 13), 15)):
        add("truncated_png", png_frame[:cut], "image/png")

    # Corrupt JPEGs: garbage between valid markers, damaged headers, random bytes. A damaged
    # frame header may declare a frame larger than any kiosk sends: refused from it (413
    # frame_too_large) before the decoder sees the rest.
    damaged_frame = {400, 413}
    for _ in range(40):
        add("corrupt_jpeg", b"\xff\xd8\xff" + rng.randbytes(rng.randint(1, 60_000)) + b"\xff\xd9", "image/jpeg",
            damaged_frame)
    damaged, attempts = 0, 0
    while damaged < 40 and attempts < 2000:
        attempts += 1
        frame = bytearray(rng.choice(real_frames))
        for _ in range(rng.randint(4, 40)):
            frame[rng.randint(2, 620)] = rng.randint(0, 255)
        if _refused_by_decoder(bytes(frame)):  # only damage the decoder must refuse
            add("corrupt_jpeg", bytes(frame), "image/jpeg", damaged_frame)
            damaged += 1
    for _ in range(30):
        add("corrupt_random", rng.randbytes(rng.randint(1, 50_000)))
    for text in (b"hello", b"<html><body>not an image</body></html>", b'{"frame": "data:image/jpeg;base64,AAAA"}',
                 b"GIF89a" + b"\0" * 100, b"%PDF-1.7\n" + b"x" * 300, b"\0" * 4096, b"\xff" * 4096,
                 b"RIFF\x10\x00\x00\x00WEBPVP8 ", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, b"BM" + b"\0" * 100):
        add("corrupt_other", text)
        add("corrupt_other", text, "image/webp")

    # The right bytes with the wrong content type.
    for content_type in ("text/plain", "application/json", "application/x-www-form-urlencoded",
                         "application/octet-stream", "image/gif", "image/svg+xml", "text/html",
                         "image/jpeg-but-not", "video/mp4", "application/xml", "image/*", "audio/wav"):
        for frame in real_frames[:5]:
            add("wrong_content_type", frame, content_type, {400, 415})
    add("wrong_content_type", real_frames[0], None, {400, 415})
    add("wrong_content_type", real_frames[0], "multipart/form-data", {400, 415})  # no boundary

    # Multipart forms that are not what the kiosk sends.
    boundary = "kioskboundary"

    def form(field_name: str, payload: bytes, close: bool = True) -> bytes:
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field_name}\"; filename=\"f.jpg\"\r\n"
                f"Content-Type: image/jpeg\r\n\r\n").encode() + payload + b"\r\n"
        return body + (f"--{boundary}--\r\n".encode() if close else b"")

    multipart = f"multipart/form-data; boundary={boundary}"
    for frame in real_frames[:4]:
        add("multipart", form("photo", frame), multipart)  # wrong field name
        add("multipart", form("frame", frame[: len(frame) // 2]), multipart)  # truncated file
        add("multipart", form("frame", frame).replace(boundary.encode(), b"otherboundary"), multipart)
        add("multipart", form("frame", b""), multipart)  # empty file
        add("multipart", form("frame", frame, close=False)[:200], multipart)  # cut short

    # Empty bodies.
    for content_type in ("image/jpeg", "image/png", "image/webp"):
        for _ in range(8):
            add("empty", b"", content_type)

    # Oversized bodies: refused by Nginx (413) before gunicorn reads them.
    oversized = b"\xff\xd8\xff" + b"\0" * (body_limit + 4096)
    for content_type in ("image/jpeg", "image/png", "application/octet-stream"):
        add("oversized", oversized, content_type, {413})
    add("oversized", form("frame", oversized), multipart, {413})

    # Decompression bombs: small files whose pixels would take hundreds of MB to gigabytes.
    bombs = [
        ("bomb_webp_16383x16383", webp_bomb(), "image/webp"),
        ("bomb_webp_16383x16383", webp_bomb(), "image/jpeg"),
        ("bomb_jpeg_65500x65500", jpeg_with_size(real_frames[0], 65500, 65500), "image/jpeg"),
        ("bomb_jpeg_20000x20000", jpeg_with_size(real_frames[1], 20000, 20000), "image/jpeg"),
        ("bomb_png_100000x100000", png_with_size(100_000, 100_000), "image/png"),
        ("bomb_png_0x0", png_with_size(0, 0), "image/png"),
        ("bomb_tiff_12000x12000", tiff_bomb(), "image/jpeg"),
        ("bomb_bmp_30000x30000", bmp_with_size(30_000, 30_000), "image/jpeg"),
    ]
    # A bomb wider or taller than any kiosk frame is refused from its header (413
    # frame_too_large); the others by the decoder (400 bad_image).
    for _ in range(5):
        for name, body, content_type in bombs:
            add(f"bomb:{name}", body, content_type, {400, 413})
    return cases


BAD_JSON_BODIES = [
    b"{", b"}", b"[", b'{"name": }', b'{"name": "unterminated', b"{'name': 'single quotes'}", b"nul\x00l",
    b'{"name": "x",}', b"\xff\xfe\xfd", b"NaN", b'{"name": NaN}', b"[1, 2, 3]", b'"just a string"', b"42",
    b"null", b"true", b'{"name": ["a list"]}', b'{"name": {"nested": 1}}', b'{"name": ""}', b'{"name": "   "}',
    b'{"name": "' + b"x" * 5000 + b'"}', b'{"active": "maybe"}', b'{"images": "not-a-list"}',
    b'{"images": ["data:image/jpeg;base64,!!!notbase64"]}', b'{"images": ["https://example.com/a.jpg"]}',
    b'{"images": [42]}', b"{}" + b" " * 10 + b"{}",
]


def admin_cases(person_id: int, truncated_jpeg: bytes) -> list[Case]:
    import base64

    cases: list[Case] = []
    endpoints = [("POST", "/api/v1/people"), ("PATCH", f"/api/v1/people/{person_id}"),
                 ("POST", f"/api/v1/people/{person_id}/samples"), ("POST", "/api/v1/enrollment/check-frame"),
                 ("POST", "/api/v1/models/gestures/samples")]
    for method, path in endpoints:
        for body in BAD_JSON_BODIES:
            cases.append(Case("bad_json", method, path, body, "application/json", ANY_4XX, admin=True))
    truncated_url = b"data:image/jpeg;base64," + base64.b64encode(truncated_jpeg)
    bomb_url = b"data:image/webp;base64," + base64.b64encode(webp_bomb())
    for payload in (truncated_url, bomb_url):
        cases.append(Case("bad_images_admin", "POST", f"/api/v1/people/{person_id}/samples",
                          b'{"images": ["' + payload + b'"]}', "application/json", ANY_4XX, admin=True))
        cases.append(Case("bad_images_admin", "POST", "/api/v1/enrollment/check-frame",
                          b'{"image": "' + payload + b'"}', "application/json", ANY_4XX | {200}, admin=True,
                          verdict_200=True))
    return cases


# ---------------------------------------------------------------------------- issue 13's probe


def _pil_bytes(image, fmt: str, **options) -> bytes:
    import io

    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def pam_gray_alpha(gray) -> bytes:
    import numpy as np

    pixels = np.dstack([gray, np.full_like(gray, 255)])
    height, width = gray.shape
    return (f"P7\nWIDTH {width}\nHEIGHT {height}\nDEPTH 2\nMAXVAL 255\nTUPLTYPE GRAYSCALE_ALPHA\nENDHDR\n".encode()
            + pixels.tobytes())


def png_gray_alpha_16bit(gray) -> bytes:
    import numpy as np

    wide = gray.astype(">u2") * 257
    pixels = np.dstack([wide, np.full_like(wide, 65535)]).astype(">u2")
    raw = b"".join(b"\0" + row.tobytes() for row in pixels)

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", gray.shape[1], gray.shape[0], 16, 4, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def layout_cases(frame_jpeg: bytes) -> list[Case]:
    """One real frame in every layout: the usable ones are read (200), the rest refused (400), none a 500."""
    import io

    import numpy as np
    from PIL import Image

    photo = Image.open(io.BytesIO(frame_jpeg)).convert("RGB")
    gray = np.asarray(photo.convert("L"))
    exif = Image.Exif()
    exif[0x0112] = 6  # a phone portrait stored sideways
    readable = {
        "gray_alpha_16bit_png": (png_gray_alpha_16bit(gray), "image/png"),
        "gray_alpha_png": (_pil_bytes(photo.convert("LA"), "PNG"), "image/png"),
        "palette_png": (_pil_bytes(photo.convert("P"), "PNG"), "image/png"),
        "cmyk_jpeg": (_pil_bytes(photo.convert("CMYK"), "JPEG", quality=90), "image/jpeg"),
        "exif_rotated_jpeg": (_pil_bytes(photo.transpose(Image.Transpose.ROTATE_90), "JPEG", exif=exif), "image/jpeg"),
        "jpeg_with_trailer": (frame_jpeg + b"\0" * 256 + b"phone vendor trailer", "image/jpeg"),
        "cmyk_tiff": (_pil_bytes(photo.convert("CMYK"), "TIFF"), "image/jpeg"),
    }
    refused = {
        "gray_alpha_pam": (pam_gray_alpha(gray), "image/jpeg"),
        "gif": (_pil_bytes(photo.convert("P"), "GIF"), "image/jpeg"),
        "float_tiff": (_pil_bytes(photo.convert("F"), "TIFF"), "image/jpeg"),
    }
    cases = [Case(f"layouts:{name}", "POST", "/api/v1/kiosk/frames", body, kind, frozenset({200}), ok_200=True)
             for name, (body, kind) in readable.items()]
    cases += [Case(f"layouts:{name}", "POST", "/api/v1/kiosk/frames", body, kind)
              for name, (body, kind) in refused.items()]
    return cases


def chunked_cases(body_limit: int) -> list[Case]:
    """A chunked body a little over the limit: 413 from Nginx, and 413 from the app straight through gunicorn."""
    oversized = b"\xff\xd8\xff" + b"\0" * (body_limit + 64 * 1024)
    return [
        Case("chunked_oversized", "POST", "/api/v1/kiosk/frames", oversized, "image/jpeg", frozenset({413}),
             chunked=True),
        Case("chunked_oversized", "POST", "/api/v1/kiosk/frames", oversized, "image/jpeg", frozenset({413}),
             chunked=True, direct=True),
    ]


HUGE_ID = str(2**64)


def probe_admin_cases(person_id: int, enrolled_name: str) -> list[Case]:
    """The admin requests of the probe that were 500s (or wrote something) before issue 13."""
    import json

    cases: list[Case] = []

    def api(category, method, path, body=None, expect=BAD_REQUEST):
        payload = None if body is None else json.dumps(body).replace("Infinity", "1e400").encode()
        cases.append(Case(category, method, path, payload, "application/json" if body is not None else None,
                          frozenset(expect), admin=True))

    def page(category, path, expect, text):
        cases.append(Case(category, "GET", path, None, None, frozenset(expect), admin=True, page_text=text))

    for query in ("from=9999-12-31&to=9999-12-31", "from=0001-01-01&to=0001-01-01", "to=9999-12-31"):
        api("dates", "GET", f"/api/v1/attendance?{query}")
        api("dates", "GET", f"/api/v1/attendance/export?{query}&format=csv")
        api("dates", "GET", f"/api/v1/attendance/daily?{query}")
        page("dates", f"/admin/attendance?{query}", BAD_REQUEST, "outside the dates")
        page("dates", f"/admin/attendance/export?{query}&format=xlsx", BAD_REQUEST, "outside the dates")
    for month in ("9999-12", "0001-01"):
        api("dates", "GET", f"/api/v1/attendance/summary?month={month}")
        page("dates", f"/admin/reports?month={month}", BAD_REQUEST, "outside the dates")

    not_found = frozenset({404})
    for method, path in (("GET", f"/api/v1/people/{HUGE_ID}"), ("PATCH", f"/api/v1/people/{HUGE_ID}"),
                         ("DELETE", f"/api/v1/people/{HUGE_ID}"), ("GET", f"/api/v1/attendance/{HUGE_ID}"),
                         ("DELETE", f"/api/v1/people/{person_id}/samples/{HUGE_ID}"),
                         ("GET", f"/api/v1/attendance?person_id={HUGE_ID}")):
        api("ids", method, path, {"name": "x"} if method == "PATCH" else None, not_found)
    for path in (f"/admin/people/{HUGE_ID}", f"/admin/attendance/{HUGE_ID}", f"/admin/attendance/person/{HUGE_ID}"):
        page("ids", path, not_found, "larger than any id")

    for name in ("\x00abc", "Bell\x07\x1b[31mRed", "\u200b\u200c\ufeff", "J\u043ee", "x" * 121, ["a list"]):
        api("names", "POST", "/api/v1/people", {"name": name})
        api("names", "PATCH", f"/api/v1/people/{person_id}", {"name": name})
    api("names", "POST", "/api/v1/people", {"name": "Ada Lovelace", "external_id": "x" * 10_000})
    api("names", "POST", "/api/v1/people", {"name": "Ada Lovelace", "external_id": "E\x1b[2J"})
    for look_alike in (enrolled_name + "\u200b", enrolled_name.upper(), "\u2066" + enrolled_name + "\u2069"):
        api("names", "POST", "/api/v1/people", {"name": look_alike}, {409})

    skeleton = [[0.5, 0.3, 0.0, 0.99]] * 33
    for landmarks in ({"landmarks": skeleton, "image_size": [float("inf"), 480]},
                      {"landmarks": skeleton, "image_size": [float("nan"), 480]},
                      {"landmarks": [[float("nan"), 0.5, 0.0, 0.9]] * 33},
                      {"landmarks": [[float("inf"), 0.5, 0.0, 0.9]] * 33},
                      [[0.5, float("-inf")]] * 33):
        api("landmarks", "POST", "/api/v1/models/gestures/samples", {"label": "O", "landmarks": landmarks})

    for next_url in ("/%0D%0AX", "/admin/%0ASet-Cookie:%20x=1"):
        cases.append(Case("next_crlf", "GET", f"/auth/login?next={next_url}", None, None, frozenset({200}),
                          ok_200=True, page_text="Administrator sign-in"))
        cases.append(Case("next_crlf", "POST", f"/auth/login?next={next_url}", b"username=x",
                          "application/x-www-form-urlencoded", BAD_REQUEST, admin=True,
                          page_text="Enter both your username and your password"))
    return cases


def multipart_form(fields: dict[str, str], files: list[tuple[str, str, bytes]], boundary: str = "probe13") -> bytes:
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
             for name, value in fields.items()]
    parts += [(f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
               f"Content-Type: image/jpeg\r\n\r\n").encode() + data + b"\r\n" for field, filename, data in files]
    return b"".join(parts) + f"--{boundary}--\r\n".encode()


def add_person_cases(real_frames: list[bytes]) -> list[Case]:
    """"Add a person with photos" requests that must add nobody: 41 photos, and photos that are all
    refused (not an image, a gray+alpha PAM, a truncated JPEG)."""
    import numpy as np

    content_type = "multipart/form-data; boundary=probe13"
    forty_one = [("photos", f"{i}.jpg", real_frames[i % len(real_frames)]) for i in range(41)]
    refused = [("photos", "minutes.jpg", b"these are the minutes, not a photo"),
               ("photos", "scan.pam", pam_gray_alpha(np.full((60, 80), 128, np.uint8))),
               ("photos", "cut.jpg", real_frames[0][: len(real_frames[0]) // 2])]
    return [
        Case("add_person", "POST", "/admin/people", multipart_form({"name": "Probe Person 41"}, forty_one),
             content_type, BAD_REQUEST, admin=True, page_text="At most 40 photos"),
        Case("add_person", "POST", "/admin/people", multipart_form({"name": "Probe Person Refused"}, refused),
             content_type, frozenset({422}), admin=True, page_text="Nobody was added"),
    ]
