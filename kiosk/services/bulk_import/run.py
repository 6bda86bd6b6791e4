"""The import itself: every photo of a source, checked and stored in batches, then one training.

Photos are embedded in batches of the embedder's ``batch_size`` (FaceNet embeds a batch much
faster per face; dlib does not gain), and each batch is committed on its own. A photo's outcome
is an :class:`ImportedPhoto`; the run's an :class:`ImportSummary`.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from ...errors import KioskError
from ...extensions import db
from ...models import FaceSample, Person
from ...vision.embedders import get_embedder, resolve_embedder_id
from .. import audit, face_training, model_status
from .. import people as people_service
from ..audit_actions import IMPORT_FINISHED, IMPORT_STARTED, MODEL_RETRAINED
from ..enrollment import (
    CheckedPhoto,
    EnrolledFaces,
    EnrollmentRefused,
    Photo,
    check_photo_batch,
    content_hash,
    store_samples,
)
from ..import_sources import ImportSource, PhotoUnreadable, SourcePhoto, open_source
from .journal import CropJournal
from .lock import import_lock
from .people import Refusal, SourcePeople, Who
from .progress import ImportProgress


@dataclass
class ImportedPhoto:
    """What became of one photo of an import (one ``--json`` line)."""

    image: str  # the path inside the source, or as the CSV wrote it
    person: str
    status: str  # accepted | refused | duplicate
    reason: str | None  # why not, when refused or duplicate
    message: str
    sample_id: int | None = None
    warning: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ImportSummary:
    source: str
    photos: int = 0
    people_created: int = 0
    people_added_to: int = 0  # people who existed and got new photos
    accepted: int = 0
    refused: dict[str, int] = field(default_factory=dict)  # reason -> photos
    duplicates: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    training: dict[str, Any] | None = None  # train_faces' summary, {"error": ...}, or None when not run

    @property
    def refused_total(self) -> int:
        return sum(self.refused.values())

    @property
    def photos_per_second(self) -> float:
        return self.photos / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record["refused_total"] = self.refused_total
        record["photos_per_second"] = round(self.photos_per_second, 2)
        return record


PhotoFn = Callable[[ImportedPhoto], None]
ProgressFn = Callable[[ImportProgress], None]


@dataclass
class _Pending:
    """A photo in the batch being gathered: decided already (``outcome``), or waiting for its check."""

    source: SourcePhoto
    who: Who | None = None
    photo: Photo | None = None
    outcome: ImportedPhoto | None = None


class _Run:
    def __init__(self, source: ImportSource, on_photo: PhotoFn | None, on_progress: ProgressFn | None,
                 actor: audit.Actor | str | None = None) -> None:
        self.actor = actor
        self.source = source
        self.on_photo = on_photo
        self.on_progress = on_progress
        self.summary = ImportSummary(source.name, notes=list(source.notes))
        self.started = time.perf_counter()
        self.people = SourcePeople()
        self.journal = CropJournal()
        embedder_id = resolve_embedder_id()
        embedder = get_embedder(embedder_id)
        embedder.model  # noqa: B018 - a missing model file stops the import before any photo is read
        self.batch_size = max(1, embedder.batch_size)
        self.enrolled_faces = EnrolledFaces(embedder_id)
        self.enrolled: dict[str, int] = dict(
            db.session.execute(
                select(FaceSample.content_hash, FaceSample.person_id).where(FaceSample.content_hash.is_not(None))
            ).all()
        )
        self.seen: dict[str, str] = {}  # hash -> label of its first photo in this import
        self.names: dict[int, str] = {}
        self.created: set[int] = set()
        self.added_to: set[int] = set()
        self.done = 0
        self.counts: Counter[str] = Counter()

    # -- per photo, before the batch

    def gather(self, item: SourcePhoto) -> _Pending:
        pending = _Pending(item)
        if item.problem is not None or item.read is None:
            code, message = item.problem or ("missing_file", "The photo is not there.")
            pending.outcome = self._outcome(item, "refused", code, message)
            return pending
        try:
            pending.who = self.people.resolve(item)
        except Refusal as err:
            pending.outcome = self._outcome(item, "refused", err.code, str(err))
            return pending
        try:
            data = item.read()
        except PhotoUnreadable as err:
            pending.outcome = self._outcome(item, "refused", err.code, str(err))
            return pending
        except OSError as err:
            pending.outcome = self._outcome(item, "refused", "bad_image", f"Cannot read it: {err.strerror or err}.")
            return pending
        digest = content_hash(data)
        if digest in self.seen:  # checked first: the reason must not depend on where batches end
            pending.outcome = self._outcome(
                item, "duplicate", "repeated", f"The same photo as {self.seen[digest]}, earlier in this import."
            )
        elif digest in self.enrolled:
            owner = self._name_of(self.enrolled[digest])
            pending.outcome = self._outcome(
                item, "duplicate", "already_enrolled", f"This photo is already enrolled (a photo of {owner})."
            )
        else:
            self.seen[digest] = item.label
            pending.photo = Photo(item.label, data)
        return pending

    def _name_of(self, person_id: int) -> str:
        if person_id not in self.names:
            person = db.session.get(Person, person_id)
            self.names[person_id] = person.name if person is not None else "someone deleted since"
        return self.names[person_id]

    def _outcome(self, item: SourcePhoto, status: str, reason: str | None, message: str, **extra: Any) -> ImportedPhoto:
        return ImportedPhoto(item.label, item.person, status, reason, message, **extra)

    # -- a batch: check (one embedder call), then store person by person

    def flush(self, batch: list[_Pending]) -> None:
        to_check = [p for p in batch if p.outcome is None]
        if to_check:
            results = check_photo_batch([(p.who.person, p.photo) for p in to_check], self.enrolled_faces)
            accepted: dict[int, list[tuple[_Pending, CheckedPhoto]]] = {}
            for pending, result in zip(to_check, results):
                if isinstance(result, EnrollmentRefused):
                    pending.outcome = self._outcome(pending.source, "refused", result.code, str(result))
                else:
                    accepted.setdefault(id(pending.who), []).append((pending, result))
            for group in accepted.values():
                self._store(group)
        for pending in batch:
            self._report(pending.outcome)

    def _store(self, group: list[tuple[_Pending, CheckedPhoto]]) -> None:
        who = group[0][0].who
        try:
            person, created = self._person_for(who)
        except KioskError as err:  # the name or external id was taken meanwhile, by someone else
            db.session.rollback()
            for pending, _ in group:
                pending.outcome = self._outcome(pending.source, "refused", err.code, str(err))
            return
        try:
            samples = store_samples(
                person, [checked for _, checked in group], before_write=self.journal.note, actor=self.actor
            )
        except BaseException:
            db.session.rollback()
            if created:
                who.person = None
            raise
        if created:
            self.created.add(person.id)
            self.summary.people_created += 1
        elif person.id not in self.added_to and person.id not in self.created:
            self.added_to.add(person.id)
            self.summary.people_added_to += 1
        self.names[person.id] = person.name
        for (pending, checked), sample in zip(group, samples):
            self.enrolled[checked.content_hash] = person.id
            self.enrolled_faces.add(person.id, checked.embedding)
            warning = " ".join(w for w in (who.note, checked.warning and checked.warning.message) if w) or None
            pending.outcome = self._outcome(
                pending.source, "accepted", None, "Enrolled.", sample_id=sample.id, warning=warning
            )

    def _person_for(self, who: Who) -> tuple[Person, bool]:
        """The person to store a group for, created (flushed, not committed) when new."""
        created = False
        if who.person is None:
            who.person = people_service.find_person(who.name)  # added by hand since the import began?
        if who.person is None:
            who.person = people_service.create_person(who.name, who.external_id, commit=False, actor=self.actor)
            created = True
        elif who.external_id and who.person.external_id is None:
            who.person.external_id = who.external_id
        return who.person, created

    def _report(self, outcome: ImportedPhoto) -> None:
        self.done += 1
        self.summary.photos += 1
        if outcome.status == "accepted":
            self.summary.accepted += 1
        elif outcome.status == "duplicate":
            self.summary.duplicates += 1
        else:
            self.counts[outcome.reason or "refused"] += 1
        if self.on_photo is not None:
            self.on_photo(outcome)

    def progress(self) -> ImportProgress:
        return ImportProgress(
            done=self.done,
            total=len(self.source.photos),
            accepted=self.summary.accepted,
            refused=sum(self.counts.values()),
            duplicates=self.summary.duplicates,
            people_created=self.summary.people_created,
            seconds=round(time.perf_counter() - self.started, 2),
        )

    def run(self) -> ImportSummary:
        self.journal.remove_unreferenced()
        batch: list[_Pending] = []
        waiting = 0
        if self.on_progress is not None:
            self.on_progress(self.progress())
        for item in self.source.photos:
            pending = self.gather(item)
            batch.append(pending)
            waiting += pending.outcome is None
            if waiting >= self.batch_size:
                self.flush(batch)
                batch, waiting = [], 0
                if self.on_progress is not None:
                    self.on_progress(self.progress())
        if batch:
            self.flush(batch)
        self.journal.clear()
        self.summary.refused = dict(sorted(self.counts.items()))
        self.summary.seconds = round(time.perf_counter() - self.started, 2)
        if self.on_progress is not None:
            self.on_progress(self.progress())
        return self.summary


def import_photos(
    source: ImportSource,
    *,
    on_photo: PhotoFn | None = None,
    on_progress: ProgressFn | None = None,
    train: bool = True,
    on_training: Callable[[float, str], None] | None = None,
    actor: audit.Actor | str | None = None,
) -> ImportSummary:
    """Import every photo of ``source``; ``on_photo`` hears each outcome in the source's order,
    ``on_progress`` the counts after each batch. Retrains the face model once at the end when
    ``train`` and something changed (``on_training`` hears its progress). Raises Conflict when
    another import is running, ``ModelUnavailable`` when the embedder's file is missing."""
    with import_lock():
        # The source's own name, not where it lies on the server (the log shows no server paths).
        target = audit.Target("import", None, Path(source.name).name or source.name)
        try:
            audit.record_now(IMPORT_STARTED, target, actor=actor, after={"photos": len(source.photos)})
            summary = _Run(source, on_photo, on_progress, actor).run()
        finally:
            source.close()
            db.session.rollback()
        if train:
            try:
                summary.training = _train_if_needed(summary, on_training, actor)
            finally:
                db.session.rollback()  # no transaction left open (on PostgreSQL an idle one holds locks)
        audit.record_now(IMPORT_FINISHED, target, actor=actor, after={
            "people_created": summary.people_created, "people_added_to": summary.people_added_to,
            "accepted": summary.accepted, "refused": summary.refused_total, "duplicates": summary.duplicates,
            "retrained": bool(summary.training) and "error" not in summary.training,
        })
    return summary


def _train_if_needed(summary: ImportSummary, on_training: Callable[[float, str], None] | None,
                     actor: audit.Actor | str | None = None) -> dict[str, Any] | None:
    if not summary.accepted and not model_status.face_model_info().get("stale"):
        return None
    try:
        result = face_training.train_faces(progress=on_training)
    except KioskError as err:  # nobody enrolled (all refused) or a model file missing
        return {"error": str(err)}
    audit.record_now(MODEL_RETRAINED, audit.Target("model", "faces", "face model"), actor=actor,
                     after=audit.training_facts(result))
    return result


def import_path(path: str | Path, **options: Any) -> ImportSummary:
    """Import a folder, a ZIP or a CSV on this machine (``kiosk people import``)."""
    return import_photos(open_source(Path(path)), **options)
