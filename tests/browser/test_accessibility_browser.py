"""Accessibility checked with a real tool: axe-core (vendored, tests/browser/vendor/axe-core/) run
by Playwright in headless Chromium on every kiosk state and every console page, over HTTPS from
the real app. No serious or critical violation is allowed (WCAG 2.0/2.1 A and AA rules plus axe's
best practices). The figures per page (violations by impact, rules passed) are written to
artifacts/accessibility.json and printed.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from test_kiosk_browser import (  # noqa: F401  (fixtures)
    FakeKioskApi,
    answer,
    camera_files,
    known_view,
    new_kiosk_page,
    page_server,
)
from test_kiosk_languages_browser import states

pytestmark = pytest.mark.browser

REPO_ROOT = Path(__file__).resolve().parents[2]
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
AXE_SHA256 = "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c"
REPORT = REPO_ROOT / "artifacts" / "accessibility.json"
ADMIN_USER, ADMIN_PASSWORD = "a11y-admin", "a long enough passphrase"
FACE_PHOTO = REPO_ROOT / "tests" / "data" / "faces" / "lfw_Tony_Blair" / "1.jpg"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
BLOCKING = ("serious", "critical")

RUN_AXE = """async (tags) => {
  const result = await axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
  return {
    violations: result.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help,
                                             nodes: v.nodes.map(n => n.target.join(' ') + ': ' +
                                                                (n.failureSummary || '').slice(0, 300)).slice(0, 5) })),
    passes: result.passes.length,
  };
}"""

FIGURES: dict[str, dict] = {}


def audit(page, name: str) -> dict:
    """axe's verdict on the page as it is now (its transitions finished); recorded under ``name``."""
    # A colour still fading from one step to the next (0.2 s transitions) is neither state's
    # contrast: wait for every finite animation to end first (the pictograms loop forever).
    page.evaluate("""() => Promise.all(document.getAnimations()
        .filter(a => a.effect && a.effect.getComputedTiming().iterations !== Infinity)
        .map(a => a.finished.catch(() => null)))""")
    result = page.evaluate(RUN_AXE, TAGS)
    counts = {impact: 0 for impact in ("minor", "moderate", "serious", "critical")}
    for violation in result["violations"]:
        counts[violation["impact"] or "minor"] += 1
    FIGURES[name] = {"violations": counts, "rules_passed": result["passes"],
                     "rules_failed": [f'{v["id"]} ({v["impact"]})' for v in result["violations"]]}
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(FIGURES, indent=2, sort_keys=True))
    print(f"axe {name}: {counts}, {result['passes']} rules passed; " +
          "; ".join(f'{v["id"]} ({v["impact"]}): {v["nodes"][:2]}' for v in result["violations"]))
    return result


def blocking(result: dict) -> list[dict]:
    return [v for v in result["violations"] if v["impact"] in BLOCKING]


def with_axe(page) -> None:
    # An init script reaches the page through the DevTools protocol: the page's CSP (script-src
    # 'self') stays in force for the page itself.
    page.add_init_script(path=str(AXE))


def test_the_vendored_axe_is_the_one_recorded():
    assert hashlib.sha256(AXE.read_bytes()).hexdigest() == AXE_SHA256


# -- the kiosk --------------------------------------------------------------------------------------


