"""An import as a background job (the admin console's): import with a progress bar, train once,
forget the upload. The kiosk keeps serving with the previous model meanwhile."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

from .. import training_jobs
from .lock import another_import, import_running
from .progress import ImportProgress, format_duration
from .run import ImportedPhoto, import_photos
from .uploads import StagedImport


def start_import_job(staged: StagedImport, *, actor=None):
    """Import a staged upload in a background job, then retrain once; returns the job.

    The upload is removed when the import finishes; an interrupted one stays, so the admin
    can resume it (:func:`.uploads.staged_import` + this again) or discard it."""
    if import_running():
        raise another_import()

    def run(progress: Callable[..., None]) -> dict[str, Any]:
        return run_staged_import(staged, progress, actor=actor)

    return training_jobs.start_job("import", run, detail={"staged": staged.id, "source": staged.label}, actor=actor)


MAX_LISTED_OUTCOMES = 1000  # refused photos and warnings kept with a job's result for its page
IMPORT_THREAD_NICENESS = 10

# The import's share of the job's progress bar; training takes the rest. Training embeds each new
# photo's augmented copies (8 per photo), so it is the larger part when many photos are accepted.
IMPORT_SHARE_WITHOUT_TRAINING = 0.98
TRAINING_WEIGHT_PER_PHOTO = 8


def run_staged_import(staged: StagedImport, progress: Callable[..., None], *, actor=None) -> dict[str, Any]:
    """The body of an import job: import with progress, train once, forget the upload."""
    detail: dict[str, Any] = {"staged": staged.id, "source": staged.label}
    share = [IMPORT_SHARE_WITHOUT_TRAINING]

    def on_progress(state: ImportProgress) -> None:
        # Every accepted photo adds training work: the import's share shrinks as they are accepted.
        expected_accepted = state.accepted / state.done * state.total if state.done else 0
        total_work = state.total + TRAINING_WEIGHT_PER_PHOTO * expected_accepted
        share[0] = state.total / total_work if total_work else IMPORT_SHARE_WITHOUT_TRAINING
        share[0] = min(share[0], IMPORT_SHARE_WITHOUT_TRAINING)
        # The page shows the step's own share done (step_progress), so its percentage agrees with
        # "photo N of M"; the job's progress (the whole job, training included) only moves forward.
        detail.update(state.as_dict(), phase="importing", step_progress=state.done / max(state.total, 1))
        rate = state.done / state.seconds if state.seconds > 0 else 0.0
        stage = f"Step 1 of 2: importing photo {state.done} of {state.total}"
        if rate > 0 and state.done < state.total:
            stage += f" ({rate:.1f} photos/s, about {format_duration((state.total - state.done) / rate)} left)"
        progress(share[0] * state.done / max(state.total, 1), stage, detail)

    def on_training(fraction: float, stage: str) -> None:
        detail.update(phase="training", step_progress=fraction)
        progress(share[0] + (1 - share[0]) * fraction, f"Step 2 of 2: retraining the face model: {stage}", detail)

    to_look_at: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []  # duplicates, listed by person on the page

    def on_photo(outcome: ImportedPhoto) -> None:
        if (outcome.status == "refused" or outcome.warning) and len(to_look_at) < MAX_LISTED_OUTCOMES:
            to_look_at.append(outcome.as_dict())
        elif outcome.status == "duplicate" and len(skipped) < MAX_LISTED_OUTCOMES:
            skipped.append(outcome.as_dict())

    _lower_this_threads_priority()
    summary = import_photos(staged.open(), on_photo=on_photo, on_progress=on_progress, on_training=on_training,
                           actor=actor)
    staged.discard()
    return summary.as_dict() | {"staged": staged.id, "to_look_at": to_look_at, "skipped": skipped}


def _lower_this_threads_priority() -> None:
    """The kiosk's own requests come first: this thread (on Linux a thread has its own nice value)
    yields the CPU to them when both want it."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), IMPORT_THREAD_NICENESS)
    except (AttributeError, OSError):  # not Linux, or not allowed: run at normal priority
        pass
