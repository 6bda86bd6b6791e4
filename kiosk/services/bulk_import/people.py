"""Who each photo of an import belongs to: the source's names and external ids, resolved to people.

A person is matched by external id first, then by name; one not found is created by the run at
their first accepted photo (:mod:`.run`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from ...errors import KioskError
from ...extensions import db
from ...models import Person
from .. import people as people_service
from ..import_sources import SourcePhoto

MAX_EXTERNAL_ID = 64


class Refusal(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Who:
    """The person a photo is for: existing (``person``) or to create at their first accepted photo."""

    name: str
    external_id: str | None
    person: Person | None
    note: str | None = None  # a warning for the photo's line (listed under another name)


class SourcePeople:
    """Resolves the source's names and external ids to people: one :class:`Who` per person, however
    the rows name them (an external id is matched first, then the name)."""

    def __init__(self) -> None:
        self._by_name: dict[str, Who] = {}
        self._by_external_id: dict[str, Who] = {}

    def resolve(self, photo: SourcePhoto) -> Who:
        try:
            name = people_service.clean_name(photo.person)
        except KioskError as err:
            raise Refusal(err.code, f"{err} (the person's name in the import)") from err
        external_id = (photo.external_id or "").strip() or None
        if external_id is not None and len(external_id) > MAX_EXTERNAL_ID:
            raise Refusal("invalid_external_id", f"An external id is at most {MAX_EXTERNAL_ID} characters.")
        if external_id is not None:
            who = self._by_external_id.get(external_id) or self._find_by_external_id(external_id)
            if who is not None:
                if who.name.casefold() != name.casefold() and who.note is None:
                    who.note = f"Listed as {name}; enrolled as {who.name}, who has the same external id {external_id}."
                return who
        who = self._by_name.get(name.casefold())
        if who is None:
            person = people_service.find_person(name)
            who = Who(person.name if person else name, person.external_id if person else None, person)
            self._by_name[name.casefold()] = who
        if external_id is not None:
            if who.external_id is not None and who.external_id != external_id:
                raise Refusal(
                    "external_id_mismatch",
                    f"{who.name} has external id {who.external_id}, but this row gives {external_id}: correct the "
                    "import or the person's record.",
                )
            who.external_id = external_id  # an existing person without one gets it with their next photo
            self._by_external_id[external_id] = who
        return who

    def _find_by_external_id(self, external_id: str) -> Who | None:
        person = db.session.scalar(select(Person).where(Person.external_id == external_id))
        if person is None:
            return None
        who = self._by_name.setdefault(person.name.casefold(), Who(person.name, external_id, person))
        self._by_external_id[external_id] = who
        return who
