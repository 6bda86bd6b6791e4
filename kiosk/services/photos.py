"""Check-in photos: the captured frame with a memo written on it (PNG), and the original.

Each attendance event with a photo owns two files under ``<data dir>/photos/``, both with random
128-bit names (:func:`kiosk.storage.random_name`) and written atomically (temp file + rename):

* the **original**, as captured, JPEG quality 95 (a third of a PNG's size; the memo photo is
  re-rendered from it when an admin edits the memo);
* the **memo photo**, PNG: the original with a dark band along the bottom carrying the memo
  (by default the person's name, then the date and time of the event in the site's time zone,
  ``KIOSK_TIMEZONE``).

Files and rows stay consistent (see :mod:`kiosk.services.attendance`): files are written before
the row that references them is committed, and removed only after the row stopped referencing
them. Retention (:func:`purge_photos_older_than`, ``KIOSK_PHOTO_RETENTION_DAYS``) clears an old
event's photo paths and removes the files; :func:`purge_orphan_files` removes files no row
references (a crash between writing and committing) and temp files left by a killed writer.

The memo photo is always rendered from the *decoded stored original*, so the first render and any
later :func:`rewrite_memo` with the same text give identical pixels.

Fonts and non-Latin names. The memo is drawn with Pillow's built-in scalable font (Aileron, shipped
inside Pillow >= 10.1): it covers printable ASCII only. A site whose names use other scripts
(Hangul, Cyrillic, CJK, accented Latin) sets ``KIOSK_MEMO_FONT`` to a TTF/OTF/TTC file that covers
them, e.g. Noto Sans CJK (Debian ``fonts-noto-cjk``:
``/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc``) or NanumGothic (``fonts-nanum``). Each
character is drawn with the first font that has it (the site font, then the built-in one). A
character no font has degrades visibly and predictably instead of drawing "tofu" boxes: accented
Latin letters lose their accents (``José`` -> ``Jose``, ``ß`` -> ``ss``), anything else becomes
``?`` (``김민준`` -> ``???``), and a warning (without the text) tells the operator to set
``KIOSK_MEMO_FONT``. The full memo text is always kept in the database and shown by the web pages,
which render every script; only the pixels of the PNG degrade.
"""

from __future__ import annotations

import functools
import logging
import threading
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
from flask import current_app
from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import or_, select, union

from .. import storage
from ..errors import InvalidInput, KioskError, NotFound
from ..extensions import db
from ..models import AttendanceEvent, EventKind, utcnow
from ..sitetime import to_local
from ..vision.image import BadImage, decode_image, encode_jpeg
from . import audit
from .audit_actions import ATTENDANCE_MEMO_CHANGED

log = logging.getLogger(__name__)

PHOTO_FOLDER = "photos"
ORPHAN_MIN_AGE_S = 60.0
MEMO_MAX_LENGTH = 200  # the AttendanceEvent.memo column
MEMO_MAX_LINES = 3
ORIGINAL_JPEG_QUALITY = 95
PNG_COMPRESSION = 3  # zlib level: level 9 is 3-4x slower for ~5% smaller files

# Layout, relative to the image height so a 480 p frame and a 1080 p photo look alike.
FONT_HEIGHT_RATIO = 1 / 20
MIN_FONT_PX = 10
BAND_OPACITY = 0.55
_MISSING_PROBE = "\uffff"  # a non-character: every font draws its "missing glyph" box for it
# The cached FreeType faces are shared; FreeType faces must not be used by two threads at once.
_font_lock = threading.RLock()

# Letters that Unicode does not decompose into base letter + accent.
_ASCII_FOLDS = {
    "ß": "ss", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O", "ł": "l", "Ł": "L",
    "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "þ": "th", "Þ": "Th", "ı": "i",
    "\u2013": "-", "\u2014": "-", "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u00b7": "-",
}


# --------------------------------------------------------------------------- time and memo text


def default_memo(name: str, when: datetime, kind: EventKind | str = EventKind.check_in) -> str:
    """``"NAME\\nYYYY-MM-DD HH:MM"`` in the site time zone (plus ``check-out`` for a check-out)."""
    stamp = to_local(when).strftime("%Y-%m-%d %H:%M")
    if EventKind(kind) is EventKind.check_out:
        stamp += " (check-out)"
    return f"{name}\n{stamp}"


