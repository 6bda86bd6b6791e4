"""People: create, find, rename, deactivate, delete (a person, or one enrollment photo).

Deleting a person is a privacy operation: their face samples (crops and embeddings),
attendance events and photos all go, and their name from the results of past imports. Rows are
deleted first, in one transaction; files are removed after the commit, so a failure can leave a
stray file (logged by count, never by name) but never a row pointing at a missing file.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from .. import names, storage
from ..errors import Conflict, NotFound
from ..extensions import db
from ..models import AttendanceEvent, FaceSample, Person, SampleKind
from . import audit, face_training, training_jobs, webhooks
from .audit import Actor
from .audit_actions import (
    PERSON_ACTIVATED,
    PERSON_CREATED,
    PERSON_DEACTIVATED,
    PERSON_DELETED,
    PERSON_RENAMED,
    PHOTO_REMOVED,
)

log = logging.getLogger(__name__)

# The name rules (normalisation, refused and removed characters, when two names are one
# person) are in kiosk.names.
clean_name = names.clean_name


def find_person(name: str) -> Person | None:
    """The person whose name is the same as ``name`` by :func:`kiosk.names.name_key`."""
    return db.session.scalar(select(Person).where(Person.name_key == names.name_key(clean_name(name))))


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


def all_people() -> list[Person]:
    """Everyone, active or not, by name (case-insensitive): the admin's "which person" choices."""
    return list(db.session.scalars(select(Person).order_by(func.lower(Person.name))))


def get_sample(person_id: int, sample_id: int) -> FaceSample:
    """One face sample (enrolled or learned) of a person; NotFound when it is not theirs."""
    sample = db.session.get(FaceSample, sample_id)
    if sample is None or sample.person_id != person_id:
        raise NotFound("No such face sample.")
    return sample


def site_counts() -> dict[str, int]:
    """The dashboard's numbers: active and inactive people, enrollment photos, check-ins ever."""
    return {
        "people": db.session.scalar(select(func.count(Person.id)).where(Person.active.is_(True))),
        "inactive": db.session.scalar(select(func.count(Person.id)).where(Person.active.is_(False))),
        "samples": db.session.scalar(select(func.count(FaceSample.id)).where(FaceSample.kind == SampleKind.enrollment)),
        "events": db.session.scalar(select(func.count(AttendanceEvent.id))),
    }


def _name_taken(name: str, other: Person) -> Conflict:
    same = "already exists" if other.name == name else f"looks the same as {other.name!r}, who already exists"
    return Conflict(f"A person named {name!r} {same}.", code="name_taken", name=name, existing=other.name)


def check_new_person(name: object, external_id: object = None) -> tuple[str, str | None]:
    """The cleaned name and external id of a person who could be created now; writes nothing.
    Raises InvalidInput (a name or external id the rules of kiosk.names refuse) or Conflict (the
    name, or one the same by those rules, or the external id is taken)."""
    name = clean_name(name)
    other = find_person(name)
    if other is not None:
        raise _name_taken(name, other)
    external_id = names.clean_external_id(external_id)
    if external_id and db.session.scalar(select(Person).where(Person.external_id == external_id)):
        raise Conflict(f"External id {external_id!r} is already used by someone else.", code="external_id_taken",
                       external_id=external_id)
    return name, external_id


def create_person(name: str, external_id: str | None = None, *, commit: bool = True,
                  actor: Actor | str | None = None) -> Person:
    """Create a person (``commit=False``: only flushed, for the caller's transaction, which then
    also writes the audit entry). Raises as :func:`check_new_person`."""
    name, external_id = check_new_person(name, external_id)
    person = Person(name=name, external_id=external_id, active=True)
    db.session.add(person)
    with _unique_or_conflict(name):
        db.session.flush()
        audit.record(PERSON_CREATED, audit.person_target(person), actor=actor,
                     after={"name": name, "external_id": external_id})
        webhooks.enqueue("person.created", webhooks.person_payload(person))
        if commit:
            db.session.commit()
    return person


@contextmanager
def _unique_or_conflict(name: str) -> Iterator[None]:
    """A request that took the name (or external id) between our check and our write loses on
    the database's unique constraints: a 409 like the check's, not a 500."""
    try:
        yield
    except IntegrityError as err:
        db.session.rollback()
        raise Conflict(f"A person named {name!r}, or with this external id, was just added by someone else.",
                       code="name_taken") from err


