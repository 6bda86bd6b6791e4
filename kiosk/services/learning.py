"""Learning from confirmed check-ins: the database and file side.

The rules (when a check-in's face is worth adding) are pure code in
:mod:`kiosk.vision.face_learning`; the model update is :meth:`FaceModel.with_learned`. Here:

* :func:`learn_in_background`: the kiosk's check-in adapter (``kiosk.services.checkin``) hands
  over the evidence of a check-in it has just recorded (the person confirmed with a held gesture,
  the same face throughout, and it passed liveness with margin: ``kiosk.checkin.liveness``) once
  the frame's answer is built; one worker thread per process runs :func:`learn_from_check_in`
  in its own app context, so the "Welcome" answer never waits for the model's lock or its save.
  Under the face model's update lock
  (:func:`kiosk.services.recognition.model_update_lock`, across processes and app hosts) the
  rules are applied to the *saved* model; a face that passes is stored as a ``learned``
  :class:`~kiosk.models.FaceSample` (its canonical crop under ``faces/``, its embedding, the
  kiosk, the time and its distance to the person's nearest enrollment photo), the person's
  oldest learned samples beyond ``KIOSK_LEARN_MAX_PER_PERSON`` go, and the model file gains the
  sample at once (no retraining; every process and app host reloads it as after a retrain). It
  never fails a check-in: any error is logged (its type, nothing about the face) and the
  check-in stands.
* :func:`learned_samples`, :func:`forget`: the admin's view and removal (one or all of a person's).
* :func:`purge_older_than`, :func:`apply_retention`: ``kiosk purge`` removes learned samples older
  than ``KIOSK_PHOTO_RETENTION_DAYS`` like check-in photos (they are faces from check-ins).

``KIOSK_LEARN_FROM_CHECKINS=0`` switches learning off for the site: nothing new is learned;
learned samples already kept stay in use until an admin removes them. Deleting a person deletes
their learned samples and crops with the rest of their face samples (``kiosk.services.people``).

Rows first, files after (as everywhere): a crop is written before the row that points at it is
committed and removed if the commit fails; removed crops go after the rows. Nothing here logs a
name, an embedding, a crop or a distance.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import cv2
from flask import Flask, current_app
from sqlalchemy import select

from .. import storage
from ..errors import InvalidInput, NotFound
from ..extensions import db
from ..models import FaceSample, Person, SampleKind, utcnow
from ..vision.face_learning import LEARNED, CheckInEvidence, LearningPolicy, decide
from . import audit, recognition
from .audit_actions import LEARNED_REMOVED
from .photos import ORPHAN_MIN_AGE_S, remove_files

log = logging.getLogger(__name__)

CROP_FOLDER = "faces"
# How long a check-in waits for the face model's update lock before leaving the learning out.
LOCK_WAIT_S = 2.0


@dataclass(frozen=True)
class LearningOutcome:
    added: bool
    reason: str  # face_learning.REASONS, or off | no_evidence | no_model | busy
    sample_id: int | None = None
    evicted: int = 0


def enabled() -> bool:
    """``KIOSK_LEARN_FROM_CHECKINS`` (on by default)."""
    return bool(current_app.config.get("KIOSK_LEARN_FROM_CHECKINS", True))


def policy() -> LearningPolicy:
    cap = int(current_app.config.get("KIOSK_LEARN_MAX_PER_PERSON", LearningPolicy.max_learned_per_person))
    return replace(LearningPolicy(), max_learned_per_person=cap)


def _learned_query(person_id: int):
    return (
        select(FaceSample)
        .where(FaceSample.person_id == person_id, FaceSample.kind == SampleKind.learned)
        .order_by(FaceSample.created_at, FaceSample.id)
    )


def learned_samples(person: Person) -> list[FaceSample]:
    """The person's learned samples, newest first (the admin's person page)."""
    return list(reversed(db.session.scalars(_learned_query(person.id)).all()))


# One thread: check-ins learn one at a time (they would queue on the model's update lock anyway).
_background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="learning")
_pending: list[Future] = []


def learn_in_background(app: Flask, person_id: int, evidence: CheckInEvidence, kiosk_id: str) -> Future:
    """Run :func:`learn_from_check_in` after the caller's answer, in this process's learning thread."""

    def run() -> LearningOutcome:
        with app.app_context():
            try:
                return learn_from_check_in(person_id, evidence, kiosk_id)
            finally:
                db.session.remove()

    future = _background.submit(run)
    _pending[:] = [f for f in _pending if not f.done()] + [future]
    return future


def wait_for_background(timeout_s: float = 30.0) -> None:
    """Wait for the learning already handed over (tests, and a worker that is shutting down)."""
    for future in list(_pending):
        future.result(timeout=timeout_s)


def learn_from_check_in(person_id: int, evidence: CheckInEvidence | None, kiosk_id: str) -> LearningOutcome:
    """Add the face of a confirmed, recorded check-in to the person's learned samples if the rules
    allow (see the module docstring). Never raises: learning must not cost anyone their check-in."""
    try:
        outcome = _learn(person_id, evidence, kiosk_id)
    except Exception as err:  # noqa: BLE001 - the check-in is recorded; learning is a bonus
        db.session.rollback()
        log.warning("Learning from a check-in failed (%s); the check-in itself is recorded.", type(err).__name__)
        return LearningOutcome(False, "error")
    if outcome.added:
        log.info("Learned a face sample from a confirmed check-in at kiosk %s (%d older one(s) made room).",
                 kiosk_id, outcome.evicted)
    else:
        log.debug("A confirmed check-in was not learned from: %s.", outcome.reason)
    return outcome


def _learn(person_id: int, evidence: CheckInEvidence | None, kiosk_id: str) -> LearningOutcome:
    rules = policy()
    if not enabled() or rules.max_learned_per_person <= 0:
        return LearningOutcome(False, "off")
    if evidence is None or evidence.crop is None:
        return LearningOutcome(False, "no_evidence")  # an admin must be able to see what was learned
    with recognition.model_update_lock(LOCK_WAIT_S) as locked:
        if not locked:
            return LearningOutcome(False, "busy")
        try:
            model = recognition.load_model()  # the saved model, newest version: another kiosk may have taught it
        except recognition.ModelNotTrained:
            return LearningOutcome(False, "no_model")
        learned = db.session.scalars(_learned_query(person_id)).all()
        decision = decide(model, person_id, evidence, rules, [s.id for s in learned])
        if decision.reason != LEARNED:
            return LearningOutcome(False, decision.reason)
        sample, evicted = _store(person_id, evidence, kiosk_id, model.embedder, decision.anchor_distance,
                                 [s for s in learned if s.id in decision.evict])
        recognition.sync_model_with_samples_locked()
    return LearningOutcome(True, LEARNED, sample.id, evicted)


def _store(person_id: int, evidence: CheckInEvidence, kiosk_id: str, embedder: str, anchor_distance: float | None,
           evict: list[FaceSample]) -> tuple[FaceSample, int]:
    """The learned sample's crop and row, and the evicted samples gone (rows first, then their files)."""
    ok, png = cv2.imencode(".png", evidence.crop)
    if not ok:
        raise ValueError("the face crop could not be encoded")
    relative = storage.store_bytes(CROP_FOLDER, png.tobytes(), ".png")
    evicted_files = [s.crop_path for s in evict]
    try:
        sample = FaceSample(
            person_id=person_id,
            crop_path=relative,
            kind=SampleKind.learned,
            kiosk_id=(kiosk_id or "")[:64] or None,
            match_distance=None if anchor_distance is None else round(float(anchor_distance), 4),
            quality=evidence.quality,
        )
        sample.set_embedding(evidence.embedding, embedder)
        db.session.add(sample)
        for old in evict:
            db.session.delete(old)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        storage.remove(relative)
        raise
    remove_files(evicted_files)
    return sample, len(evicted_files)


