"""Bulk enrollment: a whole staff directory (folder, ZIP or CSV) in one step, resumable.

:func:`import_photos` reads an :class:`~kiosk.services.import_sources.ImportSource` photo by
photo and enrolls each through the enrollment service's two steps
(:func:`~kiosk.services.enrollment.check_photo_batch`, then
:func:`~kiosk.services.enrollment.store_samples`), so a photo is accepted or refused for the
same reasons as in the admin's per-person upload. Photos are embedded in batches of the
embedder's ``batch_size`` (FaceNet embeds a batch much faster per face; dlib does not gain).
People are created when their first photo is accepted, in the same transaction as it; a person
whose photos are all refused is not created.

**Idempotent and resumable.** Each sample stores the sha256 of its photo: a photo already
enrolled (by an earlier import or by hand) is skipped as a duplicate, so running the same
import again changes nothing, and running it again after it was interrupted (Ctrl-C, a crash,
a SIGKILL, a server restart) imports exactly what is still missing. Each batch is committed on
its own, so an interruption loses at most the batch in progress. Crop files are written before
their rows are committed; the paths of the batch in progress are journalled first
(``imports/pending-crops.json`` in the data dir), and the next import removes those of them
that no row refers to, so a kill leaves no orphan crop behind. One import runs at a time (per
data dir, and on PostgreSQL per database: :func:`import_lock`); a second one gets
:class:`~kiosk.errors.Conflict`.

**A bad photo never stops the run**: it is that photo's outcome (its reason, as enrollment
gives it, or ``missing_file``, ``no_photo``, ``invalid_name``, ``external_id_mismatch``...).
What stops it: a refused source (before anything is written), a missing model file, or the
database or disk failing (not the photo's fault).

**Training** runs once at the end (not per person), when something was accepted or the model
is older than the enrollments; the admin console runs the whole import as a background job
(:func:`start_import_job`), so the kiosk keeps serving with the previous model meanwhile.

Nothing here logs names, photos or embeddings.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import select

from .. import storage
from ..errors import Conflict, InvalidInput, KioskError, NotFound
from ..extensions import db
from ..models import FaceSample, Person
from . import people as people_service
from .enrollment import (
    CheckedPhoto,
    EnrolledFaces,
    EnrollmentRefused,
    Photo,
    check_photo_batch,
    content_hash,
    store_samples,
)
from .import_sources import (
    IMAGE_SUFFIXES,
    ImportSource,
    PhotoUnreadable,
    SourcePhoto,
    SourceRefused,
    nfc,
    open_source,
    read_csv_with_photos,
    read_zip,
)
from .site_lock import site_lock

log = logging.getLogger(__name__)

IMPORTS_FOLDER = "imports"
JOURNAL_NAME = "pending-crops.json"
MAX_EXTERNAL_ID = 64
STAGED_MAX_AGE_S = 7 * 24 * 3600  # an interrupted import's upload, kept for resuming
MAX_UPLOADED_FILES = 5000  # a CSV with its photos through the console; larger sets go in a ZIP


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
class ImportProgress:
    done: int
    total: int
    accepted: int
    refused: int
    duplicates: int
    people_created: int
    seconds: float

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


# ---------------------------------------------------------------------------- one import at a time


def imports_dir() -> Path:
    folder = storage.data_dir() / IMPORTS_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def import_lock() -> Iterator[None]:
    """Held for a whole import; raises Conflict when another import (CLI or console) holds it.

    The site lock ``import``: an ``flock`` in the data dir covers the processes of one host; on
    PostgreSQL an advisory lock covers every app host on the database too. Both go with the
    process that holds them, whatever happens to it (a SIGKILL, a power cut)."""
    with site_lock("import", timeout_s=0) as held:
        if not held:
            raise _another_import()
        yield


def _another_import() -> Conflict:
    return Conflict(
        "Another import is running on this site; wait for it to finish (photos it imports are skipped "
        "if you then run yours again).",
        code="already_importing",
    )


def import_running() -> bool:
    try:
        with import_lock():
            return False
    except Conflict:
        return True


class _CropJournal:
    """The crop paths of the batch being stored, on disk before the crops are."""

    def __init__(self) -> None:
        self.path = imports_dir() / JOURNAL_NAME

    def note(self, relatives: list[str]) -> None:
        storage.atomic_write(self.path, json.dumps(relatives).encode())

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)

    def remove_unreferenced(self) -> int:
        """Remove the crops an interrupted import wrote but never committed; returns how many."""
        try:
            listed = json.loads(self.path.read_text())
        except FileNotFoundError:
            return 0
        except (OSError, ValueError):
            listed = []
        listed = [p for p in listed if isinstance(p, str) and p.startswith("faces/")]
        referenced = set(
            db.session.scalars(select(FaceSample.crop_path).where(FaceSample.crop_path.in_(listed))).all()
        ) if listed else set()
        removed = 0
        for relative in listed:
            if relative not in referenced and storage.resolve(relative).exists():
                storage.remove(relative)
                removed += 1
        self.clear()
        if removed:
            log.info("Removed %d face crop(s) left by an interrupted import.", removed)
        return removed


# ---------------------------------------------------------------------------- who a photo belongs to


class _Refusal(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class _Who:
    """The person a photo is for: existing (``person``) or to create at their first accepted photo."""

    name: str
    external_id: str | None
    person: Person | None
    note: str | None = None  # a warning for the photo's line (listed under another name)


class _People:
    """Resolves the source's names and external ids to people: one :class:`_Who` per person, however
    the rows name them (an external id is matched first, then the name)."""

    def __init__(self) -> None:
        self._by_name: dict[str, _Who] = {}
        self._by_external_id: dict[str, _Who] = {}

    def resolve(self, photo: SourcePhoto) -> _Who:
        try:
            name = people_service.clean_name(photo.person)
        except KioskError as err:
            raise _Refusal(err.code, f"{err} (the person's name in the import)") from err
        external_id = (photo.external_id or "").strip() or None
        if external_id is not None and len(external_id) > MAX_EXTERNAL_ID:
            raise _Refusal("invalid_external_id", f"An external id is at most {MAX_EXTERNAL_ID} characters.")
        if external_id is not None:
            who = self._by_external_id.get(external_id) or self._find_by_external_id(external_id)
            if who is not None:
                if who.name.casefold() != name.casefold() and who.note is None:
                    who.note = f"Listed as {name}; enrolled as {who.name}, who has the same external id {external_id}."
                return who
        who = self._by_name.get(name.casefold())
        if who is None:
            person = people_service.find_person(name)
            who = _Who(person.name if person else name, person.external_id if person else None, person)
            self._by_name[name.casefold()] = who
        if external_id is not None:
            if who.external_id is not None and who.external_id != external_id:
                raise _Refusal(
                    "external_id_mismatch",
                    f"{who.name} has external id {who.external_id}, but this row gives {external_id}: correct the "
                    "import or the person's record.",
                )
            who.external_id = external_id  # an existing person without one gets it with their next photo
            self._by_external_id[external_id] = who
        return who

    def _find_by_external_id(self, external_id: str) -> _Who | None:
        person = db.session.scalar(select(Person).where(Person.external_id == external_id))
        if person is None:
            return None
        who = self._by_name.setdefault(person.name.casefold(), _Who(person.name, external_id, person))
        self._by_external_id[external_id] = who
        return who


# ---------------------------------------------------------------------------- the import


@dataclass
class _Pending:
    """A photo in the batch being gathered: decided already (``outcome``), or waiting for its check."""

    source: SourcePhoto
    who: _Who | None = None
    photo: Photo | None = None
    outcome: ImportedPhoto | None = None


class _Run:
    def __init__(self, source: ImportSource, on_photo: PhotoFn | None, on_progress: ProgressFn | None) -> None:
        from ..vision.embedders import get_embedder, resolve_embedder_id

        self.source = source
        self.on_photo = on_photo
        self.on_progress = on_progress
        self.summary = ImportSummary(source.name, notes=list(source.notes))
        self.started = time.perf_counter()
        self.people = _People()
        self.journal = _CropJournal()
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
        except _Refusal as err:
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
            samples = store_samples(person, [checked for _, checked in group], before_write=self.journal.note)
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
            warning = " ".join(w for w in (who.note, checked.warning) if w) or None
            pending.outcome = self._outcome(
                pending.source, "accepted", None, "Enrolled.", sample_id=sample.id, warning=warning
            )

    def _person_for(self, who: _Who) -> tuple[Person, bool]:
        """The person to store a group for, created (flushed, not committed) when new."""
        created = False
        if who.person is None:
            who.person = people_service.find_person(who.name)  # added by hand since the import began?
        if who.person is None:
            who.person = people_service.create_person(who.name, who.external_id, commit=False)
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
) -> ImportSummary:
    """Import every photo of ``source``; ``on_photo`` hears each outcome in the source's order,
    ``on_progress`` the counts after each batch. Retrains the face model once at the end when
    ``train`` and something changed (``on_training`` hears its progress). Raises Conflict when
    another import is running, ``ModelUnavailable`` when the embedder's file is missing."""
    with import_lock():
        try:
            summary = _Run(source, on_photo, on_progress).run()
        finally:
            source.close()
            db.session.rollback()
        if train:
            try:
                summary.training = _train_if_needed(summary, on_training)
            finally:
                db.session.rollback()  # no transaction left open (on PostgreSQL an idle one holds locks)
    return summary


