"""The console's person, deletion, person attendance, check-in, import, reports and timesheet pages in
each language, in headless Chromium over HTTPS from the real app: the browser asks for the
language (Accept-Language), and every text the page and its scripts show is in it.

A text that the English page shows too is "left in English" unless it is data the fixture made
(names, file names, the job's stored messages), a figure or a code. The scripts' words are checked
after they have written them: the webcam's buttons and status, a running import's step line and
counts (its percentage as the language writes it). Nothing may stick out of the page sideways, and
axe-core finds no serious or critical violation in any language (a translated label must still
contain the words it shows, for instance).
Screenshots go to artifacts/screenshots/console-<page>-<code>.png.
"""

from __future__ import annotations

import json
import os
import re
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import cv2
import pytest
from babel.dates import format_date
from babel.messages.pofile import read_po
from test_accessibility_browser import RUN_AXE, TAGS, blocking, with_axe
from test_kiosk_browser import save_screenshot

from kiosk.languages import LANGUAGES, SOURCE_LANGUAGE, catalogue_path, gettext_for

pytestmark = pytest.mark.browser

REPO_ROOT = Path(__file__).resolve().parents[2]
FACE_PHOTO = REPO_ROOT / "tests" / "data" / "faces" / "lfw_Tony_Blair" / "1.jpg"
ADMIN_USER, ADMIN_PASSWORD = "linguist", "a long enough passphrase"
RUNNING_IMPORT, DONE_IMPORT = "00000000000000c1", "00000000000000c2"

# What the fixture stored, shown as it is in every language.
STORED = {ADMIN_USER, "kiosk-1", "Ada Lovelace", "E-001", "Grace Hopper", "badge.jpg", "Front door", "staff.zip",
          "hr.zip", "Ada/blurry.jpg", "Ada/1 copy.jpg", "The face is too blurred: use a sharper photo.",
          "The same photo as Ada/1.jpg, earlier in this import.", "(too_blurry)", "repeated", "dlib", "(UTC)",
          # file formats and the import's example layout: the same in every language
          "CSV", "Excel", "PNG", "ZIP", "Ada Lovelace/badge.jpg\nAda Lovelace/2024.jpg\nAlan Turing/photo.png",
          "name,external_id,photo_path[,photo_path...]"}

# Each text the page shows, with the whole text of the element it is in: in "Enroll <span>0</span>
# photo(s)" the fragment "photo(s)" is French too when its whole is "Inscrire 0 photo(s)".
VISIBLE_TEXTS = """() => {
  const out = [];
  const whole = element => element.textContent.replace(/\\s+/g, ' ').trim();
  for (const element of document.body.querySelectorAll('*')) {
    if (!element.checkVisibility() || element.closest('[aria-hidden="true"]')) continue;
    for (const node of element.childNodes) {
      if (node.nodeType === Node.TEXT_NODE && node.textContent.trim()) {
        out.push([node.textContent.trim(), whole(element)]);
      }
    }
    for (const name of ['aria-label', 'title', 'alt', 'placeholder']) {
      const value = element.getAttribute(name);
      if (value) out.push([value.trim(), value.trim()]);
    }
  }
  for (const form of document.querySelectorAll('form[data-confirm]')) {
    out.push([form.dataset.confirm, form.dataset.confirm]);
  }
  out.push([document.title, document.title]);
  return out;
}"""

SIDEWAYS = """() => {
  const out = [];
  if (document.documentElement.scrollWidth > document.documentElement.clientWidth + 1) out.push('page');
  for (const element of document.querySelectorAll('button, .button, .badge, h1, h2, label')) {
    if (!element.checkVisibility() || element.closest('.visually-hidden')) continue;  // for screen readers only
    if (element.scrollWidth > element.clientWidth + 1) out.push(element.outerHTML.slice(0, 80));
  }
  return out;
}"""


def _crop_png() -> bytes:
    image = cv2.imread(str(FACE_PHOTO))
    return cv2.imencode(".png", cv2.resize(image[60:190, 60:190], (112, 112)))[1].tobytes()