def clean_memo(memo: str | None) -> str:
    """Normalise a memo: NFC, at most MEMO_MAX_LINES lines, no control characters, trimmed.

    Raises InvalidInput when it is longer than MEMO_MAX_LENGTH characters. An empty memo is allowed:
    the photo then carries no band at all.
    """
    text = unicodedata.normalize("NFC", memo or "").replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(ch for ch in text if ch == "\n" or unicodedata.category(ch)[0] != "C")
    lines = [" ".join(line.split()) for line in text.split("\n")]
    lines = [line for line in lines if line]
    if len(lines) > MEMO_MAX_LINES:
        raise InvalidInput(f"A memo has at most {MEMO_MAX_LINES} lines.", code="memo_too_long",
                           max_lines=MEMO_MAX_LINES, max_length=MEMO_MAX_LENGTH)
    text = "\n".join(lines)
    if len(text) > MEMO_MAX_LENGTH:
        raise InvalidInput(f"A memo is at most {MEMO_MAX_LENGTH} characters.", code="memo_too_long",
                           max_lines=MEMO_MAX_LINES, max_length=MEMO_MAX_LENGTH)
    return text


# --------------------------------------------------------------------------- fonts


def _memo_font_setting() -> str:
    try:
        return (current_app.config.get("KIOSK_MEMO_FONT") or "").strip()
    except RuntimeError:  # no app context (scripts)
        return ""


@functools.lru_cache(maxsize=64)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont | None:
    """``path`` at ``size`` px; ``""`` is Pillow's built-in font. None (logged once) if unusable."""
    if not path:
        return ImageFont.load_default(size=size)
    try:
        return ImageFont.truetype(path, size=size, index=0)
    except OSError:
        _warn_font_unusable(path)
        return None


@functools.lru_cache(maxsize=8)
def _warn_font_unusable(path: str) -> None:
    log.warning("KIOSK_MEMO_FONT=%s cannot be loaded; memos use the built-in Latin font.", path)


@functools.lru_cache(maxsize=8192)
def _has_glyph(path: str, ch: str) -> bool:
    font = _font(path, 32)
    if font is None:
        return False
    if ch.isspace():
        return True
    missing = font.getmask(_MISSING_PROBE)
    mask = font.getmask(ch)
    return not (mask.size == missing.size and bytes(mask) == bytes(missing))


def _font_chain() -> tuple[str, ...]:
    configured = _memo_font_setting()
    return (configured, "") if configured else ("",)


def _fold(ch: str, chain: tuple[str, ...]) -> str:
    """A replacement for a character no font in the chain draws: its unaccented letters, or '?'."""
    if ch in _ASCII_FOLDS:
        return _ASCII_FOLDS[ch]
    base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
    if base and base != ch and all(any(_has_glyph(p, c) for p in chain) for c in base):
        return base
    return "?"


def _runs(line: str, chain: tuple[str, ...]) -> tuple[list[tuple[str, str]], bool]:
    """``line`` split into (font path, text) runs; ``lossy`` when some characters were replaced."""
    runs: list[tuple[str, str]] = []
    lossy = False
    for ch in line:
        path = next((p for p in chain if _has_glyph(p, ch)), None)
        if path is None:
            lossy = True
            for sub in _fold(ch, chain):
                sub_path = next((p for p in chain if _has_glyph(p, sub)), chain[-1])
                _append(runs, sub_path, sub)
        else:
            _append(runs, path, ch)
    return runs, lossy


def _append(runs: list[tuple[str, str]], path: str, text: str) -> None:
    if runs and runs[-1][0] == path:
        runs[-1] = (path, runs[-1][1] + text)
    else:
        runs.append((path, text))


def drawable_text(memo: str) -> str:
    """The memo as it will appear on the photo with the configured fonts (see the module docstring)."""
    chain = _font_chain()
    with _font_lock:
        return "\n".join("".join(text for _, text in _runs(line, chain)[0]) for line in clean_memo(memo).split("\n"))


# --------------------------------------------------------------------------- rendering


def _line_width(runs: list[tuple[str, str]], size: int) -> float:
    return sum(_font(path, size).getlength(text) for path, text in runs)


def _truncate(runs: list[tuple[str, str]], size: int, limit: float) -> list[tuple[str, str]]:
    ellipsis = [("", "...")]
    while runs and _line_width(runs + ellipsis, size) > limit:
        path, text = runs[-1]
        runs = runs[:-1] + ([(path, text[:-1])] if len(text) > 1 else [])
    return runs + ellipsis


