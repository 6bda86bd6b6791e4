"""The bulk import: upload a ZIP or a CSV with photos, follow its background job, resume or discard
an interrupted one (kiosk.services.bulk_import)."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from werkzeug.exceptions import RequestEntityTooLarge

from ...errors import InvalidInput, KioskError, NotFound
from ...extensions import csrf
from ...services import audit, training_jobs
from ...services.audit_actions import IMPORT_DISCARDED
from ...services.bulk_import.job import start_import_job
from ...services.bulk_import.uploads import MAX_UPLOADED_FILES, StagedImport, stage_upload, staged_import
from ..audit_actor import admin_actor
from ..console_errors import refusal
from ..request_body import upload_request_limit
from ..security import admin_required
from . import admin_bp


def _import_page(job: training_jobs.TrainingJob | None = None, status: int = 200):
    if job is None:
        job = training_jobs.latest_jobs().get("import")
    resumable = None
    if job is not None and job.state == "failed" and (job.detail or {}).get("staged"):
        try:
            resumable = staged_import(job.detail["staged"])
        except NotFound:
            resumable = None
    page = render_template(
        "admin/import.html",
        job=job,
        resumable=resumable,
        max_mb=current_app.config.get("KIOSK_IMPORT_MAX_MB"),
    )
    return page, status


@admin_bp.get("/people/import")
@admin_required
def people_import():
    job_id = request.args.get("job")
    job = training_jobs.get_job(job_id) if job_id else None
    if job is not None and job.kind != "import":
        raise NotFound("No such import.")
    return _import_page(job)


@admin_bp.post("/people/import")
@admin_required
@csrf.exempt  # checked below, once the body limit is the import's (the global check would parse it at 20 MB)
def people_import_upload():
    request.max_content_length = upload_request_limit(current_app.config["KIOSK_IMPORT_MAX_MB"])
    request.max_form_parts = MAX_UPLOADED_FILES + 10
    try:
        csrf.protect()
        source = request.files.get("source")
        photo_files = request.files.getlist("photos")
    except RequestEntityTooLarge:
        limit = current_app.config.get("KIOSK_IMPORT_MAX_MB")
        flash(gettext("The upload is too large: an import may be at most %(limit)s MB (or %(files)s files). Split it "
                      "in parts, or import it on the server with `kiosk people import`.", limit=limit,
                      files=MAX_UPLOADED_FILES), "error")
        return _import_page(status=413)
    try:
        if source is None or not source.filename:
            raise InvalidInput("Choose a ZIP archive or a CSV file to import.", code="missing_source")
        staged = stage_upload(source, photo_files)
    except KioskError as err:
        flash(refusal(err), "error")
        return _import_page(status=err.status)
    started = gettext("Importing %(source)s in the background; the kiosk keeps working meanwhile.", source=staged.label)
    return _start_import(staged, started, discard_on_error=True)


@admin_bp.post("/people/import/<staged_id>/resume")
@admin_required
def people_import_resume(staged_id: str):
    staged = staged_import(staged_id)
    return _start_import(staged, gettext("Resuming the import of %(source)s: photos already imported are skipped.",
                                         source=staged.label))


def _start_import(staged: StagedImport, started: str, *, discard_on_error: bool = False):
    try:
        job = start_import_job(staged, actor=admin_actor())
    except KioskError as err:  # another import is running
        if discard_on_error:
            staged.discard()
        flash(refusal(err), "error")
        return _import_page(status=err.status)
    flash(started, "info")
    return redirect(url_for("admin.people_import", job=job.id), 303)


@admin_bp.post("/people/import/<staged_id>/discard")
@admin_required
def people_import_discard(staged_id: str):
    staged = staged_import(staged_id)
    staged.discard()
    audit.record_now(IMPORT_DISCARDED, audit.Target("import", None, staged.label), actor=admin_actor())
    flash(gettext("The upload was deleted. What was imported before stays."), "success")
    return redirect(url_for("admin.people_import"), 303)
