"""The kiosk in each of its languages, in headless Chromium: the page opened once as /?lang=CODE
speaks that language in every state (the words of its script, its times and numbers, and the
server's prompts, which come from the engine's own catalogue here), with <html lang> right.

Screenshots of each state in each language go to artifacts/screenshots/; with
KIOSK_UPDATE_DOC_SCREENSHOTS=1 small copies go to docs/screenshots/languages/ (the README's).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from test_kiosk_browser import (  # noqa: F401  (fixtures)
    KNOWN_NAME,
    FakeKioskApi,
    answer,
    camera_files,
    known_view,
    new_kiosk_page,
    page_problems,
    page_server,
    save_screenshot,
)
from test_kiosk_teaching_browser import still_pictograms

from kiosk.checkin import screen
from kiosk.languages import LANGUAGES, SOURCE_LANGUAGE, catalogue_path, gettext_for

pytestmark = pytest.mark.browser

REPO_ROOT = Path(__file__).resolve().parents[2]
DOC_SCREENSHOTS = REPO_ROOT / "docs" / "screenshots" / "languages"
DOC_WIDTH = 480  # small: 10 states x 4 languages
WORKED_S = 8 * 3600 + 12 * 60 + 40  # a check-out's worked time today: "8 h 12 min"
UPDATE_DOCS = os.environ.get("KIOSK_UPDATE_DOC_SCREENSHOTS") == "1"

VISIBLE_TEXTS = """() => {
  const out = [];
  for (const element of document.body.querySelectorAll('*')) {
    if (!element.checkVisibility() || element.closest('[aria-hidden="true"]')) continue;
    for (const node of element.childNodes) {
      if (node.nodeType === Node.TEXT_NODE && node.textContent.trim()) out.push(node.textContent.trim());
    }
  }
  return out;
}"""

# Times as each language writes them (Intl, from the server's "HH:MM"); percentages likewise.
CLOCK = {"en": r"9:02\s?AM", "de": r"09:02", "fr": r"09:02", "es": r"9:02"}
OUT_CLOCK = {"en": r"5:02\s?PM", "de": r"17:02", "fr": r"17:02", "es": r"17:02"}
PERCENT = {"en": r"72%", "de": r"72\s%", "fr": r"72\s%", "es": r"72\s%"}


def english_words_that_differ(code: str) -> set[str]:
    """Every English message the catalogue of ``code`` translates into something else."""
    if code == SOURCE_LANGUAGE:
        return set()
    with catalogue_path(code).open("rb") as handle:
        catalogue = read_po(handle, locale=code)
    return {entry.id for entry in catalogue if entry.id and entry.string and entry.string != entry.id}


def save_doc_copy(path: Path, name: str) -> None:
    from PIL import Image

    DOC_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    image = Image.open(path).convert("RGB")
    scale = DOC_WIDTH / image.width
    image = image.resize((DOC_WIDTH, round(image.height * scale)), Image.Resampling.LANCZOS)
    image.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(DOC_SCREENSHOTS / f"{name}.png", optimize=True)


def states(code: str, box) -> list[tuple[str, dict]]:
    """What the server answers in each state, its prompt made by the engine's own text."""
    _ = gettext_for(code)
    name = {"name": KNOWN_NAME}
    faces, face = [{"box": list(box)}], {"box": list(box)}
    return [
        ("idle", answer("IDLE", prompt=_(screen.PROMPTS["no_face"]), faces=faces, face=face)),
        ("identifying", answer("IDENTIFYING", prompt=_("Hold still - recognising you..."), faces=faces, face=face,
                               countdown=6.5)),
        ("confirming", answer("CONFIRMING", prompt=_("Are you %(name)s? Make an O to confirm, an X to cancel.") % name,
                              person={"name": KNOWN_NAME}, faces=faces, face=face, countdown=9.0,
                              gesture={"name": "O", "score": 0.93, "held": 3, "needed": 3, "held_s": 0.2,
                                       "hold_s": 0.4, "progress": 0.5},
                              hold={"kind": "gesture", "name": "O", "progress": 0.5, "remaining_s": 0.2,
                                    "hold_s": 0.4})),
        ("smiling", answer("SMILING", prompt=_("Thanks, %(name)s! Now smile for your check-in photo :)") % name,
                           person={"name": KNOWN_NAME}, faces=faces, face=face, countdown=4.0, happy=0.72)),
        ("done", answer("DONE", prompt=_("Welcome, %(name)s!") % name, person={"name": KNOWN_NAME},
                        faces=faces, face=face, checked_in_at="09:02", event_kind="check_in")),
        ("already", answer("DONE", prompt=_("%(name)s, you have already checked in.") % name,
                           person={"name": KNOWN_NAME}, faces=faces, face=face, checked_in_at="09:02",
                           event_kind="check_in", duplicate=True)),
        ("checked-out", answer("DONE", prompt=screen.recorded_prompt(KNOWN_NAME, "check_out", "17:02", WORKED_S, _),
                               person={"name": KNOWN_NAME}, faces=faces, face=face, checked_in_at="17:02",
                               event_kind="check_out", worked_today_s=WORKED_S)),
        ("unknown", answer("UNKNOWN", prompt=_("Sorry, I don't recognise you. Please see an administrator."),
                           faces=faces, face=face)),
        ("cancelled", answer("CANCELLED", prompt=_(screen.CANCELLED_BY_THE_PERSON), faces=faces, face=face)),
    ]


