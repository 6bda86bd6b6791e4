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

The warm-up frame is ``models/warmup/person.jpg`` (a face and a body with both arms in view):
decoded like a kiosk frame, then face detection (both range models), the embedder the face model
was trained with (or the configured one) and the classifier, a pooled pose tracker (lent to the
first kiosk session afterwards, its track restarted) and the gesture classifier, the emotion
model, the passive liveness model (MiniFASNet), and finally the whole per-frame pipeline on a private state machine that records nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from flask import Flask

from .readiness import Readiness, Warming, liveness_files_present, liveness_problem, readiness  # noqa: F401

log = logging.getLogger(__name__)

WARM_UP_FRAME = Path("warmup") / "person.jpg"  # under the models dir


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
        from ..extensions import db

        with app.app_context():
            db.session.remove()
    with ready._lock:
        ready.state, ready.stages_s = "ready", stages
        ready.seconds = round(time.monotonic() - ready.started_at, 2)
    log.info(
        "Models ready in %.1f s (%s)", ready.seconds, ", ".join(f"{name} {s:.2f} s" for name, s in stages.items())
    )


def warm_up_frame():
    """The warm-up picture as the kiosk would receive it: a 640x480 JPEG, decoded."""
    import cv2
    import numpy as np

    from ..vision.image import load_image
    from ..vision.settings import models_dir

    photo = load_image(models_dir() / WARM_UP_FRAME)
    scale = min(640 / photo.shape[1], 480 / photo.shape[0])
    fitted = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    canvas = np.full((480, 640, 3), 90, np.uint8)
    top, left = (480 - fitted.shape[0]) // 2, (640 - fitted.shape[1]) // 2
    canvas[top : top + fitted.shape[0], left : left + fitted.shape[1]] = fitted
    return cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()


class _NoRecording:
    """The warm-up's state machine never records: its frames are nobody's check-in."""

    def recent_event(self, person_id):
        return None

    def record(self, person_id, frame, happy, identification_score, evidence=None, liveness=None):
        from ..checkin.machine import RecordOutcome

        return RecordOutcome("check_in", datetime.now(timezone.utc), None)

    def record_suspect(self, person_id, frame, happy, identification_score, liveness, neutral_frame, policy):
        from ..checkin.machine import RecordOutcome

        return RecordOutcome("needs_review", datetime.now(timezone.utc), None)


def warm_up() -> dict[str, float]:
    """Load every model and run the warm-up frame through every stage (inside an app context);
    returns the seconds each step took. Raises what a model that cannot load raises."""
    from ..checkin.machine import CheckInMachine, MachineConfig, State
    from ..checkin.pipeline import analyse_frame
    from ..checkin.sessions import pose_trackers
    from ..vision import emotion, face_mesh, faces, gestures, liveness
    from ..vision.lazy import ModelUnavailable
    from ..vision.embedders import get_embedder, resolve_embedder_id
    from ..vision.faces import canonical_crop
    from . import face_model_file, recognition
    from .checkin import decode_frame, identify

    stages: dict[str, float] = {}

    def timed(name: str, step):
        started = time.perf_counter()
        result = step()
        stages[name] = round(time.perf_counter() - started, 2)
        return result

    bgr = timed("decode", lambda: decode_frame(warm_up_frame()))
    timed("face_detection_full_range", lambda: faces.detect_faces(bgr, detector_range="full"))
    analysis = timed("face_detection", lambda: faces.analyze_frame(bgr))
    face = analysis.face
    if face is None:  # the shipped picture has a face; a replaced one might not
        raise RuntimeError(f"the warm-up picture {WARM_UP_FRAME} shows no usable face ({analysis.status})")
    try:
        embedder_id = recognition.get_recognizer().model().embedder  # identification uses the model's embedder
    except face_model_file.ModelNotTrained:
        embedder_id = resolve_embedder_id()
    timed(f"embedding {embedder_id}", lambda: get_embedder(embedder_id).embed_crops([canonical_crop(bgr, face)]))
    timed("identification", lambda: identify(bgr, face))  # the face model file and the people, when trained

    tracker = pose_trackers.acquire()
    try:
        landmarks = timed("pose", lambda: tracker.estimate(bgr) if tracker is not None else None)
        classifier = gestures.get_classifier()

        def gesture() -> None:
            # Load the file first: a classification of arms the pose did not see whole returns
            # before it reads the model, and would leave it for the first kiosk to load.
            classifier.warm_up()
            if landmarks is not None:
                gestures.classify(landmarks)

        timed("gesture", gesture)
        timed("emotion", lambda: emotion.analyze_emotion(bgr, face))
        timed("face_mesh", lambda: face_mesh.get_face_mesh().predict(bgr, face))
        try:
            timed("liveness", lambda: liveness.passive_liveness().predict(bgr, face.box))
        except ModelUnavailable as err:
            # Not fatal: the kiosk still serves; its check-ins fail the passive cue, and the site's
            # liveness policy decides (review by default). /healthz and the kiosk page say so.
            liveness_problem.append(str(err))
            log.error("The liveness model is unavailable (%s): check-ins go to review.", err)

        machine = CheckInMachine(config=MachineConfig(), backend=_NoRecording())
        machine.reset(time.monotonic())

        def whole_pipeline():
            analyse_frame(machine, bgr, identify, None)  # IDLE: detection, evidence, embedding
            machine.person_id = -1  # nobody: the same-person check fails and the machine cancels
            machine._enter(State.SMILING, time.monotonic())
            analyse_frame(machine, bgr, identify, tracker)  # pose, gesture, emotion, same-person

        timed("pipeline", whole_pipeline)
    finally:
        if tracker is not None:
            tracker.restart_tracking()  # the first kiosk session must not inherit this picture's track
            pose_trackers.release(tracker)
    return stages
