"""The kiosk in English, German, French and Spanish: every visible string in every catalogue, the
kiosk's own language kept for the device and used for the server's prompts, the console's from the
browser with a switch, and the catalogues compiled at start."""

from __future__ import annotations

import html
import io
import json
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from test_checkin_machine import Clock, MemoryBackend, identify
from test_liveness import machine_with, stream

from kiosk import create_app, languages
from kiosk.checkin.machine import State
from kiosk.config import ConfigError
from kiosk.languages import LANGUAGES, SOURCE_LANGUAGE, catalogue_path, gettext_for

REPO = Path(__file__).resolve().parent.parent
TRANSLATED = [code for code in LANGUAGES if code != SOURCE_LANGUAGE]
PLACEHOLDER = re.compile(r"%\(\w+\)s")
# What the kiosk shows: its page, the words its script writes, the gesture lessons, the prompts.
KIOSK_SOURCES = {"templates/kiosk.html", "kiosk/web/kiosk_text.py", "kiosk/web/gesture_pictograms.py",
                 "kiosk/checkin/screen.py"}


def extracted() -> dict[str, set[str]]:
    """msgid -> the files it is in, as `pybabel extract -F babel.cfg -k mark -k lazy_gettext` finds them."""
    method_map = [("kiosk/**.py", "python"), ("templates/**.html", "jinja2")]
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "mark": None}
    found: dict[str, set[str]] = {}
    for filename, _line, message, _comments, _context in extract_from_dir(
            str(REPO), method_map=method_map, keywords=keywords):
        if filename.startswith(("kiosk/", "templates/")):
            found.setdefault(message, set()).add(filename)
    return found


@pytest.fixture(scope="module")
def messages() -> dict[str, set[str]]:
    return extracted()


def test_the_kiosk_sources_are_extracted(messages):
    by_file = {name for files in messages.values() for name in files}
    assert KIOSK_SOURCES <= by_file
    assert "Are you %(name)s? Make an O to confirm, an X to cancel." in messages
    assert "Join your hands above your head." in messages  # a lesson
    assert "Camera access is blocked" in messages  # a word of the script


def forms(text: str | tuple[str, ...]) -> tuple[str, ...]:
    """A message's forms: one, or each plural form (ngettext)."""
    return text if isinstance(text, tuple) else (text,)


@pytest.mark.parametrize("code", TRANSLATED)
def test_every_visible_string_is_translated_in_every_catalogue(messages, code):
    with catalogue_path(code).open("rb") as handle:
        catalogue = read_po(handle, locale=code)
    missing, untranslated, placeholders = [], [], []
    for message_id in messages:
        entry = catalogue.get(message_id)
        if entry is None:
            missing.append(message_id)
        elif not entry.string or entry.fuzzy or not all(forms(entry.string)):
            untranslated.append(message_id)
        elif any(set(PLACEHOLDER.findall(form)) != set(PLACEHOLDER.findall(forms(message_id)[-1]))
                 for form in forms(entry.string)):
            placeholders.append(message_id)
    assert missing == [], f"{code}: not in the catalogue (docs/languages.md says how to update it)"
    assert untranslated == [], f"{code}: no translation"
    assert placeholders == [], f"{code}: a translation lost or renamed a %(name)s"


def test_the_check_fails_for_a_string_the_catalogues_do_not_have(messages):
    with catalogue_path("de").open("rb") as handle:
        catalogue = read_po(handle, locale="de")
    assert catalogue.get("A sentence added to the kiosk yesterday") is None
    assert "A sentence added to the kiosk yesterday" not in messages


def visible_template_text(source: str) -> str:
    """The kiosk template's text outside Jinja expressions, statements, comments and tags."""
    for pattern in (r"{#.*?#}", r"{{.*?}}", r"{%.*?%}", r"<!doctype[^>]*>", r"<[^>]*>"):
        source = re.sub(pattern, " ", source, flags=re.S)
    return " ".join(source.split())