@pytest.mark.parametrize("code", list(LANGUAGES))
def test_every_kiosk_state_in_the_kiosks_language(page_server, launch_chromium, camera_files, known_view, code):
    _, box = known_view
    english = english_words_that_differ(code)
    browser = launch_chromium(camera_files["known"])
    current = {"answer": answer("IDLE")}
    page = new_kiosk_page(browser, (1280, 720), page_server.url)
    FakeKioskApi(page, lambda n: (200, current["answer"]))
    page.goto(page_server.url + f"/?lang={code}")
    assert page.evaluate("document.documentElement.lang") == code

    for label, payload in states(code, box):
        current["answer"] = payload
        page.evaluate("window.kiosk.resume()")
        page.wait_for_function(
            "([state, prompt]) => document.body.dataset.state === state && "
            "document.getElementById('prompt').textContent === prompt",
            arg=[payload["state"], payload["prompt"]], timeout=30_000)
        page.evaluate("window.kiosk.pause()")
        texts = page.evaluate(VISIBLE_TEXTS)
        assert texts, label
        left_in_english = [text for text in texts if text in english]
        assert left_in_english == [], (code, label)
        # Nothing of the rail (the card, the lessons) is cut off, in the longest of the languages too.
        clipped = page.evaluate("""() => {
          const rail = document.getElementById('rail');
          const out = [];
          if (rail.scrollHeight > rail.clientHeight + 1)
            out.push('rail ' + rail.scrollHeight + '>' + rail.clientHeight);
          for (const item of rail.querySelectorAll('.teach-item, .person')) {
            if (!item.checkVisibility()) continue;
            const box = item.getBoundingClientRect();
            if (box.bottom > window.innerHeight || box.right > window.innerWidth || box.left < 0)
              out.push(item.className);
          }
          return out;
        }""")
        if label == "smiling":
            assert re.fullmatch(PERCENT[code], page.locator("#happy-text").inner_text()), code
        if label == "checked-out":  # "Checked out at 5:02 PM: 8 h 12 min today", in the kiosk's words
            before, after = gettext_for(code)("Checked out at %(time)s: %(hours)s h %(minutes)s min today").split(
                "%(time)s")
            detail = page.locator("#person-detail").inner_text()
            worked = after % {"hours": "8", "minutes": "12"}
            assert detail.startswith(before) and detail.endswith(worked) and re.search(OUT_CLOCK[code], detail), detail
        if label == "done":
            detail = page.locator("#person-detail").inner_text()
            assert re.search(CLOCK[code], detail), (code, detail)
        still_pictograms(page)
        path = save_screenshot(page, f"kiosk-{label}-{code}")
        assert clipped == [], (code, label, clipped)
        if UPDATE_DOCS:
            save_doc_copy(path, f"kiosk-{label}-{code}")

    # The language was kept for this kiosk: opened again without ?lang=, it is still the same.
    page.goto(page_server.url + "/")
    assert page.evaluate("document.documentElement.lang") == code
    assert page_problems(page) == []