def render_memo(frame_bgr: np.ndarray, memo: str) -> np.ndarray:
    """A copy of ``frame_bgr`` with ``memo`` written in white on a dark band along the bottom.

    The text is drawn into a grey-level mask and blended in numpy, so no colour-order conversion
    is involved (white is white in BGR and RGB).
    """
    image = np.array(frame_bgr, dtype=np.uint8, copy=True)
    if image.ndim != 3 or image.shape[2] != 3:
        raise InvalidInput("A check-in photo must be a colour (BGR) image.", code="bad_photo")
    memo = clean_memo(memo)
    if not memo:
        return image
    with _font_lock:
        return _draw_memo(image, memo)


def _draw_memo(image: np.ndarray, memo: str) -> np.ndarray:
    height, width = image.shape[:2]
    chain = _font_chain()
    lines, lossy = [], False
    for line in memo.split("\n"):
        runs, line_lossy = _runs(line, chain)
        lines.append(runs)
        lossy = lossy or line_lossy
    if lossy:
        log.warning("A memo has characters no memo font can draw; they were replaced. Set KIOSK_MEMO_FONT.")

    pad = max(4, height // 60)
    usable_width = max(1, width - 2 * pad)
    size = max(MIN_FONT_PX, int(round(height * FONT_HEIGHT_RATIO)))
    # Shrink the font until the widest line fits (down to MIN_FONT_PX), then cut what is left over.
    while size > MIN_FONT_PX and max(_line_width(runs, size) for runs in lines) > usable_width:
        size -= 1
    lines = [runs if _line_width(runs, size) <= usable_width else _truncate(runs, size, usable_width) for runs in lines]

    used = {path for runs in lines for path, _ in runs} | {""}
    ascent = max(_font(path, size).getmetrics()[0] for path in used)
    descent = max(_font(path, size).getmetrics()[1] for path in used)
    line_height = ascent + descent + max(2, size // 6)
    band_height = min(height, len(lines) * line_height + 2 * pad)
    top = height - band_height

    band = image[top:, :].astype(np.float32) * (1.0 - BAND_OPACITY)
    mask = Image.new("L", (width, band_height), 0)
    draw = ImageDraw.Draw(mask)
    for index, runs in enumerate(lines):
        x = float(pad)
        baseline = pad + index * line_height + ascent
        for path, text in runs:
            font = _font(path, size)
            draw.text((x, baseline), text, font=font, fill=255, anchor="ls")
            x += font.getlength(text)
    alpha = (np.asarray(mask, dtype=np.float32) / 255.0)[:, :, None]
    band = band * (1.0 - alpha) + 255.0 * alpha
    image[top:, :] = np.clip(band + 0.5, 0, 255).astype(np.uint8)
    return image


def encode_png(image_bgr: np.ndarray) -> bytes:
    ok, buffer = cv2.imencode(".png", image_bgr, [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION])
    if not ok:
        raise InvalidInput("The photo could not be encoded as PNG.", code="bad_photo")
    return buffer.tobytes()


# --------------------------------------------------------------------------- files


@dataclass(frozen=True)
class StoredPhotos:
    photo_path: str  # relative to the data dir: the PNG with the memo
    original_path: str  # relative: the JPEG as captured


def _check_frame(frame_bgr: np.ndarray) -> np.ndarray:
    if (
        not isinstance(frame_bgr, np.ndarray)
        or frame_bgr.dtype != np.uint8
        or frame_bgr.ndim != 3
        or frame_bgr.shape[2] != 3
        or frame_bgr.shape[0] < 8
        or frame_bgr.shape[1] < 8
    ):
        raise InvalidInput("A check-in photo must be a BGR uint8 image of at least 8x8 pixels.", code="bad_photo")
    return frame_bgr


def save_photos(frame_bgr: np.ndarray, memo: str) -> StoredPhotos:
    """Write the original (JPEG) and the memo photo (PNG) atomically under ``photos/``.

    If the second file cannot be written, the first is removed before the error propagates.
    """
    original_bytes = encode_jpeg(_check_frame(frame_bgr), quality=ORIGINAL_JPEG_QUALITY)
    photo_bytes = encode_png(render_memo(decode_image(original_bytes), memo))
    original_path = storage.store_bytes(PHOTO_FOLDER, original_bytes, ".jpg")
    try:
        photo_path = storage.store_bytes(PHOTO_FOLDER, photo_bytes, ".png")
    except BaseException:
        remove_files([original_path])
        raise
    return StoredPhotos(photo_path=photo_path, original_path=original_path)


def remove_files(paths: list[str | None]) -> int:
    """Remove stored files (missing ones are fine); returns how many could not be removed (logged)."""
    failures = 0
    for relative in paths:
        try:
            storage.remove(relative)
        except (OSError, storage.UnsafePath):
            failures += 1
    if failures:
        log.error("%d photo or face file(s) could not be removed; `kiosk purge --orphans` removes them later.",
                  failures)
    return failures


def event_files(event: AttendanceEvent) -> list[str]:
    return [p for p in (event.photo_path, event.original_photo_path) if p]


def photo_file(event: AttendanceEvent, *, original: bool = False) -> Path:
    """The absolute path of an event's memo photo (or original). Raises NotFound if it has none."""
    relative = event.original_photo_path if original else event.photo_path
    if not relative:
        raise NotFound("This attendance event has no photo.", code="no_photo")
    path = storage.resolve(relative)
    if not path.is_file():
        raise NotFound("The photo file of this attendance event is missing.", code="photo_missing")
    return path


def _audit_memo(event: AttendanceEvent, before: str | None, actor: audit.Actor | str | None) -> None:
    when = to_local(event.timestamp).strftime("%Y-%m-%d %H:%M")
    audit.record(ATTENDANCE_MEMO_CHANGED, audit.Target("attendance", event.id, f"{event.person.name}, {when}"),
                 actor=actor, before={"memo": before}, after={"memo": event.memo})


def rewrite_memo(event: AttendanceEvent, memo: str, *, actor: audit.Actor | str | None = None) -> AttendanceEvent:
    """Set an event's memo and re-render its PNG from the stored original.

    The new PNG gets a new random name; the row is committed pointing at it and only then is the
    old PNG removed, so the row never points at a missing or half-written file. An event whose
    photos were removed (retention) only has its memo text changed.
    Raises InvalidInput (memo too long) or NotFound (the original file is missing).
    """
    memo = clean_memo(memo)
    before = event.memo
    if not event.original_photo_path:
        event.memo = memo
        _audit_memo(event, before, actor)
        db.session.commit()
        return event
    try:
        original = decode_image(photo_file(event, original=True).read_bytes())
    except BadImage as err:
        raise KioskError("The stored original photo cannot be read.", code="photo_unreadable", status=500) from err
    new_path = storage.store_bytes(PHOTO_FOLDER, encode_png(render_memo(original, memo)), ".png")
    old_path = event.photo_path
    try:
        event.photo_path = new_path
        event.memo = memo
        _audit_memo(event, before, actor)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        remove_files([new_path])
        raise
    if old_path and old_path != new_path:
        remove_files([old_path])
    return event


# --------------------------------------------------------------------------- retention and orphans


def purge_photos_older_than(days: float, *, now: datetime | None = None) -> int:
    """Remove the photos of events older than ``days``; the events stay with NULL photo paths.

    Returns the number of events whose photos were removed. Raises InvalidInput if ``days`` < 1
    (``KIOSK_PHOTO_RETENTION_DAYS=0`` means "keep": see :func:`apply_photo_retention`).
    """
    if days is None or not (days >= 1):
        raise InvalidInput("The photo retention must be at least 1 day.", code="bad_retention")
    cutoff = (now or utcnow()) - timedelta(days=days)
    events = db.session.scalars(
        select(AttendanceEvent).where(
            AttendanceEvent.timestamp < cutoff,
            or_(AttendanceEvent.photo_path.is_not(None), AttendanceEvent.original_photo_path.is_not(None)),
        )
    ).all()
    paths: list[str] = []
    for event in events:
        paths.extend(event_files(event))
        event.photo_path = None
        event.original_photo_path = None
    db.session.commit()
    remove_files(paths)
    return len(events)


def apply_photo_retention(*, now: datetime | None = None) -> int:
    """Apply ``KIOSK_PHOTO_RETENTION_DAYS`` (0 = keep photos forever): returns events purged."""
    days = int(current_app.config.get("KIOSK_PHOTO_RETENTION_DAYS", 0) or 0)
    return purge_photos_older_than(days, now=now) if days > 0 else 0


def purge_orphan_files(min_age_s: float = ORPHAN_MIN_AGE_S) -> int:
    """Remove files under ``photos/`` that no event references, and leftover temp files.

    Only files older than ``min_age_s`` go, so a check-in that has written its photos but not yet
    committed its row is never raced. Returns the number of files removed.
    """
    referenced = set(
        db.session.scalars(
            union(
                select(AttendanceEvent.photo_path).where(AttendanceEvent.photo_path.is_not(None)),
                select(AttendanceEvent.original_photo_path).where(AttendanceEvent.original_photo_path.is_not(None)),
            )
        ).all()
    )
    return storage.remove_unreferenced(PHOTO_FOLDER, referenced, min_age_s)
