"""The console at phone width, and its favicon and error pages, in a real browser (headless Debian
Chromium, Playwright) against the app under gunicorn over HTTPS (tests/browser/conftest.py).

At 390 px (a phone held upright) no page scrolls sideways: wide tables scroll inside their own
box. Every page loads without a 404 (the favicon is served locally), and a missing page offers
the way back to the console. Screenshots go to artifacts/screenshots/ (git-ignored).
"""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

REPO_ROOT = Path(__file__).resolve().parents[2]
FACES = REPO_ROOT / "tests" / "data" / "faces"
SCREENSHOTS = REPO_ROOT / "artifacts" / "screenshots"
ADMIN_USER, ADMIN_PASSWORD = "phone-admin", "a long enough passphrase"
PHONE = {"width": 390, "height": 844}
PEOPLE = [("Maria Fernanda Rodríguez-Villanueva de la Cruz", "EMPLOYEE-2024-000123"),
          ("Bartholomew Alexander Montgomery-Whitfield", "CONTRACTOR-EXT-99887766"), ("Ada Lovelace", None)]


def seed(data_dir: Path) -> None:
    """People with long names and ids, and check-ins with photos over a few days (the kiosk's own
    recording service, on the server's database, before it starts)."""
    from kiosk import create_app
    from kiosk.config import Config
    from kiosk.extensions import db
    from kiosk.services.attendance import record_check_in
    from kiosk.services.people import create_person
    from kiosk.vision.image import load_image

    app = create_app(Config(data_dir))
    photo = load_image(FACES / "lfw_Tony_Blair" / "1.jpg")
    now = datetime.now(timezone.utc)
    with app.app_context():
        people = [create_person(name, external_id) for name, external_id in PEOPLE]
        for offset in range(3):
            for index, person in enumerate(people):
                record_check_in(person, photo, happy=0.6, identification_score=0.9,
                                now=now - timedelta(days=offset, hours=index + 1))
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def console(prepare_data_dir, start_https_app):
    data_dir = prepare_data_dir("phone-console")
    result = subprocess.run([str(Path(sys.executable).parent / "kiosk"), "admin", "create", ADMIN_USER,
                             "--password-stdin"], input=ADMIN_PASSWORD + "\n", capture_output=True, text=True,
                            env={"KIOSK_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin",
                                 "HOME": str(data_dir.parent)}, cwd=REPO_ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    seed(data_dir)
    return start_https_app(data_dir)


def overflow(page) -> dict:
    return page.evaluate("({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})")


def test_the_console_fits_a_phone_and_has_a_favicon_and_a_way_back_from_a_missing_page(console, launch_chromium):
    browser = launch_chromium()
    # Not is_mobile: a mobile viewport zooms out to fit what overflows, and innerWidth grows with it.
    context = browser.new_context(ignore_https_errors=True, viewport=PHONE, device_scale_factor=2, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(120_000)
    missing: list[str] = []
    page.on("response", lambda response: missing.append(response.url) if response.status == 404 else None)

    page.goto(console.url + "/admin/people")
    page.get_by_label("Username").fill(ADMIN_USER)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/admin/people")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    for name, path in (("people", "/admin/people"), ("attendance", "/admin/attendance")):
        page.goto(console.url + path)
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(SCREENSHOTS / f"admin-phone-{name}.png"), full_page=True)
        sizes = overflow(page)
        assert sizes["inner"] == PHONE["width"] and sizes["scroll"] <= sizes["inner"], (name, sizes)
        assert page.locator("table").first.is_visible()
    assert PEOPLE[0][0] in page.content()  # the attendance table is there, scrolling in its own box
    assert missing == [], missing  # the favicon included

    icon = page.locator("link[rel=icon]").get_attribute("href")
    assert icon.endswith(".svg") and page.request.get(console.url + icon).status == 200

    response = page.goto(console.url + "/admin/no-such-page")
    assert response.status == 404
    page.screenshot(path=str(SCREENSHOTS / "admin-phone-404.png"), full_page=True)
    assert page.get_by_role("heading", name="Page not found").is_visible()
    page.get_by_role("link", name="Console", exact=True).click()
    page.wait_for_url("**/admin/")
    assert page.get_by_role("heading", name="Dashboard").is_visible()
    context.close()
