"""The console's pages in German, French and Spanish, in headless Chromium against the real app
under gunicorn over HTTPS: the browser's language (Accept-Language) picks the console's, and on
every page walked here no English sentence of the catalogue is left on the screen, nothing runs
wider than the window, and the words the page's scripts write (the gesture recorder's camera)
come in the page's language too.

Screenshots of each page in each language go to artifacts/screenshots/ (git-ignored).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from test_kiosk_languages_browser import VISIBLE_TEXTS, english_words_that_differ

from kiosk.languages import LANGUAGES, SOURCE_LANGUAGE, gettext_for

pytestmark = pytest.mark.browser

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO_ROOT / "artifacts" / "screenshots"
FACE_PHOTO = REPO_ROOT / "tests" / "data" / "faces" / "lfw_Tony_Blair" / "1.jpg"
ADMIN_USER, ADMIN_PASSWORD = "sprachen-admin", "a long enough passphrase"
TRANSLATED = [code for code in LANGUAGES if code != SOURCE_LANGUAGE]
# The pages, each with its Advanced details opened where it has them.
PAGES = {
    "recognition": "/admin/models", "gestures": "/admin/models/gestures", "settings": "/admin/settings",
    "spoofs": "/admin/spoofs?status=all", "api-tokens": "/admin/tokens", "webhooks": "/admin/webhooks",
    "audit": "/admin/audit", "attendance": "/admin/attendance",
}
WIDTH = 1280
PHONE_WIDTH = 390

# Anything wider than the window, or a control whose words do not fit in it.
OVERFLOW = """(width) => {
  const out = [];
  if (document.documentElement.scrollWidth > width + 1) out.push('page ' + document.documentElement.scrollWidth);
  for (const element of document.querySelectorAll('button, .button, label, th, summary, .badge, select')) {
    if (!element.checkVisibility() || element.closest('.table-scroll')) continue;
    if (element.scrollWidth > element.clientWidth + 1 && getComputedStyle(element).overflowX === 'hidden') {
      out.push(element.tagName + ' ' + element.textContent.trim().slice(0, 40));
    }
    const box = element.getBoundingClientRect();
    if (box.right > width + 1) out.push(element.tagName + ' off screen: ' + element.textContent.trim().slice(0, 40));
  }
  return out;
}"""


@pytest.fixture(scope="module")
def console_server(prepare_data_dir, start_https_app):
    """The real app with rows on every page walked: an administrator, a person with a check-in and
    its photo, a group, a holiday, an API token, a webhook and its delivery, a kiosk, two suspected
    spoofs (one open, one dismissed, with the liveness cues the kiosk records), and the audit
    entries all these made."""
    from kiosk import create_app
    from kiosk.checkin.liveness import LivenessVerdict
    from kiosk.config import Config
    from kiosk.extensions import db
    from kiosk.services import api_tokens, groups, schedules, spoofs, webhooks
    from kiosk.services.accounts import create_admin
    from kiosk.services.attendance import record_check_in
    from kiosk.services.devices import register_device
    from kiosk.services.people import create_person
    from kiosk.vision.image import load_image

    data_dir = prepare_data_dir("console-languages")
    app = create_app(Config(data_dir))
    with app.app_context():
        create_admin(ADMIN_USER, ADMIN_PASSWORD)
        webhooks.add_subscription("https://127.0.0.1:9/hooks/kiosk", ["person.created"], "s" * 32, actor=ADMIN_USER)
        db.session.commit()
        person = create_person("Ada Lovelace", "E-001")
        now = datetime.now(timezone.utc)
        record_check_in(person, load_image(FACE_PHOTO), happy=0.8, identification_score=0.9,
                        now=now - timedelta(hours=3))
        groups.create_group("Night shift", actor=ADMIN_USER)
        schedules.add_holiday((now + timedelta(days=30)).date().isoformat(), "Founders' day", actor=ADMIN_USER)
        api_tokens.create_token("hr-sync", ["read:attendance"], actor=ADMIN_USER)
        register_device("Front door")
        photo = load_image(FACE_PHOTO)
        cues = {"expression": {"passed": False, "value": 0.12, "needed": 1.0, "frames": 9},
                "body": {"passed": True, "value": 0.93, "needed": 0.8, "frames": 9},
                "passive": {"passed": False, "value": 0.31, "needed": 0.5, "frames": 6}}
        verdict = LivenessVerdict(live=False, score=0.12, cues=cues, failed=("expression", "passive"),
                                  with_margin=False)
        for minutes, policy in ((50, "refuse"), (20, "review")):
            spoofs.record(person.id, photo, photo[::2, ::2].copy(), verdict=verdict, policy=policy, happy=0.2,
                          identification_score=0.88, kiosk_id="front-door", now=now - timedelta(minutes=minutes))
        db.session.commit()
        spoofs.dismiss(spoofs.listing("open")[-1].id, ADMIN_USER)
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    server = start_https_app(data_dir)
    return server


def signed_in_page(browser, server, code: str):
    context = browser.new_context(viewport={"width": WIDTH, "height": 900}, ignore_https_errors=True,
                                  locale=code, extra_http_headers={"Accept-Language": code})
    page = context.new_page()
    page.set_default_timeout(60_000)
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(server.url + "/auth/login")
    page.locator("#username").fill(ADMIN_USER)
    page.locator("#password").fill(ADMIN_PASSWORD)
    page.locator("form button[type=submit]").click()
    page.wait_for_url("**/admin/**")
    return page, errors


@pytest.mark.parametrize("code", TRANSLATED)
def test_the_console_pages_speak_the_browsers_language(console_server, launch_chromium, code):
    english = english_words_that_differ(code)
    page, errors = signed_in_page(launch_chromium(), console_server, code)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    left, overflowing = {}, {}
    for name, path in PAGES.items():
        page.goto(console_server.url + path)
        page.wait_for_load_state("networkidle")
        assert page.evaluate("document.documentElement.lang") == code, name
        page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")
        found = [text for text in page.evaluate(VISIBLE_TEXTS) if text in english]
        found += [value for value in page.evaluate(
            "() => [...document.querySelectorAll('[aria-label], [title], [alt], [placeholder], optgroup')]"
            ".flatMap(e => ['aria-label', 'title', 'alt', 'placeholder', 'label'].map(a => e.getAttribute(a)))"
            ".filter(Boolean)") if value in english]
        if found:
            left[name] = found
        if problems := page.evaluate(OVERFLOW, WIDTH):
            overflowing[name] = problems
        page.screenshot(path=str(SCREENSHOTS / f"console-{code}-{name}.png"), full_page=True)
    assert left == {}, f"{code}: English left on the screen"
    assert overflowing == {}, f"{code}: wider than the window"
    assert errors == []


@pytest.mark.parametrize("code", TRANSLATED)
def test_the_gesture_recorders_script_speaks_the_pages_language(console_server, launch_chromium, code):
    _ = gettext_for(code)
    page, errors = signed_in_page(launch_chromium(), console_server, code)  # Chromium's fake camera
    page.goto(console_server.url + "/admin/models/gestures")
    status = page.locator("#gesture-status")
    assert status.inner_text() == _("The camera is off.")
    page.locator("#gesture-start").click()
    page.wait_for_function("([text]) => document.getElementById('gesture-status').textContent === text",
                           arg=[_("Ready. Choose the gesture, strike the pose, then record.")])
    assert page.locator("#gesture-start").inner_text() == _("Stop camera") != "Stop camera"
    page.locator("#gesture-start").click()
    assert status.inner_text() == _("The camera is off.") and page.locator("#gesture-start").inner_text() == _(
        "Start camera")
    assert errors == []


def test_the_translated_pages_fit_a_phone_in_german(console_server, launch_chromium):
    # German has the longest words of the four: at phone width no page may run wider than the screen.
    browser = launch_chromium()
    context = browser.new_context(viewport={"width": PHONE_WIDTH, "height": 800}, ignore_https_errors=True,
                                  locale="de", extra_http_headers={"Accept-Language": "de"}, is_mobile=True)
    page = context.new_page()
    page.goto(console_server.url + "/auth/login")
    page.locator("#username").fill(ADMIN_USER)
    page.locator("#password").fill(ADMIN_PASSWORD)
    page.locator("form button[type=submit]").click()
    page.wait_for_url("**/admin/**")
    too_wide = {}
    for name, path in PAGES.items():
        page.goto(console_server.url + path)
        page.wait_for_load_state("networkidle")
        page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > PHONE_WIDTH + 1:
            too_wide[name] = width
        page.screenshot(path=str(SCREENSHOTS / f"console-de-phone-{name}.png"), full_page=True)
    assert too_wide == {}
