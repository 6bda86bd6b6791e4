"""Groups (departments) of people: a filter in the reports and the console, and the weekly schedule
a person follows when they have none of their own (kiosk.services.schedules).

Group names are cleaned and compared like people's names (``kiosk.names``): "Kitchen" and
"kitchen" are one group. Errors: ``InvalidInput`` (a bad name), ``Conflict`` ``group_exists``,
``NotFound``.
"""

from __future__ import annotations

from sqlalchemy import select

from .. import names
from ..errors import Conflict, InvalidInput, NotFound
from ..extensions import db
from ..models import Person, PersonGroup
from . import audit
from .audit_actions import GROUP_CREATED, GROUP_DELETED, PERSON_GROUP_CHANGED

MAX_GROUP_NAME = 80


def _clean(name: object) -> str:
    return names.clean_text(name, "A group name", max_length=MAX_GROUP_NAME, code="bad_group_name",
                            too_long_code="bad_group_name")


def all_groups() -> list[PersonGroup]:
    return sorted(db.session.scalars(select(PersonGroup)), key=lambda g: g.name.lower())


def group_of_people() -> dict[int, str]:
    """Person id -> their group's name (people without a group are not in it)."""
    rows = db.session.execute(select(Person.id, PersonGroup.name).join(PersonGroup, Person.group_id == PersonGroup.id))
    return {row.id: row.name for row in rows}


def find_group(name: str) -> PersonGroup | None:
    key = names.name_key(_clean(name)) if str(name or "").strip() else ""
    return db.session.scalar(select(PersonGroup).where(PersonGroup.name_key == key))


def group_named(name: str) -> PersonGroup:
    group = find_group(name)
    if group is None:
        raise NotFound(f"There is no group {name!r}.")
    return group


def get_group(group_id: int) -> PersonGroup:
    group = db.session.get(PersonGroup, group_id)
    if group is None:
        raise NotFound("No such group.")
    return group


def parse_group_id(value: str | int | None) -> int | None:
    """A group filter from a form or a URL: None when empty; InvalidInput or NotFound otherwise."""
    if value in (None, ""):
        return None
    text = str(value).strip()
    if not text.isdigit() or len(text) > 18:
        raise InvalidInput(f"The group id {value!r} is not a number.", code="bad_group")
    return get_group(int(text)).id


def create_group(name: str, *, actor: audit.Actor | str | None) -> PersonGroup:
    clean = _clean(name)
    if not clean:
        raise InvalidInput("A group needs a name.", code="bad_group_name")
    if find_group(clean) is not None:
        raise Conflict(f"There is already a group {clean!r}.", code="group_exists", name=clean)
    group = PersonGroup(name=clean)
    db.session.add(group)
    db.session.flush()
    audit.record(GROUP_CREATED, audit.Target("group", group.id, clean), actor=actor, after={"name": clean})
    db.session.commit()
    return group


def delete_group(group: PersonGroup, *, actor: audit.Actor | str | None) -> None:
    """Its members keep working without a group; its weekly schedule goes with it."""
    members = db.session.scalars(select(Person.name).where(Person.group_id == group.id)).all()
    audit.record(GROUP_DELETED, audit.Target("group", group.id, group.name), actor=actor,
                 before={"name": group.name, "members": sorted(members)})
    db.session.delete(group)
    db.session.commit()


def set_person_group(person: Person, group: PersonGroup | None, *, actor: audit.Actor | str | None) -> None:
    if person.group_id == (group.id if group else None):
        return
    old = db.session.get(PersonGroup, person.group_id) if person.group_id else None
    audit.record(PERSON_GROUP_CHANGED, audit.person_target(person), actor=actor,
                 before={"group": old.name if old else None}, after={"group": group.name if group else None})
    person.group_id = group.id if group else None
    db.session.commit()