def _train_if_needed(summary: ImportSummary, on_training: Callable[[float, str], None] | None) -> dict[str, Any] | None:
    from . import face_training, model_status

    if not summary.accepted and not model_status.face_model_info().get("stale"):
        return None
    try:
        return face_training.train_faces(progress=on_training)
    except KioskError as err:  # nobody enrolled (all refused) or a model file missing
        return {"error": str(err)}


def import_path(path: str | Path, **options: Any) -> ImportSummary:
    """Import a folder, a ZIP or a CSV on this machine (``kiosk people import``)."""
    return import_photos(open_source(Path(path)), **options)


# ---------------------------------------------------------------------------- the admin console's uploads


@dataclass
class StagedImport:
    """An upload kept in ``imports/<id>/`` until its import finishes, the admin discards it, or it
    is a week old (the next upload removes it: it holds photos)."""

    id: str
    folder: Path
    kind: str  # zip | csv
    label: str

    def open(self) -> ImportSource:
        manifest = json.loads((self.folder / "manifest.json").read_text())
        if self.kind == "zip":
            return read_zip(self.folder / "source.zip", self.label)
        photos = {name: self.folder / "photos" / stored for name, stored in manifest["photos"].items()}
        return read_csv_with_photos(self.folder / "source.csv", photos, self.label)

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _staging_folder(staged_id: str) -> Path:
    if not staged_id.isalnum():
        raise NotFound("No such import.")
    return imports_dir() / staged_id


