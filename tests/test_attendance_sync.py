"""GET /api/v1/attendance for a system that keeps its own copy: pages (limit, offset, total,
next_offset), filters (dates, person), and updated_since for incremental sync (a memo rewritten
later comes back; nothing else does)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import factories

from kiosk.services import api_tokens

BASE = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)


def _get(client, token, query):
    answer = client.get(f"/api/v1/attendance?{query}", headers={"Authorization": f"Bearer {token}"})
    return answer.status_code, answer.get_json()


def test_pages_and_filters_cover_every_event_once(app, client):
    _, token = api_tokens.create_token("sync", ["read:attendance"])
    ada, alan = factories.person("Ada Lovelace"), factories.person("Alan Turing")
    made = [factories.event(ada if i % 2 else alan, BASE + timedelta(hours=i)) for i in range(7)]
    seen, offset, pages = [], 0, 0
    while offset is not None:
        status, body = _get(client, token, f"from=2026-03-02&to=2026-03-02&limit=3&offset={offset}")
        assert status == 200 and body["total"] == 7 and body["limit"] == 3
        seen += [e["id"] for e in body["events"]]
        offset, pages = body["next_offset"], pages + 1
    assert seen == [e.id for e in made] and pages == 3
    status, body = _get(client, token, f"from=2026-03-02&to=2026-03-02&person_id={ada.id}")
    assert [e["person"] for e in body["events"]] == ["Ada Lovelace"] * 3 and body["next_offset"] is None
    status, body = _get(client, token, "from=2026-03-03&to=2026-03-03")
    assert status == 200 and body["events"] == [] and body["total"] == 0
    status, body = _get(client, token, "from=2026-03-02&to=2026-03-02&view=days&limit=1")
    assert status == 200 and len(body["days"]) == 1 and body["total"] == 2 and body["next_offset"] == 1
    for query, code in (("limit=0", "bad_limit"), ("limit=1001", "bad_limit"), ("offset=-1", "bad_offset"),
                        ("limit=ten", "bad_limit"), ("updated_since=2026-03-02T08:00:00", "bad_updated_since"),
                        ("updated_since=20260302T08", "bad_updated_since"), ("from=20260302", "bad_date"),
                        ("updated_since=2026-03-02T08:00:00Z&view=days", "bad_view"),
                        (f"person_id={2**70}", None)):
        status, body = _get(client, token, query)
        assert status in (400, 404), (query, body)
        if code:
            assert body["error"] == code and body["message"], (query, body)


def test_updated_since_returns_what_changed_and_only_that(app, client, sign_in_admin):
    _, token = api_tokens.create_token("sync", ["read:attendance"])
    ada = factories.person("Ada Lovelace")
    old = [factories.event(ada, BASE + timedelta(days=i)) for i in range(3)]  # different dates
    status, first = _get(client, token, "updated_since=2000-01-01T00:00:00Z")
    assert status == 200 and first["from"] is None and [e["id"] for e in first["events"]] == [e.id for e in old]
    since = first["updated_until"]

    status, nothing = _get(client, token, f"updated_since={since.replace('+00:00', 'Z')}")
    assert nothing["events"] == [] and nothing["total"] == 0 and nothing["updated_until"] is not None
    time.sleep(0.01)
    csrf = sign_in_admin(client)
    assert client.patch(f"/api/v1/attendance/{old[1].id}", json={"memo": "late bus"},
                        headers={"X-CSRFToken": csrf}).status_code == 200
    new = factories.event(ada, BASE + timedelta(days=10))
    status, changed = _get(client, token, f"updated_since={since.replace('+00:00', 'Z')}")
    assert status == 200
    assert [(e["id"], e["memo"]) for e in changed["events"]] == [(old[1].id, "late bus"), (new.id, None)]
    assert changed["updated_until"] > since