@pytest.fixture(scope="module")
def console(prepare_data_dir, start_https_app):
    """The real app with an administrator, Ada with an enrolled and a learned face, a check-in with
    its photo and a check-out, and two imports: one running (in another live process: this one)
    and one done, with photos to look at and a duplicate skipped."""
    from factories import event, sample

    from kiosk import create_app
    from kiosk.config import Config
    from kiosk.extensions import db
    from kiosk.models import EventKind, SampleKind
    from kiosk.services import training_jobs
    from kiosk.services.accounts import create_admin
    from kiosk.services.attendance import record_check_in
    from kiosk.services.people import create_person
    from kiosk.vision.image import load_image

    data_dir = prepare_data_dir("console-languages")
    app = create_app(Config(data_dir))
    with app.app_context():
        create_admin(ADMIN_USER, ADMIN_PASSWORD)
        ada = create_person("Ada Lovelace", "E-001")
        create_person("Grace Hopper")
        now = datetime.now(timezone.utc).replace(hour=12, minute=0, second=0, microsecond=0)
        checked_in = record_check_in(ada, load_image(FACE_PHOTO), happy=0.8, identification_score=0.9,
                                     now=now - timedelta(hours=3))
        event(ada, now, EventKind.check_out)
        sample(ada, _crop_png(), quality=0.82, source_photo="badge.jpg")
        sample(ada, _crop_png(), kind=SampleKind.learned, kiosk_id="Front door", match_distance=0.41)
        ids = {"person": ada.id, "event": checked_in.event.id, "memo": checked_in.event.memo}
        running = training_jobs.TrainingJob(
            id=RUNNING_IMPORT, kind="import", state="running", progress=0.2, pid=os.getpid(),
            stage="Step 1 of 2: importing photo 40 of 47 (4.0 photos/s, about 2 s left)",
            detail={"source": "staff.zip", "phase": "importing", "done": 40, "total": 47, "accepted": 38,
                    "refused": 1, "duplicates": 1, "people_created": 3, "seconds": 10.0, "step_progress": 40 / 47})
        result = {"source": "hr.zip", "photos": 3, "people_created": 1, "people_added_to": 1, "accepted": 1,
                  "refused": {"too_blurry": 1}, "refused_total": 1, "duplicates": 1, "seconds": 12.5,
                  "photos_per_second": 0.24, "notes": [],
                  "training": {"people": 2, "samples": 3, "seconds": 4.2, "embedder": "dlib", "weights": None},
                  "to_look_at": [{"image": "Ada/blurry.jpg", "person": "Ada Lovelace", "status": "refused",
                                  "reason": "too_blurry", "message": "The face is too blurred: use a sharper photo.",
                                  "warning": None}],
                  "skipped": [{"image": "Ada/1 copy.jpg", "person": "Ada Lovelace", "status": "duplicate",
                               "reason": "repeated", "message": "The same photo as Ada/1.jpg, earlier in this import.",
                               "warning": None}]}
        done = training_jobs.TrainingJob(id=DONE_IMPORT, kind="import", state="done", progress=1.0,
                                         detail={"source": "hr.zip"}, result=result)
        jobs = Path(data_dir) / "jobs" / "training.json"
        jobs.parent.mkdir(parents=True, exist_ok=True)
        jobs.write_text(json.dumps([done.as_dict(), running.as_dict()]))
        db.session.remove()
        db.engine.dispose()
    server = start_https_app(data_dir)
    server.ids = ids
    return server


def pages(ids: dict) -> dict[str, str]:
    person, event_id = ids["person"], ids["event"]
    return {
        "person": f"/admin/people/{person}", "person-delete": f"/admin/people/{person}/delete",
        "attendance-person": f"/admin/attendance/person/{person}", "check-in": f"/admin/attendance/{event_id}",
        "import-running": f"/admin/people/import?job={RUNNING_IMPORT}",
        "import-done": f"/admin/people/import?job={DONE_IMPORT}", "reports": "/admin/reports",
        "timesheet": f"/admin/hours/person/{person}",
    }


def signed_in_page(browser, server, code: str):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, ignore_https_errors=True, locale=code,
                                  extra_http_headers={"Accept-Language": code})
    page = context.new_page()
    with_axe(page)
    page.goto(server.url + "/auth/login")
    page.fill("#username", ADMIN_USER)
    page.fill("#password", ADMIN_PASSWORD)
    page.locator("form button[type=submit]").first.click()
    page.wait_for_url("**/admin/**")
    return page


def same_in(code: str) -> set[str]:
    """The single words whose translation into ``code`` is the English word itself ("Details", "Export");
    a sentence "translated" by copying it stays English."""
    with catalogue_path(code).open("rb") as handle:
        return {entry.id for entry in read_po(handle, locale=code)
                if isinstance(entry.id, str) and entry.string == entry.id and " " not in entry.id}


def months_beside(code: str) -> set[str]:
    """The reports page's links to the months before and after this one ("← Nov" is German too)."""
    first = date.today().replace(day=1)
    before, after = (first - timedelta(days=1)).replace(day=1), (first + timedelta(days=31)).replace(day=1)
    return {f"← {format_date(before, 'LLL', locale=code)}", f"{format_date(after, 'LLL', locale=code)} →"}


