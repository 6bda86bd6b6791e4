"""Site settings: the attendance rules (repeat rule, minimum gap, rounding), weekly schedules (the
site's, a group's), holidays and groups. Every change is checked by its service and audit-logged;
the environment variables stay the defaults of the rules nobody has set here."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext

from ...errors import InvalidInput, KioskError
from ...extensions import db
from ...services import groups, schedules, site_settings
from ...services import people as people_service
from ..audit_actor import admin_actor
from ..console_errors import refusal
from ..security import admin_required
from . import admin_bp


def _page(status: int = 200):
    book = schedules.load_book()
    return render_template(
        "admin/settings.html", rules=site_settings.RULES, values=site_settings.current(),
        overridden=site_settings.overridden(), env=current_app.config, weekdays=schedules.WEEKDAYS,
        site_week=book.owner_week("site", None), groups=groups.all_groups(),
        group_weeks={g.id: book.owner_week("group", g.id) for g in groups.all_groups()},
        holidays=schedules.holidays(), clock=schedules.clock, choice_label=site_settings.choice_label,
    ), status


def _saved(change, message: str, back: str | None = None):  # noqa: ANN001 - the change to make
    try:
        change()
    except KioskError as err:
        db.session.rollback()
        flash(refusal(err), "error")
        return _page(err.status)
    flash(message, "success")
    return redirect(back or url_for("admin.settings_page"), 303)


@admin_bp.get("/settings")
@admin_required
def settings_page():
    return _page()


@admin_bp.post("/settings/rules")
@admin_required
def settings_rules():
    values = {key: request.form[key] for key in site_settings.RULES if key in request.form}
    return _saved(lambda: site_settings.change(values, actor=admin_actor(), reason=request.form.get("reason")),
                  gettext("The rules were saved."))


def _week_from_form() -> dict[int, schedules.ShiftTimes]:
    week = {}
    for day, name in enumerate(schedules.WEEKDAYS):
        start, end = request.form.get(f"start_{day}", "").strip(), request.form.get(f"end_{day}", "").strip()
        if not start and not end:
            continue  # a day off
        week[day] = schedules.shift_times(start, end, overnight=request.form.get(f"overnight_{day}") == "1",
                                          grace=request.form.get(f"grace_{day}", "0"), weekday=name)
    return week


@admin_bp.post("/settings/schedule")
@admin_required
def settings_schedule():
    owner = request.form.get("owner", "site")

    def change():
        person = group = None
        if owner.startswith("group:") and owner[6:].isdigit():
            group = groups.get_group(int(owner[6:]))
        elif owner.startswith("person:") and owner[7:].isdigit():
            person = people_service.get_person(int(owner[7:]))
        elif owner != "site":
            raise InvalidInput("Choose whose schedule this is.", code="bad_owner")
        schedules.set_week(_week_from_form(), person=person, group=group, actor=admin_actor(),
                           reason=request.form.get("reason"))

    back = url_for("admin.timesheet_page", person_id=int(owner[7:])) if owner.startswith("person:") and \
        owner[7:].isdigit() else None
    return _saved(change, gettext("The schedule was saved."), back)


@admin_bp.post("/settings/holidays")
@admin_required
def settings_holiday_add():
    return _saved(lambda: schedules.add_holiday(request.form.get("day"), request.form.get("name"),
                                                actor=admin_actor()), gettext("The holiday was added."))


@admin_bp.post("/settings/holidays/<int:holiday_id>/delete")
@admin_required
def settings_holiday_remove(holiday_id: int):
    return _saved(lambda: schedules.remove_holiday(holiday_id, actor=admin_actor()),
                  gettext("The holiday was removed."))


@admin_bp.post("/settings/groups")
@admin_required
def settings_group_add():
    return _saved(lambda: groups.create_group(request.form.get("name"), actor=admin_actor()),
                  gettext("The group was added."))


@admin_bp.post("/settings/groups/<int:group_id>/delete")
@admin_required
def settings_group_remove(group_id: int):
    return _saved(lambda: groups.delete_group(groups.get_group(group_id), actor=admin_actor()),
                  gettext("The group was removed; its people have no group now."))