@pytest.mark.parametrize("viewport", [(1280, 720), (720, 1280)], ids=["landscape", "portrait"])
def test_every_kiosk_state_has_no_serious_violation(page_server, launch_chromium, camera_files, known_view, viewport):
    _, box = known_view
    orientation = "landscape" if viewport[0] > viewport[1] else "portrait"
    browser = launch_chromium(camera_files["known"])
    current = {"answer": answer("IDLE")}
    page = new_kiosk_page(browser, viewport, page_server.url)
    with_axe(page)
    FakeKioskApi(page, lambda n: (200, current["answer"]))
    page.goto(page_server.url + "/")
    found = {}
    for label, payload in states("en", box):
        current["answer"] = payload
        page.evaluate("window.kiosk.resume()")
        page.wait_for_function(
            "([state, prompt]) => document.body.dataset.state === state && "
            "document.getElementById('prompt').textContent === prompt",
            arg=[payload["state"], payload["prompt"]], timeout=30_000)
        page.evaluate("window.kiosk.pause()")
        page.wait_for_timeout(400)  # the state's colours fade in over 0.2 s: judge the colours it settles on
        found[label] = blocking(audit(page, f"kiosk {label} ({orientation})"))

    # Not paired: the real pairing flow of a browser without a device token shows its code.
    unpaired = new_kiosk_page(browser, viewport)
    with_axe(unpaired)
    unpaired.goto(page_server.url + "/")
    unpaired.wait_for_function("() => document.body.dataset.state === 'UNPAIRED' && "
                               "document.getElementById('pairing-code').textContent.length > 0", timeout=30_000)
    found["unpaired"] = blocking(audit(unpaired, f"kiosk unpaired ({orientation})"))

    # The camera refused (no fake prompt answer: headless Chromium denies it).
    denied = new_kiosk_page(launch_chromium(camera_files["known"], fake_ui=False), viewport, page_server.url)
    with_axe(denied)
    FakeKioskApi(denied, lambda n: (200, answer("IDLE")))
    denied.goto(page_server.url + "/")
    denied.wait_for_function("() => document.body.dataset.state === 'CAMERA_ERROR'", timeout=30_000)
    found["camera error"] = blocking(audit(denied, f"kiosk camera error ({orientation})"))
    assert {label: v for label, v in found.items() if v} == {}


# -- the console ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def console_server(prepare_data_dir, start_https_app):
    """The real app with an administrator, two people, a check-in with its photo, a paired device
    and the audit entries these made: the console's pages have rows to show."""
    from kiosk import create_app
    from kiosk.config import Config
    from kiosk.extensions import db
    from kiosk.services.accounts import create_admin
    from kiosk.services.attendance import record_check_in
    from kiosk.services.devices import register_device
    from kiosk.services.people import create_person
    from kiosk.vision.image import load_image

    data_dir = prepare_data_dir("a11y-console")
    app = create_app(Config(data_dir))
    ids = {}
    with app.app_context():
        create_admin(ADMIN_USER, ADMIN_PASSWORD)
        person = create_person("Ada Lovelace", "E-001")
        create_person("Grace Hopper")
        photo = load_image(FACE_PHOTO)
        now = datetime.now(timezone.utc)
        record_check_in(person, photo, happy=0.8, identification_score=0.9, now=now - timedelta(hours=3))
        register_device("Front door")
        from kiosk.models import AttendanceEvent

        ids = {"person": person.id, "event": db.session.query(AttendanceEvent).first().id}
        db.session.remove()
        db.engine.dispose()
    server = start_https_app(data_dir)
    server.ids = ids
    return server


def console_pages(ids: dict) -> dict[str, str]:
    person, event = ids["person"], ids["event"]
    return {
        "dashboard": "/admin/", "people": "/admin/people", "person": f"/admin/people/{person}",
        "person delete": f"/admin/people/{person}/delete", "import": "/admin/people/import",
        "attendance": "/admin/attendance", "attendance of a person": f"/admin/attendance/person/{person}",
        "check-in": f"/admin/attendance/{event}", "reports": "/admin/reports", "suspected spoofs": "/admin/spoofs",
        "devices": "/admin/devices", "audit": "/admin/audit", "recognition": "/admin/models",
        "gestures": "/admin/models/gestures", "page not found": "/admin/no-such-page",
    }


def test_every_console_page_has_no_serious_violation(console_server, launch_chromium):
    browser = launch_chromium()
    context = browser.new_context(viewport={"width": 1280, "height": 800}, ignore_https_errors=True)
    page = context.new_page()
    with_axe(page)
    page.goto(console_server.url + "/auth/login")
    found = {"sign in": blocking(audit(page, "console sign in"))}
    page.get_by_label("Username").fill(ADMIN_USER)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/admin/**")
    for name, path in console_pages(console_server.ids).items():
        page.goto(console_server.url + path)
        page.wait_for_load_state("networkidle")
        found[name] = blocking(audit(page, f"console {name}"))
    assert {name: v for name, v in found.items() if v} == {}
