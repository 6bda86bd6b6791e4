"""People: create, find, rename, deactivate, delete (a person, or one enrollment photo).

Deleting a person is a privacy operation: their face samples (crops and embeddings),
attendance events and photos all go. Rows are deleted first, in one transaction; files
are removed after the commit, so a failure can leave a stray file (logged by count, never
by name) but never a row pointing at a missing file.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import func, select

from .. import storage
from ..errors import Conflict, InvalidInput, NotFound
from ..extensions import db
from ..models import AttendanceEvent, FaceSample, Person

log = logging.getLogger(__name__)

MAX_NAME_LENGTH = 120


def clean_name(name: str) -> str:
    if name is not None and not isinstance(name, str):
        # JSON may carry a list, a number or NaN where a name belongs: refuse, never str() it.
        raise InvalidInput("A name must be text.", code="invalid_name")
    name = " ".join((name or "").split())
    if not name:
        raise InvalidInput("A person needs a name.", code="missing_name")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(f"A name is at most {MAX_NAME_LENGTH} characters.", code="name_too_long")
    return name


def find_person(name: str) -> Person | None:
    return db.session.scalar(select(Person).where(func.lower(Person.name) == clean_name(name).lower()))


def get_person(person_id: int) -> Person:
    person = db.session.get(Person, person_id)
    if person is None:
        raise NotFound("No such person.")
    return person


def get_person_by_name(name: str) -> Person:
    person = find_person(name)
    if person is None:
        raise NotFound(f"No person named {clean_name(name)!r}.")
    return person


def create_person(name: str, external_id: str | None = None, *, commit: bool = True) -> Person:
    """Create a person. Raises InvalidInput (blank/too long name) or Conflict (name or id taken)."""
    name = clean_name(name)
    if find_person(name) is not None:
        raise Conflict(f"A person named {name!r} already exists.", code="name_taken")
    if external_id is not None and not isinstance(external_id, str):
        raise InvalidInput("An external id must be text.", code="invalid_external_id")
    external_id = (external_id or "").strip() or None
    if external_id and db.session.scalar(select(Person).where(Person.external_id == external_id)):
        raise Conflict(f"External id {external_id!r} is already used by someone else.", code="external_id_taken")
    person = Person(name=name, external_id=external_id, active=True)
    db.session.add(person)
    if commit:
        db.session.commit()
    else:
        db.session.flush()
    return person


def get_or_create_person(name: str) -> tuple[Person, bool]:
    person = find_person(name)
    if person is not None:
        return person, False
    return create_person(name, commit=False), True


def rename_person(person: Person, new_name: str) -> Person:
    new_name = clean_name(new_name)
    other = find_person(new_name)
    if other is not None and other.id != person.id:
        raise Conflict(f"A person named {new_name!r} already exists.", code="name_taken")
    person.name = new_name
    db.session.commit()
    return person


def set_active(person: Person, active: bool) -> Person:
    person.active = active
    db.session.commit()
    return person


@dataclass
class PersonSummary:
    id: int
    name: str
    external_id: str | None
    active: bool
    samples: int
    events: int
    created_at: str

    def as_dict(self) -> dict:
        return self.__dict__.copy()


def list_people(search: str | None = None) -> list[PersonSummary]:
    samples = select(func.count(FaceSample.id)).where(FaceSample.person_id == Person.id).scalar_subquery()
    events = select(func.count(AttendanceEvent.id)).where(AttendanceEvent.person_id == Person.id).scalar_subquery()
    query = select(Person, samples, events).order_by(func.lower(Person.name))
    if search:
        pattern = f"%{search.strip().lower()}%"
        query = query.where(func.lower(Person.name).like(pattern) | func.lower(Person.external_id).like(pattern))
    return [
        PersonSummary(
            id=p.id,
            name=p.name,
            external_id=p.external_id,
            active=p.active,
            samples=n_samples,
            events=n_events,
            created_at=p.created_at.isoformat(),
        )
        for p, n_samples, n_events in db.session.execute(query)
    ]


@dataclass
class DeletionReport:
    name: str
    samples: int
    events: int
    files: int

    def as_dict(self) -> dict:
        return self.__dict__.copy()


def biometric_files(person: Person) -> list[str]:
    paths = [s.crop_path for s in person.samples]
    for event in person.events:
        paths.extend(p for p in (event.photo_path, event.original_photo_path) if p)
    return paths


def deletion_preview(person: Person) -> dict:
    """What deleting ``person`` removes, said before it is done."""
    photos = sum(1 for e in person.events for p in (e.photo_path, e.original_photo_path) if p)
    return {
        "name": person.name,
        "samples": len(person.samples),
        "events": len(person.events),
        "photos": photos,
        "files": len(biometric_files(person)),
    }


def delete_sample(person: Person, sample_id: int) -> None:
    """Remove one enrollment photo of ``person`` (row, crop file, and its rows in the face model).
    Raises NotFound when the sample is not this person's."""
    sample = db.session.get(FaceSample, sample_id)
    if sample is None or sample.person_id != person.id:
        raise NotFound("No such face sample for this person.")
    crop = sample.crop_path
    db.session.delete(sample)
    db.session.commit()
    storage.remove(crop)
    _notify_people_changed()


def delete_person(person: Person) -> DeletionReport:
    """Delete a person with every face sample, attendance event and photo of theirs."""
    report = DeletionReport(person.name, len(person.samples), len(person.events), 0)
    paths = biometric_files(person)
    db.session.delete(person)
    db.session.commit()
    failures = 0
    for relative in paths:
        try:
            storage.remove(relative)
            report.files += 1
        except OSError:
            failures += 1
    if failures:
        log.error("Deleting a person left %d file(s) that could not be removed; run `kiosk purge --orphans`.", failures)
    _notify_people_changed()
    return report


def _notify_people_changed() -> None:
    """A deleted person or sample must stop being recognised now: drop them from the face model."""
    from . import recognition  # imported here: listing or renaming people needs no model code

    recognition.on_people_changed()
