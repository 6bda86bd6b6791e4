"""Admin pages under /admin/. Every route is wrapped by ``admin_required`` (anonymous -> sign-in).

Pages are plain HTML forms (they work without JavaScript); the webcam enrollment, the
live face check, the gesture recorder and the training progress bar add JavaScript on
top and talk to the JSON API in ``kiosk/web/api/``. Both call the same services (and read
forms with ``kiosk/web/forms.py``), so a photo is refused for the same reason whichever way
it arrives.

Routes (GET unless marked POST):

- ``/admin/``                                        dashboard: today, 30-day chart, model status
- ``/admin/people`` , POST ``/admin/people``         list with search; add (optionally with photos)
- ``/admin/people/import`` , POST                    bulk import: upload a ZIP or a CSV with photos; a
                                                     background job with its progress, then the summary
- POST ``/admin/people/import/<staged>/resume`` , ``/discard``   an interrupted import's upload
- ``/admin/people/<id>``                             face crops with quality, enroll, rename, (de)activate
- POST ``/admin/people/<id>/enroll``                 upload several photos
- POST ``/admin/people/<id>/rename`` , ``/active``   rename; activate or deactivate
- ``/admin/people/<id>/delete`` , POST               says what will be deleted, then deletes
- POST ``/admin/people/<id>/samples/<sid>/delete``   remove one enrollment photo
- POST ``/admin/people/<id>/learned/<sid>/delete``   remove one face learned from a check-in
- POST ``/admin/people/<id>/learned/delete``         remove all of a person's learned faces
- ``/admin/people/<id>/samples/<sid>/crop``          a face crop, enrolled or learned (admin only, by id, never by path)
- ``/admin/attendance``                              day view with filters (from, to, person)
- ``/admin/attendance/person/<id>``                  person view
- ``/admin/attendance/export``                       CSV / XLSX of the filtered events
- ``/admin/attendance/<eid>`` , POST ``/memo`` , POST ``/delete``    one check-in
- ``/admin/attendance/<eid>/photo.png``              its PNG (``?download=1``, ``?original=1``)
- ``/admin/reports``                                 monthly summary per person
- ``/admin/models`` , POST ``/admin/models/<kind>/train``   model facts, background retraining
- ``/admin/models/gestures``                         record gesture samples with the webcam
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, send_file, url_for
from sqlalchemy import func, select
from werkzeug.exceptions import RequestEntityTooLarge

from .. import sitetime, storage
from ..errors import InvalidInput, KioskError, NotFound
from ..extensions import csrf, db
from ..models import AttendanceEvent, FaceSample, Person, SampleKind
from ..services import attendance as attendance_service
from ..services import enrollment, learning, model_status, photos, reports, training_jobs
from ..services.bulk_import.job import start_import_job
from ..services.bulk_import.uploads import MAX_UPLOADED_FILES, StagedImport, stage_upload, staged_import
from ..services.import_sources import SourceRefused
from ..services import people as people_service
from .exports import export_response
from .forms import MAX_PHOTOS_PER_REQUEST, memo_text, parse_bool, read_uploads
from .request_body import upload_request_limit
from .security import admin_required

admin_bp = Blueprint("admin", __name__, url_prefix="/admin")


@admin_bp.before_request
@admin_required
def _admins_only():
    """Belt and braces: every route below is also decorated, but a forgotten one stays closed."""
    return None


@admin_bp.after_request
def _no_store(response):
    # Admin pages show names and faces: keep them out of shared caches and the back-button cache.
    response.headers.setdefault("Cache-Control", "no-store")
    return response


@admin_bp.context_processor
def _admin_context():
    return {"site_timezone": str(sitetime.site_timezone())}


@admin_bp.app_template_filter("sitetime")
def _sitetime(value, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored UTC datetime (or an ISO 8601 string with its offset) shown in the site's time zone."""
    if not value:
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
    return sitetime.to_local(value).strftime(fmt)


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


def _all_people() -> list[Person]:
    return list(db.session.scalars(select(Person).order_by(func.lower(Person.name))))


# ---------------------------------------------------------------------------- dashboard


@admin_bp.get("/")
@admin_required
def dashboard():
    today = sitetime.local_today()
    start = today - timedelta(days=29)
    counts = reports.daily_counts(start, today)
    today_days = reports.attendance_days(today, today)
    stats = {
        "people": db.session.scalar(select(func.count(Person.id)).where(Person.active.is_(True))),
        "inactive": db.session.scalar(select(func.count(Person.id)).where(Person.active.is_(False))),
        "samples": db.session.scalar(select(func.count(FaceSample.id)).where(FaceSample.kind == SampleKind.enrollment)),
        "present_today": len(today_days),
        "events": db.session.scalar(select(func.count(AttendanceEvent.id))),
    }
    return render_template(
        "admin/dashboard.html",
        stats=stats,
        counts=stats,  # the lead's first dashboard used this name
        today=today,
        today_days=today_days[-12:][::-1],
        chart_svg=reports.daily_chart_svg(counts),
        chart_from=start,
        face_model=model_status.face_model_info(),
        jobs=training_jobs.latest_jobs(),
    )