def _delete(samples: list[FaceSample]) -> int:
    """Delete learned samples: rows, then crops, then their rows in the face model (refitted)."""
    if not samples:
        return 0
    files = [s.crop_path for s in samples]
    for sample in samples:
        db.session.delete(sample)
    db.session.commit()
    remove_files(files)
    recognition.sync_model_with_samples()
    return len(files)


def forget(person: Person, sample_id: int | None = None, *, actor: audit.Actor | str | None = None) -> int:
    """Remove one of ``person``'s learned samples (``sample_id``) or all of them; returns how many.
    Raises NotFound when ``sample_id`` is not a learned sample of this person."""
    if sample_id is None:
        samples = db.session.scalars(_learned_query(person.id)).all()
    else:
        sample = db.session.get(FaceSample, sample_id)
        if sample is None or sample.person_id != person.id or sample.kind is not SampleKind.learned:
            raise NotFound("No such learned face sample for this person.", code="no_learned_sample")
        samples = [sample]
    if samples:  # written by _delete's commit, with the deletion
        audit.record(LEARNED_REMOVED, audit.person_target(person), actor=actor,
                     before={"sample_ids": [s.id for s in samples], "count": len(samples)})
    return _delete(samples)


def purge_older_than(days: float, *, now: datetime | None = None) -> int:
    """Remove learned samples older than ``days`` (rows, crops, and from the face model); returns how many.
    Raises InvalidInput if ``days`` < 1."""
    if days is None or not (days >= 1):
        raise InvalidInput("The retention must be at least 1 day.", code="bad_retention")
    cutoff = (now or utcnow()) - timedelta(days=days)
    return _delete(db.session.scalars(
        select(FaceSample).where(FaceSample.kind == SampleKind.learned, FaceSample.created_at < cutoff)
    ).all())


def apply_retention(*, now: datetime | None = None) -> int:
    """``KIOSK_PHOTO_RETENTION_DAYS`` applied to learned samples (0 = keep)."""
    days = int(current_app.config.get("KIOSK_PHOTO_RETENTION_DAYS", 0) or 0)
    return purge_older_than(days, now=now) if days > 0 else 0


def purge_orphan_crops(min_age_s: float = ORPHAN_MIN_AGE_S) -> int:
    """Remove face crops (enrolled or learned) that no face sample references: left by a crash
    between writing a crop and committing its row, or by a deletion whose files could not go."""
    referenced = set(db.session.scalars(select(FaceSample.crop_path)).all())
    return storage.remove_unreferenced(CROP_FOLDER, referenced, min_age_s)
