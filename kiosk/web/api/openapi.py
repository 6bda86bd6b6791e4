"""``GET /api/v1/openapi.json``: the OpenAPI 3.1 description of the integration API (attendance,
people, models), public like any API description (it holds no data). tests/test_openapi.py keeps it
true: validated with openapi-spec-validator, real answers checked against it, every ``/api/v1``
route either described here or named in :data:`NOT_DESCRIBED` with its reason; the reliability
suite fuzzes it with Schemathesis.
"""

from __future__ import annotations

from flask import jsonify

from ...services.api_tokens import SCOPES
from ...services.attendance_sync import DEFAULT_LIMIT, MAX_LIMIT
from . import api_bp
from .punches import LARGEST_ID, PUNCH_KINDS

# Routes of /api/v1 that are not part of the integration API, and why.
NOT_DESCRIBED = {
    "/api/v1/kiosk/": "the kiosk browser's own frame API (device tokens, one session per kiosk): docs/frame-api.md",
    "/api/v1/enrollment/check-frame": "the console's live webcam feedback while enrolling",
    "/api/v1/people/<int:person_id>/samples": "enrolling photos from the console (multipart uploads)",
    "/api/v1/people/import/jobs/": "the console's bulk import progress",
    "/api/v1/models/gestures/samples": "the console's gesture recorder",
    "/api/v1/models/<kind>/train": "retraining from the console (minutes of CPU)",
}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(kind: str, **extra) -> dict:
    return {"type": [kind, "null"], **extra}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _query(name: str, description: str, schema: dict, **extra) -> dict:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema, **extra}


def _path_id(name: str, what: str) -> dict:
    return {"name": name, "in": "path", "required": True, "description": f"The {what}'s id.",
            "schema": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}}


ERRORS = {"default": _json(_ref("Error"), "An error: 400 bad input, 401 no or invalid token or session, 403 a "
                           "token without the scope, 404 nothing there, 409 a conflict, 503 warming up or the "
                           "database away (Retry-After).")}
DATE = {"type": "string", "anyOf": [{"format": "date"}, {"const": ""}],
        "description": "YYYY-MM-DD, a local date of the site (empty: the default)."}
PERSON_ID = _query("person_id", "Only this person.", {"type": "integer", "minimum": 1})
GROUP_ID = _query("group_id", "Only the people of this group (department).", {"type": "integer", "minimum": 1})
RANGE = [_query("from", "First local date (default: `to`, or today).", DATE),
         _query("to", "Last local date, inclusive (default: today).", DATE)]


def _op(summary: str, scope: str, responses: dict, *, parameters: list | None = None, body: dict | None = None,
        tag: str = "attendance") -> dict:
    operation = {"summary": summary, "tags": [tag], "security": [{"bearer": [scope]}, {"adminSession": []}],
                 "parameters": parameters or [], "responses": {**responses, **ERRORS}}
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return operation


PUNCH_TIME = {"type": "string", "description": "A local time of the site (2026-03-02T09:00), or with its offset "
                                              "(2026-03-02T08:00:00Z). Not in the future."}
PUNCH_KIND = {"type": "string", "enum": list(PUNCH_KINDS),
              "description": "in or out (check_in, check_out: the same)."}
PUNCH_REASON = {"type": "string", "minLength": 1, "description": "Why (kept with the punch's revision and in the "
                                                                 "audit log); at most 500 characters, not blank."}
CORRECTION_ERRORS = ("400 missing_reason, reason_too_long, bad_time, bad_kind, punch_in_future, no_change; 404 "
                     "unknown_person or no such punch; 409 out_before_in, overlapping_pairs, same_time, "
                     "punch_removed. Nothing is written when refused.")

