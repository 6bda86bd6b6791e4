"""JSON API for attendance (``/api/v1/attendance``...): an API token with ``read:attendance`` (reading)
or ``write:attendance`` (changes), or an administrator's session (CSRF on changes).

- ``GET    /api/v1/attendance?from=&to=&person_id=&group_id=&view=events|days&limit=&offset=&updated_since=``
  events or per-day in/out, a page at a time; ``updated_since``: only what changed (incremental sync,
  ``kiosk.services.attendance_sync``; removed punches are listed there, marked ``removed``)
- ``GET    /api/v1/attendance/hours?from=&to=&group_id=``               hours, late, absent per person (working days)
- ``GET    /api/v1/attendance/summary?month=YYYY-MM``                   monthly summary per person
- ``GET    /api/v1/attendance/daily?from=&to=``                         people present per day
- ``GET    /api/v1/attendance/export?from=&to=&format=csv|xlsx&person_id=``  the file ``kiosk export`` writes
- ``GET    /api/v1/attendance/<id>``                                    one event
- ``PATCH  /api/v1/attendance/<id>``                                    ``{"memo": "..."}`` rewrites the photo's memo
- ``DELETE /api/v1/attendance/<id>``                                    delete the event and its photos

The description of all of this is ``/api/v1/openapi.json`` (``kiosk/web/api/openapi.py``).
Times in answers are ISO 8601 in the site's time zone (``KIOSK_TIMEZONE``), with the
offset, plus ``timestamp_utc``; date filters are local dates (YYYY-MM-DD, inclusive).
"""

from __future__ import annotations

from flask import jsonify, request, url_for

from ... import sitetime
from ...errors import InvalidInput
from ...models import AttendanceEvent
from ...services import attendance, attendance_sync, groups, hours, photos, reports
from ..audit_actor import admin_actor
from ..exports import export_response
from ..forms import form_or_json, memo_text
from ..security import api_access
from . import api_bp

# ---------------------------------------------------------------------------- shared helpers


def event_dict(event: AttendanceEvent) -> dict:
    local = sitetime.to_local(event.timestamp)
    return {
        "id": event.id,
        "person_id": event.person_id,
        "person": event.person.name,
        "kind": event.kind.value,
        "timestamp": local.isoformat(timespec="seconds"),
        "timestamp_utc": event.timestamp.isoformat(timespec="seconds"),
        "date": local.date().isoformat(),
        "time": local.strftime("%H:%M:%S"),
        "kiosk_id": event.kiosk_id,
        "memo": event.memo,
        "happy_score": event.happy_score,
        "identification_score": event.identification_score,
        "photo_url": url_for("admin.event_photo", event_id=event.id) if event.photo_path else None,
        "updated_at": event.updated_at.isoformat(),
        "removed": event.removed,
    }


def day_dict(day: reports.AttendanceDay) -> dict:
    first, out = day.first, day.out_event
    return {
        "date": day.day.isoformat(),
        "person_id": day.person_id,
        "person": day.person_name,
        "time_in": day.time_in.isoformat(timespec="seconds"),
        "time_out": day.time_out.isoformat(timespec="seconds") if day.time_out else None,
        "events": [e.id for e in day.events],
        "in_event_id": first.id,
        "out_event_id": out.id if out is not None else None,
        "identification_score": first.identification_score,
        "happy_score": first.happy_score,
        "photo_url": url_for("admin.event_photo", event_id=day.photo_event.id) if day.photo_event else None,
    }


# ---------------------------------------------------------------------------- routes


@api_bp.get("/attendance")
@api_access("read:attendance")
def attendance_list():
    args = request.args
    since = attendance_sync.parse_since(args.get("updated_since"))
    limit, offset = attendance_sync.parse_paging(args.get("limit"), args.get("offset"))
    person_id = reports.parse_person_id(args.get("person_id"))
    group_id = groups.parse_group_id(args.get("group_id"))
    view = args.get("view", "events")
    if view not in ("events", "days"):
        raise InvalidInput("view is 'events' or 'days'.", code="bad_view")
    if since is not None and view == "days":
        raise InvalidInput("updated_since lists events: use it with view=events.", code="bad_view")
    start = end = None
    if since is None or args.get("from") or args.get("to"):  # a sync without dates reads every date
        start, end = reports.parse_range(args.get("from"), args.get("to"), default_days=1)
    if view == "days":
        page = attendance_sync.page_of(reports.attendance_days(start, end, person_id, group_id), limit,
                                      offset)
        items = [day_dict(d) for d in page.items]
    else:
        page = attendance_sync.events_page(start, end, person_id, since, limit, offset, group_id)
        items = [event_dict(e) for e in page.items]
    answer = {"from": start.isoformat() if start else None, "to": end.isoformat() if end else None,
              "timezone": str(sitetime.site_timezone()), view: items, "total": page.total, "limit": limit,
              "offset": offset, "next_offset": page.next_offset}
    if view == "events":
        answer["updated_until"] = attendance_sync.updated_until(page.items, since)
    return jsonify(answer)


@api_bp.get("/attendance/hours")
@api_access("read:attendance")
def attendance_hours():
    """The period summary per person (the Hours page, ``kiosk report hours``), with the figures the
    command line's JSON leaves out."""
    start, end = reports.parse_range(request.args.get("from"), request.args.get("to"), default_days=7)
    group_id = groups.parse_group_id(request.args.get("group_id"))
    people = [{**s.as_dict(), "group": s.group, "overtime_hours": s.overtime_hours, "early_leaves": s.early_leaves,
               "missing_outs": s.missing_outs} for s in hours.period_summary(start, end, group_id=group_id)]
    return jsonify({"from": start.isoformat(), "to": end.isoformat(), "timezone": str(sitetime.site_timezone()),
                    "people": people})


@api_bp.get("/attendance/summary")
@api_access("read:attendance")
def attendance_summary():
    first_day = reports.parse_month(request.args.get("month"))
    return jsonify(
        {
            "month": first_day.strftime("%Y-%m"),
            "timezone": str(sitetime.site_timezone()),
            "people": [m.as_dict() for m in reports.monthly_summary(first_day)],
        }
    )


@api_bp.get("/attendance/daily")
@api_access("read:attendance")
def attendance_daily():
    start, end = reports.parse_range(request.args.get("from"), request.args.get("to"), default_days=30)
    return jsonify({"days": [{"date": d.isoformat(), "present": n} for d, n in reports.daily_counts(start, end)]})


@api_bp.get("/attendance/export")
@api_access("read:attendance")
def attendance_export():
    start, end = reports.parse_range(request.args.get("from"), request.args.get("to"))
    fmt = reports.parse_format(request.args.get("format"))
    return export_response(start, end, fmt, reports.parse_person_id(request.args.get("person_id")))


@api_bp.get("/attendance/<int:event_id>")
@api_access("read:attendance")
def attendance_get(event_id: int):
    return jsonify(event_dict(attendance.get_event(event_id)))


@api_bp.patch("/attendance/<int:event_id>")
@api_access("write:attendance")
def attendance_update(event_id: int):
    event = attendance.get_event(event_id)
    body = form_or_json()
    if "memo" not in body:
        raise InvalidInput("The field 'memo' is missing.", code="missing_memo", field="memo")
    event = photos.rewrite_memo(event, memo_text(body["memo"]), actor=admin_actor())
    return jsonify(event_dict(event))


@api_bp.delete("/attendance/<int:event_id>")
@api_access("write:attendance")
def attendance_delete(event_id: int):
    attendance.delete_event(attendance.get_event(event_id), actor=admin_actor(), reason=request.args.get("reason"))
    return jsonify({"deleted": event_id})
