"""What the admin sees about the site's models: facts about the face and gesture models in use,
and whether enrollments changed since the face model was trained (the admin should retrain).

A broken model file never takes the console down: its facts say why it could not be read.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Callable

from sqlalchemy import func, select

from ..errors import KioskError
from ..extensions import db
from ..models import FaceSample, GestureSample, Person, SampleKind
from ..vision.gestures import GESTURES
from . import gesture_samples, recognition

log = logging.getLogger(__name__)


def _read_facts(read: Callable[[], Any], model: str, info: dict[str, Any]) -> Any:
    """``read()``; when the model file cannot be read, None and ``info["error"]`` says why: a
    broken model file must not take the console down (the admin sees why and can retrain)."""
    try:
        return read()
    except (KioskError, OSError, ValueError) as err:
        log.warning("%s model info unavailable: %s", model.capitalize(), type(err).__name__)
        info["error"] = f"The {model} model could not be read: {err}"
        return None


def face_model_info() -> dict[str, Any]:
    """Facts about the face model in use, plus whether enrollments changed since it was trained."""
    info: dict[str, Any] = {"trained": False}
    raw = _read_facts(recognition.model_info, "face", info)
    if isinstance(raw, dict) and raw:
        info.update(raw)
        info["trained"] = bool(raw.get("trained", True))
    # Enrollment photos only: samples learned from check-ins are added to the model as they come
    # (kiosk.services.learning) and must not make it look stale.
    enrollment = FaceSample.kind == SampleKind.enrollment
    active_samples = select(FaceSample).join(Person).where(Person.active.is_(True), enrollment).subquery()
    enrolled = {
        "people_enrolled": db.session.scalar(select(func.count(func.distinct(active_samples.c.person_id)))),
        "samples_enrolled": db.session.scalar(select(func.count()).select_from(active_samples)),
        "last_enrolled_at": _iso(db.session.scalar(select(func.max(FaceSample.created_at)).where(enrollment))),
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


def recognition_status(info: dict[str, Any], job: Any = None, pending: bool = False) -> dict[str, Any]:
    """Where face recognition stands, for a person without the ML words: ``state`` is one of
    ``broken`` (the model file cannot be read), ``updating`` (a retraining runs), ``empty`` (nobody
    enrolled yet), ``not_set_up`` (enrolled, never trained), ``out_of_date`` (enrollments changed
    since) or ``up_to_date``; with the people recognised and enrolled, and the last failure."""
    running = bool(job is not None and job.running)
    failed = job.error if job is not None and not running and job.state == "failed" else None
    if running:
        state = "updating"
    elif info.get("error"):
        state = "broken"
    elif not info.get("trained"):
        state = "not_set_up" if info.get("samples_enrolled") else "empty"
    elif info.get("stale") or pending:
        state = "out_of_date"
    else:
        state = "up_to_date"
    return {"state": state, "people": info.get("people") or 0, "people_enrolled": info.get("people_enrolled") or 0,
            "photos_enrolled": info.get("samples_enrolled") or 0, "failed": failed, "more_to_come": pending}


def gesture_model_info() -> dict[str, Any]:
    counts = dict(db.session.execute(select(GestureSample.label, func.count()).group_by(GestureSample.label)).all())
    info: dict[str, Any] = {"samples": {label: int(counts.get(label, 0)) for label in GESTURES}}
    raw = _read_facts(gesture_samples.model_info, "gesture", info)
    if isinstance(raw, dict):
        info["model"] = raw
    return info
