"""The console's Integrations pages in a real browser (headless Debian Chromium, the real app under
gunicorn over HTTPS): an admin creates an API token (shown once) that then reads /api/v1, revokes it
(refused at once); adds a webhook for a real receiver on loopback, adds a person, sees the delivery
in the log as delivered, and sends it again (the same delivery id arrives twice)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_audit_browser import ADMIN_PASSWORD, ADMIN_USER, SCREENSHOTS, add_person, kiosk_cli  # noqa: E402
from webhook_receiver import Receiver  # noqa: E402

from kiosk.services.webhooks import verify_signature  # noqa: E402

pytestmark = pytest.mark.browser
SECRET = "browser-webhook-secret-0001"


def test_tokens_and_webhooks_from_the_console(prepare_data_dir, start_https_app, launch_chromium):
    data_dir = prepare_data_dir("integrations-console")
    kiosk_cli(data_dir, "admin", "create", ADMIN_USER, "--password-stdin", stdin=ADMIN_PASSWORD + "\n")
    server = start_https_app(data_dir, env={"KIOSK_WEBHOOKS": "1", "KIOSK_WEBHOOK_POLL_S": "0.2"})
    browser = launch_chromium()
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    # The browser context's own HTTP client: it carries the admin's session cookie too, and the bearer
    # token alone decides (a revoked token is refused whatever cookie comes with it).
    api = context.request

    page.goto(server.url + "/admin/tokens")
    page.get_by_label("Username").fill(ADMIN_USER)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/admin/tokens")
    page.get_by_label("Name").fill("payroll")
    page.get_by_label("read:attendance").check()
    page.get_by_role("button", name="Create").click()
    token = page.locator("#new-token").inner_text().strip()
    assert token.startswith("kt_")
    listed = api.get(server.url + "/api/v1/attendance", headers={"Authorization": f"Bearer {token}"})
    assert listed.status == 200 and listed.json()["events"] == []
    page.goto(server.url + "/admin/tokens")  # shown once: not on the page any more
    assert token not in page.content()
    row = page.locator('tr[data-name="payroll"]')
    assert row.get_attribute("data-state") == "active" and row.locator(".token-state").inner_text() == "Active"
    row.get_by_role("button", name="Revoke").click()
    page.wait_for_selector(".flash-success")
    assert page.locator('tr[data-name="payroll"]').get_attribute("data-state") == "revoked"
    assert api.get(server.url + "/api/v1/attendance", headers={"Authorization": f"Bearer {token}"}).status == 401

    with Receiver() as receiver:
        page.locator("nav[aria-label=Main]").get_by_role("link", name="Integrations").click()
        page.get_by_role("link", name="Webhooks").first.click()
        page.wait_for_url("**/admin/webhooks")
        page.get_by_label("URL").fill(receiver.url)
        page.get_by_label("person.created").check()
        page.get_by_label("Secret").fill(SECRET)
        page.get_by_role("button", name="Add").click()
        page.wait_for_selector("#webhooks")
        add_person(page, "Grace Hopper")
        first = receiver.wait_for(1, timeout_s=15)[0]
        assert verify_signature(SECRET, first.headers["X-Kiosk-Signature"], first.body)
        assert first.json["data"]["name"] == "Grace Hopper"

        page.goto(server.url + "/admin/webhooks")
        deadline = time.monotonic() + 10
        while page.locator("#deliveries .delivery-status").first.inner_text() != "delivered":
            assert time.monotonic() < deadline, "the log never said delivered"
            page.reload()
        assert first.json["delivery_id"] in page.locator("#deliveries").inner_text()
        page.locator("#deliveries").get_by_role("button", name="Send again").first.click()
        page.wait_for_selector(".flash-success")
        again = receiver.wait_for(2, timeout_s=15)[1]
    assert again.json["delivery_id"] == first.json["delivery_id"] and again.body == first.body
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "webhooks.png"), full_page=True)
    assert errors == []