def test_the_kiosk_page_has_no_text_left_outside_the_catalogue():
    # A word typed straight into the template would reach the screen in English only.
    words = re.findall(r"[^\W\d_]+", visible_template_text((REPO / "templates" / "kiosk.html").read_text()))
    assert words == []  # the step numbers may stay


# The console pages whose every word is wrapped: add a page here once it is (docs/languages.md).
TRANSLATED_CONSOLE_PAGES = [
    "templates/admin/_macros.html",
    "templates/admin/_week_form.html",
    "templates/admin/api_tokens.html",
    "templates/admin/attendance.html",
    "templates/admin/attendance_person.html",
    "templates/admin/audit.html",
    "templates/admin/dashboard.html",
    "templates/admin/devices.html",
    "templates/admin/event.html",
    "templates/admin/gestures.html",
    "templates/admin/hours.html",
    "templates/admin/import.html",
    "templates/admin/models.html",
    "templates/admin/people.html",
    "templates/admin/person.html",
    "templates/admin/person_delete.html",
    "templates/admin/reports.html",
    "templates/admin/settings.html",
    "templates/admin/spoofs.html",
    "templates/admin/timesheet.html",
    "templates/admin/webhooks.html",
    "templates/auth/login.html",
    "templates/error.html",
]
FORMAT_NAMES = {"CSV", "Excel"}  # file formats: the same word in every language
# The console's scripts: every word they write comes from kiosk/web/console_text.py.
CONSOLE_SCRIPTS = ["static/js/admin.js", "static/js/admin-gestures.js", "static/js/admin-import.js",
                   "static/js/admin-training.js", "static/js/admin-webcam.js"]
# The names the browser gives keys (event.key): compared with, never shown.
KEY_NAMES = {"Escape", "Enter", "Tab"}
# Attributes a person reads or hears (a screen reader says aria-label and alt).
READ_ATTRIBUTES = re.compile(r'\b(?:aria-label|alt|title|placeholder)="([^"{]*[^\W\d_][^"{]*)"')


@pytest.mark.parametrize("template", TRANSLATED_CONSOLE_PAGES)
def test_a_translated_console_page_has_no_text_left_outside_the_catalogue(template):
    source = (REPO / template).read_text()
    source = re.sub(r"{% block body_class %}.*?{% endblock %}", "", source)  # CSS classes, not words
    assert [word for word in re.findall(r"[^\W\d_]+", visible_template_text(source)) if word not in FORMAT_NAMES] == []
    # A code's format ("ABC-DEF") is not a word to translate.
    assert [text for text in READ_ATTRIBUTES.findall(source) if not re.fullmatch(r"[A-Z0-9-]+", text)] == []


def test_the_console_page_check_finds_a_word_typed_into_a_page():
    page = '<h1>{{ _("Dashboard") }}</h1><p class="muted">Times in {{ zone }}</p><ul aria-label="Key figures">'
    assert re.findall(r"[^\W\d_]+", visible_template_text(page)) == ["Times", "in"]
    assert READ_ATTRIBUTES.findall(page) == ["Key figures"]


def sentences_in_script(path: Path) -> list[str]:
    """The string literals of a script that read as words for people (several words, a capital,
    no dots of a key), outside comments and errors meant for the browser's console."""
    code = re.sub(r"//[^\n]*|/\*.*?\*/", "", path.read_text(), flags=re.S)
    code = re.sub(r'new Error\("[^"]*"\)', "", code)  # for the browser's console, not the screen
    literals = re.findall(r'"((?:[^"\\]|\\.)*)"', code)
    return [text for text in literals if re.search(r"[A-Z][a-z]+ [a-z]+", text)]


def test_the_kiosk_script_writes_no_words_of_its_own():
    # A sentence is several words, a capital and no dots of a key: none may be left in the script.
    assert [text for text in sentences_in_script(REPO / "static" / "js" / "kiosk.js")
            if re.search(r"[A-Z][a-z]+ [a-z]+ [a-z]+", text)] == []


def test_the_console_script_check_finds_words_typed_into_a_script(tmp_path):
    script = tmp_path / "page.js"
    script.write_text('say(Admin.t("camera.off")); button.textContent = on ? "Stop camera" : "Start camera";')
    assert sentences_in_script(script) == ["Stop camera", "Start camera"]