SCHEMAS = {
    "Error": {"type": "object", "required": ["error", "message"],
              "properties": {"error": {"type": "string"}, "message": {"type": "string"}}},
    "Event": {"type": "object", "additionalProperties": False, "required": [
        "id", "person_id", "person", "kind", "timestamp", "timestamp_utc", "date", "time", "kiosk_id", "memo",
        "happy_score", "identification_score", "photo_url", "updated_at", "removed"], "properties": {
        "id": {"type": "integer"}, "person_id": {"type": "integer"}, "person": {"type": "string"},
        "kind": {"type": "string", "enum": ["check_in", "check_out"]},
        "timestamp": {"type": "string", "format": "date-time", "description": "Site time zone, with offset."},
        "timestamp_utc": {"type": "string", "format": "date-time"},
        "date": {"type": "string", "format": "date"}, "time": {"type": "string", "pattern": "^\\d\\d:\\d\\d:\\d\\d$"},
        "kiosk_id": {"type": "string"}, "memo": _nullable("string"),
        "happy_score": _nullable("number"), "identification_score": _nullable("number"),
        "photo_url": _nullable("string", description="The check-in photo on the console (admin session only)."),
        "updated_at": {"type": "string", "format": "date-time", "description": "Last change (UTC)."},
        "removed": {"type": "boolean",
                    "description": "A correction removed this punch (listed only to an updated_since sync)."}}},
    "HoursPeriod": {"type": "object", "required": ["from", "to", "timezone", "people"], "properties": {
        "from": {"type": "string", "format": "date"}, "to": {"type": "string", "format": "date"},
        "timezone": {"type": "string"},
        "people": {"type": "array", "items": {"type": "object", "additionalProperties": False, "required": [
            "person", "days", "hours", "late", "absent", "group", "overtime_hours", "early_leaves", "missing_outs"],
            "properties": {
                "person": {"type": "string"}, "days": {"type": "integer"},
                "hours": {"type": "number", "description": "Worked hours (sum of in/out pairs)."},
                "late": {"type": "integer"}, "absent": {"type": "integer"}, "group": _nullable("string"),
                "overtime_hours": {"type": "number"}, "early_leaves": {"type": "integer"},
                "missing_outs": {"type": "integer",
                                 "description": "Working days with an in and no out (flagged)."}}}}}},
    "Day": {"type": "object", "additionalProperties": False, "required": [
        "date", "person_id", "person", "time_in", "time_out", "events", "in_event_id", "out_event_id",
        "identification_score", "happy_score", "photo_url"], "properties": {
        "date": {"type": "string", "format": "date"}, "person_id": {"type": "integer"}, "person": {"type": "string"},
        "time_in": {"type": "string"}, "time_out": _nullable("string"),
        "events": {"type": "array", "items": {"type": "integer"}}, "in_event_id": {"type": "integer"},
        "out_event_id": _nullable("integer"), "identification_score": _nullable("number"),
        "happy_score": _nullable("number"), "photo_url": _nullable("string")}},
    "AttendancePage": {"type": "object", "required": ["from", "to", "timezone", "total", "limit", "offset",
                                                      "next_offset"], "properties": {
        "from": _nullable("string", format="date"), "to": _nullable("string", format="date"),
        "timezone": {"type": "string"}, "events": {"type": "array", "items": _ref("Event")},
        "days": {"type": "array", "items": _ref("Day")}, "total": {"type": "integer", "minimum": 0},
        "limit": {"type": "integer"}, "offset": {"type": "integer"},
        "next_offset": _nullable("integer", description="The next page's offset; null on the last page."),
        "updated_until": _nullable("string", format="date-time",
                                   description="Send as updated_since next time (view=events).")}},
    "MonthSummary": {"type": "object", "required": ["month", "timezone", "people"], "properties": {
        "month": {"type": "string", "pattern": "^\\d{4}-(0[1-9]|1[0-2])$"}, "timezone": {"type": "string"},
        "people": {"type": "array", "items": {"type": "object", "required": ["person_id", "name", "days_present"],
                                              "properties": {"person_id": {"type": "integer"},
                                                             "name": {"type": "string"},
                                                             "external_id": _nullable("string"),
                                                             "days_present": {"type": "integer"}}}}}},
    "DailyCounts": {"type": "object", "required": ["days"], "properties": {"days": {"type": "array", "items": {
        "type": "object", "required": ["date", "present"],
        "properties": {"date": {"type": "string", "format": "date"}, "present": {"type": "integer"}}}}}},
    "PersonSummary": {"type": "object", "required": ["id", "name", "external_id", "active", "samples", "events",
                                                     "created_at", "learned_samples"], "properties": {
        "id": {"type": "integer"}, "name": {"type": "string"}, "external_id": _nullable("string"),
        "active": {"type": "boolean"}, "samples": {"type": "integer"}, "events": {"type": "integer"},
        "created_at": {"type": "string", "format": "date-time"}, "learned_samples": {"type": "integer"}}},
    "Person": {"type": "object", "required": ["id", "name", "external_id", "active", "created_at", "samples",
                                              "learned_samples", "events"], "properties": {
        "id": {"type": "integer"}, "name": {"type": "string"}, "external_id": _nullable("string"),
        "active": {"type": "boolean"}, "created_at": {"type": "string", "format": "date-time"},
        "samples": {"type": "integer"}, "learned_samples": {"type": "integer"}, "events": {"type": "integer"},
        "url": {"type": "string"}, "face_samples": {"type": "array", "items": {"type": "object"}}}},
    "NewPerson": {"type": "object", "required": ["name"], "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 120},
        "external_id": _nullable("string", maxLength=64)}},
    "PersonChange": {"type": "object", "minProperties": 1, "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 120}, "active": {"type": "boolean"},
        "reason": {"type": "string"}}},
    "Deletion": {"type": "object", "required": ["name", "samples", "events", "files"], "properties": {
        "name": {"type": "string"}, "samples": {"type": "integer"}, "events": {"type": "integer"},
        "files": {"type": "integer"}}},
    "NewPunch": {"type": "object", "required": ["person_id", "at", "kind", "reason"], "properties": {
        "person_id": {"type": "integer", "minimum": 1, "maximum": LARGEST_ID},
        "at": PUNCH_TIME, "kind": PUNCH_KIND, "reason": PUNCH_REASON}},
    "PunchChange": {"type": "object", "required": ["reason"], "properties": {
        "at": PUNCH_TIME, "kind": PUNCH_KIND, "reason": PUNCH_REASON}},
    "PunchRemoval": {"type": "object", "required": ["reason"], "properties": {"reason": PUNCH_REASON}},
    "Job": {"type": "object", "required": ["id", "kind", "state"], "properties": {
        "id": {"type": "string"}, "kind": {"type": "string"}, "state": {"type": "string"}}},
}

