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

from typing import Any

from flask import jsonify, request

from ...errors import InvalidInput
from ...gesture_vocabulary import GESTURES
from ...models import GestureSample
from ...services import gesture_samples, training_jobs
from ...services.model_status import face_model_info, gesture_model_info
from ..audit_actor import admin_actor
from ..security import admin_required
from ..server_paths import hide_server_paths
from . import api_bp

# ---------------------------------------------------------------------------- shared helpers


def record_gesture_sample(label: str, landmarks: Any) -> GestureSample:
    return gesture_samples.record_sample(label, landmarks, actor=admin_actor())


def landmarks_from_frame(data: bytes) -> Any:
    """Pose landmarks for a webcam frame (raises UnprocessableImage when no person is seen)."""
    return gesture_samples.landmarks_from_image_bytes(data)


def check_label(label: object) -> str:
    if label not in GESTURES:
        raise InvalidInput(f"The gesture label must be one of {', '.join(GESTURES)}.", code="bad_label")
    return str(label)


# ---------------------------------------------------------------------------- routes


@api_bp.get("/models")
@admin_required
def models_info():
    jobs = training_jobs.latest_jobs()
    return jsonify(
        hide_server_paths(
            {
                "faces": face_model_info(),
                "gestures": gesture_model_info(),
                "jobs": {kind: (job.as_dict() if job else None) for kind, job in jobs.items()},
            }
        )
    )


@api_bp.post("/models/<kind>/train")
@admin_required
def models_train(kind: str):
    job = training_jobs.start_job(kind, actor=admin_actor())
    return jsonify(hide_server_paths(job.as_dict())), 202


@api_bp.get("/models/jobs")
@admin_required
def models_jobs():
    return jsonify({"jobs": hide_server_paths([j.as_dict() for j in training_jobs.list_jobs()])})


@api_bp.get("/models/jobs/<job_id>")
@admin_required
def models_job(job_id: str):
    return jsonify(hide_server_paths(training_jobs.get_job(job_id).as_dict()))


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
