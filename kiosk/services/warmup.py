"""Warm at start: each server worker loads every model the kiosk uses and runs one frame through
every stage before it serves the kiosk, so the first person is as fast as the next.

Models load lazily, once per process (``kiosk/vision/lazy.py``); without this the first frame
after a (re)start paid for all of them (5.7 s measured on a 2-core box) and the first person to
check in waited seconds longer than the next. The gunicorn worker starts :func:`start_warm_up`
from its ``post_worker_init`` hook (``gunicorn.conf.py``; never in the master: TensorFlow and
MediaPipe are not fork-safe) unless ``KIOSK_WARM_UP=0``. Apps made for tests, the CLI and
``flask run`` do not warm up: their models still load on first use, and their readiness is
``lazy``.

While the worker warms up (in a background thread: the health check and the pages answer at
once) the frame API answers 503 ``warming`` (:class:`Warming`), which the kiosk page shows as
"Starting..." and retries within a second; ``/healthz`` says ``"models": "warming"`` and
``/readyz`` answers 503 until the models are ready.

The warm-up frame is ``models/warmup/person.jpg`` (a face and a body with both arms in view),
run through the steps of the model registry (``services/model_registry.py``: each model, in the
order its inputs need) with a pooled pose tracker that is lent to the first kiosk session
afterwards, its track restarted.
"""

from __future__ import annotations

import logging
import threading
import time

from flask import Flask

from ..checkin.sessions import pose_trackers
from ..extensions import db
from .model_registry import KIOSK_MODELS, WarmUpRun
from .readiness import Readiness, liveness_problem, readiness

log = logging.getLogger(__name__)


def start_warm_up(app: Flask) -> threading.Thread:
    """Mark the worker ``warming`` now and warm up in a background thread."""
    ready = readiness(app)
    with ready._lock:
        ready.state, ready.started_at = "warming", time.monotonic()
    thread = threading.Thread(target=_warm_up_and_report, args=(app, ready), name="kiosk-warm-up", daemon=True)
    thread.start()
    return thread


def _warm_up_and_report(app: Flask, ready: Readiness) -> None:
    try:
        with app.app_context():
            stages = warm_up()
    except Exception as err:  # noqa: BLE001 - a model that cannot load must not kill the worker
        with ready._lock:
            ready.state, ready.error = "failed", str(err) or type(err).__name__
            ready.seconds = round(time.monotonic() - ready.started_at, 2)
        log.error("The kiosk's models could not be made ready (%s); frames will say what is missing.", ready.error)
        return
    finally:
        with app.app_context():
            db.session.remove()
    with ready._lock:
        ready.state, ready.stages_s = "ready", stages
        ready.seconds = round(time.monotonic() - ready.started_at, 2)
    log.info(
        "Models ready in %.1f s (%s)", ready.seconds, ", ".join(f"{name} {s:.2f} s" for name, s in stages.items())
    )


def warm_up() -> dict[str, float]:
    """Load every model and run the warm-up frame through every stage (inside an app context);
    returns the seconds each step took. Raises what a model that cannot load raises."""
    run = WarmUpRun(tracker=pose_trackers.acquire())
    try:
        stages = KIOSK_MODELS.walk(run)
    finally:
        if run.tracker is not None:
            run.tracker.restart_tracking()  # the first kiosk session must not inherit this picture's track
            pose_trackers.release(run.tracker)
    if "liveness" in run.problems:
        # Not fatal: the kiosk still serves; its check-ins fail the passive cue, and the site's
        # liveness policy decides (review by default). /healthz and the kiosk page say so.
        liveness_problem.append(run.problems["liveness"])
        log.error("The liveness model is unavailable (%s): check-ins go to review.", run.problems["liveness"])
    return stages
