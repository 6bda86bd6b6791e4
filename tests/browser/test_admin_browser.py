"""The admin console in a real browser: headless Debian Chromium (Playwright) against the real app
under gunicorn over HTTPS (self-signed certificate on 127.0.0.1), fixtures in tests/browser/conftest.py.

One journey, as an admin lives it: sign in; add a person with several photos at once (one photo
with several faces is refused with its reason); add a second person from photos; enroll a third
from the webcam (Chromium's fake camera plays a real photo, the page's live check must see exactly
one face before a shot can be taken); retrain in the background and watch the model page update;
then export the attendance as CSV and as Excel and compare every row with the database.
Screenshots go to artifacts/screenshots/ (git-ignored).
"""

from __future__ import annotations

import csv
import io
import sqlite3
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from console_cli import kiosk_cli
from fake_camera import webcam_frames, write_y4m

pytestmark = [pytest.mark.browser, pytest.mark.models]  # the server enrolls with the real models

REPO_ROOT = Path(__file__).resolve().parents[2]
FACES = REPO_ROOT / "tests" / "data" / "faces"
SCREENSHOTS = REPO_ROOT / "artifacts" / "screenshots"
ADMIN_USER, ADMIN_PASSWORD = "console-admin", "a long enough passphrase"
SITE_TZ = "Asia/Seoul"
TIMEOUT_MS = 120_000  # the first enrollment loads the detector and the embedder on a busy 2-core machine


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"admin-{name}.png"), full_page=True)


def nav(page, name: str) -> None:
    page.locator("nav[aria-label=Main]").get_by_role("link", name=name, exact=True).click()
    page.wait_for_load_state()


def seed_attendance(data_dir: Path, names: list[str], days: int) -> None:
    """Check-ins with photos for the enrolled people over the last ``days`` days (the kiosk's
    own recording service, in this process, on the server's database)."""
    from kiosk import create_app
    from kiosk.config import Config
    from kiosk.extensions import db
    from kiosk.services.attendance import record_check_in
    from kiosk.services.people import get_person_by_name
    from kiosk.vision.image import load_image

    app = create_app(Config(data_dir))
    app.config["KIOSK_TIMEZONE"] = SITE_TZ
    photo = load_image(FACES / "lfw_Tony_Blair" / "1.jpg")
    now = datetime.now(timezone.utc)
    with app.app_context():
        for offset in range(days):
            for index, name in enumerate(names):
                if (offset + index) % 3 == 2:
                    continue  # someone is absent now and then
                when = now - timedelta(days=offset, hours=index + 1, minutes=7 * index)
                record_check_in(get_person_by_name(name), photo, happy=0.5 + index / 10,
                                identification_score=0.9 - index / 10, now=when)
        db.session.remove()
        db.engine.dispose()


def database_rows(data_dir: Path, start: date, end: date) -> list[tuple]:
    """(event_id, local date, local time, person, kind) straight from SQLite, for the local range."""
    tz = ZoneInfo(SITE_TZ)
    with sqlite3.connect(data_dir / "kiosk.sqlite3") as connection:
        raw = connection.execute(
            "SELECT e.id, e.timestamp, p.name, e.kind FROM attendance_event e JOIN person p ON p.id = e.person_id"
        ).fetchall()
    rows = []
    for event_id, stamp, name, kind in raw:
        local = datetime.fromisoformat(stamp).replace(tzinfo=timezone.utc).astimezone(tz)
        if start <= local.date() <= end:
            rows.append((event_id, local.date().isoformat(), local.strftime("%H:%M:%S"), name, kind))
    return sorted(rows, key=lambda r: (r[1], r[2], r[0]))


@pytest.fixture
def console(prepare_data_dir, start_https_app, tmp_path):
    data_dir = prepare_data_dir("admin-console")
    kiosk_cli(data_dir, "admin", "create", ADMIN_USER, "--password-stdin", stdin=ADMIN_PASSWORD + "\n")
    server = start_https_app(data_dir, env={"KIOSK_TIMEZONE": SITE_TZ})
    return server


