"""The audit log (kiosk.services.audit, docs/audit.md): each admin action writes exactly one entry
with the right before/after, in the transaction of its change (a refused or rolled-back change
writes none); no biometric data; append-only down to the database (SQLite and PostgreSQL
triggers); ``kiosk audit --json``; the Audit page, its filters and its CSV export.

CSRF stays on: the admin signs in through the real form and sends the page's token."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime, timedelta, timezone

import factories
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DatabaseError

from kiosk.errors import Conflict, InvalidInput
from kiosk.extensions import db
from kiosk.models import AuditEntry, Person, SampleKind, SpoofStatus, SuspectedSpoof
from kiosk.services import audit, audit_actions, learning, spoofs, training_jobs


class AdminSession:
    def __init__(self, client, token: str):
        self.client, self.token = client, token

    def get(self, url, **kw):
        return self.client.get(url, **kw)

    def post(self, url, data=None, **kw):
        return self.client.post(url, data={"csrf_token": self.token, **(data or {})}, **kw)

    def api(self, method, url, **kw):
        return self.client.open(url, method=method, headers={"X-CSRFToken": self.token}, **kw)


@pytest.fixture
def admin(client, sign_in_admin):
    return AdminSession(client, sign_in_admin(client))


def logged(action: str | None = None) -> list[AuditEntry]:
    db.session.expire_all()
    query = select(AuditEntry).order_by(AuditEntry.id)
    if action:
        query = query.where(AuditEntry.action == action)
    return list(db.session.scalars(query))


def only(action: str) -> AuditEntry:
    entries = logged(action)
    assert len(entries) == 1, [(e.action, e.target_label) for e in logged()]
    return entries[0]


def changes(entry: AuditEntry) -> tuple:
    return (json.loads(entry.before_json) if entry.before_json else None,
            json.loads(entry.after_json) if entry.after_json else None)


# ---------------------------------------------------------------------------- the service


@pytest.mark.both_databases
def test_an_entry_is_written_by_the_callers_commit_and_only_then(app):
    audit.record(audit_actions.SETTINGS_CHANGED, audit.Target("settings"), actor="someone")
    db.session.rollback()
    assert logged() == []
    audit.record(audit_actions.SETTINGS_CHANGED, audit.Target("settings"), actor=audit.Actor("ada", "10.0.0.9"),
                 reason=" because ", before={"a": 1}, after={"a": 2})
    db.session.commit()
    (entry,) = logged()
    assert (entry.actor, entry.address, entry.reason) == ("ada", "10.0.0.9", "because")
    assert changes(entry) == ({"a": 1}, {"a": 2})
    assert entry.at.tzinfo is not None and abs(entry.at - datetime.now(timezone.utc)) < timedelta(minutes=1)


def test_unknown_actions_and_biometric_data_are_refused(app):
    target = audit.Target("person", 1, "Ada")
    with pytest.raises(ValueError, match="unknown audit action"):
        audit.record("person.teleported", target, actor="x")
    for bad in ({"embedding": [0.1]}, {"crop_path": "faces/x.png"}, {"nested": [{"photo_path": "p"}]},
                {"data": b"\x89PNG"}):
        with pytest.raises(ValueError):
            audit.record(audit_actions.PERSON_CREATED, target, actor="x", after=bad)
    db.session.rollback()
    assert logged() == []


def test_the_service_offers_no_way_to_change_or_remove_an_entry():
    public = {name for name in dir(audit) if not name.startswith("_")}
    assert not public & {"update", "delete", "remove", "edit", "purge", "clear", "redact"}


@pytest.mark.both_databases
def test_the_database_refuses_to_update_or_delete_an_entry(app):
    audit.record_now(audit_actions.SETTINGS_CHANGED, audit.Target("settings"), actor="ada", after={"x": 1})
    for statement in ("UPDATE audit_entry SET actor = 'mallory'", "DELETE FROM audit_entry"):
        with pytest.raises(DatabaseError, match="append-only"):
            db.session.execute(text(statement))
        db.session.rollback()
    if db.engine.dialect.name == "postgresql":
        with pytest.raises(DatabaseError, match="append-only"):
            db.session.execute(text("TRUNCATE audit_entry"))
        db.session.rollback()
    (entry,) = logged()
    assert entry.actor == "ada"


def test_bad_filters_are_documented_errors(app):
    for args, code in ((("2026-02-30",), "bad_date"), ((None, "nope"), "bad_date"),
                       (("2026-03-02", "2026-03-01"), "bad_range"),
                       ((None, None, None, "person.flew"), "unknown_action"),
                       ((None, None, "x" * 97), "bad_actor")):
        with pytest.raises(InvalidInput) as caught:
            audit.parse_filters(*args)
        assert caught.value.code == code
    assert audit.parse_filters(action="person").action == "person"


# ---------------------------------------------------------------------------- people, through the console


def test_people_actions_write_one_entry_each_with_before_and_after(admin):
    assert admin.post("/admin/people", {"name": "Ada Lovelace"}).status_code == 303
    person = db.session.scalar(select(Person))
    created = only("person.created")
    assert (created.actor, created.address, created.target_id, created.target_label) == \
        ("admin", "127.0.0.1", str(person.id), "Ada Lovelace")
    assert changes(created) == (None, {"name": "Ada Lovelace", "external_id": None})

    assert admin.post(f"/admin/people/{person.id}/rename", {"name": "Ada King", "reason": "married"}).status_code == 303
    renamed = only("person.renamed")
    assert changes(renamed) == ({"name": "Ada Lovelace"}, {"name": "Ada King"}) and renamed.reason == "married"

    assert admin.post(f"/admin/people/{person.id}/active", {"active": "0"}).status_code == 303
    assert changes(only("person.deactivated")) == ({"active": True}, {"active": False})
    assert admin.api("PATCH", f"/api/v1/people/{person.id}", json={"active": True}).status_code == 200
    assert changes(only("person.activated")) == ({"active": False}, {"active": True})
    assert len(logged()) == 6  # and the admin's creation and sign-in


def test_refused_changes_write_no_entry(admin, make_person):
    ada, _ = make_person("Ada Lovelace"), make_person("Grace Hopper")
    before = len(logged())
    # A rename to a taken name (another person's, up to case), a blank one, a person added twice.
    assert admin.post(f"/admin/people/{ada.id}/rename", {"name": "GRACE HOPPER"}).status_code == 409
    assert admin.api("PATCH", f"/api/v1/people/{ada.id}", json={"name": "  "}).status_code == 400
    assert admin.post("/admin/people", {"name": "ada lovelace"}).status_code == 409
    # Adding someone whose every photo is refused adds nobody, and logs nothing.
    bad = {"name": "Charles Babbage", "photos": (io.BytesIO(b"not an image"), "babbage.jpg")}
    assert admin.post("/admin/people", bad, content_type="multipart/form-data").status_code == 422
    # Enrolling only bad photos for an existing person.
    upload = {"photos": (io.BytesIO(b"still not an image"), "x.jpg")}
    assert admin.post(f"/admin/people/{ada.id}/enroll", upload, content_type="multipart/form-data").status_code == 422
    # A memo without a memo field; a device name the rules refuse.
    event = factories.event(ada)
    before_event = len(logged())
    assert admin.post(f"/admin/attendance/{event.id}/memo", {}).status_code == 400
    assert admin.post(f"/admin/people/{ada.id}/samples/999/delete").status_code == 404
    assert len(logged()) == before_event == before
    assert db.session.scalar(select(Person).where(Person.name == "Charles Babbage")) is None


def test_deleting_a_person_keeps_their_entries_without_face_data(admin, make_person):
    ada = make_person("Ada Lovelace")
    sample = factories.sample(ada)
    factories.event(ada, memo="Hello")
    assert admin.post(f"/admin/people/{ada.id}/samples/{sample.id}/delete").status_code == 303
    assert changes(only("photo.removed")) == ({"kind": "enrollment", "sample_id": sample.id}, None)
    factories.sample(ada)
    assert admin.post(f"/admin/people/{ada.id}/delete", {"reason": "left the company"}).status_code == 303
    deleted = only("person.deleted")
    assert deleted.reason == "left the company" and deleted.target_label == "Ada Lovelace"
    assert changes(deleted) == ({"name": "Ada Lovelace", "external_id": None, "active": True, "samples": 1,
                                 "events": 1}, None)
    # Every entry about her stays; none holds a path, an embedding or image bytes.
    assert {e.action for e in logged() if e.target_id == str(ada.id)} >= {"person.created", "photo.removed",
                                                                           "person.deleted"}
    dumped = " ".join(f"{e.before_json} {e.after_json}" for e in logged())
    assert "faces/" not in dumped and "crop" not in dumped and ".png" not in dumped


def test_forgetting_learned_faces_is_one_entry(app, make_person):
    ada = make_person("Ada Lovelace")
    learned = [factories.sample(ada, kind=SampleKind.learned, kiosk_id="lobby") for _ in range(2)]
    assert learning.forget(ada, actor="admin") == 2
    assert changes(only("learned.removed")) == ({"count": 2, "sample_ids": [s.id for s in learned]}, None)
    assert learning.forget(ada, actor="admin") == 0  # nothing to remove: nothing logged
    assert len(logged("learned.removed")) == 1


# ---------------------------------------------------------------------------- attendance, exports


def test_memo_changes_deletions_and_exports_are_logged(admin, make_person):
    ada = make_person("Ada Lovelace")
    event = factories.event(ada, memo="Good morning")
    assert admin.post(f"/admin/attendance/{event.id}/memo", {"memo": "Late: train"}).status_code == 303
    memo = only("attendance.memo_changed")
    assert changes(memo) == ({"memo": "Good morning"}, {"memo": "Late: train"})
    assert memo.target_label.startswith("Ada Lovelace, ")
    day = event.timestamp.date().isoformat()
    export = admin.get(f"/admin/attendance/export?from={day}&to={day}&format=csv")
    assert export.status_code == 200
    assert changes(only("export.downloaded"))[1] == {"from": day, "to": day, "format": "csv", "person_id": None,
                                                     "rows": 1}
    assert admin.api("DELETE", f"/api/v1/attendance/{event.id}?reason=duplicate").status_code == 200
    deleted = only("attendance.deleted")
    assert deleted.reason == "duplicate" and changes(deleted)[0]["memo"] == "Late: train"
    assert admin.api("DELETE", f"/api/v1/attendance/{event.id}").status_code == 404
    assert len(logged("attendance.deleted")) == 1


# ---------------------------------------------------------------------------- spoofs, training


def _open_spoof(person: Person) -> SuspectedSpoof:
    spoof = SuspectedSpoof(person_id=person.id, kiosk_id="lobby", policy="review", status=SpoofStatus.open,
                           liveness_score=0.2, failed_cues="passive", liveness_json="{}")
    db.session.add(spoof)
    db.session.commit()
    return spoof


def test_dismissing_a_suspected_spoof_is_logged_once(app, make_person):
    spoof = _open_spoof(make_person("Ada Lovelace"))
    spoofs.dismiss(spoof.id, "admin")
    entry = only("spoof.dismissed")
    assert (entry.actor, entry.target_label) == ("admin", "Ada Lovelace at lobby")
    assert changes(entry) == ({"status": "open"}, {"status": "dismissed"})
    with pytest.raises(Conflict):
        spoofs.dismiss(spoof.id, "admin")
    with pytest.raises(Conflict):  # no photo kept: refused before anything is written
        spoofs.approve(_open_spoof(Person.query.first()).id, "admin")
    db.session.rollback()
    assert len(logged("spoof.dismissed")) == 1 and logged("spoof.approved") == []


def test_a_finished_retraining_is_logged_with_its_figures(app):
    job = training_jobs.start_job("faces", lambda progress: {"people": 3, "samples": 12, "file": "/srv/x"},
                                  actor=audit.Actor("admin", "10.1.1.1"))
    assert training_jobs.wait_for(job.id, timeout=30).state == "done"
    entry = only("model.retrained")
    assert (entry.actor, entry.address, entry.target_id) == ("admin", "10.1.1.1", "faces")
    assert changes(entry)[1] == {"people": 3, "samples": 12, "job": job.id}  # no file path


def test_a_failed_retraining_is_not_logged(app):
    def fail(progress):
        raise InvalidInput("Too few samples.")

    job = training_jobs.start_job("gestures", fail, actor="admin")
    assert training_jobs.wait_for(job.id, timeout=30).state == "failed"
    assert logged("model.retrained") == []


# ---------------------------------------------------------------------------- command line


def test_cli_actions_name_the_operating_system_user(runner):
    assert runner.invoke(args=["admin", "create", "root-admin", "--password-stdin"],
                         input="long enough password\n").exit_code == 0
    for args in (["devices", "add", "lobby"], ["devices", "rotate", "lobby"], ["devices", "remove", "lobby"]):
        assert runner.invoke(args=args).exit_code == 0, args
    assert runner.invoke(args=["devices", "remove", "lobby"]).exit_code != 0  # gone: nothing logged
    actions = [(e.action, e.target_label) for e in logged()]
    # Removing a device is "device.removed"; "device.revoked" is a revoke that keeps it for re-pairing.
    assert actions == [("admin.created", "root-admin"), ("device.added", "lobby"), ("device.rotated", "lobby"),
                       ("device.removed", "lobby")]
    assert all(re.fullmatch(r"cli:.+", e.actor) for e in logged())
    assert "token" not in json.dumps([changes(e) for e in logged()])


def test_kiosk_audit_json_shape_and_filters(runner, make_person):
    ada = make_person("Ada Lovelace")
    from kiosk.services import people

    people.rename_person(ada, "Ada King", actor=audit.Actor("admin", "10.0.0.1"), reason="married")
    result = runner.invoke(args=["audit", "--json"])
    assert result.exit_code == 0, result.output
    records = json.loads(result.output)
    assert [r["action"] for r in records] == ["person.created", "person.renamed"]
    for record in records:
        assert set(record) == {"at", "actor", "action", "target", "reason", "before", "after"}
        assert datetime.fromisoformat(record["at"]).utcoffset() is not None
    assert records[1] == {**records[1], "actor": "admin", "target": f"person {ada.id} (Ada King)", "reason": "married",
                          "before": {"name": "Ada Lovelace"}, "after": {"name": "Ada King"}}
    assert records[0]["actor"] == "system"  # made by a test factory, outside any request or command
    only_renames = json.loads(runner.invoke(args=["audit", "--json", "--action", "person.renamed"]).output)
    assert [r["action"] for r in only_renames] == ["person.renamed"]
    assert json.loads(runner.invoke(args=["audit", "--json", "--actor", "nobody"]).output) == []
    tomorrow = (datetime.now(timezone.utc) + timedelta(days=2)).date().isoformat()
    assert json.loads(runner.invoke(args=["audit", "--json", "--from", tomorrow]).output) == []
    table = runner.invoke(args=["audit"])
    assert "person.renamed" in table.output and "'Ada Lovelace' -> 'Ada King'" in table.output
    bad = runner.invoke(args=["audit", "--action", "person.flew"])
    assert bad.exit_code == 2 and "Unknown action" in bad.output


# ---------------------------------------------------------------------------- the page


def test_the_audit_page_filters_and_exports(admin, make_person):
    ada = make_person("Ada Lovelace")
    assert admin.post(f"/admin/people/{ada.id}/rename", {"name": "Ada King"}).status_code == 303
    page = admin.get("/admin/audit")
    assert page.status_code == 200
    assert 'href="/admin/audit"' in page.text and 'aria-current="page">Audit' in page.text
    assert 'data-action="person.renamed"' in page.text and 'data-action="admin.signed_in"' in page.text
    renames = admin.get("/admin/audit?action=person.renamed&actor=admin")
    assert re.findall(r'data-action="([^"]+)"', renames.text) == ["person.renamed"]
    area = admin.get("/admin/audit?action=person")
    assert 'data-action="person.created"' in area.text and 'data-action="admin.signed_in"' not in area.text
    tomorrow = (datetime.now(timezone.utc) + timedelta(days=2)).date().isoformat()
    assert "No entries match" in admin.get(f"/admin/audit?from={tomorrow}").text
    refused = admin.get("/admin/audit?from=2026-02-30")
    assert refused.status_code == 400 and "not a date" in refused.text
    assert admin.get("/admin/audit/export?action=nope").status_code == 400

    export = admin.get("/admin/audit/export?action=person")
    assert export.status_code == 200 and export.mimetype == "text/csv"
    assert 'filename="audit_' in export.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(export.data.decode("utf-8-sig"))))
    assert rows[0] == list(audit.EXPORT_COLUMNS)
    assert [r[2] for r in rows[1:]] == ["person.created", "person.renamed"]
    assert {r[-1] for r in rows[1:]} == {"UTC"} and rows[0][-1] == "time_zone"  # the export names its time zone
    assert json.loads(rows[2][7]) == {"name": "Ada Lovelace"}
    exported = logged("export.downloaded")[-1]
    assert changes(exported)[1]["what"] == "audit" and exported.actor == "admin"


def test_the_audit_page_is_for_admins_only(client):
    response = client.get("/admin/audit")
    assert response.status_code == 302 and "/auth/login" in response.location
    assert client.get("/admin/audit/export").status_code == 302


# ---------------------------------------------------------------------------- enrollment and import (real models)

FACES = __import__("pathlib").Path(__file__).resolve().parent / "data" / "faces"


@pytest.mark.models
def test_enrolling_on_the_command_line_and_a_bad_enroll(runner):
    bad = runner.invoke(args=["people", "enroll", "Colin Powell", str(FACES / "_multi" / "2.jpg")])
    assert bad.exit_code == 1 and '"refused"' in bad.output  # every photo refused: nothing done (exit 1)
    assert logged() == []  # nobody added, no photo: nothing logged
    good = runner.invoke(args=["people", "enroll", "Colin Powell", str(FACES / "lfw_Colin_Powell" / "1.jpg"),
                               str(FACES / "lfw_Colin_Powell" / "2.jpg")])
    assert good.exit_code == 0, good.output
    created, enrolled = logged()
    assert (created.action, enrolled.action) == ("person.created", "photo.enrolled")
    assert created.actor.startswith("cli:") and enrolled.actor == created.actor
    after = changes(enrolled)[1]
    assert after["photos"] == 2 and len(after["sample_ids"]) == 2


@pytest.mark.models
def test_an_import_is_logged_from_start_to_finish(runner, tmp_path):
    from import_helpers import EXPECTED, write_folder

    folder = write_folder(tmp_path / "Staff photos")
    result = runner.invoke(args=["people", "import", str(folder), "--no-train"])
    assert result.exit_code == 0, result.output
    actions = [e.action for e in logged()]
    assert actions[0] == "import.started" and actions[-1] == "import.finished"
    assert actions.count("person.created") == EXPECTED["people_created"]
    assert "import.finished" in actions and len({e.actor for e in logged()}) == 1
    finished = changes(only("import.finished"))[1]
    assert finished["people_created"] == EXPECTED["people_created"] and finished["accepted"] == EXPECTED["accepted"]
    assert finished["retrained"] is False
    assert only("import.started").target_label == "Staff photos"


@pytest.mark.both_databases
def test_the_migration_goes_down_and_up_again_with_its_triggers(app):
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import inspect

    db.session.remove()
    downgrade(revision="c20a11e55f01")
    assert "audit_entry" not in inspect(db.engine).get_table_names()
    upgrade()
    audit.record_now(audit_actions.SETTINGS_CHANGED, audit.Target("settings"), actor="ada")
    with pytest.raises(DatabaseError, match="append-only"):
        db.session.execute(text("DELETE FROM audit_entry"))
    db.session.rollback()
    assert len(logged()) == 1


def test_approving_a_suspected_spoof_is_logged_with_its_check_in(app, make_person, faces_data):
    from kiosk import storage
    from kiosk.vision.image import encode_jpeg, load_image

    spoof = _open_spoof(make_person("Colin Powell"))
    photo = encode_jpeg(load_image(faces_data / "lfw_Colin_Powell" / "1.jpg"))
    spoof.photo_path = storage.store_bytes(spoofs.SPOOF_FOLDER, photo, ".jpg")
    db.session.commit()
    event = spoofs.approve(spoof.id, "admin")
    entry = only("spoof.approved")
    assert entry.actor == "admin" and entry.target_id == str(spoof.id)
    assert changes(entry) == ({"status": "open"}, {"status": "approved", "event_id": event.id})
    assert "spoofs/" not in (entry.after_json or "")


def test_admin_account_changes_on_the_command_line(runner):
    create = ["admin", "create", "ops", "--password-stdin"]
    assert runner.invoke(args=create, input="long enough password\n").exit_code == 0
    assert runner.invoke(args=create, input="long enough password\n").exit_code != 0  # exists: not logged
    assert runner.invoke(args=["admin", "password", "ops", "--password-stdin"], input="short\n").exit_code != 0
    assert runner.invoke(args=["admin", "password", "ops", "--password-stdin"],
                         input="another long password\n").exit_code == 0
    assert runner.invoke(args=["admin", "remove", "ops", "--yes"]).exit_code == 0
    assert [e.action for e in logged()] == ["admin.created", "admin.password_changed", "admin.removed"]
    dumped = json.dumps([changes(e) for e in logged()])
    assert "password" not in dumped.replace("password_changed", "")
    assert "pbkdf2" not in dumped and "scrypt" not in dumped
