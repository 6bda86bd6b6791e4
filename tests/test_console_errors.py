"""The console in the administrator's language when a service refuses: every error code the console
can show has a sentence (found in the source, not listed by hand), a code without one falls back to
the service's English, a German admin reads German after a refused action and nothing is written,
and the JSON API stays English with its codes."""

from __future__ import annotations

import ast
import html
import re
from io import BytesIO
from pathlib import Path

import factories
import pytest
from flask_babel import refresh
from sqlalchemy import func, select

from kiosk.extensions import db
from kiosk.models import AttendanceEvent, AuditEntry, FaceSample, Person
from kiosk.services.enrollment import REFUSAL_MESSAGES
from kiosk.timekeeping_models import WorkSchedule
from kiosk.web.console_errors import CONSOLE_MESSAGES, console_message
from kiosk.web.forms import MAX_PHOTOS_PER_REQUEST

REPO = Path(__file__).resolve().parent.parent
# Answered as JSON to machines only (English with its codes, docs/languages.md): not the console's.
JSON_ONLY = ("kiosk/web/api/",)
GERMAN = {"Accept-Language": "de"}


def raised_codes() -> dict[str, set[str]]:
    """Every error code in kiosk/ outside the JSON API -> the files it is in: ``code=``/``*_code=``
    arguments (also inside a conditional), the ``code`` of each error class, the web layer's
    ``error_response(status, code, ...)``, and the enrollment refusals."""
    found: dict[str, set[str]] = {}
    for path in sorted((REPO / "kiosk").rglob("*.py")):
        name = str(path.relative_to(REPO))
        if name.startswith(JSON_ONLY):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            values: list[ast.AST] = []
            if isinstance(node, ast.Call):
                values += [kw.value for kw in node.keywords
                           if kw.arg and (kw.arg == "code" or kw.arg.endswith("_code"))]
                if isinstance(node.func, ast.Name) and node.func.id == "error_response" and len(node.args) > 1:
                    values.append(node.args[1])
                if isinstance(node.func, ast.Name) and node.func.id == "PhotoWarning" and node.args:
                    values.append(node.args[0])  # an accepted photo's warning, shown beside it
            elif isinstance(node, ast.ClassDef):
                values += [statement.value for statement in node.body if isinstance(statement, ast.Assign)
                           and any(isinstance(target, ast.Name) and target.id == "code"
                                   for target in statement.targets)]
            while values:
                value = values.pop()
                if isinstance(value, ast.IfExp):  # code="a" if ... else "b"
                    values += [value.body, value.orelse]
                elif isinstance(value, ast.Constant) and isinstance(value.value, str):
                    found.setdefault(value.value, set()).add(name)
    for code in [*REFUSAL_MESSAGES, "bad_image"]:
        found.setdefault(code, set()).add("kiosk/services/enrollment.py")
    return found


def test_the_scan_finds_codes_of_every_kind():
    codes = raised_codes()
    assert "missing_reason" in codes  # a keyword argument
    assert "already_training" in codes  # inside a conditional expression
    assert "sign_in_refused" in codes and "database_unavailable" in codes  # error classes
    assert "csrf_failed" in codes  # the web layer
    assert "invalid_name" in codes and "name_too_long" in codes  # passed on to a helper that raises
    assert "no_face" in codes and "too_blurry" in codes  # the enrollment refusals
    assert "possible_duplicate" in codes and "background_faces" in codes  # an accepted photo's warnings
    assert "bad_view" not in codes  # the JSON API's own
    assert len(codes) > 100


def test_every_code_the_console_can_show_has_a_sentence():
    missing = {code: sorted(files) for code, files in raised_codes().items() if code not in CONSOLE_MESSAGES}
    assert missing == {}, "add a sentence to kiosk/web/console_errors.py (and its translations) for these"


def fields_by_code() -> dict[str, set[str]]:
    """Error code -> the keyword arguments its raise sites pass (the error's ``extra``)."""
    trees = [ast.parse(path.read_text()) for path in sorted((REPO / "kiosk").rglob("*.py"))]
    class_codes = {node.name: statement.value.value for tree in trees for node in ast.walk(tree)
                   if isinstance(node, ast.ClassDef) for statement in node.body
                   if isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Constant)
                   and any(isinstance(target, ast.Name) and target.id == "code" for target in statement.targets)}
    fields: dict[str, set[str]] = {}
    for tree in trees:
        for call in (node for node in ast.walk(tree) if isinstance(node, ast.Call)):
            names = {kw.arg for kw in call.keywords if kw.arg}
            code = next((kw.value for kw in call.keywords if kw.arg == "code"), None)
            options = [code.body, code.orelse] if isinstance(code, ast.IfExp) else [code]
            codes = [option.value for option in options if isinstance(option, ast.Constant)]
            if code is None and isinstance(call.func, ast.Name) and call.func.id in class_codes:
                codes = [class_codes[call.func.id]]
            if isinstance(call.func, ast.Name) and call.func.id == "PhotoWarning" and len(call.args) == 3:
                codes = [call.args[0].value]
                names = {key.value for key in call.args[2].keys if isinstance(key, ast.Constant)}
            for each in codes:
                fields.setdefault(each, set()).update(names - {"code", "status"})
    return fields