def test_admin_signs_in_enrolls_retrains_and_exports(console, launch_chromium, tmp_path):
    camera = write_y4m(tmp_path / "powell.y4m", webcam_frames(FACES / "lfw_Colin_Powell" / "1.jpg", count=8))
    browser = launch_chromium(video=camera)
    context = browser.new_context(ignore_https_errors=True, accept_downloads=True,
                                  viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))

    # --- sign in (an anonymous visit to the console lands on the form, then comes back)
    page.goto(console.url + "/admin/people")
    assert "/auth/login" in page.url
    shot(page, "01-sign-in")
    page.get_by_label("Username").fill(ADMIN_USER)
    page.get_by_label("Password").fill("wrong password!")
    page.get_by_role("button", name="Sign in").click()
    assert "Wrong username or password." in page.locator(".flash-error").inner_text()
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/admin/people")
    assert page.get_by_role("heading", name="People").is_visible()

    # --- add a person with several photos at once; a group photo is refused with its reason
    page.get_by_label("Full name").fill("Barack Obama")
    page.get_by_label("Employee id").fill("E-044")
    obama = sorted((FACES / "fr_obama").glob("*.jpg"))
    page.locator("#new-photos").set_input_files([str(p) for p in obama] + [str(FACES / "_multi" / "1.jpg")])
    page.get_by_role("button", name="Add person").click()
    page.wait_for_selector("#enroll-results")
    results = page.locator("#enroll-results")
    assert f"{len(obama)} of {len(obama) + 1} photos accepted" in results.locator("h2").inner_text()
    refused = results.locator("tr.refused")
    assert refused.count() == 1 and "multiple_faces" in refused.inner_text()
    assert page.locator("#samples .crop img").count() == len(obama)
    page.locator("#samples .crop img").first.evaluate("img => img.decode()")
    assert page.locator("#samples .crop img").first.evaluate("img => img.naturalWidth") > 0
    shot(page, "02-person-enrolled")

    # --- a second person, from the person page's upload form
    nav(page, "People")
    page.get_by_label("Full name").fill("Joe Biden")
    page.get_by_role("button", name="Add person").click()
    page.wait_for_selector("#upload-form")
    biden = sorted((FACES / "fr_biden").glob("*.jpg"))
    page.locator("#photos").set_input_files([str(p) for p in biden])
    page.get_by_role("button", name="Upload and enroll").click()
    page.wait_for_selector("#enroll-results")
    assert f"{len(biden)} of {len(biden)} photo" in page.locator("#enroll-results h2").inner_text()

    # --- a third person from the webcam: live feedback, then shots, then enrollment
    nav(page, "People")
    page.get_by_label("Full name").fill("Colin Powell")
    page.get_by_role("button", name="Add person").click()
    page.wait_for_selector("#webcam-start")
    page.get_by_role("button", name="Start camera").click()
    page.wait_for_selector("#webcam-status.ok")
    assert "Exactly one face" in page.locator("#webcam-status").inner_text()
    for taken in range(1, 4):
        page.wait_for_selector("#webcam-shoot:not([disabled])")
        page.get_by_role("button", name="Take photo").click()
        # The shot is grabbed asynchronously (canvas.toBlob): wait for its thumbnail.
        page.wait_for_function(f"() => document.querySelectorAll('#webcam-shots li').length === {taken}")
    assert page.locator("#webcam-shots li").count() == 3
    shot(page, "03-webcam-capture")
    page.locator("#webcam-enroll").click()
    page.wait_for_function("() => document.querySelector('#webcam-results').textContent.includes('accepted')")
    assert "3 of 3 accepted" in page.locator("#webcam-results").inner_text()
    assert page.locator("#samples .crop img").count() == 3

    # --- recognition follows the enrollments by itself, in the background (coalesced); the page
    # follows the job, says where things stand in plain words, the model's facts under Advanced
    nav(page, "Recognition")
    shot(page, "04-retraining")
    page.wait_for_selector('[data-recognition="up_to_date"]', timeout=600_000)
    assert "the kiosk recognises 3 people" in page.locator("#faces-model .status-line").inner_text()
    page.locator("#faces-advanced summary").click()
    page.wait_for_selector('[data-fact="people"]', timeout=600_000)
    assert page.locator('[data-fact="people"]').inner_text() == "3"
    assert page.locator('[data-fact="samples"]').inner_text() == str(len(obama) + len(biden) + 3)
    assert page.locator('[data-fact="embedder"]').inner_text().strip() != ""
    assert "%" in page.locator('[data-fact="cv_accuracy"]').inner_text()
    assert page.locator("#faces-model .notice").count() == 0
    shot(page, "05-model-trained")

    # --- attendance (recorded by the kiosk's service), exported as CSV and Excel
    seed_attendance(console.data_dir, ["Barack Obama", "Joe Biden", "Colin Powell"], days=10)
    today = datetime.now(ZoneInfo(SITE_TZ)).date()
    start = today - timedelta(days=12)
    nav(page, "Attendance")
    page.get_by_label("From").fill(start.isoformat())
    page.get_by_label("To").fill(today.isoformat())
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**from=*")
    assert page.locator("table.attendance tbody tr").count() > 0
    shot(page, "06-attendance")
    expected = database_rows(console.data_dir, start, today)
    assert len(expected) >= 15

    with page.expect_download() as csv_download:
        page.locator("#export-csv").click()
    csv_file = tmp_path / csv_download.value.suggested_filename
    csv_download.value.save_as(csv_file)
    assert csv_file.suffix == ".csv"
    got_csv = [(int(r["event_id"]), r["date"], r["time"], r["person"], r["kind"])
               for r in csv.DictReader(io.StringIO(csv_file.read_text(encoding="utf-8-sig")))]
    assert got_csv == expected

    with page.expect_download() as xlsx_download:
        page.locator("#export-xlsx").click()
    xlsx_file = tmp_path / xlsx_download.value.suggested_filename
    xlsx_download.value.save_as(xlsx_file)
    assert xlsx_file.suffix == ".xlsx"
    from openpyxl import load_workbook

    sheet = load_workbook(xlsx_file, read_only=True).active
    header, *rows = list(sheet.iter_rows(values_only=True))
    columns = {name: i for i, name in enumerate(header)}
    got_xlsx = [
        (r[columns["event_id"]], r[columns["date"]].date().isoformat(), r[columns["time"]].strftime("%H:%M:%S"),
         r[columns["person"]], r[columns["kind"]])
        for r in rows
    ]
    assert got_xlsx == expected

    # --- the dashboard's server-made chart and the monthly report
    nav(page, "Dashboard")
    assert page.locator("svg.chart rect.bar").count() == 30
    shot(page, "07-dashboard")
    nav(page, "Reports")
    assert page.locator("table.summary tbody tr").count() == 3
    shot(page, "08-reports")

    # --- the gesture recorder talks to the pose model: a head-and-shoulders webcam view is refused
    nav(page, "Recognition")
    page.get_by_role("link", name="Record samples").click()
    page.get_by_label("X (no) — forearms crossed on the chest").check()
    page.get_by_role("button", name="Start camera").click()
    page.wait_for_selector("#gesture-record:not([disabled])")
    page.get_by_role("button", name="Record one").click()
    page.wait_for_selector("#gesture-status.bad")
    status = page.locator("#gesture-status").inner_text()
    assert "arms" in status or "No person" in status, status
    assert page.locator('#gesture-counts tr[data-label="X"] td.num').inner_text() == "0"
    shot(page, "09-gesture-recorder")

    assert errors == [], errors
    context.close()
