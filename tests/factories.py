"""Small factories for the rows a test needs but is not about: a person, a check-in, a face sample,
a kiosk device, an admin. Each commits its row (inside the app context the test has open) and
returns it; the keyword arguments are the row's own columns, for what a test does care about."""

from __future__ import annotations

from datetime import datetime

import numpy as np

from kiosk import storage
from kiosk.extensions import db
from kiosk.models import AdminUser, AttendanceEvent, EventKind, FaceSample, KioskDevice, Person, utcnow

# The test admin's password (tests/conftest.py signs in with it). Kept here, not imported from
# conftest: another conftest.py (tests/nginx/) may be the module of that name when this is imported.
ADMIN_PASSWORD = "correct horse battery"


def person(name: str = "Ada Lovelace", external_id: str | None = None) -> Person:
    """Through the people service, so the name is checked and cleaned as everywhere else."""
    from kiosk.services.people import create_person

    return create_person(name, external_id)


def event(
    who: Person, when: datetime | None = None, kind: EventKind = EventKind.check_in, *, kiosk_id: str = "kiosk-1",
    **columns,
) -> AttendanceEvent:
    """A check-in row as the kiosk leaves it, without the kiosk: no photo unless given."""
    row = AttendanceEvent(person_id=who.id, timestamp=when or utcnow(), kind=kind, kiosk_id=kiosk_id, **columns)
    db.session.add(row)
    db.session.commit()
    return row


def sample(
    who: Person, crop: bytes = b"crop", suffix: str = ".png", *, embedding: np.ndarray | None = None,
    embedder: str = "dlib", **columns,
) -> FaceSample:
    """A face sample with its crop file stored under the data dir; an embedding only when given."""
    row = FaceSample(person_id=who.id, crop_path=storage.store_bytes("faces", crop, suffix), **columns)
    if embedding is not None:
        row.set_embedding(embedding, embedder)
    db.session.add(row)
    db.session.commit()
    return row


def device(name: str = "lobby") -> tuple[KioskDevice, str]:
    """A registered kiosk device and its token (shown once, as to the admin)."""
    from kiosk.services.devices import register_device

    return register_device(name)


def admin(username: str = "admin", password: str = ADMIN_PASSWORD) -> AdminUser:
    from kiosk.services.accounts import create_admin

    return create_admin(username, password)
