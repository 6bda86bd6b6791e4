"""The models page: what each model is, and retraining it in the background."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_babel import format_decimal, format_percent, ngettext
from flask_babel import gettext as _

from ...errors import KioskError
from ...services import model_status, training_jobs
from ..audit_actor import admin_actor
from ..console_errors import refusal
from ..security import admin_required
from . import admin_bp
from .gestures import GESTURE_WORDS


def job_outcome(job: training_jobs.TrainingJob) -> str:
    """One line an admin can read about a finished job, in the console's language."""
    if job.error:
        return job.error
    result = job.result or {}
    if job.kind == "faces":
        parts = []
        if result.get("people") is not None:
            parts.append(ngettext("%(num)s person", "%(num)s people", int(result["people"])))
        if result.get("samples") is not None:
            parts.append(ngettext("%(num)s photo", "%(num)s photos", int(result["samples"])))
        if result.get("cv_accuracy") is not None:
            parts.append(_("cross-validated accuracy %(accuracy)s",
                           accuracy=format_percent(float(result["cv_accuracy"]), "#,##0.0%")))
        if result.get("embedder"):
            parts.append(_("embedder %(embedder)s", embedder=" ".join(
                str(part) for part in (result["embedder"], result.get("weights")) if part)))
    else:
        counts = result.get("site_samples") or {}
        parts = [_("site samples: %(counts)s", counts=", ".join(f"{label} {n}" for label, n in counts.items()))] \
            if counts else []
    if result.get("seconds") is not None:
        parts.append(_("%(seconds)s s", seconds=format_decimal(result["seconds"])))
    return "; ".join(parts) if parts else job.stage


@admin_bp.get("/models")
@admin_required
def models_page():
    face_model, jobs = model_status.face_model_info(), training_jobs.latest_jobs()
    return render_template(
        "admin/models.html",
        face_model=face_model,
        recognition=model_status.recognition_status(face_model, jobs.get("faces"), training_jobs.retrain_pending()),
        gesture=model_status.gesture_model_info(),
        gesture_words=GESTURE_WORDS,
        jobs=jobs,
        history=[
            (job, job_outcome(job))
            for job in training_jobs.list_jobs()
            if job.kind in training_jobs.TRAINABLE_KINDS
        ][:8],
    )


@admin_bp.post("/models/<kind>/train")
@admin_required
def models_train(kind: str):
    try:
        job = training_jobs.start_job(kind, actor=admin_actor())
    except KioskError as err:
        flash(refusal(err), "error")
        return redirect(url_for("admin.models_page"), 303)
    flash(_("Updating face recognition in the background; the kiosk keeps using the current model meanwhile.")
          if job.kind == "faces" else
          _("Retraining the gesture model in the background; the kiosk keeps using the current one meanwhile."),
          "info")
    return redirect(url_for("admin.models_page", job=job.id), 303)
