"""Suspected spoofs in a real browser (Debian Chromium, Playwright, the real app under gunicorn over
HTTPS): an admin sees two attempts that failed liveness, with their frames and why; approves one (it
becomes a check-in at the attempt's time) and dismisses the other (no check-in, kept as evidence)."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from test_admin_browser import ADMIN_PASSWORD, ADMIN_USER, FACES, kiosk_cli, shot

pytestmark = [pytest.mark.browser, pytest.mark.models]  # the server enrolls with the real models

GESTURES = Path(__file__).resolve().parents[1] / "data" / "gestures"


def seed_spoofs(data_dir: Path, name: str) -> list[datetime]:
    """Two attempts at checking in as ``name`` that failed liveness, kept by the kiosk's own service:
    a print of the person held over another body's face (the frames the kiosk would keep)."""
    import cv2

    from kiosk import create_app
    from kiosk.benchmarks.spoof_frames import held_print
    from kiosk.checkin.liveness import LivenessJudge
    from kiosk.config import Config
    from kiosk.extensions import db
    from kiosk.services import spoofs
    from kiosk.services.people import get_person_by_name

    body = cv2.imread(str(GESTURES / "composite_obama_v.jpg"))
    frame = held_print(body, cv2.imread(str(FACES / "lfw_Colin_Powell" / "2.jpg")))
    judge = LivenessJudge()
    for _ in range(6):
        judge.observe_expression(0.02, 0.6)
        judge.observe_passive(0.9)
    app = create_app(Config(data_dir))
    times = [datetime.now(timezone.utc) - timedelta(minutes=m) for m in (40, 5)]
    with app.app_context():
        person_id = get_person_by_name(name).id
        for when in times:
            spoofs.record(person_id, frame, frame.copy(), verdict=judge.verdict(), policy="review", happy=0.02,
                          identification_score=0.93, kiosk_id="front-door", now=when)
        db.session.remove()
        db.engine.dispose()
    return times


def test_admin_approves_one_attempt_and_dismisses_another(prepare_data_dir, start_https_app, launch_chromium):
    data_dir = prepare_data_dir("spoofs")
    kiosk_cli(data_dir, "admin", "create", ADMIN_USER, "--password-stdin", stdin=ADMIN_PASSWORD + "\n")
    kiosk_cli(data_dir, "people", "enroll", "Colin Powell", str(FACES / "lfw_Colin_Powell" / "1.jpg"))
    older, newer = seed_spoofs(data_dir, "Colin Powell")
    server = start_https_app(data_dir)
    browser = launch_chromium()
    page = browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 900}).new_page()
    page.set_default_timeout(60_000)
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))

    page.goto(server.url + "/admin/spoofs")
    page.get_by_label("Username").fill(ADMIN_USER)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/admin/spoofs")
    nav_link = page.locator("nav[aria-label=Main]").get_by_role("link", name="Suspected spoofs")
    assert "2" in nav_link.inner_text()
    rows = page.locator("table.spoofs tbody tr")
    assert rows.count() == 2
    assert "No smile from a neutral face" in rows.first.inner_text()
    assert "Colin Powell" in rows.first.inner_text() and "front-door" in rows.first.inner_text()
    for img in page.locator("table.spoofs img.thumb").all():  # the frames load (admin only, by id)
        img.evaluate("img => img.decode()")
        assert img.evaluate("img => img.naturalWidth") > 0
    shot(page, "spoofs-01-open")

    rows.first.get_by_role("button", name="Approve check-in").click()  # newest first: the 5-minute-old one
    page.wait_for_load_state()
    assert "Approved: Colin Powell's check-in" in page.locator(".flash-success").inner_text()
    rows = page.locator("table.spoofs tbody tr")
    assert rows.count() == 1
    rows.first.get_by_role("button", name="Dismiss").click()
    page.wait_for_load_state()
    assert "Dismissed" in page.locator(".flash-success").inner_text()
    assert page.locator("#no-spoofs").is_visible()
    page.get_by_role("link", name="All").click()
    page.wait_for_load_state()
    text = page.locator("table.spoofs").inner_text()
    assert "Approved by console-admin" in text and "Dismissed by console-admin" in text
    shot(page, "spoofs-02-decided")
    assert errors == []

    with sqlite3.connect(data_dir / "kiosk.sqlite3") as connection:
        events = connection.execute("SELECT timestamp, kiosk_id FROM attendance_event").fetchall()
        decided = connection.execute("SELECT status FROM suspected_spoof ORDER BY timestamp").fetchall()
    assert len(events) == 1  # only the approved attempt is attendance, at the attempt's own time
    recorded = datetime.fromisoformat(events[0][0]).replace(tzinfo=timezone.utc)
    assert abs((recorded - newer).total_seconds()) < 1 and events[0][1] == "front-door"
    assert [d[0] for d in decided] == ["dismissed", "approved"]