# ---------------------------------------------------------------------------- people


@admin_bp.get("/people")
@admin_required
def people():
    search = (request.args.get("q") or "").strip()
    return render_template("admin/people.html", people=people_service.list_people(search or None), search=search)


@admin_bp.post("/people")
@admin_required
def people_create():
    """Add a person, with photos or without. With photos, the name and every photo are checked
    before anything is written, and the person is added with the accepted photos in one
    transaction: a refused request (a bad name, too many photos, every photo refused) or one that
    fails half-way leaves no one behind (see enrollment.create_person_with_photos)."""
    if "name" not in request.form:
        raise InvalidInput("The form has no 'name' field.", code="missing_name")
    name, external_id = request.form.get("name", ""), request.form.get("external_id") or None
    try:
        if not any(f.filename for f in request.files.getlist("photos")):
            person = people_service.create_person(name, external_id)
            flash(f"{person.name} was added. Now add a few photos of their face.", "success")
            return redirect(url_for("admin.person_page", person_id=person.id), 303)
        person, results = enrollment.create_person_with_photos(name, external_id, read_uploads())
    except KioskError as err:
        flash(str(err), "error")
        return _people_page_with_form(), err.status
    if person is None:
        flash("Nobody was added: none of the photos could be enrolled (the reasons are below). "
              "Choose other photos and add the person again.", "error")
        return _people_page_with_form(results), 422
    return _person_page(person, results=results, status=201)


def _people_page_with_form(results: list[enrollment.EnrollmentOutcome] | None = None) -> str:
    """The people page again, with what the admin typed, after a refused "add person"."""
    search = (request.args.get("q") or "").strip()
    return render_template(
        "admin/people.html",
        people=people_service.list_people(search or None),
        search=search,
        form={"name": request.form.get("name", ""), "external_id": request.form.get("external_id", "")},
        results=results,
    )


# ---------------------------------------------------------------------------- bulk import


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
        error = SourceRefused(
            f"The upload is too large: an import may be at most {limit} MB (or {MAX_UPLOADED_FILES} "
            "files). Split it in parts, or import it on the server with `kiosk people import`.",
            code="too_large",
            status=413,
        )
        flash(str(error), "error")
        return _import_page(status=413)
    try:
        if source is None or not source.filename:
            raise InvalidInput("Choose a ZIP archive or a CSV file to import.", code="missing_source")
        staged = stage_upload(source, photo_files)
    except KioskError as err:
        flash(str(err), "error")
        return _import_page(status=err.status)
    started = f"Importing {staged.label} in the background; the kiosk keeps working meanwhile."
    return _start_import(staged, started, discard_on_error=True)


@admin_bp.post("/people/import/<staged_id>/resume")
@admin_required
def people_import_resume(staged_id: str):
    staged = staged_import(staged_id)
    return _start_import(staged, f"Resuming the import of {staged.label}: photos already imported are skipped.")


def _start_import(staged: StagedImport, started: str, *, discard_on_error: bool = False):
    try:
        job = start_import_job(staged)
    except KioskError as err:  # another import is running
        if discard_on_error:
            staged.discard()
        flash(str(err), "error")
        return _import_page(status=err.status)
    flash(started, "info")
    return redirect(url_for("admin.people_import", job=job.id), 303)


@admin_bp.post("/people/import/<staged_id>/discard")
@admin_required
def people_import_discard(staged_id: str):
    staged_import(staged_id).discard()
    flash("The upload was deleted. What was imported before stays.", "success")
    return redirect(url_for("admin.people_import"), 303)


def _person_page(person: Person, *, results: list[enrollment.EnrollmentOutcome] | None = None, status: int = 200):
    samples = person.enrollment_samples
    recent = list(
        db.session.scalars(
            select(AttendanceEvent)
            .where(AttendanceEvent.person_id == person.id)
            .order_by(AttendanceEvent.timestamp.desc())
            .limit(5)
        )
    )
    return (
        render_template(
            "admin/person.html",
            person=person,
            samples=samples,
            learned=learning.learned_samples(person),
            learning_on=learning.enabled(),
            learning_cap=learning.policy().max_learned_per_person,
            results=results,
            recent_events=recent,
            event_count=len(person.events),
            max_photos=MAX_PHOTOS_PER_REQUEST,
        ),
        status,
    )


