"""Hours: the period summary per person, a person's timesheet per working day, and corrections of
punches (add a missed punch, change a time, remove a punch: always with a reason; audit-logged)."""

from __future__ import annotations

from datetime import timedelta

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext

from ... import sitetime
from ...errors import KioskError
from ...extensions import db
from ...services import corrections, groups, hours, reports, schedules
from ...services import people as people_service
from ..audit_actor import admin_actor
from ..console_errors import refusal
from ..exports import hours_export_response
from ..security import admin_required
from . import admin_bp


def _range():
    today = sitetime.local_today()
    start_text = request.args.get("from") or today.replace(day=1).isoformat()
    return reports.parse_range(start_text, request.args.get("to") or today.isoformat())


def _group_id() -> int | None:
    return groups.parse_group_id(request.args.get("group_id"))


@admin_bp.get("/hours")
@admin_required
def hours_page():
    start, end = _range()
    group_id = _group_id()
    return render_template("admin/hours.html", start=start, end=end, group_id=group_id, groups=groups.all_groups(),
                           summary=hours.period_summary(start, end, group_id=group_id))


@admin_bp.get("/hours/export")
@admin_required
def hours_export():
    start, end = _range()
    person_id = reports.parse_person_id(request.args.get("person_id"))
    return hours_export_response(request.args.get("report", "hours"), start, end,
                                 reports.parse_format(request.args.get("format")), _group_id(), person_id)


def _timesheet(person, start, end, *, status: int = 200):
    sheets = hours.day_sheets(start, end, person_id=person.id)
    removed = corrections.removed_punches(person.id, start, end)
    return render_template("admin/timesheet.html", person=person, start=start, end=end, sheets=sheets,
                           removed=removed, total=sum((s.worked for s in sheets), timedelta(0)),
                           groups=groups.all_groups(), weekdays=schedules.WEEKDAYS, clock=schedules.clock,
                           person_week=schedules.load_book([person.id]).owner_week("person", person.id)), status


@admin_bp.get("/hours/person/<int:person_id>")
@admin_required
def timesheet_page(person_id: int):
    person = people_service.get_person(person_id)
    start, end = _range()
    return _timesheet(person, start, end)


def _back(person_id: int):
    return redirect(url_for("admin.timesheet_page", person_id=person_id, **{"from": request.form.get("from", ""),
                                                                            "to": request.form.get("to", "")}), 303)


def _corrected(person, change) -> object:  # noqa: ANN001 - the correction to make
    """Make the correction; a refused one shows the timesheet again with why (and its 4xx)."""
    try:
        change()
    except KioskError as err:
        db.session.rollback()
        flash(refusal(err), "error")
        start, end = reports.parse_range(request.form.get("from") or None, request.form.get("to") or None,
                                         default_days=31)
        return _timesheet(person, start, end, status=err.status)
    flash(gettext("Corrected. The hours below include the change; the audit log has who, when and why."), "success")
    return _back(person.id)


@admin_bp.post("/hours/person/<int:person_id>/punches")
@admin_required
def punch_add(person_id: int):
    person = people_service.get_person(person_id)
    form = request.form
    return _corrected(person, lambda: corrections.add_punch(
        person, corrections.parse_local_time(form.get("at")), corrections.parse_kind(form.get("kind")),
        reason=form.get("reason"), actor=admin_actor()))


@admin_bp.post("/punches/<int:event_id>/change")
@admin_required
def punch_change(event_id: int):
    event = corrections.get_punch(event_id)
    form = request.form

    def change():
        at = corrections.parse_local_time(form.get("at"))
        # The form shows minutes: the same minute is the punch's own time (its seconds kept).
        if at == sitetime.to_local(event.timestamp).replace(second=0, microsecond=0):
            at = event.timestamp
        corrections.change_punch(event, at=at, kind=corrections.parse_kind(form.get("kind")),
                                 reason=form.get("reason"), actor=admin_actor())

    return _corrected(event.person, change)


@admin_bp.post("/punches/<int:event_id>/remove")
@admin_required
def punch_remove(event_id: int):
    event = corrections.get_punch(event_id)
    return _corrected(event.person, lambda: corrections.remove_punch(
        event, reason=request.form.get("reason"), actor=admin_actor()))


@admin_bp.post("/hours/person/<int:person_id>/group")
@admin_required
def person_group(person_id: int):
    person = people_service.get_person(person_id)
    group_id = groups.parse_group_id(request.form.get("group_id"))
    group = groups.get_group(group_id) if group_id is not None else None
    groups.set_person_group(person, group, actor=admin_actor())
    flash(gettext("%(name)s is now in the group %(group)s.", name=person.name, group=group.name) if group else
          gettext("%(name)s is now in no group.", name=person.name), "success")
    return _back(person.id)
