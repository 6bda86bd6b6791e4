"""A correction made in a real browser (headless Debian Chromium, the real app under gunicorn over
HTTPS; fixtures in tests/browser/conftest.py): a punch recorded without its out is flagged on the
person's timesheet; the admin adds the missed out and moves the in, each with a reason; the hours
on the page change, the Audit page lists both corrections with their reasons, and the command
line's report has the new hours."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from console_cli import kiosk_cli

pytestmark = pytest.mark.browser

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO_ROOT / "artifacts" / "screenshots"
ADMIN_USER, ADMIN_PASSWORD = "hours-admin", "a long enough passphrase"
SITE = {"KIOSK_TIMEZONE": "Europe/Berlin"}


def test_a_correction_in_the_console_changes_the_hours_and_is_in_the_audit_log(prepare_data_dir, start_https_app,
                                                                               launch_chromium):
    data_dir = prepare_data_dir("corrections-console")
    kiosk_cli(data_dir, "admin", "create", ADMIN_USER, "--password-stdin", stdin=ADMIN_PASSWORD + "\n", env=SITE)
    server = start_https_app(data_dir, env=SITE)
    browser = launch_chromium()
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))

    page.goto(server.url + "/admin/people")
    page.get_by_label("Username").fill(ADMIN_USER)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/admin/people")
    page.get_by_label("Full name").fill("Ada Lovelace")
    page.get_by_role("button", name="Add person").click()
    page.wait_for_selector("#rename")
    # The kiosk recorded her in on Monday; she left without checking out.
    kiosk_cli(data_dir, "attendance", "add", "Ada Lovelace", "--at", "2026-03-02T09:00", "--kind", "in",
              "--reason", "kiosk was down", env=SITE)

    page.locator("nav[aria-label=Main]").get_by_role("link", name="Hours", exact=True).click()
    page.get_by_label("From").fill("2026-03-02")
    page.get_by_label("To").fill("2026-03-02")
    page.get_by_role("button", name="Show").click()
    page.get_by_role("link", name="Ada Lovelace").click()
    page.wait_for_selector("#timesheet")
    assert page.locator("#total-hours").inner_text() == "0.00"
    assert page.locator("#timesheet .flag").inner_text() == "no out"

    add = page.locator("#add-punch")
    add.get_by_label("When").fill("2026-03-02T17:30")
    add.get_by_label("Kind").select_option("out")
    add.get_by_label("Reason").fill("left without checking out")
    add.get_by_role("button", name="Add").click()
    page.wait_for_selector(".flash-success")
    assert page.locator("#total-hours").inner_text() == "8.50"
    assert page.locator("#timesheet .flag").count() == 0

    first = page.locator("#timesheet .punch").first
    change = first.locator("form.change-punch")
    change.get_by_label("Time").fill("2026-03-02T08:30")
    change.get_by_label("Reason").fill("gate log says 08:30")
    change.get_by_role("button", name="Change").click()
    page.wait_for_selector(".flash-success")
    assert page.locator("#total-hours").inner_text() == "9.00"

    # A correction that would break the day is refused on the page, and changes nothing.
    last = page.locator("#timesheet .punch").last
    last.locator("form.change-punch").get_by_label("Time").fill("2026-03-02T08:00")
    last.locator("form.change-punch").get_by_label("Reason").fill("typo")
    last.locator("form.change-punch").get_by_role("button", name="Change").click()
    page.wait_for_selector(".flash-error")
    assert "before any in" in page.locator(".flash-error").inner_text()
    assert page.locator("#total-hours").inner_text() == "9.00"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "admin-timesheet-corrections.png"), full_page=True)

    page.locator("nav[aria-label=Main]").get_by_role("link", name="Audit", exact=True).click()
    page.wait_for_selector("table.audit")
    actions = page.locator("table.audit tbody tr").evaluate_all("rows => rows.map(r => r.dataset.action)")
    assert actions[:3] == ["punch.changed", "punch.added", "punch.added"]
    changed = page.locator('tr[data-action="punch.changed"]').inner_text()
    assert ADMIN_USER in changed and "gate log says 08:30" in changed and "Ada Lovelace" in changed
    assert "left without checking out" in page.locator('tr[data-action="punch.added"]').first.inner_text()

    report = json.loads(kiosk_cli(data_dir, "report", "hours", "--from", "2026-03-02", "--to", "2026-03-02",
                                  "--json", env=SITE))
    assert report == [{"person": "Ada Lovelace", "days": 1, "hours": 9.0, "late": 0, "absent": 0}]
    assert errors == []
