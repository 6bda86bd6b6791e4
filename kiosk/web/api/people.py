"""Admin JSON API for people and their enrollment photos (``/api/v1/people``...).

Reading people takes an API token with ``read:people``; everything else the ``admin`` scope. An
administrator's session works everywhere (401 JSON when anonymous), CSRF-protected when it changes
something (send the token from ``<meta name="csrf-token">`` as ``X-CSRFToken``).

- ``GET    /api/v1/people?q=``                         list (search by name or external id)
- ``POST   /api/v1/people``                            create: JSON or form ``name``, ``external_id``
- ``GET    /api/v1/people/<id>``                       one person with their face samples
- ``PATCH  /api/v1/people/<id>``                       ``name`` and/or ``active``
- ``GET    /api/v1/people/<id>/deletion``              what deleting would remove (counts)
- ``DELETE /api/v1/people/<id>``                       delete with samples, events and files
- ``POST   /api/v1/people/<id>/samples``               enroll photos: multipart ``photos`` (several),
                                                       or JSON ``{"images": [data URL, ...]}`` (webcam)
- ``DELETE /api/v1/people/<id>/samples/<sample_id>``   remove one enrollment photo
- ``POST   /api/v1/enrollment/check-frame``            live webcam feedback: is exactly one usable face seen?
- ``GET    /api/v1/people/import/jobs/<job_id>``       a bulk import (started on the admin page): state,
                                                       progress, stage, counts so far (``detail``), summary

Enrollment goes through ``kiosk.services.enrollment`` and the photos are read by
``kiosk.web.forms.read_uploads``, as on the admin pages, so a photo is accepted or refused for
the same reason on both.
"""

from __future__ import annotations

import logging

from flask import jsonify, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select

from ...errors import InvalidInput, NotFound
from ...extensions import db
from ...models import AttendanceEvent, FaceSample, Person
from ...services import enrollment, training_jobs
from ...services import people as people_service
from ...vision import faces
from ...vision.image import BadImage, decode_image
from ..audit_actor import admin_actor
from ..forms import decode_data_url, form_or_json, parse_bool, read_uploads
from ..security import admin_required, api_access
from . import api_bp

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------- shared helpers


def outcome_dict(outcome: enrollment.EnrollmentOutcome) -> dict:
    record = {"file": outcome.file, "accepted": outcome.accepted, "code": outcome.code, "message": outcome.message}
    if outcome.sample is not None:
        record["sample"] = sample_dict(outcome.sample)
    if outcome.warning:
        record["warning"] = outcome.warning
    return record


def sample_dict(sample: FaceSample) -> dict:
    return {
        "id": sample.id,
        "kind": sample.kind.value,
        "kiosk_id": sample.kiosk_id,
        "match_distance": sample.match_distance,
        "quality": None if sample.quality is None else round(float(sample.quality), 3),
        "source_photo": sample.source_photo,
        "embedder": sample.embedder,
        "created_at": sample.created_at.isoformat(),
        "crop_url": url_for("admin.sample_crop", person_id=sample.person_id, sample_id=sample.id),
    }


def person_dict(person: Person, *, with_samples: bool = False) -> dict:
    events = db.session.scalar(select(func.count(AttendanceEvent.id)).where(AttendanceEvent.person_id == person.id))
    record = {
        "id": person.id,
        "name": person.name,
        "external_id": person.external_id,
        "active": person.active,
        "created_at": person.created_at.isoformat(),
        "samples": len(person.enrollment_samples),
        "learned_samples": len(person.samples) - len(person.enrollment_samples),
        "events": events,
        "url": url_for("admin.person_page", person_id=person.id),
    }
    if with_samples:
        record["face_samples"] = [sample_dict(s) for s in sorted(person.samples, key=lambda s: s.id)]
    return record


# ---------------------------------------------------------------------------- routes


@api_bp.get("/people")
@api_access("read:people")
def people_list():
    people = people_service.list_people(request.args.get("q"))
    return jsonify({"people": [p.as_dict() for p in people]})


@api_bp.post("/people")
@admin_required
def people_create():
    body = form_or_json()
    if "name" not in body:
        raise InvalidInput("The field 'name' is missing.", code="missing_name", field="name")
    # external_id as sent: the people service refuses what is not text (an empty one is none)
    person = people_service.create_person(body.get("name") or "", body.get("external_id"), actor=admin_actor())
    return jsonify(person_dict(person, with_samples=True)), 201


@api_bp.get("/people/<int:person_id>")
@api_access("read:people")
def people_get(person_id: int):
    return jsonify(person_dict(people_service.get_person(person_id), with_samples=True))


