"""Check-in photos: the memo drawn on the photo, memo edits, fonts and non-Latin names, time zone.

Real photo: tests/data/expressions/happy.jpg (source in SOURCES.csv).
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np
import pytest

from kiosk import storage
from kiosk.errors import InvalidInput, KioskError, NotFound
from kiosk.services import attendance, photos
from kiosk.vision.image import load_image

PHOTO = Path(__file__).resolve().parent / "data" / "expressions" / "happy.jpg"
WHEN = datetime(2025, 3, 4, 0, 2, tzinfo=timezone.utc)


def _font_with_cyrillic() -> str | None:
    """A TTF that covers Latin accents and Cyrillic, if this machine has one (DejaVu Sans)."""
    candidates = [Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")]
    try:
        import matplotlib  # only present in some dev environments; not a dependency

        candidates.append(Path(matplotlib.__file__).parent / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf")
    except ImportError:
        pass
    return next((str(p) for p in candidates if p.is_file()), None)


@pytest.fixture
def frame():
    return cv2.resize(load_image(PHOTO), (640, 480), interpolation=cv2.INTER_AREA)


def test_memo_is_drawn_in_a_band_at_the_bottom(app, frame):
    out = photos.render_memo(frame, "Ada Lovelace\n2025-03-04 09:02")
    assert out.shape == frame.shape and out.dtype == np.uint8
    changed_rows = np.where(np.any(out != frame, axis=(1, 2)))[0]
    band_top = changed_rows.min()
    assert changed_rows.max() == 479 and 380 < band_top < 470  # a band along the bottom only
    assert np.array_equal(out[:band_top], frame[:band_top])
    band = out[band_top:]
    assert (band.min(axis=2) > 230).sum() > 300  # white text pixels
    untouched = cv2.resize(load_image(PHOTO), (640, 480), interpolation=cv2.INTER_AREA)
    assert np.array_equal(frame, untouched)  # the input frame is not drawn on


def test_different_memos_draw_different_pixels_and_empty_memo_draws_nothing(app, frame):
    a = photos.render_memo(frame, "Ada Lovelace")
    b = photos.render_memo(frame, "Grace Hopper")
    assert not np.array_equal(a, b)
    assert np.array_equal(photos.render_memo(frame, "   "), frame)


def test_long_memo_fits_the_width(app, frame):
    small = cv2.resize(frame, (160, 120))
    out = photos.render_memo(small, "A name far too long to fit on a small photo " * 3)
    assert out.shape == small.shape


def test_default_memo_uses_the_site_time_zone(app):
    app.config["KIOSK_TIMEZONE"] = "Asia/Seoul"
    assert photos.default_memo("Ada Lovelace", WHEN) == "Ada Lovelace\n2025-03-04 09:02"
    assert photos.default_memo("Ada", WHEN, "check_out").endswith("09:02 (check-out)")
    # An unknown zone cannot start the kiosk (tests/test_app_factory.py); set afterwards, it is the
    # same clear error everywhere, never a silent UTC on the photos while the reports fail.
    app.config["KIOSK_TIMEZONE"] = "Mars/Olympus_Mons"
    with pytest.raises(KioskError, match="KIOSK_TIMEZONE='Mars/Olympus_Mons' is not a known time zone"):
        photos.default_memo("Ada", WHEN)


def test_clean_memo(app):
    assert photos.clean_memo("  Ada \t Lovelace \r\n\n 09:02\x07 ") == "Ada Lovelace\n09:02"
    with pytest.raises(InvalidInput):
        photos.clean_memo("x" * (photos.MEMO_MAX_LENGTH + 1))
    with pytest.raises(InvalidInput):
        photos.clean_memo("a\nb\nc\nd")


def test_non_latin_names_degrade_clearly_with_the_builtin_font(app):
    """Pillow's built-in font is ASCII only: accents are dropped, other scripts become '?', never tofu."""
    assert photos.drawable_text("José Łukasz Straße") == "Jose Lukasz Strasse"
    assert photos.drawable_text("김민준 09:02") == "??? 09:02"
    assert photos.drawable_text("Жанна") == "?????"


