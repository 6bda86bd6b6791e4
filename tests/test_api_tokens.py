"""API tokens: created on the command line and in the console, shown once, stored hashed, scoped,
expiring, revoked at once, last use kept, every change in the audit log; ``Authorization: Bearer``
on /api/v1 beside the admin session (CSRF only for the cookie session)."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import factories

from kiosk.extensions import db
from kiosk.integration_tables import ApiToken
from kiosk.models import AttendanceEvent, AuditEntry, Person, utcnow
from kiosk.services import api_tokens


def _create(runner, name, *scopes) -> str:
    args = ["tokens", "create", name]
    for scope in scopes:
        args += ["--scope", scope]
    result = runner.invoke(args=args + ["--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["name"] == name and answer["token"].startswith("kt_")
    return answer["token"]


def _bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_cli_create_list_revoke_and_the_api_answers_accordingly(app, runner, client):
    who = factories.person("Grace Hopper")
    factories.event(who)
    token = _create(runner, "payroll", "read:attendance")

    stored = db.session.scalar(db.select(ApiToken).where(ApiToken.name == "payroll"))
    assert stored.token_hash == api_tokens.hash_secret(token) and token not in json.dumps(api_tokens.as_dict(stored))

    answer = client.get("/api/v1/attendance", headers=_bearer(token))
    assert answer.status_code == 200 and answer.is_json
    assert [e["person"] for e in answer.json["events"]] == ["Grace Hopper"]
    assert client.get("/api/v1/attendance").status_code == 401

    listed = json.loads(runner.invoke(args=["tokens", "list", "--json"]).stdout)
    assert [(t["name"], t["scopes"], t["state"]) for t in listed] == [("payroll", ["read:attendance"], "active")]
    assert listed[0]["last_used_at"] is not None  # the request above
    assert token not in runner.invoke(args=["tokens", "list", "--json"]).stdout

    revoked = runner.invoke(args=["tokens", "revoke", "payroll"])
    assert revoked.exit_code == 0, revoked.output
    refused = client.get("/api/v1/attendance", headers=_bearer(token))
    assert refused.status_code == 401 and refused.json["error"] == "invalid_token"
    assert json.loads(runner.invoke(args=["tokens", "list", "--json"]).stdout)[0]["state"] == "revoked"

    actions = [(e.action, e.target_label, e.actor.startswith("cli:")) for e in db.session.scalars(
        db.select(AuditEntry).where(AuditEntry.target_type == "api_token").order_by(AuditEntry.id))]
    assert actions == [("api_token.created", "payroll", True), ("api_token.revoked", "payroll", True)]
    assert all(token not in (e.after_json or "") for e in db.session.scalars(db.select(AuditEntry)))


def test_bad_input_on_the_command_line_exits_2_and_writes_nothing(app, runner):
    for args, words in (
        (["tokens", "create", "x", "--scope", "read:everything"], "Unknown scope"),
        (["tokens", "create", "x"], "--scope"),
        (["tokens", "create", "   ", "--scope", "admin"], "needs a name"),
        (["tokens", "create", "x", "--scope", "admin", "--expires-days", "0"], "between 1 and 3650"),
    ):
        result = runner.invoke(args=args)
        assert result.exit_code == 2, (args, result.output)
        assert words in result.output, result.output
    assert db.session.scalar(db.select(db.func.count()).select_from(ApiToken)) == 0
    assert runner.invoke(args=["tokens", "revoke", "nobody"]).exit_code == 1
    _create(runner, "hr", "read:people")
    taken = runner.invoke(args=["tokens", "create", "hr", "--scope", "admin"])
    assert taken.exit_code == 1 and "already exists" in taken.output


def test_scopes_are_refused_where_they_should_be(app, runner, client):
    who = factories.person("Ada Lovelace")
    event = factories.event(who)
    readers = {scope: _create(runner, scope.replace(":", "-"), scope) for scope in api_tokens.SCOPES}

    def status(method, url, scope, **kw):
        return client.open(url, method=method, headers=_bearer(readers[scope]), **kw).status_code

    # reading attendance
    assert status("GET", "/api/v1/attendance", "read:attendance") == 200
    assert status("GET", "/api/v1/attendance", "admin") == 200
    assert status("GET", "/api/v1/attendance", "read:people") == 403
    assert status("GET", "/api/v1/attendance", "write:attendance") == 403
    # reading people
    assert status("GET", "/api/v1/people", "read:people") == 200
    assert status("GET", f"/api/v1/people/{who.id}", "read:people") == 200
    assert status("GET", "/api/v1/people", "read:attendance") == 403
    # changing attendance: write:attendance (no CSRF token needed with a bearer token)
    refused = client.patch(f"/api/v1/attendance/{event.id}", json={"memo": "changed"},
                           headers=_bearer(readers["read:attendance"]))
    assert refused.status_code == 403 and refused.json["error"] == "insufficient_scope"
    assert "write:attendance" in refused.json["message"]
    refused_only = db.session.scalar(db.select(ApiToken).where(ApiToken.name == "read-people"))
    db.session.refresh(refused_only)
    assert refused_only.last_used_at is not None  # its GET /people above
    write_only = db.session.scalar(db.select(ApiToken).where(ApiToken.name == "write-attendance"))
    db.session.refresh(write_only)
    assert write_only.last_used_at is None  # refused (403) so far: nothing written
    db.session.expire_all()
    assert db.session.get(AttendanceEvent, event.id).memo != "changed"
    # people and models: admin only
    assert status("POST", "/api/v1/people", "read:people", json={"name": "Nobody"}) == 403
    assert status("POST", "/api/v1/people", "write:attendance", json={"name": "Nobody"}) == 403
    assert status("GET", "/api/v1/models", "read:attendance") == 403
    assert db.session.scalar(db.select(Person).where(Person.name == "Nobody")) is None
    created = client.post("/api/v1/people", json={"name": "Alan Turing"}, headers=_bearer(readers["admin"]))
    assert created.status_code == 201, created.text
    # the audit log names the token
    deleted = client.delete(f"/api/v1/attendance/{event.id}?reason=test", headers=_bearer(readers["write:attendance"]))
    assert deleted.status_code == 200, deleted.text
    entry = db.session.scalar(db.select(AuditEntry).where(AuditEntry.action == "attendance.deleted"))
    assert entry.actor == "token:write-attendance"
    # an API token is no kiosk pairing: the frame API still wants a paired kiosk
    unpaired = app.test_client(paired=False)
    refused = unpaired.get("/api/v1/kiosk/state", headers=_bearer(readers["admin"]))
    assert refused.status_code == 401 and refused.json["error"] == "kiosk_not_paired"


def test_missing_wrong_expired_tokens_are_401(app, runner, client):
    token = _create(runner, "short", "read:attendance")
    for headers in ({}, _bearer("kt_wrong"), _bearer(""), {"Authorization": "Basic YWRtaW46eA=="}, _bearer("x" * 5000)):
        answer = client.get("/api/v1/attendance", headers=headers)
        assert answer.status_code == 401, (headers, answer.text)
        assert answer.is_json and answer.json["message"]
    row = db.session.scalar(db.select(ApiToken).where(ApiToken.name == "short"))
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    expired = client.get("/api/v1/attendance", headers=_bearer(token))
    assert expired.status_code == 401 and "expired" in expired.json["message"]


def test_cookie_sessions_keep_csrf_and_a_bearer_header_is_judged_alone(app, client, runner, sign_in_admin):
    csrf = sign_in_admin(client)
    assert client.get("/api/v1/attendance").status_code == 200  # the admin's session, as before
    no_csrf = client.post("/api/v1/people", json={"name": "Forged"})
    assert no_csrf.status_code == 400 and no_csrf.json["error"] == "csrf_failed"
    with_csrf = client.post("/api/v1/people", json={"name": "Real"}, headers={"X-CSRFToken": csrf})
    assert with_csrf.status_code == 201
    # a bad bearer token is refused even though the browser's admin cookie is there too
    forged = client.post("/api/v1/people", json={"name": "Forged"}, headers=_bearer("kt_not-a-token"))
    assert forged.status_code == 401
    assert db.session.scalar(db.select(Person).where(Person.name == "Forged")) is None


def test_console_page_shows_a_new_token_once_and_revokes_it(app, client, sign_in_admin):
    csrf = sign_in_admin(client)
    page = client.post("/admin/tokens", data={"csrf_token": csrf, "name": "hr export",
                                              "scope": ["read:people", "read:attendance"], "expires_days": "30"})
    assert page.status_code == 201, page.text
    token = re.search(r'id="new-token">([^<]+)<', page.text).group(1)
    assert client.get("/api/v1/people", headers=_bearer(token)).status_code == 200
    listing = client.get("/admin/tokens").text
    assert "hr export" in listing and token not in listing and "never" in listing
    refused = client.post("/admin/tokens", data={"csrf_token": csrf, "name": "bad", "scope": ["root"]})
    assert refused.status_code == 400 and "Unknown scope" in refused.text
    revoked = client.post("/admin/tokens/hr export/revoke", data={"csrf_token": csrf})
    assert revoked.status_code == 303
    assert client.get("/api/v1/people", headers=_bearer(token)).status_code == 401
    entries = db.session.scalars(db.select(AuditEntry).where(AuditEntry.target_type == "api_token")).all()
    assert [(e.action, e.actor) for e in entries] == [("api_token.created", "admin"), ("api_token.revoked", "admin")]
