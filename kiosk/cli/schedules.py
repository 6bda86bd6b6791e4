"""``kiosk schedule``, ``kiosk holiday``, ``kiosk group``: the Settings page's schedules, holidays
and groups on the command line (the same services: checked, audit-logged). Bad input (a schedule
that ends before it starts, a day that is not a weekday, a taken group name) exits with status 2
and writes nothing.
"""

from __future__ import annotations

import json

import click
from flask import Flask

from ..errors import KioskError
from ..services import audit, groups, schedules

DAY_NAMES = {name[:3].lower(): index for index, name in enumerate(schedules.WEEKDAYS)}


def parse_days(text: str) -> list[int]:
    """``mon-fri``, ``sat,sun``, ``mon,wed-fri`` as weekday numbers (Monday 0)."""
    days: list[int] = []
    for part in text.lower().replace(" ", "").split(","):
        first, _, last = part.partition("-")
        if first not in DAY_NAMES or (last and last not in DAY_NAMES):
            raise click.UsageError(f"{part!r} is not a weekday or a range of them (mon, tue, ..., sun; mon-fri).")
        start, end = DAY_NAMES[first], DAY_NAMES[last or first]
        if end < start:
            raise click.UsageError(f"The range {part!r} runs backwards: write it from Monday towards Sunday.")
        days.extend(d for d in range(start, end + 1) if d not in days)
    return days


def _owner(person_name: str | None, group_name: str | None):  # noqa: ANN202
    from ..services.people import find_person

    if person_name and group_name:
        raise click.UsageError("Give --person or --group, not both.")
    if person_name:
        person = find_person(person_name)
        if person is None:
            raise click.UsageError(f"There is no person named {person_name!r}.")
        return person, None
    return None, groups.group_named(group_name) if group_name else None


@click.group("schedule")
def schedule_group() -> None:
    """Weekly schedules of the site, a group or a person (late, absent and overtime come from them)."""


@schedule_group.command("set")
@click.option("--person", "person_name", default=None, help="A person's own week.")
@click.option("--group", "group_name", default=None, help="A group's week (without either: the site's).")
@click.option("--days", required=True, help="Weekdays: mon-fri, sat,sun, ...")
@click.option("--start", default=None, metavar="HH:MM")
@click.option("--end", default=None, metavar="HH:MM")
@click.option("--overnight", is_flag=True, help="The shift ends the next day (a night shift).")
@click.option("--grace", default=0, type=int, show_default=True, help="Minutes after the start that are not late.")
@click.option("--off", is_flag=True, help="Make these days days off.")
@click.option("--reason", default=None)
def schedule_set(person_name, group_name, days, start, end, overnight, grace, off, reason) -> None:  # noqa: ANN001
    """Set some weekdays of a week (the other days stay as they are)."""
    try:
        person, group = _owner(person_name, group_name)
        kind, owner_id = ("person", person.id) if person else ("group", group.id) if group else ("site", None)
        week = dict(schedules.load_book().owner_week(kind, owner_id))
        for day in parse_days(days):
            if off:
                week.pop(day, None)
            elif not start or not end:
                raise click.UsageError("Give --start and --end (or --off for days off).")
            else:
                week[day] = schedules.shift_times(start, end, overnight=overnight, grace=grace,
                                                  weekday=schedules.WEEKDAYS[day])
        schedules.set_week(week, person=person, group=group, actor=audit.cli_actor(), reason=reason)
    except KioskError as err:
        raise click.UsageError(str(err)) from err
    click.echo(json.dumps(schedules.week_facts(week), ensure_ascii=False))


@schedule_group.command("show")
@click.option("--person", "person_name", default=None)
@click.option("--group", "group_name", default=None)
def schedule_show(person_name, group_name) -> None:  # noqa: ANN001
    """The week as JSON (weekday: start, end, overnight, grace); a person's is the one that applies."""
    try:
        person, group = _owner(person_name, group_name)
    except KioskError as err:
        raise click.UsageError(str(err)) from err
    book = schedules.load_book()
    week = book.week(person.id) if person else book.owner_week("group", group.id) if group else \
        book.owner_week("site", None)
    click.echo(json.dumps(schedules.week_facts(week), ensure_ascii=False))


@click.group("holiday")
def holiday_group() -> None:
    """The site's holidays: nobody is late or absent on them."""


@holiday_group.command("add")
@click.argument("day", metavar="YYYY-MM-DD")
@click.argument("name")
def holiday_add(day: str, name: str) -> None:
    try:
        schedules.add_holiday(day, name, actor=audit.cli_actor())
    except KioskError as err:
        raise click.UsageError(str(err)) from err


@holiday_group.command("list")
def holiday_list() -> None:
    for holiday in schedules.holidays():
        click.echo(f"{holiday.day.isoformat()}  {holiday.name}")


@holiday_group.command("remove")
@click.argument("day", metavar="YYYY-MM-DD")
def holiday_remove(day: str) -> None:
    match = [h for h in schedules.holidays() if h.day.isoformat() == day.strip()]
    if not match:
        raise click.UsageError(f"{day} is not a holiday.")
    schedules.remove_holiday(match[0].id, actor=audit.cli_actor())


@click.group("group")
def group_group() -> None:
    """Groups (departments) of people."""


@group_group.command("add")
@click.argument("name")
def group_add(name: str) -> None:
    try:
        groups.create_group(name, actor=audit.cli_actor())
    except KioskError as err:
        raise click.UsageError(str(err)) from err


@group_group.command("list")
def group_list() -> None:
    for group in groups.all_groups():
        click.echo(group.name)


@group_group.command("assign")
@click.argument("person_name", metavar="PERSON")
@click.argument("group_name", metavar="GROUP", required=False)
def group_assign(person_name: str, group_name: str | None) -> None:
    """Put PERSON in GROUP (without GROUP: in no group)."""
    try:
        person, _ = _owner(person_name, None)
        groups.set_person_group(person, groups.group_named(group_name) if group_name else None,
                                actor=audit.cli_actor())
    except KioskError as err:
        raise click.UsageError(str(err)) from err


def register(app: Flask) -> None:
    for command in (schedule_group, holiday_group, group_group):
        app.cli.add_command(command)