def script_code(path: str) -> str:
    return re.sub(r"//[^\n]*|/\*.*?\*/", "", (REPO / path).read_text(), flags=re.S)


@pytest.mark.parametrize("script", CONSOLE_SCRIPTS)
def test_a_console_script_writes_no_words_of_its_own(script):
    # Both quotes, read left to right: '[data-kind="' + kind + '"]' is one selector, not a text.
    literals = [double or single for double, single in re.findall(
        r'"((?:[^"\\]|\\.)*)"|\'((?:[^\'\\]|\\.)*)\'', script_code(script).replace('"use strict"', ""))]
    # Words on the screen: several words (not a CSS selector or class list such as "#samples p.muted"
    # or " badge badge-good"), or one capitalised word ("Done"); keys ("webcam.start") are no words.
    selector = re.compile(r"\s*[#.]?[a-z][\w-]*(?:\s+[#.]?[a-z][\w.-]*)*\s*")
    words = [text for text in literals
             if (re.search(r"[A-Za-z]+\W+[A-Za-z]", text) and " " in text and not selector.fullmatch(text)
                 and not re.search(r"[\[\]=]", text))  # an attribute selector's pieces: tr[data-label="
             or re.fullmatch(r"\s*[A-Z][a-z]+\W*", text)]
    assert [word for word in words if word not in KEY_NAMES] == []


def test_every_key_a_console_script_looks_up_has_words(app):
    from flask_babel import refresh

    from kiosk.web.console_text import console_text

    with app.test_request_context("/admin/", headers={"Accept-Language": "de"}):
        refresh()
        words = console_text()
        assert words["camera.off"] == "Die Kamera ist aus."  # in the console's language
    used = {key for script in CONSOLE_SCRIPTS for key in re.findall(r'\bt\("([\w.]+)"', script_code(script))}
    assert len(used) >= 30 and used - set(words) == set()


@pytest.mark.models  # the real face detector reads the frames
def test_the_webcams_live_face_check_answers_in_the_consoles_language(admin_client):
    import cv2

    group = cv2.imencode(".jpg", cv2.imread(str(REPO / "tests" / "data" / "faces" / "_multi" / "4.jpg")))[1]
    blank = cv2.imencode(".jpg", np.full((480, 640, 3), 128, np.uint8))[1]
    token = re.search(r'name="csrf-token" content="([^"]+)"', admin_client.get("/admin/").text).group(1)

    def check(image, language: str) -> dict:
        response = admin_client.post("/api/v1/enrollment/check-frame", data={"frame": (io.BytesIO(image.tobytes()),
                                     "frame.jpg")}, headers={"Accept-Language": language, "X-CSRFToken": token})
        assert response.status_code == 200
        return response.get_json()

    assert check(blank, "fr")["message"] == "Aucun visage visible : regardez la caméra."
    crowd = check(group, "de")
    assert crowd["status"] == "multiple_faces" and crowd["message"] == (
        f"{crowd['faces']} Gesichter zu sehen: Nur die Person, die erfasst wird, darf im Bild sein.")
    assert check(blank, "en")["message"] == "No face seen: look at the camera."


def test_the_console_writes_figures_as_its_language_does(app):
    from flask_babel import refresh

    from kiosk.web.i18n import duration, number, percent

    with app.test_request_context("/admin/", headers={"Accept-Language": "de"}):
        refresh()
        assert (number(0.8, "0.00"), percent(40 / 47), duration(150), duration(42)) == ("0,80", "85\xa0%", "3 Min.",
                                                                                         "42 Sek.")
    with app.test_request_context("/admin/", headers={"Accept-Language": "en"}):
        refresh()  # the language is kept per application context, which the fixture holds open
        assert (number(0.8, "0.00"), percent(0.125), duration(150)) == ("0.80", "13%", "3 min")  # half up, as JS


# -- the server's prompts -------------------------------------------------------------------------


