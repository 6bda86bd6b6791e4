"""Suspected spoofs: check-ins that failed liveness, kept for an administrator's decision.

The check-in engine's verdict (``kiosk.checkin.liveness``) decides; this service keeps the
attempt: who it was identified as, the kiosk, the time, the cues' figures, and two frames (the
one captured as the photo and the least happy one, which the expression cue rose from) as JPEGs
under ``spoofs/`` in the media dir. No attendance event is recorded until an administrator
approves the entry (:func:`approve`: the check-in is recorded at the attempt's time, with its
photo); :func:`dismiss` keeps it as evidence. The frames are biometric data: deleting the person
deletes them (``people.biometric_files``), and the photo retention removes them
(:func:`purge_older_than`, run by ``kiosk purge`` with the event photos).

Errors: ``NotFound`` (no such entry), ``Conflict`` code ``already_decided`` (approved or dismissed
before), ``Conflict`` code ``spoof_photo_gone`` (retention removed the photo: nothing to record).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import or_, select

from .. import storage
from ..checkin.liveness import LivenessVerdict
from ..errors import Conflict, InvalidInput, NotFound
from ..extensions import db
from ..models import AttendanceEvent, Person, SpoofStatus, SuspectedSpoof, is_row_id, utcnow
from ..vision.image import decode_image, encode_jpeg
from . import attendance, audit, photos, webhooks
from .audit_actions import SPOOF_APPROVED, SPOOF_DISMISSED
from .people import get_person

log = logging.getLogger(__name__)

SPOOF_FOLDER = "spoofs"
JPEG_QUALITY = 90


def _store_frame(frame: Any) -> str | None:
    if not isinstance(frame, np.ndarray) or frame.ndim != 3:
        return None
    return storage.store_bytes(SPOOF_FOLDER, encode_jpeg(frame, quality=JPEG_QUALITY), ".jpg")


def record(
    person_id: int, frame: Any, neutral_frame: Any, *, verdict: LivenessVerdict, policy: str,
    happy: float | None, identification_score: float | None, kiosk_id: str, now: datetime | None = None,
) -> SuspectedSpoof:
    """Keep one attempt that failed liveness. Files first, then the row; a failed commit removes them."""
    paths: list[str] = []
    try:
        photo_path = _store_frame(frame)
        paths.append(photo_path)
        neutral_path = _store_frame(neutral_frame) if neutral_frame is not frame else None
        paths.append(neutral_path)
        spoof = SuspectedSpoof(
            person_id=person_id,
            timestamp=now or utcnow(),
            kiosk_id=kiosk_id[:64],
            policy=policy,
            status=SpoofStatus.open,
            identification_score=identification_score,
            happy_score=None if happy is None else min(1.0, max(0.0, float(happy))),
            liveness_score=float(verdict.score),
            failed_cues=",".join(verdict.failed),
            liveness_json=json.dumps(verdict.as_dict()),
            photo_path=photo_path,
            neutral_path=neutral_path,
        )
        db.session.add(spoof)
        db.session.flush()
        webhooks.enqueue("spoof.suspected", webhooks.spoof_payload(spoof, _person_name(person_id)))
        db.session.commit()
    except BaseException:
        db.session.rollback()
        photos.remove_files(paths)
        raise
    # No name and no image in the log: the entry's id is enough to find it in the console.
    log.warning("Suspected spoof #%d at kiosk %s (failed: %s); kept for review.", spoof.id, spoof.kiosk_id,
                spoof.failed_cues or "-")
    return spoof


def _person_name(person_id: int) -> str | None:
    return db.session.scalar(select(Person.name).where(Person.id == person_id))


def get(spoof_id: int) -> SuspectedSpoof:
    spoof = db.session.get(SuspectedSpoof, spoof_id) if is_row_id(spoof_id) else None
    if spoof is None:
        raise NotFound("There is no such suspected spoof (it may have been deleted with its person).")
    return spoof


def listing(status: str | None = "open", limit: int = 200) -> list[SuspectedSpoof]:
    """Newest first; ``status`` open / approved / dismissed, or None for all."""
    query = select(SuspectedSpoof).order_by(SuspectedSpoof.timestamp.desc(), SuspectedSpoof.id.desc()).limit(limit)
    if status is not None:
        try:
            query = query.where(SuspectedSpoof.status == SpoofStatus(status))
        except ValueError as err:
            raise InvalidInput(f"Unknown status {status!r}: use open, approved or dismissed.",
                               code="bad_status") from err
    return list(db.session.scalars(query))


def open_count() -> int:
    return len(db.session.scalars(select(SuspectedSpoof.id).where(SuspectedSpoof.status == SpoofStatus.open)).all())


def cues(spoof: SuspectedSpoof) -> dict[str, Any]:
    """The verdict as recorded: ``{"live", "score", "failed", "cues": {name: {...}}}``."""
    try:
        return json.loads(spoof.liveness_json)
    except ValueError:
        return {"cues": {}}


def _undecided(spoof_id: int) -> SuspectedSpoof:
    spoof = get(spoof_id)
    if spoof.status is not SpoofStatus.open:
        raise Conflict(f"This attempt was already {spoof.status.value}.", code="already_decided")
    return spoof


def approve(spoof_id: int, admin_name: str) -> AttendanceEvent:
    """It was the person: record the check-in at the attempt's time, with its photo."""
    spoof = _undecided(spoof_id)
    if not spoof.photo_path:
        raise Conflict("This attempt's photo was removed by the retention rule: add the check-in by hand.",
                       code="spoof_photo_gone")
    frame = decode_image(storage.resolve(spoof.photo_path).read_bytes())
    result = attendance.record_check_in(
        get_person(spoof.person_id), frame, happy=spoof.happy_score,
        identification_score=spoof.identification_score, kiosk_id=spoof.kiosk_id, now=spoof.timestamp,
    )
    spoof = get(spoof_id)
    spoof.status = SpoofStatus.approved
    spoof.event_id = result.event.id if result.event is not None else None
    spoof.decided_by, spoof.decided_at = admin_name[:64], utcnow()
    audit.record(SPOOF_APPROVED, _audit_target(spoof), actor=admin_name, before={"status": "open"},
                 after={"status": "approved", "event_id": spoof.event_id})
    db.session.commit()
    return result.event