EVENT_ID = _path_id("event_id", "attendance event")
PERSON = _path_id("person_id", "person")
EXPORT_FILE = {"description": "The file `kiosk export` writes.", "content": {
    "text/csv": {"schema": {"type": "string"}},
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {"schema": {"type": "string",
                                                                                     "format": "binary"}}}}

PATHS = {
    "/attendance": {"get": _op("Attendance events or per-day in/out, a page at a time; incremental sync",
                               "read:attendance", {"200": _json(_ref("AttendancePage"), "A page.")}, parameters=[
        *RANGE, PERSON_ID, GROUP_ID,
        _query("view", "events (default) or days (first in, last out per person and working day: a night shift "
               "is one day).",
               {"type": "string", "enum": ["events", "days"]}),
        _query("limit", f"Page size (default {DEFAULT_LIMIT}).", {"type": "integer", "minimum": 1,
                                                                  "maximum": MAX_LIMIT}),
        _query("offset", "Items to skip (the previous answer's next_offset).", {"type": "integer", "minimum": 0,
                                                                               "maximum": 10**9}),
        _query("updated_since", "Only events recorded or changed after this instant (ISO 8601 with offset); "
               "without from/to: every date. With view=events.",
               {"type": "string", "anyOf": [{"format": "date-time"}, {"const": ""}]})])},
    "/attendance/hours": {"get": _op("Hours per person over a period (working days): what payroll reads",
                                     "read:attendance", {"200": _json(_ref("HoursPeriod"), "The period.")},
                                     parameters=[*RANGE, GROUP_ID])},
    "/attendance/summary": {"get": _op("Monthly summary per person", "read:attendance",
                                       {"200": _json(_ref("MonthSummary"), "The month.")}, parameters=[
        _query("month", "YYYY-MM (empty: this month).",
               {"type": "string", "pattern": "^(\\d{4}-(0[1-9]|1[0-2]))?$"})])},
    "/attendance/daily": {"get": _op("People present per day", "read:attendance",
                                     {"200": _json(_ref("DailyCounts"), "One entry per day.")}, parameters=RANGE)},
    "/attendance/export": {"get": _op("CSV or XLSX export", "read:attendance", {"200": EXPORT_FILE}, parameters=[
        {**RANGE[0], "required": True}, {**RANGE[1], "required": True}, PERSON_ID,
        {**_query("format", "csv or xlsx.", {"type": "string", "enum": ["csv", "xlsx"]}), "required": True}])},
    "/attendance/{event_id}": {
        "parameters": [EVENT_ID],
        "get": _op("One event", "read:attendance", {"200": _json(_ref("Event"), "The event.")}),
        "patch": _op("Rewrite the photo's memo", "write:attendance", {"200": _json(_ref("Event"), "Changed.")},
                     body={"type": "object", "required": ["memo"],
                           "properties": {"memo": _nullable("string", description="null or empty: no memo.")}}),
        "delete": _op("Delete the event and its photos", "write:attendance", {"200": _json(
            {"type": "object", "required": ["deleted"], "properties": {"deleted": {"type": "integer"}}}, "Gone.")},
            parameters=[_query("reason", "Kept in the audit log.", {"type": "string"})])},
    "/attendance/punches": {"post": _op(
        "Add a missed punch (a correction: audit-logged, sent as a correction webhook). " + CORRECTION_ERRORS,
        "write:attendance", {"201": _json(_ref("Event"), "The punch added.")}, body=_ref("NewPunch"))},
    "/attendance/punches/{event_id}": {
        "parameters": [EVENT_ID],
        "patch": _op("Change a punch's time and/or kind (a correction). " + CORRECTION_ERRORS, "write:attendance",
                     {"200": _json(_ref("Event"), "The punch as it is now.")}, body=_ref("PunchChange")),
        "delete": _op("Remove a punch: it stays, marked removed, and counts nowhere (a correction). "
                      + CORRECTION_ERRORS, "write:attendance",
                      {"200": _json(_ref("Event"), "The punch, removed.")}, body=_ref("PunchRemoval"))},
    "/people": {
        "get": _op("People with their counts", "read:people", {"200": _json(
            {"type": "object", "required": ["people"],
             "properties": {"people": {"type": "array", "items": _ref("PersonSummary")}}}, "Everyone.")},
            parameters=[_query("q", "Search in names and external ids.", {"type": "string"})],
            tag="people"),
        "post": _op("Add a person (photos are enrolled on the console)", "admin",
                    {"201": _json(_ref("Person"), "Created.")}, body=_ref("NewPerson"), tag="people")},
    "/people/{person_id}": {
        "parameters": [PERSON],
        "get": _op("One person", "read:people", {"200": _json(_ref("Person"), "The person.")}, tag="people"),
        "patch": _op("Rename, activate or deactivate", "admin", {"200": _json(_ref("Person"), "Changed.")},
                     body=_ref("PersonChange"), tag="people"),
        "delete": _op("Delete with their face data, events and photos", "admin", {"200": _json(
            {"type": "object", "required": ["deleted"], "properties": {"deleted": _ref("Deletion")}}, "Gone.")},
            parameters=[_query("reason", "Kept in the audit log.", {"type": "string"})],
            tag="people")},
    "/people/{person_id}/deletion": {"parameters": [PERSON], "get": _op(
        "What deleting would remove", "admin", {"200": _json({"type": "object", "required": ["name", "events"]},
                                                             "Counts.")}, tag="people")},
    "/models": {"get": _op("The face and gesture models and their latest retraining", "admin", {"200": _json(
        {"type": "object", "required": ["faces", "gestures", "jobs"]}, "Model facts.")}, tag="models")},
    "/models/jobs": {"get": _op("Retraining jobs", "admin", {"200": _json(
        {"type": "object", "required": ["jobs"], "properties": {"jobs": {"type": "array", "items": _ref("Job")}}},
        "Jobs.")}, tag="models")},
    "/models/jobs/{job_id}": {"get": _op("One retraining job", "admin", {"200": _json(_ref("Job"), "The job.")},
                                         parameters=[{"name": "job_id", "in": "path", "required": True,
                                                      "schema": {"type": "string", "maxLength": 64}}],
                                         tag="models")},
}

SCOPE_TEXT = {"read:attendance": "read attendance", "read:people": "read people",
              "write:attendance": "change and delete attendance records, correct punches",
              "admin": "everything an administrator may do on /api/v1"}

DOCUMENT = {
    "openapi": "3.1.0",
    "info": {"title": "Attendance kiosk API", "version": "1",
             "description": "Attendance and people for other systems. Authenticate with an API token "
                            "(`Authorization: Bearer`, created with `kiosk tokens create` or on the console) or an "
                            "administrator's session (cookie + X-CSRFToken on changes). "
                            "Webhooks: docs/integrations.md."},
    "servers": [{"url": "/api/v1"}],
    "security": [{"bearer": []}, {"adminSession": []}],
    "paths": PATHS,
    "components": {
        "schemas": SCHEMAS,
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "description": "An API token; its scopes: " + "; ".join(
                f"{scope}: {SCOPE_TEXT[scope]}" for scope in SCOPES)},
            "adminSession": {"type": "apiKey", "in": "cookie", "name": "session",
                             "description": "A signed-in administrator's console session."}}},
}


@api_bp.get("/openapi.json")
def openapi_description():
    return jsonify(DOCUMENT)