def rename_person(person: Person, new_name: str, *, actor: Actor | str | None = None,
                  reason: str | None = None) -> Person:
    new_name = clean_name(new_name)
    other = find_person(new_name)
    if other is not None and other.id != person.id:
        raise _name_taken(new_name, other)
    old_name = person.name
    if new_name == old_name:
        return person  # nothing changed, nothing to record
    person.name = new_name
    audit.record(PERSON_RENAMED, audit.person_target(person), actor=actor, reason=reason,
                 before={"name": old_name}, after={"name": new_name})
    with _unique_or_conflict(new_name):
        db.session.commit()
    return person


def set_active(person: Person, active: bool, *, actor: Actor | str | None = None) -> Person:
    if person.active != active:
        person.active = active
        audit.record(PERSON_ACTIVATED if active else PERSON_DEACTIVATED, audit.person_target(person), actor=actor,
                     before={"active": not active}, after={"active": active})
    db.session.commit()
    return person


@dataclass
class PersonSummary:
    id: int
    name: str
    external_id: str | None
    active: bool
    samples: int  # enrollment photos
    events: int
    created_at: str
    learned_samples: int = 0  # faces learned from confirmed check-ins

    def as_dict(self) -> dict:
        return self.__dict__.copy()


def list_people(search: str | None = None) -> list[PersonSummary]:
    def samples(kind: SampleKind):
        return (
            select(func.count(FaceSample.id))
            .where(FaceSample.person_id == Person.id, FaceSample.kind == kind)
            .scalar_subquery()
        )

    events = select(func.count(AttendanceEvent.id)).where(AttendanceEvent.person_id == Person.id).scalar_subquery()
    query = select(Person, samples(SampleKind.enrollment), events, samples(SampleKind.learned)).order_by(
        func.lower(Person.name)
    )
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
            learned_samples=n_learned,
        )
        for p, n_samples, n_events, n_learned in db.session.execute(query)
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
    for spoof in person.suspected_spoofs:
        paths.extend(spoof.files)
    return paths


def deletion_preview(person: Person) -> dict:
    """What deleting ``person`` removes, said before it is done."""
    photos = sum(1 for e in person.events for p in (e.photo_path, e.original_photo_path) if p)
    return {
        "name": person.name,
        "samples": len(person.enrollment_samples),
        "learned_samples": len(person.samples) - len(person.enrollment_samples),
        "events": len(person.events),
        "photos": photos,
        "files": len(biometric_files(person)),
    }


def delete_sample(person: Person, sample_id: int, *, actor: Actor | str | None = None) -> None:
    """Remove one enrollment photo of ``person`` (row, crop file, and its rows in the face model).
    Raises NotFound when the sample is not this person's."""
    sample = db.session.get(FaceSample, sample_id)
    if sample is None or sample.person_id != person.id:
        raise NotFound("No such face sample for this person.")
    crop = sample.crop_path
    audit.record(PHOTO_REMOVED, audit.person_target(person), actor=actor,
                 before={"sample_id": sample.id, "kind": sample.kind.value})
    db.session.delete(sample)
    db.session.commit()
    storage.remove(crop)
    _notify_people_changed()


def delete_person(person: Person, *, actor: Actor | str | None = None, reason: str | None = None) -> DeletionReport:
    """Delete a person with every face sample, attendance event and photo of theirs. The audit
    entry keeps their name and the counts (no face data: docs/audit.md)."""
    report = DeletionReport(person.name, len(person.samples), len(person.events), 0)
    paths = biometric_files(person)
    audit.record(PERSON_DELETED, audit.person_target(person), actor=actor, reason=reason, before={
        "name": person.name, "external_id": person.external_id, "active": person.active,
        "samples": report.samples, "events": report.events,
    })
    webhooks.enqueue("person.deleted", webhooks.person_payload(person))
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
    training_jobs.forget_person(report.name)
    return report


def _notify_people_changed() -> None:
    """A deleted person or sample must stop being recognised now: drop them from the face model."""
    face_training.on_people_changed()