def test_a_site_font_draws_what_it_covers(app, frame):
    font = _font_with_cyrillic()
    if font is None:
        pytest.skip("no DejaVu Sans on this machine")
    app.config["KIOSK_MEMO_FONT"] = font
    assert photos.drawable_text("José Łukasz Жанна") == "José Łukasz Жанна"
    assert photos.drawable_text("김민준") == "???"  # DejaVu has no Hangul: still a clear '?'
    with_font = photos.render_memo(frame, "Жанна")
    app.config["KIOSK_MEMO_FONT"] = ""
    assert not np.array_equal(with_font, photos.render_memo(frame, "Жанна"))


def test_an_unusable_site_font_falls_back_to_the_builtin_one(app, frame, tmp_path):
    app.config["KIOSK_MEMO_FONT"] = str(tmp_path / "missing.ttf")
    assert photos.drawable_text("Ada") == "Ada"
    photos.render_memo(frame, "Ada")  # no crash


def test_saved_photos_have_random_names_and_the_original_is_kept(app, frame):
    stored = photos.save_photos(frame, "Ada Lovelace")
    for relative in (stored.photo_path, stored.original_path):
        assert relative.startswith("photos/") and "Ada" not in relative
        assert len(Path(relative).stem) >= 22  # 128 random bits
    png = storage.resolve(stored.photo_path)
    assert png.read_bytes().startswith(b"\x89PNG")
    original = load_image(storage.resolve(stored.original_path))
    assert original.shape == frame.shape
    assert np.abs(original.astype(int) - frame.astype(int)).mean() < 2  # JPEG q95
    assert not list(png.parent.glob(".tmp-*"))  # no temp file left


def test_rewrite_memo_rerenders_from_the_original(app, make_person, frame):
    person = make_person("Ada Lovelace")
    result = attendance.record_check_in(person, frame, happy=0.9, identification_score=0.8, now=WHEN)
    event = result.event
    first_png, original = event.photo_path, event.original_photo_path
    first_pixels = load_image(storage.resolve(first_png))

    photos.rewrite_memo(event, "Ada Lovelace\nbirthday!")
    assert event.memo == "Ada Lovelace\nbirthday!"
    assert event.photo_path != first_png and event.original_photo_path == original
    assert not storage.resolve(first_png).exists()  # the old PNG is gone
    new_pixels = load_image(storage.resolve(event.photo_path))
    assert not np.array_equal(new_pixels, first_pixels)
    # The part above the band is the untouched original in both.
    assert np.array_equal(new_pixels[:300], first_pixels[:300])

    # Back to the first memo: identical pixels (both rendered from the stored original).
    photos.rewrite_memo(event, photos.default_memo("Ada Lovelace", WHEN))
    assert np.array_equal(load_image(storage.resolve(event.photo_path)), first_pixels)


def test_rewrite_memo_errors(app, make_person, frame):
    event = attendance.record_check_in(make_person(), frame, happy=0.9, identification_score=0.8).event
    with pytest.raises(InvalidInput):
        photos.rewrite_memo(event, "x" * 500)
    storage.resolve(event.original_photo_path).unlink()
    with pytest.raises(NotFound):
        photos.rewrite_memo(event, "new memo")


def test_rewrite_memo_without_photos_only_changes_the_text(app, make_person, frame):
    event = attendance.record_check_in(make_person(), frame, happy=0.9, identification_score=0.8, now=WHEN).event
    attendance.purge_photos_older_than(1, now=datetime(2025, 4, 1, tzinfo=timezone.utc))
    photos.rewrite_memo(event, "late memo")
    assert event.memo == "late memo" and event.photo_path is None


def test_photo_file(app, make_person, frame):
    event = attendance.record_check_in(make_person(), frame, happy=0.9, identification_score=0.8).event
    assert photos.photo_file(event).suffix == ".png"
    assert photos.photo_file(event, original=True).suffix == ".jpg"
    storage.resolve(event.photo_path).unlink()
    with pytest.raises(NotFound):
        photos.photo_file(event)