def dismiss(spoof_id: int, admin_name: str) -> SuspectedSpoof:
    """It was not the person: keep the entry (and its frames, until retention) as evidence."""
    spoof = _undecided(spoof_id)
    spoof.status = SpoofStatus.dismissed
    spoof.decided_by, spoof.decided_at = admin_name[:64], utcnow()
    audit.record(SPOOF_DISMISSED, _audit_target(spoof), actor=admin_name, before={"status": "open"},
                 after={"status": "dismissed"})
    db.session.commit()
    return spoof


def _audit_target(spoof: SuspectedSpoof) -> audit.Target:
    return audit.Target("spoof", spoof.id, f"{spoof.person.name} at {spoof.kiosk_id}")


def frame_file(spoof: SuspectedSpoof, which: str):
    relative = {"photo": spoof.photo_path, "neutral": spoof.neutral_path}.get(which)
    if not relative:
        raise NotFound("This frame is not kept (retention may have removed it).")
    return storage.resolve(relative)


def purge_older_than(days: float, *, now: datetime | None = None) -> int:
    """Remove the frames of entries older than ``days`` (the entries stay, without frames)."""
    if days is None or not (days >= 1):
        raise InvalidInput("The photo retention must be at least 1 day.", code="bad_retention")
    cutoff = (now or utcnow()) - timedelta(days=days)
    old = db.session.scalars(
        select(SuspectedSpoof).where(
            SuspectedSpoof.timestamp < cutoff,
            or_(SuspectedSpoof.photo_path.is_not(None), SuspectedSpoof.neutral_path.is_not(None)),
        )
    ).all()
    paths: list[str] = []
    for spoof in old:
        paths.extend(spoof.files)
        spoof.photo_path = spoof.neutral_path = None
    db.session.commit()
    photos.remove_files(paths)
    return len(old)


def purge_orphan_files(min_age_s: float = photos.ORPHAN_MIN_AGE_S) -> int:
    stills = select(SuspectedSpoof.photo_path).where(SuspectedSpoof.photo_path.is_not(None))
    neutrals = select(SuspectedSpoof.neutral_path).where(SuspectedSpoof.neutral_path.is_not(None))
    referenced = set(db.session.scalars(stills)) | set(db.session.scalars(neutrals))
    return storage.remove_unreferenced(SPOOF_FOLDER, referenced, min_age_s)
