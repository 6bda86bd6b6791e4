"""The audit log in a real browser (headless Debian Chromium, the real app under gunicorn over
HTTPS; fixtures in tests/browser/conftest.py): an admin adds a person, tries a rename to a taken
name (refused: no entry), renames, deletes them with a reason, then finds exactly those actions on
the Audit page, filters them, and downloads the CSV export."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from console_cli import kiosk_cli

pytestmark = pytest.mark.browser

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO_ROOT / "artifacts" / "screenshots"
ADMIN_USER, ADMIN_PASSWORD = "audit-admin", "a long enough passphrase"


def add_person(page, name: str) -> None:
    page.goto(page.url.split("/admin")[0] + "/admin/people")
    page.get_by_label("Full name").fill(name)
    page.get_by_role("button", name="Add person").click()
    page.wait_for_selector("#rename")


def test_admin_actions_appear_on_the_audit_page_and_in_its_export(prepare_data_dir, start_https_app,
                                                                   launch_chromium):
    data_dir = prepare_data_dir("audit-console")
    kiosk_cli(data_dir, "admin", "create", ADMIN_USER, "--password-stdin", stdin=ADMIN_PASSWORD + "\n")
    server = start_https_app(data_dir)
    browser = launch_chromium()
    context = browser.new_context(ignore_https_errors=True, accept_downloads=True,
                                  viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))

    page.goto(server.url + "/admin/audit")
    page.get_by_label("Username").fill(ADMIN_USER)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/admin/audit")

    add_person(page, "Grace Hopper")
    add_person(page, "Ada Lovelace")
    page.locator("#rename").fill("grace hopper")  # taken, up to case: refused, nothing logged
    page.get_by_role("button", name="Rename").click()
    assert "already" in page.locator(".flash-error").inner_text() or "same" in page.locator(".flash-error").inner_text()
    page.locator("#rename").fill("Ada King")
    page.get_by_role("button", name="Rename").click()
    page.wait_for_selector(".flash-success")
    page.get_by_role("link", name="Delete…").click()
    page.get_by_label("Reason").fill("left the company")
    page.get_by_role("button", name="Delete Ada King and all their data").click()
    page.wait_for_url("**/admin/people")

    page.locator("nav[aria-label=Main]").get_by_role("link", name="Audit", exact=True).click()
    page.wait_for_selector("table.audit")
    actions = page.locator("table.audit tbody tr").evaluate_all("rows => rows.map(r => r.dataset.action)")
    assert actions == ["person.deleted", "person.renamed", "person.created", "person.created", "admin.signed_in",
                       "admin.created"]
    deleted = page.locator('tr[data-action="person.deleted"]').inner_text()
    assert ADMIN_USER in deleted and "Ada King" in deleted and "left the company" in deleted
    renamed = page.locator('tr[data-action="person.renamed"]').inner_text()
    assert "Ada Lovelace" in renamed and "Ada King" in renamed

    page.get_by_label("Action").select_option("person.renamed")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**action=person.renamed**")
    assert page.locator("table.audit tbody tr").count() == 1
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "admin-audit-log.png"), full_page=True)

    page.get_by_label("Action").select_option("person")
    with page.expect_download() as caught:
        page.locator("#audit-export-csv").click()
    download = caught.value
    assert download.suggested_filename.startswith("audit_")
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text(encoding="utf-8-sig"))))
    assert [r["action"] for r in rows] == ["person.created", "person.created", "person.renamed", "person.deleted"]
    assert json.loads(rows[2]["before"]) == {"name": "Ada Lovelace"} and rows[3]["reason"] == "left the company"
    assert all(r["actor"] == ADMIN_USER and r["address"] == "127.0.0.1" for r in rows)

    audit = json.loads(kiosk_cli(data_dir, "audit", "--json", "--action", "export"))
    assert [a["actor"] for a in audit] == [ADMIN_USER]  # the download itself is in the log
    assert errors == []