@admin_bp.get("/people/<int:person_id>")
@admin_required
def person_page(person_id: int):
    return _person_page(people_service.get_person(person_id))


@admin_bp.post("/people/<int:person_id>/enroll")
@admin_required
def person_enroll(person_id: int):
    person = people_service.get_person(person_id)
    try:
        uploads = read_uploads()
    except InvalidInput as err:
        flash(str(err), "error")
        return _person_page(person, status=err.status)
    results = enrollment.enroll_photos(person, uploads)
    accepted = sum(1 for r in results if r.accepted)
    return _person_page(person, results=results, status=201 if accepted else 422)


@admin_bp.post("/people/<int:person_id>/rename")
@admin_required
def person_rename(person_id: int):
    person = people_service.get_person(person_id)
    if "name" not in request.form:
        raise InvalidInput("The form has no 'name' field.", code="missing_name")
    try:
        people_service.rename_person(person, request.form["name"])
    except KioskError as err:
        db.session.rollback()
        flash(str(err), "error")
        return _person_page(person, status=err.status)
    flash(f"Renamed to {person.name}.", "success")
    return redirect(url_for("admin.person_page", person_id=person.id), 303)


@admin_bp.post("/people/<int:person_id>/active")
@admin_required
def person_set_active(person_id: int):
    person = people_service.get_person(person_id)
    if "active" not in request.form:
        raise InvalidInput("The form has no 'active' field.", code="missing_active")
    active = parse_bool(request.form["active"], "active")
    people_service.set_active(person, active)
    flash(
        f"{person.name} is active again." if active else f"{person.name} is deactivated: the kiosk will not check them in.",
        "success",
    )
    return redirect(url_for("admin.person_page", person_id=person.id), 303)


@admin_bp.get("/people/<int:person_id>/delete")
@admin_required
def person_delete_confirm(person_id: int):
    person = people_service.get_person(person_id)
    return render_template("admin/person_delete.html", person=person, preview=people_service.deletion_preview(person))


@admin_bp.post("/people/<int:person_id>/delete")
@admin_required
def person_delete(person_id: int):
    person = people_service.get_person(person_id)
    report = people_service.delete_person(person)
    flash(
        f"Deleted {report.name}: {report.samples} face sample(s), {report.events} attendance event(s) "
        f"and {report.files} file(s). Retrain the face model so the kiosk forgets them everywhere.",
        "success",
    )
    return redirect(url_for("admin.people"), 303)


@admin_bp.post("/people/<int:person_id>/samples/<int:sample_id>/delete")
@admin_required
def sample_delete(person_id: int, sample_id: int):
    person = people_service.get_person(person_id)
    people_service.delete_sample(person, sample_id)
    flash("The photo was removed. Retrain the face model to apply the change.", "success")
    return redirect(url_for("admin.person_page", person_id=person.id) + "#samples", 303)


@admin_bp.post("/people/<int:person_id>/learned/<int:sample_id>/delete")
@admin_required
def learned_delete(person_id: int, sample_id: int):
    person = people_service.get_person(person_id)
    learning.forget(person, sample_id)
    flash("The learned face was removed; the kiosk no longer uses it.", "success")
    return redirect(url_for("admin.person_page", person_id=person.id) + "#learned", 303)


@admin_bp.post("/people/<int:person_id>/learned/delete")
@admin_required
def learned_delete_all(person_id: int):
    person = people_service.get_person(person_id)
    removed = learning.forget(person)
    flash(f"Removed {removed} learned face(s) of {person.name}; the kiosk no longer uses them.", "success")
    return redirect(url_for("admin.person_page", person_id=person.id) + "#learned", 303)


@admin_bp.get("/people/<int:person_id>/samples/<int:sample_id>/crop")
@admin_required
def sample_crop(person_id: int, sample_id: int):
    sample = db.session.get(FaceSample, sample_id)
    if sample is None or sample.person_id != person_id:
        raise NotFound("No such face sample.")
    return _send_stored(sample.crop_path)  # type from the stored suffix (PNG crops)


