"""The OpenAPI 3.1 description at /api/v1/openapi.json: valid (openapi-spec-validator), complete
(every /api/v1 route described or named as not part of the integration API), and true (real answers
of every described operation, and their errors, checked against it)."""

from __future__ import annotations

from datetime import datetime, timezone

import factories
from openapi_check import check_response
from openapi_spec_validator import validate

from kiosk.services import api_tokens
from kiosk.web.api.openapi import NOT_DESCRIBED


def _flask_to_openapi(rule: str) -> str:
    import re

    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule).removeprefix("/api/v1")


def test_the_description_is_valid_openapi_3_1(client):
    answer = client.get("/api/v1/openapi.json")
    assert answer.status_code == 200 and answer.is_json
    document = answer.get_json()
    assert document["openapi"] == "3.1.0"
    validate(document)  # raises on anything that is not valid OpenAPI 3.1


def test_every_route_of_api_v1_is_described_or_named_as_not_integration_api(app, client):
    document = client.get("/api/v1/openapi.json").get_json()
    undescribed = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.rule == "/api/v1/openapi.json":
            continue
        if any(rule.rule.startswith(prefix) for prefix in NOT_DESCRIBED):
            continue
        path = _flask_to_openapi(rule.rule)
        described = document["paths"].get(path, {})
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            if method.lower() not in described:
                undescribed.append(f"{method} {rule.rule}")
    assert undescribed == []
    # and nothing described that the app does not serve
    served = {_flask_to_openapi(r.rule) for r in app.url_map.iter_rules()}
    assert set(document["paths"]) <= served


def test_real_answers_match_the_description(app, client):
    document = client.get("/api/v1/openapi.json").get_json()
    _, token = api_tokens.create_token("openapi", ["admin"])
    bearer = {"Authorization": f"Bearer {token}"}
    ada = factories.person("Ada Lovelace", "E-7")
    event = factories.event(ada, memo="first")
    factories.event(factories.person("Alan Turing"))
    reader = {"Authorization": f"Bearer {api_tokens.create_token('reader', ['read:people'])[1]}"}

    def call(method, path, *, headers=None, status=None, **kw):
        response = client.open("/api/v1" + path, method=method, headers=headers or bearer, **kw)
        if status is not None:
            assert response.status_code == status, (method, path, response.text)
        check_response(document, method, path.split("?")[0], response)
        return response

    today = event.timestamp.date().isoformat()
    call("GET", "/attendance", status=200)
    call("GET", "/attendance?view=days", status=200)
    call("GET", f"/attendance?from={today}&to={today}&limit=1&offset=1", status=200)
    call("GET", "/attendance?updated_since=2000-01-01T00:00:00Z", status=200)
    call("GET", "/attendance/summary", status=200)
    call("GET", "/attendance/daily", status=200)
    call("GET", f"/attendance/export?from={today}&to={today}&format=csv", status=200)
    call("GET", f"/attendance/export?from={today}&to={today}&format=xlsx", status=200)
    call("GET", f"/attendance/{event.id}", status=200)
    call("PATCH", f"/attendance/{event.id}", json={"memo": "changed"}, status=200)
    edsger = factories.person("Edsger Dijkstra")
    factories.event(edsger, datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc))
    out = call("POST", "/attendance/punches", json={"person_id": edsger.id, "at": "2026-03-02T17:00:00Z",
                                                   "kind": "out", "reason": "forgot"}, status=201).get_json()
    call("PATCH", f"/attendance/punches/{out['id']}", json={"at": "2026-03-02T16:30:00Z", "reason": "gate log"},
         status=200)
    call("POST", "/attendance/punches", json={"person_id": edsger.id, "at": "2026-03-02T07:00:00Z",
                                              "kind": "out", "reason": "x"}, status=409)
    call("POST", "/attendance/punches", json={"person_id": edsger.id, "at": "2026-03-02T07:00:00Z",
                                              "kind": "in"}, status=400)
    call("DELETE", f"/attendance/punches/{out['id']}", json={"reason": "entered twice"}, status=200)
    call("PATCH", "/attendance/punches/999999", json={"kind": "in", "reason": "x"}, status=404)
    call("GET", "/people?q=ada", status=200)
    call("GET", f"/people/{ada.id}", status=200)
    created = call("POST", "/people", json={"name": "Grace Hopper", "external_id": "E-9"}, status=201)
    grace = created.get_json()["id"]
    call("PATCH", f"/people/{grace}", json={"active": False}, status=200)
    call("GET", f"/people/{grace}/deletion", status=200)
    call("DELETE", f"/people/{grace}?reason=test", status=200)
    call("DELETE", f"/attendance/{event.id}", status=200)
    call("GET", "/models", status=200)
    call("GET", "/models/jobs", status=200)
    # errors follow the description too
    call("GET", "/attendance?limit=0", status=400)
    call("GET", "/attendance?updated_since=yesterday", status=400)
    call("GET", "/attendance", headers={"Authorization": "Bearer kt_nothing"}, status=401)
    call("GET", "/attendance", headers=reader, status=403)
    call("GET", f"/attendance/{event.id}", status=404)
    call("GET", "/models/jobs/nope", status=404)
    call("POST", "/people", json={"name": "Ada Lovelace"}, status=409)
    call("PATCH", f"/people/{ada.id}", json={}, status=400)
