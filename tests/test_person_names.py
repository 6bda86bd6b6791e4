"""The name rules (kiosk/names.py; issue 13, items 8 and 12): control characters refused, invisible
formatting removed, NFC, one alphabet per word, look-alike names caught as the same person, and the
column sizes enforced, through the admin API, the admin page and the command line alike."""

from __future__ import annotations

import json
import unicodedata

import pytest
from sqlalchemy.exc import IntegrityError

from kiosk.errors import Conflict
from kiosk.extensions import db
from kiosk.models import Person
from kiosk.services import people

# On SQLite and on a real PostgreSQL server (conftest.py): the counting, locking and unique keys
# are the database's, so both engines must keep them.
pytestmark = pytest.mark.both_databases


@pytest.fixture
def admin(client, sign_in_admin):
    client.csrf = sign_in_admin(client)
    return client


def api_create(admin, body: dict):
    return admin.post("/api/v1/people", json=body, headers={"X-CSRFToken": admin.csrf})


def page_create(admin, name: str, external_id: str = ""):
    return admin.post("/admin/people", data={"name": name, "external_id": external_id, "csrf_token": admin.csrf})


def people_count() -> int:
    return db.session.scalar(db.select(db.func.count(Person.id)))


@pytest.mark.parametrize("name, code, words", [
    ("\x00abc", "invalid_name", "control character (U+0000)"),
    ("Bell\x07\x1b[31mRed", "invalid_name", "control character (U+0007)"),
    ("Del\x7f", "invalid_name", "control character (U+007F)"),
    ("Private\ue000Use", "invalid_name", "private-use character (U+E000)"),
    ("\u200b\u200c\u200d\ufeff\u2060", "missing_name", "needs a name"),
    ("J\u043ee Biden", "mixed_scripts", "mixes Cyrillic and Latin letters"),
    ("x" * 121, "name_too_long", "at most 120 characters"),
])
def test_names_the_rules_refuse_are_a_400_with_a_message_everywhere(admin, runner, tmp_path, name, code, words):
    api = api_create(admin, {"name": name})
    assert api.status_code == 400, api.get_json()
    assert api.get_json()["error"] == code and words in api.get_json()["message"]
    page = page_create(admin, name)
    assert page.status_code == 400 and words in page.text
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"not read: the name is refused first")
    cli = runner.invoke(args=["people", "enroll", name, str(photo)])
    assert cli.exit_code != 0 and words in cli.output
    assert people_count() == 0


@pytest.mark.parametrize("typed, stored", [
    ("  Ada \t Lovelace\n", "Ada Lovelace"),
    ("Ada\u00a0Lovelace", "Ada Lovelace"),  # a no-break space
    ("Ada Lovelace\u200b", "Ada Lovelace"),
    ("\u202eAda Lovelace\u202c", "Ada Lovelace"),  # a right-to-left override cannot reorder it
    ("Rene\u0301e", "Ren\u00e9e"),  # NFC: one code point for é
    ("Ren\u00ad\u00e9e", "Ren\u00e9e"),  # a soft hyphen
    ("김철수", "김철수"),
])
def test_names_are_stored_clean_and_in_nfc(admin, typed, stored):
    answer = api_create(admin, {"name": typed})
    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json()["name"] == stored
    assert unicodedata.is_normalized("NFC", db.session.scalar(db.select(Person.name)))


@pytest.mark.parametrize("look_alike", [
    "Joe Biden\u200b", "joe biden", "JOE  BIDEN", "\uff2a\uff4f\uff45 \uff22\uff49\uff44\uff45\uff4e",
    "Joe Bi\u00adden",
    "\u2066Joe Biden\u2069",
])
def test_a_name_that_looks_the_same_is_the_same_person(admin, make_person, look_alike):
    make_person("Joe Biden")
    answer = api_create(admin, {"name": look_alike})
    assert answer.status_code == 409 and answer.get_json()["error"] == "name_taken", answer.get_json()
    other = make_person("Jill Biden")
    renamed = admin.patch(f"/api/v1/people/{other.id}", json={"name": look_alike}, headers={"X-CSRFToken": admin.csrf})
    assert renamed.status_code == 409
    assert people_count() == 2


def test_the_command_line_finds_a_person_by_a_look_alike_name(runner, make_person):
    make_person("Joe Biden")
    listed = runner.invoke(args=["people", "delete", "JOE BIDEN\u200b", "--yes"])
    assert listed.exit_code == 0, listed.output
    assert people_count() == 0


def test_two_requests_taking_the_same_name_at_once_give_a_409_not_a_500(app, make_person, monkeypatch):
    """The database's unique key settles a race the service's check cannot see (the check is
    skipped here to stand for the other request that committed between check and write)."""
    make_person("Joe Biden")
    monkeypatch.setattr(people, "find_person", lambda name: None)
    with pytest.raises(Conflict):
        people.create_person("JOE BIDEN")
    assert people_count() == 1
    with pytest.raises(IntegrityError):  # the key is in the schema, not only in the service
        db.session.add(Person(name="joe biden"))
        db.session.commit()
    db.session.rollback()


@pytest.mark.parametrize("external_id, status, code", [
    ("x" * 10_000, 400, "external_id_too_long"),
    ("x" * 65, 400, "external_id_too_long"),
    ("E-\x1b[2J", 400, "invalid_external_id"),
    (["E-1"], 400, "invalid_external_id"),
    ("x" * 64, 201, None),
    (" E-0042\u200b ", 201, None),
])
def test_external_ids_follow_the_same_rules_and_fit_their_column(admin, external_id, status, code):
    answer = api_create(admin, {"name": "Ada Lovelace", "external_id": external_id})
    assert answer.status_code == status, answer.get_json()
    if code:
        assert answer.get_json()["error"] == code and answer.get_json()["message"]
        assert people_count() == 0
    else:
        stored = db.session.scalar(db.select(Person.external_id))
        assert stored == external_id.strip().replace("\u200b", "") and len(stored) <= 64


def test_a_rename_follows_the_rules_too(admin, make_person):
    person = make_person("Ada Lovelace")
    bad = admin.post(f"/admin/people/{person.id}/rename", data={"name": "Ada\x1b[31m", "csrf_token": admin.csrf})
    assert bad.status_code == 400 and "control character" in bad.text
    good = admin.patch(f"/api/v1/people/{person.id}", json={"name": "Ada  King\u200b"},
                       headers={"X-CSRFToken": admin.csrf})
    assert good.status_code == 200 and good.get_json()["name"] == "Ada King"
    db.session.refresh(person)
    assert person.name_key == "ada king"


def test_the_names_shown_by_the_cli_are_the_clean_ones(runner, make_person):
    make_person("  Grace\tHopper\u200b ")
    listed = json.loads(runner.invoke(args=["people", "list", "--json"]).output)
    assert [p["name"] for p in listed] == ["Grace Hopper"]