@pytest.mark.parametrize("code, confirm, welcome", [
    ("de", "Sind Sie Barack Obama? Machen Sie ein O zum Bestätigen, ein X zum Abbrechen.", "Willkommen, Barack Obama!"),
    ("fr", "Êtes-vous Barack Obama ? Faites un O pour confirmer, un X pour annuler.", "Bienvenue, Barack Obama !"),
    ("es", "¿Es usted Barack Obama? Haga una O para confirmar, una X para cancelar.", "¡Bienvenido/a, Barack Obama!"),
])
def test_the_engine_says_its_prompts_in_the_language_passed_in(code, confirm, welcome):
    clock, backend = Clock(15.0), MemoryBackend()
    machine = machine_with("off", backend, clock)
    gettext = gettext_for(code)
    assert machine.prompt(gettext) == gettext("Look at the camera to check in") != "Look at the camera to check in"
    identify(machine, clock)
    assert machine.snapshot(clock.t, gettext).prompt == confirm
    assert machine.answer_by_touch(True, clock.t)
    stream(machine, clock, 8, happy=0.97, mouth=0.83)
    assert machine.state == State.DONE
    assert machine.snapshot(clock.t, gettext).prompt == welcome
    assert machine.snapshot(clock.t).prompt == "Welcome, Barack Obama!"  # English without a translator


# -- the kiosk's language, chosen once and kept for the device -------------------------------------


def test_a_kiosk_opened_with_its_language_keeps_it(app, client):
    page = client.get("/?lang=de")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '<html lang="de">' in html and "Legen Sie die Hände über dem Kopf zusammen." in html
    assert "Schauen</li>" in html and "Join your hands" not in html
    cookie = page.headers["Set-Cookie"]
    assert cookie.startswith("kiosk_language=de;") and "HttpOnly" in cookie and "Max-Age=31536000" in cookie
    # The same browser later: the page and the server's prompts are German without asking again.
    assert '<html lang="de">' in client.get("/").get_data(as_text=True)
    reset = client.post("/api/v1/kiosk/reset").get_json()
    assert reset["prompt"] == "Schauen Sie zum Anmelden in die Kamera"
    assert client.get("/api/v1/kiosk/state").get_json()["prompt"] == "Schauen Sie zum Anmelden in die Kamera"


def test_the_site_language_is_the_kiosks_until_one_is_chosen(app, client, monkeypatch):
    assert '<html lang="en">' in client.get("/").get_data(as_text=True)
    assert client.post("/api/v1/kiosk/reset").get_json()["prompt"] == "Look at the camera to check in"
    monkeypatch.setitem(app.config, "KIOSK_LANGUAGE", "fr")
    assert '<html lang="fr">' in client.get("/").get_data(as_text=True)
    assert client.post("/api/v1/kiosk/reset").get_json()["prompt"] == "Regardez la caméra pour pointer"


def test_a_language_the_kiosk_does_not_speak_is_refused(client):
    response = client.get("/?lang=xx")
    assert response.status_code == 400
    assert "de, fr" in response.get_data(as_text=True) and "Set-Cookie" not in response.headers


def test_the_site_language_is_checked_at_start(tmp_path):
    with pytest.raises(ConfigError, match="KIOSK_LANGUAGE must be one of en, de, fr, es"):
        create_app({"TESTING": True, "KIOSK_DATA_DIR": str(tmp_path), "KIOSK_LANGUAGE": "klingon"})
    app = create_app({"TESTING": True, "KIOSK_DATA_DIR": str(tmp_path), "KIOSK_LANGUAGE": "es-MX"})
    assert app.config["KIOSK_LANGUAGE"] == "es"


# -- the console: the browser's language, with a switch ------------------------------------------


@pytest.fixture
def admin_client(app, client):
    from factories import ADMIN_PASSWORD, admin

    admin("linguist")
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/auth/login").text).group(1)
    response = client.post("/auth/login", data={"username": "linguist", "password": ADMIN_PASSWORD,
                                                "csrf_token": token})
    assert response.status_code == 303
    return client


