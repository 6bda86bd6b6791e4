"""Background jobs: a thread per job, its record in a small JSON file in the data dir.

Training the face model embeds every enrollment crop and fits the classifier: seconds to
minutes; a bulk import (kind ``import``, :mod:`kiosk.services.bulk_import`) checks and embeds
every photo of an archive, then retrains once. Doing it inside a request would block that
worker (and time out behind Nginx), so :func:`start_job` starts a daemon thread and returns at
once; pages poll :func:`get_job` / :func:`latest_jobs` for progress (a fraction, a stage line
for people, and a ``detail`` dict of counts for pages that show more).

The kiosk keeps recognising with the previous model meanwhile: the training functions
write the new model file atomically (``kiosk.storage.atomic_write``) and the recognition
service reloads it when its mtime changes, so there is never a moment without a model.

The record lives in ``<data dir>/jobs/training.json`` rather than only in memory because
gunicorn runs several worker processes: a job started by one worker must be visible from
the others. Writes are serialised with the site lock ``jobs`` (a thread lock plus an ``flock``
on a lock file, so two workers cannot both start a job of the same kind). A record left "running" by a process
that died (a restart, an OOM kill) is reported as failed instead of running forever.

After a change to enrollment the console calls :func:`retrain_after_change`: it starts a
retraining, or, when one is already running (it started before this change), marks that job
``again``: as it ends, the same write that records its end queues one more. However many changes
arrive meanwhile, one more retraining follows, not one per change.

Errors: :class:`kiosk.errors.Conflict` (a job of that kind is already running),
:class:`kiosk.errors.InvalidInput` (unknown kind), :class:`kiosk.errors.NotFound` (unknown job id).
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import secrets
import threading
import time
import traceback
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from flask import Flask, current_app

from .. import storage
from ..errors import Conflict, InvalidInput, KioskError, NotFound
from ..extensions import db
from ..models import utcnow
from . import audit, face_training, gesture_samples
from .audit_actions import MODEL_RETRAINED
from .job_stages import DONE, FAILED, STARTING, TRAINING_FACES, TRAINING_GESTURES, WAITING, record_fields, stage
from .site_lock import site_lock

log = logging.getLogger(__name__)

JOB_KINDS = ("faces", "gestures", "import")
TRAINABLE_KINDS = ("faces", "gestures")
HISTORY_LENGTH = 20
_RUNNING_STATES = ("queued", "running")

_threads: dict[str, threading.Thread] = {}

ProgressFn = Callable[..., None]  # progress(fraction, stage, detail=None)

_INTERRUPTED = {
    "import": (
        "Interrupted: the server restarted while it was importing. Resume it: photos already imported are skipped."
    ),
}


@dataclass
class TrainingJob:
    id: str
    kind: str
    state: str = "queued"  # queued | running | done | failed
    progress: float = 0.0  # 0..1
    stage: str = WAITING
    stage_template: str = WAITING  # the stage line for the catalogue, and its values (job_stages.py)
    stage_values: dict[str, Any] = field(default_factory=dict)
    created_at: str = field(default_factory=lambda: utcnow().isoformat())
    started_at: str | None = None
    finished_at: str | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    pid: int = field(default_factory=os.getpid)
    detail: dict[str, Any] | None = None  # counts a page may show while it runs (an import's photos so far)
    again: bool = False  # enrollment changed while it ran: one more retraining follows it
    again_actor: str | None = None  # who made the (last) change it follows

    @property
    def running(self) -> bool:
        return self.state in _RUNNING_STATES

    def as_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record["running"] = self.running
        return record


# ---------------------------------------------------------------------------- storage


def _jobs_dir() -> Path:
    folder = storage.data_dir() / "jobs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def _locked_records():
    """Yield the list of job records under both locks; whatever the caller leaves in it is saved."""
    folder = _jobs_dir()
    with site_lock("jobs"):
        records = _read(folder / "training.json")
        before = json.dumps(records, indent=1)
        yield records
        after = json.dumps(records, indent=1)
        if after != before:  # polling pages read far more often than jobs change
            storage.atomic_write(folder / "training.json", after.encode())


def _read(path: Path) -> list[dict[str, Any]]:
    try:
        records = json.loads(path.read_text())
    except FileNotFoundError:
        return []
    except (OSError, ValueError):
        log.warning("The training job record was unreadable; starting a new one.")
        return []
    return records if isinstance(records, list) else []


def _from_record(record: dict[str, Any]) -> TrainingJob:
    known = {k: v for k, v in record.items() if k in TrainingJob.__dataclass_fields__}
    return TrainingJob(**known)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_orphaned(job: TrainingJob) -> bool:
    """A running record whose thread no longer exists anywhere."""
    if not job.running:
        return False
    if job.pid == os.getpid():
        thread = _threads.get(job.id)
        return thread is None or not thread.is_alive()
    return not _pid_alive(job.pid)


def _load_all(records: list[dict[str, Any]]) -> list[TrainingJob]:
    jobs = [_from_record(r) for r in records]
    for job in jobs:
        if _is_orphaned(job):
            default = "Interrupted: the server restarted while it was training. Start it again."
            job.state, job.error = "failed", _INTERRUPTED.get(job.kind, default)
            job.finished_at = utcnow().isoformat()
    return jobs


def _update(job_id: str, **changes: Any) -> None:
    with _locked_records() as records:
        for record in records:
            if record.get("id") == job_id:
                record.update(changes)


# ---------------------------------------------------------------------------- public API


def list_jobs() -> list[TrainingJob]:
    """All remembered jobs, newest first."""
    with _locked_records() as records:
        jobs = _load_all(records)
        records[:] = [asdict(j) for j in jobs]
    return sorted(jobs, key=lambda j: j.created_at, reverse=True)


def latest_jobs() -> dict[str, TrainingJob | None]:
    """The newest job of each kind (None if that kind never ran)."""
    jobs = list_jobs()
    return {kind: next((j for j in jobs if j.kind == kind), None) for kind in JOB_KINDS}


def get_job(job_id: str) -> TrainingJob:
    for job in list_jobs():
        if job.id == job_id:
            return job
    raise NotFound("No such training job (jobs are forgotten after a while).")


def start_job(
    kind: str, runner: Callable[[ProgressFn], dict[str, Any]] | None = None, *, detail: dict[str, Any] | None = None,
    actor: audit.Actor | str | None = None,
) -> TrainingJob:
    """Start retraining ``kind`` ("faces" or "gestures") in a background thread; returns the queued job.

    ``runner`` does the work instead of the kind's training function: an import passes its own
    (and tests about the job machinery pass a fake). ``detail`` is the job's first detail record."""
    if kind not in JOB_KINDS or (runner is None and kind not in RUNNERS):
        raise InvalidInput(f"Unknown model {kind!r}; it is one of {', '.join(TRAINABLE_KINDS)}.", code="bad_model")
    app = current_app._get_current_object()
    with _locked_records() as records:
        jobs = _load_all(records)
        busy = next((j for j in jobs if j.kind == kind and j.running), None)
        if busy is not None:
            what = (
                "An import is already running" if kind == "import" else f"The {kind} model is already being retrained"
            )
            raise Conflict(
                f"{what} (started {busy.created_at}).",
                code="already_importing" if kind == "import" else "already_training",
                job=busy.as_dict(),
            )
        return _spawn(app, records, jobs, kind, runner or RUNNERS[kind], actor, detail)