def test_each_sentence_names_only_fields_its_error_carries():
    # A placeholder no raise site fills would make the sentence fall back to English every time.
    carried = fields_by_code()
    lacking = {code: name for code, sentence in CONSOLE_MESSAGES.items()
               for name in re.findall(r"%\((\w+)\)s", sentence) if name not in carried.get(code, set())}
    assert lacking == {}


def test_a_code_without_a_sentence_or_a_field_shows_the_services_english(app):
    with app.test_request_context("/admin/", headers=GERMAN):
        assert console_message("a_code_added_yesterday", "The English words.") == "The English words."
        assert console_message("name_taken", "A person named 'Ada' already exists.", {}) == \
            "A person named 'Ada' already exists."  # the sentence needs the name: English rather than a gap
        assert console_message("name_taken", "x", {"name": "Ada", "existing": "Ada"}).startswith("„Ada“ kann nicht")
        assert console_message("missing_reason", "A correction needs a reason (who asked, or why).") == \
            "Eine Korrektur braucht eine Begründung (wer hat darum gebeten, oder warum)."
    with app.test_request_context("/admin/", headers={"Accept-Language": "en"}):
        refresh()  # the locale is kept on the test's app context: ask again
        # In English the service's own words, which name the exact values.
        assert console_message("same_time", "There is already a punch at 09:00.", {"time": "09:00"}) == \
            "There is already a punch at 09:00."


# -- a German admin, refused ----------------------------------------------------------------------


class GermanAdmin:
    """A signed-in console client whose browser asks for German, sending the forms' CSRF token."""

    def __init__(self, client, token: str):
        self.client, self.token = client, token

    def get(self, url):
        return self.client.get(url, headers=GERMAN)

    def post(self, url, data=None, **kw):
        return self.client.post(url, data={"csrf_token": self.token, **(data or {})}, headers=GERMAN, **kw)


@pytest.fixture
def german(client, sign_in_admin):
    return GermanAdmin(client, sign_in_admin(client))


def counts() -> dict[str, int]:
    tables = {"people": Person, "samples": FaceSample, "events": AttendanceEvent, "audit": AuditEntry,
              "schedules": WorkSchedule}
    return {name: db.session.scalar(select(func.count()).select_from(table)) for name, table in tables.items()}


def flashed_error(response) -> str:
    found = re.search(r'class="flash flash-error"[^>]*>(.*?)</p>', response.get_data(as_text=True), re.S)
    assert found, "no error flash on the page"
    return " ".join(found.group(1).split())


def test_a_duplicate_person_is_refused_in_german_and_nobody_is_added(german):
    factories.person("Ada Lovelace")
    before = counts()
    response = german.post("/admin/people", {"name": "ada  lovelace"})
    assert response.status_code == 409
    assert flashed_error(response) == ("„ada lovelace“ kann nicht verwendet werden: Ada Lovelace gibt es schon unter "
                                       "diesem oder einem gleich aussehenden Namen.")
    assert "already exists" not in response.get_data(as_text=True)
    assert counts() == before


def test_a_correction_without_a_reason_is_refused_in_german_and_nothing_is_written(german):
    ada = factories.person("Ada Lovelace")
    before = counts()
    response = german.post(f"/admin/hours/person/{ada.id}/punches",
                           {"at": "2026-03-02T17:30", "kind": "out", "reason": " ", "from": "2026-03-02",
                            "to": "2026-03-02"})
    assert response.status_code == 400
    assert flashed_error(response) == "Eine Korrektur braucht eine Begründung (wer hat darum gebeten, oder warum)."
    assert counts() == before


def test_a_schedule_ending_before_it_starts_is_refused_in_german_with_its_times(german):
    before = counts()
    response = german.post("/admin/settings/schedule", {"owner": "site", "start_0": "17:00", "end_0": "09:00"})
    assert response.status_code == 400
    assert flashed_error(response) == ("Der Dienstplan endet (09:00), bevor er beginnt (17:00). Geben Sie bei einer "
                                       "Nachtschicht an, dass sie am nächsten Tag endet.")
    assert counts() == before


