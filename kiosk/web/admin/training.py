"""The models page: what each model is, and retraining it in the background."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext

from ...errors import KioskError
from ...services import model_status, training_jobs
from ..audit_actor import admin_actor
from ..console_errors import refusal
from ..security import admin_required
from . import admin_bp


def job_outcome(job: training_jobs.TrainingJob) -> str:
    """One line an admin can read about a finished job."""
    if job.error:
        return job.error
    result = job.result or {}
    if job.kind == "faces":
        parts = [f"{result.get('people', '?')} people", f"{result.get('samples', '?')} photos"]
        if result.get("cv_accuracy") is not None:
            parts.append(f"cross-validated accuracy {float(result['cv_accuracy']) * 100:.1f}%")
        if result.get("embedder"):
            parts.append(f"embedder {result['embedder']}" + (f" {result['weights']}" if result.get("weights") else ""))
    else:
        counts = result.get("site_samples") or {}
        parts = [", ".join(f"{n} {label}" for label, n in counts.items()) + " site samples"] if counts else []
    if result.get("seconds") is not None:
        parts.append(f"{result['seconds']} s")
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
    flash(gettext("Updating face recognition in the background; the kiosk keeps using the current model meanwhile.")
          if job.kind == "faces" else
          gettext("Retraining the gesture model in the background; the kiosk keeps using the current one meanwhile."),
          "info")
    return redirect(url_for("admin.models_page", job=job.id), 303)
