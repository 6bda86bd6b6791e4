"""JSON API for corrections of punches (``/api/v1/attendance/punches``): what an administrator does
on a person's timesheet, for another system (an HR tool, a door log). An API token with
``write:attendance``, or an administrator's session (CSRF). Every change goes through
``kiosk.services.corrections`` like the console's, so it is refused for the same reasons, kept as
a revision, written to the audit log (actor ``token:<name>``) and sent as a ``correction`` webhook.

- ``POST   /api/v1/attendance/punches``         ``{"person_id", "at", "kind", "reason"}``: a missed punch (201)
- ``PATCH  /api/v1/attendance/punches/<id>``    ``{"at"?, "kind"?, "reason"}``: a new time and/or kind
- ``DELETE /api/v1/attendance/punches/<id>``    ``{"reason"}``: the punch stays, marked removed, and counts nowhere

``at`` is a local time of the site (``2026-03-02T09:00``) or carries its offset; ``kind`` is
``in``/``out`` (or ``check_in``/``check_out``, as events are listed). Fields are checked strictly
(a number where text belongs is refused, not read as text): an integration's mistake should
surface, not be guessed at.
"""

from __future__ import annotations

from flask import jsonify

from ...errors import InvalidInput, NotFound
from ...extensions import db
from ...models import AttendanceEvent, EventKind, Person
from ...services import corrections
from ..audit_actor import admin_actor
from ..forms import form_or_json
from ..security import api_access
from . import api_bp
from .attendance import event_dict

# The kinds a request may send: the command line's words and the events' own.
PUNCH_KINDS = ("in", "out", "check_in", "check_out")
LARGEST_ID = 2**63 - 1  # the databases' integer ids


def _text(body: dict, field: str, *, required: bool) -> str | None:
    value = body.get(field)
    if value is None and field not in body and not required:
        return None
    if not isinstance(value, str):
        missing = value is None and field not in body
        raise InvalidInput(f"The field '{field}' is missing." if missing else f"'{field}' must be text.",
                           code=f"missing_{field}" if missing else f"bad_{field}", field=field)
    return value


def _kind(body: dict, *, required: bool) -> EventKind | None:
    text = _text(body, "kind", required=required)
    if text is None:
        return None
    if text not in PUNCH_KINDS:
        raise InvalidInput(f"The kind {text!r} is none of {', '.join(PUNCH_KINDS)}.", code="bad_kind", field="kind")
    return corrections.parse_kind(text)


def _reason(body: dict) -> str:
    reason = body.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise InvalidInput("'reason' must be text.", code="bad_reason", field="reason")
    return reason  # the service refuses a missing or blank one (missing_reason)


def _person(body: dict) -> Person:
    person_id = body.get("person_id")
    if person_id is None:
        raise InvalidInput("The field 'person_id' is missing.", code="missing_person_id", field="person_id")
    if isinstance(person_id, bool) or not isinstance(person_id, int) or not 1 <= person_id <= LARGEST_ID:
        raise InvalidInput("'person_id' must be a whole number, a person's id.", code="bad_person_id",
                           field="person_id")
    person = db.session.get(Person, person_id)
    if person is None:
        raise NotFound(f"There is no person with the id {person_id}.", code="unknown_person", field="person_id")
    return person


def _punch(event_id: int) -> AttendanceEvent:
    if event_id > LARGEST_ID:
        raise NotFound("No such punch.")
    return corrections.get_punch(event_id)


@api_bp.post("/attendance/punches")
@api_access("write:attendance")
def punch_add():
    body = form_or_json()
    person = _person(body)
    kind = _kind(body, required=True)
    at = corrections.parse_local_time(_text(body, "at", required=True))
    event = corrections.add_punch(person, at, kind, reason=_reason(body), actor=admin_actor())
    return jsonify(event_dict(event)), 201


@api_bp.patch("/attendance/punches/<int:event_id>")
@api_access("write:attendance")
def punch_change(event_id: int):
    event = _punch(event_id)
    body = form_or_json()
    kind = _kind(body, required=False)
    at_text = _text(body, "at", required=False)
    at = corrections.parse_local_time(at_text) if at_text is not None else None
    event = corrections.change_punch(event, at=at, kind=kind, reason=_reason(body), actor=admin_actor())
    return jsonify(event_dict(event))


@api_bp.delete("/attendance/punches/<int:event_id>")
@api_access("write:attendance")
def punch_remove(event_id: int):
    event = _punch(event_id)
    event = corrections.remove_punch(event, reason=_reason(form_or_json()), actor=admin_actor())
    return jsonify(event_dict(event))