def left_in_english(texts: list[list[str]], english: list[list[str]], code: str, memo: str) -> list[str]:
    """The fragments the English page shows too, in an element whose whole text it shows too."""
    allowed = STORED | same_in(code) | months_beside(code) | {memo}
    fragments, wholes = {fragment for fragment, _ in english}, {whole for _, whole in english}
    return [fragment for fragment, whole in texts
            if fragment in fragments and whole in wholes and fragment not in allowed
            and re.search(r"[A-Za-z]{3,}", fragment) and not re.fullmatch(r"[\w./-]*_[\w./-]*", fragment)]


def shown(page, ready) -> list[list[str]]:
    page.wait_for_load_state("networkidle")
    ready(page)
    return page.evaluate(VISIBLE_TEXTS)


def ready_for(name: str, code: str):
    """What to wait for (and do) on a page before reading it: the scripts' words written."""
    _ = gettext_for(code)

    def person(page):  # the webcam's button and status come from the script, in the language
        page.click("#webcam-start")
        page.wait_for_function("([text]) => document.getElementById('webcam-start').textContent === text",
                               arg=[_("Stop camera")], timeout=30_000)
        page.click("#webcam-start")
        page.wait_for_function("([text]) => document.getElementById('webcam-status').textContent === text",
                               arg=[_("The camera is off.")], timeout=30_000)

    def running_import(page):  # the script has polled the job at least once
        page.wait_for_function(
            "() => performance.getEntriesByType('resource').some(r => r.name.includes('/import/jobs/'))",
            timeout=30_000)
        page.wait_for_timeout(300)

    return {"person": person, "import-running": running_import}.get(name, lambda page: None)


_english: dict[str, list[list[str]]] = {}  # read once, for the three languages


@pytest.fixture
def english_texts(console, launch_chromium) -> dict[str, list[list[str]]]:
    if not _english:
        page = signed_in_page(launch_chromium(), console, SOURCE_LANGUAGE)
        for name, path in pages(console.ids).items():
            page.goto(console.url + path)
            _english[name] = shown(page, ready_for(name, SOURCE_LANGUAGE))
    return _english


@pytest.mark.parametrize("code", [code for code in LANGUAGES if code != SOURCE_LANGUAGE])
def test_the_person_import_and_report_pages_speak_the_browsers_language(console, launch_chromium, english_texts,
                                                                        code):
    _ = gettext_for(code)
    page = signed_in_page(launch_chromium(), console, code)
    found, sideways, inaccessible = {}, {}, {}
    for name, path in pages(console.ids).items():
        page.goto(console.url + path)
        assert page.evaluate("document.documentElement.lang") == code, name
        texts = shown(page, ready_for(name, code))
        found[name] = left_in_english(texts, english_texts[name], code, console.ids["memo"])
        sideways[name] = page.evaluate(SIDEWAYS)
        inaccessible[name] = [violation["id"] for violation in blocking(page.evaluate(RUN_AXE, TAGS))]
        save_screenshot(page, f"console-{name}-{code}")
        if name == "import-running":  # the script's step line, counts and percentage, in the language
            stage = page.locator("#import-stage").inner_text()
            assert stage.startswith(_("Step 1 of 2: importing photo %(done)s of %(total)s") % {"done": 40, "total": 47})
            counts = _("%(done)s of %(total)s photos: %(accepted)s accepted, %(refused)s refused, "
                       "%(duplicates)s duplicates.") % {"done": 40, "total": 47, "accepted": 38, "refused": 1,
                                                        "duplicates": 1}
            assert page.locator("#import-counts").inner_text() == counts
            assert re.fullmatch(r"85\s%", page.locator("#import-percent").inner_text()), code
        if name == "import-done":  # a refusal is counted under its reason in words, not its code
            row = page.locator('tr:has([data-refused="too_blurry"]) th')
            assert row.inner_text().casefold() == _("Face blurred").casefold()
        if name == "person":
            fragments = [fragment for fragment, _whole in texts]
            assert _("Remove all learned faces") in fragments and _("Capture with the webcam") in fragments
            assert re.search(r"0,82", " ".join(fragments))  # the quality, as these languages write it
    assert {name: texts for name, texts in found.items() if texts} == {}, (code, found)
    assert {name: boxes for name, boxes in sideways.items() if boxes} == {}, code
    assert {name: rules for name, rules in inaccessible.items() if rules} == {}, code  # axe: no serious or critical