def _spawn(app: Flask, records: list[dict[str, Any]], jobs: list[TrainingJob], kind: str,
           runner: Callable[[ProgressFn], dict[str, Any]], actor: audit.Actor | str | None,
           detail: dict[str, Any] | None = None) -> TrainingJob:
    """A new job's thread and record; called holding the records (``_locked_records``)."""
    job = TrainingJob(id=secrets.token_hex(8), kind=kind, detail=detail)
    # Known as this process's before its record is written: a reader in between (another thread
    # listing the jobs) would otherwise take the queued record for an orphan. The thread waits for
    # the records' lock before its first update, so it finds its record.
    thread = threading.Thread(target=_run, args=(app, job.id, kind, runner, actor), name=f"train-{kind}-{job.id}",
                              daemon=True)
    _threads[job.id] = thread
    thread.start()
    jobs.append(job)
    jobs.sort(key=lambda j: j.created_at, reverse=True)
    records[:] = [asdict(j) for j in jobs[:HISTORY_LENGTH]]
    return job


def _finish(app: Flask, job_id: str, kind: str, **changes: Any) -> None:
    """Record the job's end; if enrollment changed while it ran, queue the one more retraining in
    the same write (nobody reading the records in between sees "up to date")."""
    with _locked_records() as records:
        follow, follow_actor = False, None
        for record in records:
            if record.get("id") == job_id:
                record.update(changes)
                follow = bool(record.get("again")) and kind in TRAINABLE_KINDS
                follow_actor = record.get("again_actor")
                record["again"] = False
        if follow:
            _spawn(app, records, _load_all(records), kind, RUNNERS[kind], follow_actor)


def retrain_after_change(kind: str = "faces", *, actor: audit.Actor | str | None = None) -> TrainingJob | None:
    """The enrollment changed: retrain ``kind`` in the background. Returns the job started, or
    None when a retraining already running will be followed by one more (coalesced), or when the
    site retrains by hand (KIOSK_RETRAIN_AFTER_CHANGES off)."""
    if not current_app.config.get("KIOSK_RETRAIN_AFTER_CHANGES"):
        return None
    try:
        return start_job(kind, actor=actor)
    except Conflict:
        with _locked_records() as records:
            for record in records:
                if record.get("kind") == kind and record.get("state") in _RUNNING_STATES:
                    record.update(again=True, again_actor=str(actor) if actor is not None else None)
        return None