def stage_upload(source_file: Any, photo_files: list[Any] = ()) -> StagedImport:
    """Keep an uploaded ZIP, or a CSV with its photos, and check it; raises SourceRefused or
    InvalidInput (and keeps nothing) when it cannot be imported. ``source_file`` and
    ``photo_files`` are uploaded files (``.filename`` and ``.save(path)``)."""
    label = nfc(PurePosixPath((source_file.filename or "").replace("\\", "/")).name) or "the upload"
    suffix = PurePosixPath(label).suffix.lower()
    if suffix not in (".zip", ".csv"):
        raise InvalidInput(
            f"{label} is not a ZIP archive or a CSV file: upload a .zip of one folder per person, or a .csv "
            "(name,external_id,photo_path...) with its photos.",
            code="bad_source",
        )
    if suffix == ".zip" and any(getattr(f, "filename", "") for f in photo_files):
        raise InvalidInput("Photos go inside the ZIP: upload photos beside a CSV only.", code="bad_source")
    _forget_old_uploads()
    staged_id = secrets.token_hex(8)
    staged = StagedImport(staged_id, _staging_folder(staged_id), suffix[1:], label)
    staged.folder.mkdir()
    try:
        manifest: dict[str, Any] = {"kind": staged.kind, "label": label, "photos": {}}
        source_file.save(str(staged.folder / f"source{suffix}"))
        if staged.kind == "csv":
            _stage_photos(staged.folder / "photos", photo_files, manifest["photos"])
        (staged.folder / "manifest.json").write_text(json.dumps(manifest))
        source = staged.open()  # every check of the source, before anything is imported
        source.close()
    except BaseException:
        staged.discard()
        raise
    return staged


def _forget_old_uploads() -> None:
    """Uploads of interrupted imports hold photos: they go after STAGED_MAX_AGE_S if nobody resumed them."""
    if import_running():  # its upload may be an old one, resumed
        return
    cutoff = time.time() - STAGED_MAX_AGE_S
    for folder in imports_dir().iterdir():
        if folder.is_dir() and folder.stat().st_mtime < cutoff:
            shutil.rmtree(folder, ignore_errors=True)