def test_the_console_follows_the_browser_then_the_switch(admin_client):
    page = admin_client.get("/admin/", headers={"Accept-Language": "fr-CH, fr;q=0.9, en;q=0.5"}).text
    assert '<html lang="fr">' in page and ">Personnes</a>" in page and "Se déconnecter" in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    switched = admin_client.post("/language", data={"language": "es", "next": "/admin/people", "csrf_token": token})
    assert switched.status_code == 303 and switched.headers["Location"] == "/admin/people"
    page = admin_client.get("/admin/", headers={"Accept-Language": "fr"}).text
    assert '<html lang="es">' in page and ">Personas</a>" in page
    # Somewhere else than this site is never where the switch sends back to.
    away = admin_client.post("/language", data={"language": "de", "next": "//evil.example/", "csrf_token": token})
    assert away.headers["Location"] == "/admin/"
    refused = admin_client.post("/language", data={"language": "tlh", "csrf_token": token})
    assert refused.status_code == 400
    assert '<html lang="de">' in admin_client.get("/admin/").text  # the refused choice changed nothing


def test_the_switch_needs_the_forms_token(app):
    client = app.test_client()
    assert client.post("/language", data={"language": "de"}).status_code == 400


# -- compiled at start -----------------------------------------------------------------------------


def test_a_missing_or_stale_catalogue_is_compiled_at_start(tmp_path, monkeypatch):
    copy = tmp_path / "translations"
    shutil.copytree(languages.TRANSLATIONS_DIR, copy, ignore=shutil.ignore_patterns("*.mo"))
    monkeypatch.setattr(languages, "TRANSLATIONS_DIR", copy)
    assert sorted(languages.compile_catalogues()) == sorted(TRANSLATED)
    assert languages.compile_catalogues() == []  # up to date: nothing to do
    po = copy / "de" / "LC_MESSAGES" / "messages.po"
    po.write_text(po.read_text().replace('msgstr "Bitte treten Sie näher"', 'msgstr "Näher bitte"'))
    future = time.time() + 5
    import os

    os.utime(po, (future, future))
    assert languages.compile_catalogues() == ["de"]
    assert gettext_for("de")("Please step closer") == "Näher bitte"
    monkeypatch.undo()
    languages.translations.cache_clear()
    assert gettext_for("de")("Please step closer") == "Bitte treten Sie näher"


def test_the_translated_console_pages_speak_the_consoles_language(admin_client):
    german = {"Accept-Language": "de"}
    page = admin_client.get("/admin/", headers=german).text
    assert '<html lang="de">' in page and "<h1>Übersicht</h1>" in page
    assert re.search(r"<strong>\d+</strong> heute anwesend", page)  # the figure stays markup, not text
    assert "Noch wird niemand erkannt" in page or "Das Terminal erkennt" in page
    assert re.search(r"(Montag|Dienstag|Mittwoch|Donnerstag|Freitag|Samstag|Sonntag), \d+\. ", page)  # the date too
    people = admin_client.get("/admin/people?q=zz", headers={"Accept-Language": "fr"}).text
    assert '<html lang="fr">' in people and "0 résultat pour « zz »" in people and "Ajouter une personne" in people
    devices_page = admin_client.get("/admin/devices", headers=german).text
    assert "Terminal koppeln" in devices_page and "Noch ist kein Terminal gekoppelt." in devices_page
    attendance = admin_client.get("/admin/attendance?from=2025-03-03&to=2025-03-03", headers=german).text
    assert "Keine Anmeldungen in diesem Zeitraum." in attendance and "<h1>Anwesenheit</h1>" in attendance
    assert "2025-03-03 bis 2025-03-03 · 0 Ereignisse" in attendance and '<label for="f-from">Von</label>' in attendance
    hours = admin_client.get("/admin/hours?from=2025-03-03&to=2025-03-09", headers={"Accept-Language": "es"}).text
    assert "Horas · del 2025-03-03 al 2025-03-09" in hours and "No hay nadie registrado." in hours
    from factories import person

    ada = person("Ada")
    sheet = admin_client.get(f"/admin/hours/person/{ada.id}?from=2025-03-03&to=2025-03-04", headers=german).text
    assert "Stundenzettel · Ada" in sheet and "Vergessene Buchung nachtragen" in sheet
    assert "Keine Buchungen und keine Schichten in diesem Zeitraum." in sheet
    missing = admin_client.get("/admin/no-such-page", headers={"Accept-Language": "fr"})
    assert missing.status_code == 404 and '<html lang="fr">' in missing.text
    assert "Page introuvable" in missing.text and "Retour au tableau de bord de la console" in missing.text


