"""Attendance: the day view with filters, a person's view, the export, one check-in (its memo, its
photos, deleting it)."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext

from ... import sitetime
from ...errors import InvalidInput
from ...services import attendance as attendance_service
from ...services import groups, photos, reports
from ...services import people as people_service
from ..audit_actor import admin_actor
from ..exports import export_response
from ..forms import memo_text
from ..security import admin_required
from . import admin_bp
from .stored_files import send_stored


def _filters(default_days: int = 7):
    start, end = reports.parse_range(request.args.get("from"), request.args.get("to"), default_days=default_days)
    person_id = reports.parse_person_id(request.args.get("person_id"))
    return start, end, person_id, groups.parse_group_id(request.args.get("group_id"))


@admin_bp.get("/attendance")
@admin_required
def attendance():
    start, end, person_id, group_id = _filters()
    days = reports.attendance_days(start, end, person_id, group_id)
    grouped: dict = {}
    for day in sorted(days, key=lambda d: (d.day, d.time_in), reverse=False):
        grouped.setdefault(day.day, []).append(day)
    return render_template(
        "admin/attendance.html",
        grouped=sorted(grouped.items(), reverse=True),
        start=start,
        end=end,
        person_id=person_id,
        group_id=group_id,
        groups=groups.all_groups(),
        people=people_service.all_people(),
        total_events=sum(len(d.events) for d in days),
    )


@admin_bp.get("/attendance/person/<int:person_id>")
@admin_required
def attendance_person(person_id: int):
    person = people_service.get_person(person_id)
    start, end = reports.parse_range(request.args.get("from"), request.args.get("to"), default_days=31)
    days = reports.attendance_days(start, end, person.id)
    return render_template(
        "admin/attendance_person.html", person=person, days=list(reversed(days)), start=start, end=end,
        people=people_service.all_people(),
    )


@admin_bp.get("/attendance/export")
@admin_required
def attendance_export():
    start, end, person_id, group_id = _filters()
    fmt = reports.parse_format(request.args.get("format"))
    return export_response(start, end, fmt, person_id, group_id)


@admin_bp.get("/attendance/<int:event_id>")
@admin_required
def event_page(event_id: int):
    event = attendance_service.get_event(event_id)
    return render_template("admin/event.html", event=event, local=sitetime.to_local(event.timestamp))


@admin_bp.post("/attendance/<int:event_id>/memo")
@admin_required
def event_memo(event_id: int):
    event = attendance_service.get_event(event_id)
    if "memo" not in request.form:
        raise InvalidInput("The form has no 'memo' field.", code="missing_memo")
    photos.rewrite_memo(event, memo_text(request.form["memo"]), actor=admin_actor())
    flash(gettext("The memo was saved and redrawn on the photo."), "success")
    return redirect(url_for("admin.event_page", event_id=event.id), 303)


@admin_bp.post("/attendance/<int:event_id>/delete")
@admin_required
def event_delete(event_id: int):
    event = attendance_service.get_event(event_id)
    person_id = event.person_id
    attendance_service.delete_event(event, actor=admin_actor(), reason=request.form.get("reason"))
    flash(gettext("The check-in and its photos were deleted."), "success")
    return redirect(url_for("admin.attendance_person", person_id=person_id), 303)


@admin_bp.get("/attendance/<int:event_id>/photo.png")
@admin_required
def event_photo(event_id: int):
    event = attendance_service.get_event(event_id)
    original = request.args.get("original") == "1"
    relative = event.original_photo_path if original else event.photo_path
    download = request.args.get("download") == "1"
    stamp = sitetime.to_local(event.timestamp).strftime("%Y-%m-%d_%H%M")
    suffix = (relative or "").rsplit(".", 1)[-1].lower() if relative and "." in relative else "png"
    name = f"checkin_{event.id}_{stamp}{'_original' if original else ''}.{suffix}"
    return send_stored(relative, download_name=name if download else None)