def _stage_photos(folder: Path, photo_files: list[Any], names: dict[str, str]) -> None:
    folder.mkdir()
    others = []
    if len(photo_files) > MAX_UPLOADED_FILES:
        raise InvalidInput(f"At most {MAX_UPLOADED_FILES} photos beside a CSV; put more in a ZIP.", code="too_many")
    for index, upload in enumerate(photo_files):
        if not getattr(upload, "filename", ""):
            continue
        name = nfc(PurePosixPath(upload.filename.replace("\\", "/")).name)
        if PurePosixPath(name).suffix.lower() not in IMAGE_SUFFIXES:
            others.append(name)
            continue
        if name in names:
            raise InvalidInput(f"Two uploaded photos are both named {name}: rename one.", code="duplicate_name")
        stored = f"{index}{PurePosixPath(name).suffix.lower()}"
        upload.save(str(folder / stored))
        names[name] = stored
    if others:
        raise SourceRefused(
            f"These uploads are not photos: {', '.join(others[:5])}. Upload JPEG, PNG, WebP, BMP or TIFF photos.",
            code="not_photos",
        )


def staged_import(staged_id: str) -> StagedImport:
    folder = _staging_folder(staged_id)
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        raise NotFound("This import's upload is gone; upload the file again.") from None
    return StagedImport(staged_id, folder, manifest["kind"], manifest["label"])


def start_import_job(staged: StagedImport):
    """Import a staged upload in a background job, then retrain once; returns the job.

    The upload is removed when the import finishes; an interrupted one stays, so the admin
    can resume it (:func:`staged_import` + this again) or discard it."""
    from . import training_jobs

    if import_running():
        raise _another_import()

    def run(progress: Callable[..., None]) -> dict[str, Any]:
        return run_staged_import(staged, progress)

    return training_jobs.start_job("import", run, detail={"staged": staged.id, "source": staged.label})


MAX_LISTED_OUTCOMES = 1000  # refused photos and warnings kept with a job's result for its page
IMPORT_THREAD_NICENESS = 10

# The import's share of the job's progress bar; training takes the rest. Training embeds each new
# photo's augmented copies (8 per photo), so it is the larger part when many photos are accepted.
IMPORT_SHARE_WITHOUT_TRAINING = 0.98
TRAINING_WEIGHT_PER_PHOTO = 8


def run_staged_import(staged: StagedImport, progress: Callable[..., None]) -> dict[str, Any]:
    """The body of an import job: import with progress, train once, forget the upload."""
    detail: dict[str, Any] = {"staged": staged.id, "source": staged.label}
    share = [IMPORT_SHARE_WITHOUT_TRAINING]

    def on_progress(state: ImportProgress) -> None:
        # Every accepted photo adds training work: the import's share shrinks as they are accepted.
        expected_accepted = state.accepted / state.done * state.total if state.done else 0
        total_work = state.total + TRAINING_WEIGHT_PER_PHOTO * expected_accepted
        share[0] = state.total / total_work if total_work else IMPORT_SHARE_WITHOUT_TRAINING
        share[0] = min(share[0], IMPORT_SHARE_WITHOUT_TRAINING)
        detail.update(state.as_dict(), phase="importing")
        rate = state.done / state.seconds if state.seconds > 0 else 0.0
        stage = f"Importing photo {state.done} of {state.total}"
        if rate > 0 and state.done < state.total:
            stage += f" ({rate:.1f} photos/s, about {format_duration((state.total - state.done) / rate)} left)"
        progress(share[0] * state.done / max(state.total, 1), stage, detail)

    def on_training(fraction: float, stage: str) -> None:
        detail.update(phase="training")
        progress(share[0] + (1 - share[0]) * fraction, f"Retraining the face model: {stage}", detail)

    to_look_at: list[dict[str, Any]] = []

    def on_photo(outcome: ImportedPhoto) -> None:
        if (outcome.status == "refused" or outcome.warning) and len(to_look_at) < MAX_LISTED_OUTCOMES:
            to_look_at.append(outcome.as_dict())

    _lower_this_threads_priority()
    summary = import_photos(staged.open(), on_photo=on_photo, on_progress=on_progress, on_training=on_training)
    staged.discard()
    return summary.as_dict() | {"staged": staged.id, "to_look_at": to_look_at}


def _lower_this_threads_priority() -> None:
    """The kiosk's own requests come first: this thread (on Linux a thread has its own nice value)
    yields the CPU to them when both want it."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), IMPORT_THREAD_NICENESS)
    except (AttributeError, OSError):  # not Linux, or not allowed: run at normal priority
        pass


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


UPLOAD_FORM_OVERHEAD = 1024 * 1024  # multipart boundaries and headers around the import's files


def upload_request_limit(import_max_mb: int) -> int:
    """The largest request body of an import upload (nginx.conf's import location allows the same)."""
    return int(import_max_mb) * 1024 * 1024 + UPLOAD_FORM_OVERHEAD
