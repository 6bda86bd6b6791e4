"""The console's flashes and refusals in German, French and Spanish, in a real browser (headless
Debian Chromium, the real app under gunicorn over HTTPS; fixtures in tests/browser/conftest.py).
Chromium asks for the language with its own Accept-Language (the context's locale). An administrator
adds a person (the success flash), adds the same name again (refused: the name and who has it,
translated), and records a correction without a reason (refused); each message is the catalogue's
sentence, not the service's English, and fits its box. Screenshots in artifacts/screenshots/."""

from __future__ import annotations

from pathlib import Path

import pytest
from console_cli import kiosk_cli

from kiosk.languages import gettext_for
from kiosk.web.console_errors import CONSOLE_MESSAGES

pytestmark = pytest.mark.browser

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO_ROOT / "artifacts" / "screenshots"
ADMIN_USER, ADMIN_PASSWORD = "polyglot", "a long enough passphrase"
ENGLISH_LEFT = ("already exists", "needs a reason", "was added", "Now add", "who asked")


def flash(page, kind: str) -> str:
    box = page.locator(f".flash-{kind}")
    assert box.count() == 1
    overflowing = box.evaluate("el => el.scrollWidth > el.clientWidth + 1")
    assert not overflowing, "the message does not fit its box"
    return " ".join(box.inner_text().split())


def test_flashes_and_refusals_in_each_console_language(prepare_data_dir, start_https_app, launch_chromium):
    data_dir = prepare_data_dir("console-refusals")
    kiosk_cli(data_dir, "admin", "create", ADMIN_USER, "--password-stdin", stdin=ADMIN_PASSWORD + "\n")
    server = start_https_app(data_dir)
    browser = launch_chromium()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for code, locale, name in (("de", "de-DE", "Ada Lovelace"), ("fr", "fr-FR", "Grace Hopper"),
                               ("es", "es-ES", "Hedy Lamarr")):
        gettext = gettext_for(code)
        context = browser.new_context(ignore_https_errors=True, locale=locale, viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(60_000)
        errors: list[str] = []
        page.on("pageerror", lambda err: errors.append(str(err)))  # noqa: B023 - read before the next context
        page.goto(server.url + "/admin/people")
        page.locator("input[name=username]").fill(ADMIN_USER)
        page.locator("input[name=password]").fill(ADMIN_PASSWORD)
        page.locator("form button[type=submit]").click()
        page.wait_for_url("**/admin/people")
        assert page.locator("html").get_attribute("lang") == code

        page.locator("#new-name").fill(name)
        page.locator("#new-name").press("Enter")
        page.wait_for_selector(".flash-success")
        assert flash(page, "success") == gettext("%(name)s was added. Now add a few photos of their face.") % {
            "name": name}
        person_url = page.url

        page.goto(server.url + "/admin/people")
        page.locator("#new-name").fill(name.lower())
        page.locator("#new-name").press("Enter")
        page.wait_for_selector(".flash-error")
        refused = flash(page, "error")
        assert refused == gettext(CONSOLE_MESSAGES["name_taken"]) % {"name": name.lower(), "existing": name}
        page.screenshot(path=str(SCREENSHOTS / f"console-refusal-name-taken-{code}.png"))

        person_id = person_url.split("/admin/people/")[1].split("?")[0].split("#")[0]
        page.goto(server.url + f"/admin/hours/person/{person_id}?from=2026-03-02&to=2026-03-02")
        add = page.locator("#add-punch")
        add.locator("input[name=at]").fill("2026-03-02T17:30")
        add.locator("input[name=reason]").fill("   ")
        add.locator("button[type=submit]").click()
        page.wait_for_selector(".flash-error")
        no_reason = flash(page, "error")
        assert no_reason == gettext(CONSOLE_MESSAGES["missing_reason"])
        page.screenshot(path=str(SCREENSHOTS / f"console-refusal-no-reason-{code}.png"))

        # What the console's scripts show of an API's refusal (the webcam's refused shots and warnings):
        # the sentence by its code, in the page's language, its values filled; the English otherwise.
        said = page.evaluate("""() => [Admin.refusal("multiple_faces", "English"),
                                       Admin.refusal("possible_duplicate", "English", {name: "Ada"}),
                                       Admin.refusal("possible_duplicate", "English (a value missing)", {}),
                                       Admin.refusal("no_such_code", "English (no sentence)")]""")
        assert said == [gettext(CONSOLE_MESSAGES["multiple_faces"]),
                        gettext(CONSOLE_MESSAGES["possible_duplicate"]) % {"name": "Ada"},
                        "English (a value missing)", "English (no sentence)"]
        assert page.evaluate("() => Admin.stage({stage: 'x', stage_template: 'Embedding enrollment photo "
                             "%(done)s of %(total)s', stage_values: {done: 3, total: 40}})") == gettext(
            "Embedding enrollment photo %(done)s of %(total)s") % {"done": 3, "total": 40}

        for message in (refused, no_reason):
            assert not [words for words in ENGLISH_LEFT if words in message], message
        assert errors == []
        context.close()
