"""Corrections of punches through /api/v1 (``/api/v1/attendance/punches``): a token with
``write:attendance`` (or the admin's session with CSRF) adds a missed punch, changes one, removes
one, always with a reason; each is a revision, an audit entry with the token as actor and a
``correction`` webhook, and changes the hours payroll reads. Every refusal is a specific 4xx and
writes nothing."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

import factories
import pytest
from sqlalchemy import func, select

from kiosk.extensions import db
from kiosk.integration_tables import WebhookDelivery
from kiosk.models import AttendanceEvent, AuditEntry, EventKind, PunchRevision
from kiosk.services import api_tokens, hours, webhooks

pytestmark = pytest.mark.both_databases
IN, OUT = EventKind.check_in, EventKind.check_out
MONDAY = date(2026, 3, 2)
PUNCHES = "/api/v1/attendance/punches"


def bearer(*scopes: str, name: str = "hr-sync") -> dict:
    return {"Authorization": f"Bearer {api_tokens.create_token(name, list(scopes))[1]}"}


def counts() -> tuple[int, ...]:
    return tuple(db.session.scalar(select(func.count()).select_from(t))
                 for t in (AttendanceEvent, PunchRevision, AuditEntry, WebhookDelivery))


def monday_hours(name: str) -> float:
    return next(s.hours for s in hours.period_summary(MONDAY, MONDAY) if s.person == name)


@pytest.fixture
def ada(app):
    app.config["KIOSK_TIMEZONE"] = "Europe/Berlin"
    person = factories.person("Ada Lovelace")
    factories.event(person, datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc), IN)  # 09:00 in Berlin, no out
    webhooks.add_subscription("http://127.0.0.1:9/hooks", ["correction"], "a-secret-of-24-characters")
    return person


def test_a_write_token_adds_changes_and_removes_punches_like_the_console(ada, client, runner):
    token = bearer("write:attendance")
    assert monday_hours("Ada Lovelace") == 0  # the missing out adds nothing

    added = client.post(PUNCHES, headers=token, json={"person_id": ada.id, "at": "2026-03-02T17:30", "kind": "out",
                                                      "reason": "left by the side door"})
    assert added.status_code == 201, added.text
    out = added.json
    assert (out["person"], out["kind"], out["timestamp"], out["kiosk_id"]) == (
        "Ada Lovelace", "check_out", "2026-03-02T17:30:00+01:00", "manual")
    assert monday_hours("Ada Lovelace") == 8.5
    cli = runner.invoke(args=["report", "hours", "--from", "2026-03-02", "--to", "2026-03-02", "--json"])
    assert cli.exit_code == 0 and json.loads(cli.stdout)[0]["hours"] == 8.5

    # An offset is honoured: 16:00 UTC is 17:00 in Berlin; the kind may be spelled as events list it.
    changed = client.patch(f"{PUNCHES}/{out['id']}", headers=token,
                           json={"at": "2026-03-02T16:00:00Z", "kind": "check_out", "reason": "gate log says 17:00"})
    assert changed.status_code == 200, changed.text
    assert changed.json["timestamp"] == "2026-03-02T17:00:00+01:00" and monday_hours("Ada Lovelace") == 8.0

    removed = client.delete(f"{PUNCHES}/{out['id']}", headers=token, json={"reason": "entered twice"})
    assert removed.status_code == 200 and removed.json["removed"] is True
    assert monday_hours("Ada Lovelace") == 0

    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action.like("punch.%"))
                                 .order_by(AuditEntry.id)).all()
    assert [(e.action, e.actor, e.reason) for e in entries] == [
        ("punch.added", "token:hr-sync", "left by the side door"),
        ("punch.changed", "token:hr-sync", "gate log says 17:00"),
        ("punch.removed", "token:hr-sync", "entered twice")]
    revisions = db.session.scalars(select(PunchRevision).where(PunchRevision.event_id == out["id"])
                                   .order_by(PunchRevision.number)).all()
    assert [(r.number, r.actor, r.removed) for r in revisions] == [
        (0, "token:hr-sync", False), (1, "token:hr-sync", False), (2, "token:hr-sync", True)]
    sent = [json.loads(d.body)["data"] for d in db.session.scalars(
        select(WebhookDelivery).where(WebhookDelivery.event == "correction").order_by(WebhookDelivery.id))]
    assert [(d["action"], d["actor"], d["reason"], d["after"]["at"]) for d in sent] == [
        ("punch.added", "token:hr-sync", "left by the side door", "2026-03-02T17:30+01:00"),
        ("punch.changed", "token:hr-sync", "gate log says 17:00", "2026-03-02T17:00+01:00"),
        ("punch.removed", "token:hr-sync", "entered twice", "2026-03-02T17:00+01:00")]
    assert sent[1]["before"] == {"kind": "out", "at": "2026-03-02T17:30+01:00", "removed": False}


def test_scopes_are_refused_and_nothing_is_written(ada, client, sign_in_admin):
    punch = db.session.scalar(select(AttendanceEvent.id))
    body = {"person_id": ada.id, "at": "2026-03-02T17:30", "kind": "out", "reason": "forgot"}
    before = counts()
    reader = bearer("read:attendance", "read:people", name="reader")
    for method, path, payload in (("POST", PUNCHES, body), ("PATCH", f"{PUNCHES}/{punch}", body),
                                  ("DELETE", f"{PUNCHES}/{punch}", {"reason": "forgot"})):
        refused = client.open(path, method=method, headers=reader, json=payload)
        assert refused.status_code == 403 and refused.json["error"] == "insufficient_scope", refused.text
        assert "write:attendance" in refused.json["message"]
        anonymous = client.open(path, method=method, json=payload)
        assert anonymous.status_code == 401, anonymous.text
        revoked_name = f"gone-{method.lower()}"
        revoked = bearer("write:attendance", name=revoked_name)
        api_tokens.revoke_token(revoked_name)
        assert client.open(path, method=method, headers=revoked, json=payload).status_code == 401
    assert counts()[:2] == before[:2]
    assert not db.session.scalars(select(AuditEntry).where(AuditEntry.action.like("punch.%"))).all()
    assert counts()[3] == before[3]

    # The admin's own session: CSRF-protected like every change it makes.
    csrf = sign_in_admin(client)
    assert client.post(PUNCHES, json=body).json["error"] == "csrf_failed"
    assert counts()[:2] == before[:2]
    made = client.post(PUNCHES, json=body, headers={"X-CSRFToken": csrf})
    assert made.status_code == 201, made.text
    assert db.session.scalar(select(AuditEntry.actor).where(AuditEntry.action == "punch.added")) == "admin"


def test_every_bad_correction_is_a_specific_4xx_and_writes_nothing(ada, client):
    token = bearer("write:attendance")
    punch = db.session.scalar(select(AttendanceEvent.id))
    tomorrow = (datetime.now(timezone.utc) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")

    def add(**fields):
        return ("POST", PUNCHES, {"person_id": ada.id, "at": "2026-03-02T17:30", "kind": "out", "reason": "forgot",
                                  **fields})

    cases = [
        (add(at="2026-03-02T08:00"), 409, "out_before_in"),  # an out before the 09:00 in
        (add(at="2026-03-02T10:00", kind="in"), 409, "overlapping_pairs"),  # a second in, the first has no out
        (add(at=tomorrow), 400, "punch_in_future"),
        (add(at="9999-12-31T23:59-12:00"), 400, "bad_time"),
        (add(reason="   "), 400, "missing_reason"),
        (add(reason="\x00\t\ud800"), 400, "missing_reason"),  # control characters only
        (add(reason=None), 400, "missing_reason"),
        (add(reason="x" * 501), 400, "reason_too_long"),
        (add(reason=["forgot"]), 400, "bad_reason"),
        (add(person_id=999_999), 404, "unknown_person"),
        (add(person_id=str(ada.id)), 400, "bad_person_id"),
        (add(person_id=True), 400, "bad_person_id"),
        (add(person_id=2**64), 400, "bad_person_id"),
        (add(at="Monday morning"), 400, "bad_time"),
        (add(at=20260302), 400, "bad_at"),
        (add(kind="sideways"), 400, "bad_kind"),
        (add(kind="IN"), 400, "bad_kind"),
        (("POST", PUNCHES, {"at": "2026-03-02T17:30", "kind": "out", "reason": "x"}), 400, "missing_person_id"),
        (("POST", PUNCHES, {"person_id": ada.id, "kind": "out", "reason": "x"}), 400, "missing_at"),
        (("POST", PUNCHES, ["not", "an", "object"]), 400, "bad_json"),
        (("PATCH", f"{PUNCHES}/{punch}", {"at": "2026-03-02T09:00", "reason": "same"}), 400, "no_change"),
        (("PATCH", f"{PUNCHES}/{punch}", {"kind": "out", "reason": "x"}), 409, "out_before_in"),
        (("PATCH", f"{PUNCHES}/{punch}", {"at": None, "reason": "x"}), 400, "bad_at"),
        (("PATCH", f"{PUNCHES}/{punch}", {"at": "2026-03-02T10:00"}), 400, "missing_reason"),
        (("PATCH", f"{PUNCHES}/999999", {"at": "2026-03-02T10:00", "reason": "x"}), 404, "not_found"),
        (("PATCH", f"{PUNCHES}/{2**64}", {"at": "2026-03-02T10:00", "reason": "x"}), 404, "not_found"),
        (("DELETE", f"{PUNCHES}/{punch}", None), 400, "missing_reason"),
        (("DELETE", f"{PUNCHES}/999999", {"reason": "x"}), 404, "not_found"),
    ]
    before = counts()
    for (method, path, payload), status, code in cases:
        answer = client.open(path, method=method, headers=token, json=payload)
        assert (answer.status_code, answer.json["error"]) == (status, code), (method, payload, answer.text)
        assert answer.json["message"], answer.text
        assert counts() == before, (method, payload)

    removed = client.delete(f"{PUNCHES}/{punch}", headers=token, json={"reason": "a test\x00 punch\ud800"})
    assert removed.status_code == 200
    assert db.session.scalar(select(AuditEntry.reason).where(AuditEntry.action == "punch.removed")) == "a test punch"
    again = client.delete(f"{PUNCHES}/{punch}", headers=token, json={"reason": "again"})
    assert (again.status_code, again.json["error"]) == (409, "punch_removed")
