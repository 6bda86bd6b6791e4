"""Admin JSON API for people and their enrollment photos (``/api/v1/people``...).

Every route is admin-only (401 JSON when anonymous) and CSRF-protected when it changes
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

The enrollment helpers here (:func:`enroll_uploads`, :func:`read_uploads`) are shared with
the admin pages, so a photo is accepted or refused for the same reason on both.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
from dataclasses import dataclass

from flask import jsonify, request, url_for
from sqlalchemy import func, select

from ... import storage
from ...errors import InvalidInput, KioskError, NotFound
from ...extensions import db
from ...models import AttendanceEvent, FaceSample, Person
from ...services import people as people_service
from ...vision.lazy import ModelUnavailable
from ..security import admin_required
from . import api_bp

log = logging.getLogger(__name__)

# More than a phone's burst but bounded: each photo runs the detector and the embedder.
MAX_PHOTOS_PER_REQUEST = 40
MAX_SOURCE_NAME = 120


# ---------------------------------------------------------------------------- shared helpers


@dataclass
class Upload:
    name: str
    data: bytes


def _display_name(filename: str | None, index: int) -> str:
    # Only the base name, for showing back to the admin; never used as a path.
    name = os.path.basename((filename or "").replace("\\", "/")).strip()
    return (name or f"photo {index + 1}")[:MAX_SOURCE_NAME]


def _decode_data_url(value: object, index: int) -> bytes:
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"Image {index + 1} is not a data URL string.", code="bad_image_field")
    payload = value.split(",", 1)[1] if value.startswith("data:") and "," in value else value
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as err:
        raise InvalidInput(f"Image {index + 1} is not valid base64.", code="bad_base64") from err


def read_uploads(field: str = "photos") -> list[Upload]:
    """The photos of an enrollment request: multipart files under ``field``, or JSON data URLs.

    Raises InvalidInput when there is none or too many (a specific message for each)."""
    uploads: list[Upload] = []
    if request.is_json:
        body = request.get_json(silent=True)
        images = body.get("images") if isinstance(body, dict) else None
        if not isinstance(images, list):
            raise InvalidInput('Send {"images": [data URL, ...]} or multipart photos.', code="missing_photos")
        names = body.get("names") if isinstance(body.get("names"), list) else []
        for i, value in enumerate(images):
            name = names[i] if i < len(names) and isinstance(names[i], str) else f"webcam shot {i + 1}"
            uploads.append(Upload(_display_name(name, i), _decode_data_url(value, i)))
    else:
        for i, file in enumerate(request.files.getlist(field)):
            if not file.filename and not file.content_length:
                continue  # the browser sends an empty part when no file was chosen
            uploads.append(Upload(_display_name(file.filename, i), file.read()))
    if not uploads:
        raise InvalidInput("Choose at least one photo to enroll.", code="missing_photos", field=field)
    if len(uploads) > MAX_PHOTOS_PER_REQUEST:
        raise InvalidInput(
            f"At most {MAX_PHOTOS_PER_REQUEST} photos at once; send the rest in another batch.", code="too_many_photos"
        )
    return uploads


def enroll_uploads(person: Person, uploads: list[Upload]) -> list[dict]:
    """Enroll each photo; one result per photo, accepted or refused with its reason (never raises for a photo)."""
    from ...services import enrollment

    results = []
    for upload in uploads:
        try:
            sample = enrollment.enroll_image_bytes(person, upload.data, upload.name)
        except ModelUnavailable:
            raise  # not the photo's fault: a 503 that names the missing file; stop here
        except KioskError as err:  # EnrollmentRefused (an UnprocessableImage) and its kin
            db.session.rollback()
            results.append(
                {
                    "file": upload.name,
                    "accepted": False,
                    "code": err.code,
                    "message": str(err),
                    **_warning_fields(err),
                }
            )
            continue
        results.append(
            {
                "file": upload.name,
                "accepted": True,
                "code": "accepted",
                "message": "Enrolled.",
                "sample": sample_dict(sample),
                **_warning_fields(sample),
            }
        )
    return results


def _warning_fields(source: object) -> dict:
    """The duplicate-enrollment warning, whichever attribute the enrollment service put it on."""
    warning = getattr(source, "warning", None) or getattr(source, "duplicate_warning", None)
    extra = getattr(source, "extra", None)
    if not warning and isinstance(extra, dict):
        warning = extra.get("warning") or extra.get("duplicate_warning")
    if not warning:
        return {}
    if isinstance(warning, dict):
        return {"warning": warning.get("message") or str(warning), "warning_detail": warning}
    return {"warning": str(warning)}


def sample_dict(sample: FaceSample) -> dict:
    return {
        "id": sample.id,
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
        "samples": len(person.samples),
        "events": events,
        "url": url_for("admin.person_page", person_id=person.id),
    }
    if with_samples:
        record["face_samples"] = [sample_dict(s) for s in sorted(person.samples, key=lambda s: s.id)]
    return record


def deletion_preview(person: Person) -> dict:
    """What deleting ``person`` removes, said before it is done."""
    files = people_service.biometric_files(person)
    photos = sum(1 for e in person.events for p in (e.photo_path, e.original_photo_path) if p)
    return {
        "name": person.name,
        "samples": len(person.samples),
        "events": len(person.events),
        "photos": photos,
        "files": len(files),
    }


def delete_sample(person: Person, sample_id: int) -> None:
    sample = db.session.get(FaceSample, sample_id)
    if sample is None or sample.person_id != person.id:
        raise NotFound("No such face sample for this person.")
    crop = sample.crop_path
    db.session.delete(sample)
    db.session.commit()
    storage.remove(crop)
    people_service._notify_people_changed()


def form_or_json() -> dict:
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise InvalidInput("The request body must be a JSON object.", code="bad_json")
        return body
    return request.form.to_dict()


def parse_bool(value: object, field: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise InvalidInput(f"{field} must be true or false.", code="bad_boolean", field=field)


# ---------------------------------------------------------------------------- routes


@api_bp.get("/people")
@admin_required
def people_list():
    people = people_service.list_people(request.args.get("q"))
    return jsonify({"people": [p.as_dict() for p in people]})


@api_bp.post("/people")
@admin_required
def people_create():
    body = form_or_json()
    if "name" not in body:
        raise InvalidInput("The field 'name' is missing.", code="missing_name", field="name")
    person = people_service.create_person(body.get("name") or "", body.get("external_id") or None)
    return jsonify(person_dict(person, with_samples=True)), 201


@api_bp.get("/people/<int:person_id>")
@admin_required
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
        people_service.rename_person(person, body["name"] or "")
    if "active" in body:
        people_service.set_active(person, parse_bool(body["active"], "active"))
    return jsonify(person_dict(person, with_samples=True))


@api_bp.get("/people/<int:person_id>/deletion")
@admin_required
def people_deletion_preview(person_id: int):
    return jsonify(deletion_preview(people_service.get_person(person_id)))


@api_bp.delete("/people/<int:person_id>")
@admin_required
def people_delete(person_id: int):
    report = people_service.delete_person(people_service.get_person(person_id))
    return jsonify({"deleted": report.as_dict()})


@api_bp.post("/people/<int:person_id>/samples")
@admin_required
def people_enroll(person_id: int):
    person = people_service.get_person(person_id)
    results = enroll_uploads(person, read_uploads())
    accepted = sum(1 for r in results if r["accepted"])
    body = {"person": person_dict(person), "accepted": accepted, "refused": len(results) - accepted, "results": results}
    if accepted:
        return jsonify(body), 201
    # Every photo was refused: a 422 like any other refusal (error + message), each result says why.
    reasons = "; ".join(r["message"] for r in results[:3])
    return jsonify({"error": "no_photo_accepted", "message": f"No photo was enrolled: {reasons}", **body}), 422


@api_bp.delete("/people/<int:person_id>/samples/<int:sample_id>")
@admin_required
def people_sample_delete(person_id: int, sample_id: int):
    delete_sample(people_service.get_person(person_id), sample_id)
    return jsonify({"deleted": sample_id})


@api_bp.post("/enrollment/check-frame")
@admin_required
def enrollment_check_frame():
    """Live webcam feedback for enrollment: runs the face detector's frame analysis on one frame."""
    if request.is_json:
        body = request.get_json(silent=True) or {}
        data = _decode_data_url(body.get("image") if isinstance(body, dict) else None, 0)
    else:
        file = request.files.get("frame")
        if file is None:
            raise InvalidInput("Send the frame as multipart 'frame' or JSON {\"image\": data URL}.", code="missing_frame")
        data = file.read()
    return jsonify(check_frame(data))


def check_frame(data: bytes) -> dict:
    """Verdict for one webcam frame: ``ok`` only when exactly one usable face is seen."""
    from ...vision import faces
    from ...vision.image import BadImage, decode_image

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
    messages = {
        "ok": "Exactly one face, sharp and well lit: take the photo.",
        "no_face": "No face seen: look at the camera.",
        "multiple_faces": f"{len(analysis.faces)} faces seen: only the person being enrolled may be in view.",
        "face_too_small": "The face is too small: come closer to the camera.",
    }
    message = messages.get(status) or analysis.message or status.replace("_", " ")
    boxes = [
        [round(f.box[0] / width, 4), round(f.box[1] / height, 4), round(f.box[2] / width, 4), round(f.box[3] / height, 4)]
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