def retrain_pending(kind: str = "faces") -> bool:
    """Whether a change waits for the retraining after the one running."""
    return any(job.kind == kind and job.running and job.again for job in list_jobs())


def forget_person(name: str) -> None:
    """Deleting a person also takes their name out of the import results kept with the jobs (the
    photos an import refused, warned about or skipped as duplicates are listed there by person)."""
    key = name.casefold()
    with _locked_records() as records:
        for record in records:
            result = record.get("result")
            if record.get("kind") != "import" or not isinstance(result, dict):
                continue
            for listed in ("to_look_at", "skipped"):  # photos to look at; duplicates skipped
                if result.get(listed):
                    result[listed] = [
                        entry for entry in result[listed] if str(entry.get("person", "")).casefold() != key
                    ]


def wait_for(job_id: str, timeout: float = 600.0, poll: float = 0.2) -> TrainingJob:
    """Block until the job finishes (for the CLI and tests; pages poll instead)."""
    deadline = time.monotonic() + timeout
    while True:
        job = get_job(job_id)
        if not job.running or time.monotonic() > deadline:
            return job
        thread = _threads.get(job_id)
        if thread is not None:
            thread.join(poll)
        else:
            time.sleep(poll)


def _run(app: Flask, job_id: str, kind: str, runner: Callable[[ProgressFn], dict[str, Any]],
         actor: audit.Actor | str | None = None) -> None:
    with app.app_context():
        _update(job_id, state="running", started_at=utcnow().isoformat(), progress=0.01,
                **record_fields(stage(STARTING)))
        last_write = [0.0]
        shown = [0.01]

        def progress(fraction: float, line: str, detail: dict[str, Any] | None = None) -> None:
            # Throttled: a callback per embedded crop would rewrite the file hundreds of times.
            now = time.monotonic()
            if now - last_write[0] >= 0.3 or fraction >= 1.0:
                last_write[0] = now
                # A progress bar never goes back, even when a runner revises its estimate down.
                shown[0] = max(shown[0], round(max(0.0, min(float(fraction), 0.99)), 3))
                changes: dict[str, Any] = {"progress": shown[0], **record_fields(line)}
                if detail is not None:
                    changes["detail"] = _jsonable(detail)
                _update(job_id, **changes)

        try:
            result = runner(progress)
        except KioskError as err:
            _finish(app, job_id, kind, state="failed", error=str(err), finished_at=utcnow().isoformat(),
                    **record_fields(stage(FAILED)))
        except Exception:  # noqa: BLE001 - a thread must record its failure, not die silently
            log.error("The %s job failed:\n%s", kind, traceback.format_exc())
            what = "The import" if kind == "import" else "Retraining"
            _finish(
                app,
                job_id,
                kind,
                state="failed",
                error=f"{what} failed unexpectedly; the previous model is still in use. See the server log.",
                **record_fields(stage(FAILED)),
                finished_at=utcnow().isoformat(),
            )
        else:
            if kind in TRAINABLE_KINDS:  # an import records its own entries (bulk_import.run)
                _audit_retrained(kind, job_id, result, actor)
            _finish(
                app,
                job_id,
                kind,
                state="done",
                progress=1.0,
                **record_fields(stage(DONE)),
                result=_jsonable(result),
                finished_at=utcnow().isoformat(),
            )
        finally:
            db.session.remove()
            _threads.pop(job_id, None)


def _audit_retrained(kind: str, job_id: str, result: Any, actor: audit.Actor | str | None) -> None:
    """The new model is in use whatever happens here: a database that refuses the entry is logged,
    and the job still ends as done."""
    try:
        audit.record_now(MODEL_RETRAINED, audit.Target("model", kind, f"{kind} model"), actor=actor,
                         after=audit.training_facts(result if isinstance(result, dict) else None) | {"job": job_id})
    except Exception:  # noqa: BLE001
        db.session.rollback()
        log.error("Could not write the audit entry of the %s job %s:\n%s", kind, job_id, traceback.format_exc())


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v)))


def _call_with_progress(fn: Callable[..., Any], progress: ProgressFn) -> Any:
    """Pass the progress callback when the training function accepts one."""
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        parameters = {}
    for name in ("progress", "on_progress", "progress_callback"):
        if name in parameters:
            return fn(**{name: progress})
    return fn()


def _train_faces(progress: ProgressFn) -> dict[str, Any]:
    progress(0.05, stage(TRAINING_FACES))
    return _call_with_progress(face_training.train_faces, progress)


def _train_gestures(progress: ProgressFn) -> dict[str, Any]:
    progress(0.05, stage(TRAINING_GESTURES))
    result = _call_with_progress(gesture_samples.retrain_from_site_samples, progress)
    return result if isinstance(result, dict) else {"result": result}


RUNNERS: dict[str, Callable[[ProgressFn], dict[str, Any]]] = {"faces": _train_faces, "gestures": _train_gestures}