@pytest.mark.models  # the face detector reads the group photo
def test_a_bad_photo_upload_is_refused_in_german_photo_by_photo(german, faces_data):
    ada = factories.person("Ada Lovelace")
    before = counts()
    group_photo = (faces_data / "_multi" / "1.jpg").read_bytes()
    response = german.post(f"/admin/people/{ada.id}/enroll", {
        "photos": [(BytesIO(group_photo), "team.jpg"), (BytesIO(b"not a photo at all"), "notes.jpg")]},
        content_type="multipart/form-data")
    assert response.status_code == 422
    rows = dict(re.findall(r'<tr class="refused" data-code="(\w+)">(.*?)</tr>', response.get_data(as_text=True), re.S))
    assert sorted(rows) == ["bad_image", "multiple_faces"]
    assert ("Auf diesem Foto ist mehr als ein Gesicht: Verwenden Sie ein Foto, auf dem diese Person allein ist."
            in rows["multiple_faces"])
    assert ("Diese Datei konnte nicht als Foto gelesen werden: Verwenden Sie ein JPEG-, PNG-, WebP-, BMP- oder "
            "TIFF-Foto." in rows["bad_image"])
    assert REFUSAL_MESSAGES["multiple_faces"] not in response.get_data(as_text=True)
    assert counts() == before
    too_many = german.post(f"/admin/people/{ada.id}/enroll",
                           {"photos": [(BytesIO(b"a photo"), f"{n}.jpg") for n in range(MAX_PHOTOS_PER_REQUEST + 1)]},
                           content_type="multipart/form-data")
    assert too_many.status_code == 400
    assert flashed_error(too_many) == (f"Höchstens {MAX_PHOTOS_PER_REQUEST} Fotos auf einmal; senden Sie den Rest "
                                       "in einem weiteren Durchgang.")
    assert counts() == before


def test_a_refusal_on_an_error_page_and_a_success_flash_speak_the_consoles_language(german):
    missing = german.get("/admin/people/987654")
    assert missing.status_code == 404 and '<html lang="de">' in missing.text
    assert "Das wurde nicht gefunden: Es wurde vielleicht inzwischen entfernt." in missing.text
    ada = factories.person("Ada Lovelace")
    renamed = german.post(f"/admin/people/{ada.id}/rename", {"name": "Ada King"}, follow_redirects=True)
    assert "Umbenannt in Ada King." in renamed.text
    spanish = german.client.post("/auth/logout", data={"csrf_token": german.token},
                                 headers={"Accept-Language": "es"}, follow_redirects=True)
    assert "Ha cerrado la sesión." in spanish.text


def test_a_refused_sign_in_speaks_the_browsers_language(app, client):
    factories.admin("clerk")
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/auth/login").text).group(1)
    refused = client.post("/auth/login", data={"username": "clerk", "password": "not the one", "csrf_token": token},
                          headers={"Accept-Language": "fr"})
    assert refused.status_code == 401 and "Nom d'utilisateur ou mot de passe incorrect." in html.unescape(refused.text)


def test_the_json_api_stays_english_with_its_codes(german):
    factories.person("Ada Lovelace")
    before = counts()
    answer = german.client.post("/api/v1/people", json={"name": "Ada Lovelace"},
                                headers={**GERMAN, "X-CSRFToken": german.token})
    assert answer.status_code == 409
    body = answer.get_json()
    assert body["error"] == "name_taken" and body["message"] == "A person named 'Ada Lovelace' already exists."
    assert counts() == before


@pytest.mark.models  # the embedder compares the new face with the enrolled ones
def test_an_accepted_photo_that_looks_like_someone_else_is_flagged_in_german(german, faces_data):
    obama, barry = factories.person("Barack Obama"), factories.person("Barry O")
    photos = [(BytesIO((faces_data / "fr_obama" / f"{n}.jpg").read_bytes()), f"{n}.jpg") for n in (1, 2, 3)]
    assert german.post(f"/admin/people/{obama.id}/enroll", {"photos": photos},
                       content_type="multipart/form-data").status_code == 201
    response = german.post(f"/admin/people/{barry.id}/enroll",
                           {"photos": [(BytesIO((faces_data / "fr_obama" / "4.jpg").read_bytes()), "barry.jpg")]},
                           content_type="multipart/form-data")
    assert response.status_code == 201
    row = re.search(r'<tr class="ok" data-code="accepted">(.*?)</tr>', response.get_data(as_text=True), re.S).group(1)
    assert "Erfasst." in row
    assert ("⚠ Dieses Gesicht sieht Barack Obama sehr ähnlich, der oder die schon erfasst ist: Prüfen Sie, ob diese "
            "Fotos die richtige Person zeigen") in " ".join(row.split())
    assert "looks very much like" not in row