def test_the_sign_in_page_speaks_the_browsers_language(app):
    page = app.test_client().get("/auth/login", headers={"Accept-Language": "es-ES,es;q=0.9"}).text
    assert '<html lang="es">' in page and "Acceso de administrador" in page and "Contraseña" in page
    assert "<code>kiosk admin create NAME</code>" in page  # the command stays markup inside the sentence


# -- the audit log's actions, in words -------------------------------------------------------------


def test_every_audit_action_and_area_has_words_for_people():
    from kiosk.services import audit_actions

    labels = {action: audit_actions.label(action) for action in audit_actions.ACTIONS}
    assert all(label != action for action, label in labels.items()), "an action without a label"
    assert len(set(labels.values())) == len(labels)  # two actions never read the same
    assert all(audit_actions.area_label(area) != area for area in audit_actions.AREAS)
    assert audit_actions.label("person.created") == "Person added"
    assert audit_actions.label("kiosk.from_an_older_version") == "kiosk.from_an_older_version"


def test_the_audit_page_names_actions_in_the_consoles_language(admin_client):
    from factories import person

    person("Ada")  # the factory writes no audit entry; the sign-in did
    page = admin_client.get("/admin/audit", headers={"Accept-Language": "de"}).text
    assert '<html lang="de">' in page and "<h1>Protokoll</h1>" in page
    assert "Administrator angemeldet" in page and "<code>admin.signed_in</code>" in page  # the stored name stays
    assert re.search(r"<td>Administrator \d+ \(linguist\)</td>", page)  # what the entry is about, too
    assert '<optgroup label="Personen">' in page and ">Personen: alle</option>" in page
    assert '<option value="person.renamed" >Person umbenannt</option>' in page
    french = admin_client.get("/admin/audit?action=admin", headers={"Accept-Language": "fr"}).text
    assert "Administrateur connecté" in french and "Journal d'audit" in french


@pytest.mark.parametrize("path, code, words", [
    ("/admin/models", "de", ["<h1>Erkennung</h1>", "Gesichter erkennen", "Erweitert", "Erkennung jetzt aktualisieren",
                             "Armgesten"]),
    ("/admin/models/gestures", "fr", ["Enregistrer des exemples de gestes", "mains jointes au-dessus de la tête",
                                      "La caméra est éteinte."]),
    ("/admin/settings", "es", ["Ajustes del sitio", "Reglas de asistencia", "Lunes", "Domingo",
                               "Entrada, luego salida, y después se alternan (pausas)", "Horarios semanales"]),
    ("/admin/spoofs", "de", ["<h1>Verdacht auf Täuschung</h1>", "Nichts zu prüfen.", ">Offen</a>"]),
    ("/admin/tokens", "fr", ["Jetons d'API", "Créer un jeton", "Aucun pour l'instant."]),
    ("/admin/webhooks", "es", ["Añadir un webhook", "Envíos", "No hay envíos."]),
])
def test_the_console_pages_speak_the_consoles_language(admin_client, path, code, words):
    page = admin_client.get(path, headers={"Accept-Language": code})
    assert page.status_code == 200 and f'<html lang="{code}">' in page.text
    assert [word for word in words if word not in page.text] == []
    # The scripts' words come with the page, in its language.
    served = json.loads(html.unescape(re.search(r"<meta name=\"console-text\" content='([^']*)'>", page.text).group(1)))
    assert served["camera.off"] == gettext_for(code)("The camera is off.") != "The camera is off."