def _send_stored(relative: str | None, mimetype: str | None = None, *, download_name: str | None = None):
    """Send a file stored under the data dir; paths come from the database, never from the URL."""
    if not relative:
        raise NotFound("There is no file for this item.")
    try:
        path = storage.resolve(relative)
    except storage.UnsafePath:
        current_app.logger.error("A stored path points outside the data directory; refusing to serve it.")
        abort(404)
    if not path.is_file():
        raise NotFound("The file is missing (it may have been purged by the retention rule).")
    response = send_file(
        path,
        mimetype=mimetype,
        as_attachment=download_name is not None,
        download_name=download_name,
        conditional=True,
        max_age=0,
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response


# ---------------------------------------------------------------------------- attendance


def _filters(default_days: int = 7):
    start, end = reports.parse_range(request.args.get("from"), request.args.get("to"), default_days=default_days)
    person_id = reports.parse_person_id(request.args.get("person_id"))
    return start, end, person_id


@admin_bp.get("/attendance")
@admin_required
def attendance():
    start, end, person_id = _filters()
    days = reports.attendance_days(start, end, person_id)
    grouped: dict = {}
    for day in sorted(days, key=lambda d: (d.day, d.time_in), reverse=False):
        grouped.setdefault(day.day, []).append(day)
    return render_template(
        "admin/attendance.html",
        grouped=sorted(grouped.items(), reverse=True),
        start=start,
        end=end,
        person_id=person_id,
        people=_all_people(),
        total_events=sum(len(d.events) for d in days),
    )


@admin_bp.get("/attendance/person/<int:person_id>")
@admin_required
def attendance_person(person_id: int):
    person = people_service.get_person(person_id)
    start, end = reports.parse_range(request.args.get("from"), request.args.get("to"), default_days=31)
    days = reports.attendance_days(start, end, person.id)
    return render_template(
        "admin/attendance_person.html", person=person, days=list(reversed(days)), start=start, end=end,
        people=_all_people(),
    )


@admin_bp.get("/attendance/export")
@admin_required
def attendance_export():
    start, end, person_id = _filters()
    fmt = reports.parse_format(request.args.get("format"))
    return export_response(start, end, fmt, person_id)


@admin_bp.get("/attendance/<int:event_id>")
@admin_required
def event_page(event_id: int):
    event = attendance_service.get_event(event_id)
    return render_template("admin/event.html", event=event, local=sitetime.to_local(event.timestamp))


@admin_bp.post("/attendance/<int:event_id>/memo")
@admin_required
def event_memo(event_id: int):
    event = attendance_service.get_event(event_id)
    if "memo" not in request.form:
        raise InvalidInput("The form has no 'memo' field.", code="missing_memo")
    photos.rewrite_memo(event, memo_text(request.form["memo"]))
    flash("The memo was saved and redrawn on the photo.", "success")
    return redirect(url_for("admin.event_page", event_id=event.id), 303)


@admin_bp.post("/attendance/<int:event_id>/delete")
@admin_required
def event_delete(event_id: int):
    event = attendance_service.get_event(event_id)
    person_id = event.person_id
    attendance_service.delete_event(event)
    flash("The check-in and its photos were deleted.", "success")
    return redirect(url_for("admin.attendance_person", person_id=person_id), 303)


@admin_bp.get("/attendance/<int:event_id>/photo.png")
@admin_required
def event_photo(event_id: int):
    event = attendance_service.get_event(event_id)
    original = request.args.get("original") == "1"
    relative = event.original_photo_path if original else event.photo_path
    download = request.args.get("download") == "1"
    stamp = sitetime.to_local(event.timestamp).strftime("%Y-%m-%d_%H%M")
    suffix = (relative or "").rsplit(".", 1)[-1].lower() if relative and "." in relative else "png"
    name = f"checkin_{event.id}_{stamp}{'_original' if original else ''}.{suffix}"
    return _send_stored(relative, download_name=name if download else None)


# ---------------------------------------------------------------------------- reports


@admin_bp.get("/reports")
@admin_required
def reports_page():
    first_day = reports.parse_month(request.args.get("month"))
    start, end = reports.month_range(first_day)
    summary = reports.monthly_summary(first_day)
    previous = (first_day - timedelta(days=1)).replace(day=1)
    following = end + timedelta(days=1)
    return render_template(
        "admin/reports.html",
        month=first_day,
        start=start,
        end=end,
        summary=summary,
        previous=previous,
        following=following,
        working_days=sum(1 for _, n in reports.daily_counts(start, end) if n),
        chart_svg=reports.daily_chart_svg(reports.daily_counts(start, end), title="People present per day"),
    )


# ---------------------------------------------------------------------------- models


@admin_bp.get("/models")
@admin_required
def models_page():
    return render_template(
        "admin/models.html",
        face_model=model_status.face_model_info(),
        gesture=model_status.gesture_model_info(),
        jobs=training_jobs.latest_jobs(),
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
        job = training_jobs.start_job(kind)
    except KioskError as err:
        flash(str(err), "error")
        return redirect(url_for("admin.models_page"), 303)
    flash(f"Retraining the {job.kind} model in the background; the kiosk keeps using the current one meanwhile.", "info")
    return redirect(url_for("admin.models_page", job=job.id), 303)


@admin_bp.get("/models/gestures")
@admin_required
def gestures_page():
    return render_template(
        "admin/gestures.html", gesture=model_status.gesture_model_info(), labels=model_status.GESTURE_LABELS
    )