@api_bp.patch("/people/<int:person_id>")
@admin_required
def people_update(person_id: int):
    person = people_service.get_person(person_id)
    body = form_or_json()
    if "name" not in body and "active" not in body:
        raise InvalidInput("Send 'name' and/or 'active'.", code="nothing_to_change")
    if "name" in body:
        people_service.rename_person(person, body["name"] or "", actor=admin_actor(), reason=body.get("reason"))
    if "active" in body:
        people_service.set_active(person, parse_bool(body["active"], "active"), actor=admin_actor())
    return jsonify(person_dict(person, with_samples=True))


@api_bp.get("/people/<int:person_id>/deletion")
@admin_required
def people_deletion_preview(person_id: int):
    return jsonify(people_service.deletion_preview(people_service.get_person(person_id)))


@api_bp.delete("/people/<int:person_id>")
@admin_required
def people_delete(person_id: int):
    report = people_service.delete_person(people_service.get_person(person_id), actor=admin_actor(),
                                          reason=request.args.get("reason"))
    training_jobs.retrain_after_change(actor=admin_actor())
    return jsonify({"deleted": report.as_dict()})


@api_bp.post("/people/<int:person_id>/samples")
@admin_required
def people_enroll(person_id: int):
    person = people_service.get_person(person_id)
    results = [outcome_dict(o) for o in enrollment.enroll_photos(person, read_uploads(), actor=admin_actor())]
    accepted = sum(1 for r in results if r["accepted"])
    body = {"person": person_dict(person), "accepted": accepted, "refused": len(results) - accepted, "results": results}
    if accepted:
        training_jobs.retrain_after_change(actor=admin_actor())
        return jsonify(body), 201
    # Every photo was refused: a 422 like any other refusal (error + message), each result says why.
    reasons = "; ".join(r["message"] for r in results[:3])
    return jsonify({"error": "no_photo_accepted", "message": f"No photo was enrolled: {reasons}", **body}), 422


@api_bp.delete("/people/<int:person_id>/samples/<int:sample_id>")
@admin_required
def people_sample_delete(person_id: int, sample_id: int):
    people_service.delete_sample(people_service.get_person(person_id), sample_id, actor=admin_actor())
    training_jobs.retrain_after_change(actor=admin_actor())
    return jsonify({"deleted": sample_id})


@api_bp.get("/people/import/jobs/<job_id>")
@admin_required
def people_import_job(job_id: str):
    job = training_jobs.get_job(job_id)
    if job.kind != "import":
        raise NotFound("No such import.")
    return jsonify(job.as_dict())


@api_bp.post("/enrollment/check-frame")
@admin_required
def enrollment_check_frame():
    """Live webcam feedback for enrollment: runs the face detector's frame analysis on one frame."""
    if request.is_json:
        body = request.get_json(silent=True) or {}
        data = decode_data_url(body.get("image") if isinstance(body, dict) else None, 0)
    else:
        file = request.files.get("frame")
        if file is None:
            raise InvalidInput("Send the frame as multipart 'frame' or JSON {\"image\": data URL}.",
                               code="missing_frame")
        data = file.read()
    return jsonify(check_frame(data))


def check_frame(data: bytes) -> dict:
    """Verdict for one webcam frame: ``ok`` only when exactly one usable face is seen."""
    try:
        image = decode_image(data)
    except BadImage as err:
        return {"ok": False, "status": "bad_image", "message": str(err), "faces": 0, "boxes": []}
    analysis = faces.analyze_frame(image)
    return _frame_verdict(analysis, image.shape[1], image.shape[0])


def _frame_verdict(analysis, width: int, height: int) -> dict:
    """The detector's verdict in the admin's words, with face boxes normalised to 0..1."""
    status = analysis.status
    if status == "ok" and analysis.quality is not None and analysis.quality.problem:
        status = analysis.quality.problem
    ok = bool(analysis.usable)
    # In the console's language: the person page's webcam shows this as it comes.
    messages = {
        "ok": _("Exactly one face, sharp and well lit: take the photo."),
        "no_face": _("No face seen: look at the camera."),
        "multiple_faces": _("%(count)s faces seen: only the person being enrolled may be in view.",
                            count=len(analysis.faces)),
        "face_too_small": _("The face is too small: come closer to the camera."),
        "too_dark": _("The face is too dark: add light, or face the light."),
        "too_bright": _("Too much light on the face or behind it: move out of the glare."),
        "too_blurry": _("The picture is blurred: hold still for a moment."),
    }
    message = messages.get(status) or analysis.message or status.replace("_", " ")
    boxes = [
        [round(f.box[0] / width, 4), round(f.box[1] / height, 4),
         round(f.box[2] / width, 4), round(f.box[3] / height, 4)]
        for f in analysis.faces
    ]
    return {
        "ok": ok,
        "status": status,
        "message": message,
        "faces": len(analysis.faces),
        "boxes": boxes,
        "quality": analysis.quality.score if analysis.quality is not None else None,
    }
