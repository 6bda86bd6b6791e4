"""Admin JSON API for the site's models (``/api/v1/models``...). Admin-only; CSRF on changes.

- ``GET  /api/v1/models``                      face and gesture model facts, latest jobs
- ``POST /api/v1/models/faces/train``          start retraining the face model in the background (202 + job)
- ``POST /api/v1/models/gestures/train``       the same for the gesture model
- ``GET  /api/v1/models/jobs``                 recent training jobs
- ``GET  /api/v1/models/jobs/<job_id>``        one job: state, progress, stage, result or error
- ``GET  /api/v1/models/gestures/samples``     recorded gesture samples per label
- ``POST /api/v1/models/gestures/samples``     record one: ``label`` + multipart ``frame`` (the pose model
                                               reads the landmarks) or JSON ``{"label", "landmarks"}``
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from flask import jsonify, request
from sqlalchemy import func, select

from ...errors import InvalidInput, KioskError
from ...extensions import db
from ...models import FaceSample, GestureSample, Person
from ...services import gesture_samples, recognition, training_jobs
from ..security import admin_required
from . import api_bp

log = logging.getLogger(__name__)

GESTURE_LABELS = ("O", "X", "capture", "idle")


# ---------------------------------------------------------------------------- shared helpers


def face_model_info() -> dict[str, Any]:
    """Facts about the face model in use, plus whether enrollments changed since it was trained."""
    info: dict[str, Any] = {"trained": False}
    try:
        raw = recognition.model_info()
    except (KioskError, OSError, ValueError) as err:
        # A broken model file must not take the console down: the admin sees why and can retrain.
        log.warning("Face model info unavailable: %s", type(err).__name__)
        info["error"] = f"The face model could not be read: {err}"
        raw = None
    if isinstance(raw, dict) and raw:
        info.update(raw)
        info["trained"] = bool(raw.get("trained", True))
    active_samples = select(FaceSample).join(Person).where(Person.active.is_(True)).subquery()
    enrolled = {
        "people_enrolled": db.session.scalar(select(func.count(func.distinct(active_samples.c.person_id)))),
        "samples_enrolled": db.session.scalar(select(func.count()).select_from(active_samples)),
        "last_enrolled_at": _iso(db.session.scalar(select(func.max(FaceSample.created_at)))),
    }
    info.update(enrolled)
    info["stale"] = _is_stale(info)
    return info


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _is_stale(info: dict[str, Any]) -> bool:
    """True when enrollments were added after the model was trained (the admin should retrain).

    Deletions do not make it stale: the recognition service drops deleted people and samples
    from the model file at once; deactivated people are skipped at identification time."""
    if not info.get("trained"):
        return bool(info.get("samples_enrolled"))
    if info.get("people") is not None and (info.get("people_enrolled") or 0) > info["people"]:
        return True
    trained_at, last = info.get("trained_at"), info.get("last_enrolled_at")
    if trained_at and last:
        try:
            return datetime.fromisoformat(str(last)) > datetime.fromisoformat(str(trained_at))
        except (TypeError, ValueError):
            return False
    return False


def gesture_model_info() -> dict[str, Any]:
    counts = dict(db.session.execute(select(GestureSample.label, func.count()).group_by(GestureSample.label)).all())
    info: dict[str, Any] = {"samples": {label: int(counts.get(label, 0)) for label in GESTURE_LABELS}}
    try:
        raw = gesture_samples.model_info()
    except (KioskError, OSError, ValueError) as err:
        log.warning("Gesture model info unavailable: %s", type(err).__name__)
        info["error"] = f"The gesture model could not be read: {err}"
        raw = None
    if isinstance(raw, dict):
        info["model"] = raw
    return info


def record_gesture_sample(label: str, landmarks: Any) -> GestureSample:
    return gesture_samples.record_sample(label, landmarks)


def landmarks_from_frame(data: bytes) -> Any:
    """Pose landmarks for a webcam frame (raises UnprocessableImage when no person is seen)."""
    return gesture_samples.landmarks_from_image_bytes(data)


def check_label(label: object) -> str:
    if label not in GESTURE_LABELS:
        raise InvalidInput(f"The gesture label must be one of {', '.join(GESTURE_LABELS)}.", code="bad_label")
    return str(label)


# ---------------------------------------------------------------------------- routes


@api_bp.get("/models")
@admin_required
def models_info():
    jobs = training_jobs.latest_jobs()
    return jsonify(
        {
            "faces": face_model_info(),
            "gestures": gesture_model_info(),
            "jobs": {kind: (job.as_dict() if job else None) for kind, job in jobs.items()},
        }
    )


@api_bp.post("/models/<kind>/train")
@admin_required
def models_train(kind: str):
    job = training_jobs.start_job(kind)
    return jsonify(job.as_dict()), 202


@api_bp.get("/models/jobs")
@admin_required
def models_jobs():
    return jsonify({"jobs": [j.as_dict() for j in training_jobs.list_jobs()]})


@api_bp.get("/models/jobs/<job_id>")
@admin_required
def models_job(job_id: str):
    return jsonify(training_jobs.get_job(job_id).as_dict())


@api_bp.get("/models/gestures/samples")
@admin_required
def models_gesture_samples():
    return jsonify(gesture_model_info()["samples"])


@api_bp.post("/models/gestures/samples")
@admin_required
def models_gesture_record():
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise InvalidInput("The request body must be a JSON object.", code="bad_json")
        label = check_label(body.get("label"))
        if "landmarks" not in body:
            raise InvalidInput("The field 'landmarks' is missing.", code="missing_landmarks")
        landmarks = body["landmarks"]
    else:
        label = check_label(request.form.get("label"))
        frame = request.files.get("frame")
        if frame is None:
            raise InvalidInput("Send the webcam frame as multipart 'frame'.", code="missing_frame")
        landmarks = landmarks_from_frame(frame.read())
    sample = record_gesture_sample(label, landmarks)
    return jsonify({"id": getattr(sample, "id", None), "label": label, "samples": gesture_model_info()["samples"]}), 201
