"""People: the list, adding someone (with photos or without), a person's page and what it changes
(photos, name, active, learned faces, deletion)."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext

from ...errors import InvalidInput, KioskError
from ...extensions import db
from ...models import Person
from ...services import attendance as attendance_service
from ...services import enrollment, groups, learning, training_jobs
from ...services import people as people_service
from ..audit_actor import admin_actor
from ..console_errors import refusal
from ..forms import MAX_PHOTOS_PER_REQUEST, parse_bool, read_uploads
from ..security import admin_required
from . import admin_bp
from .stored_files import send_stored


@admin_bp.get("/people")
@admin_required
def people():
    search = (request.args.get("q") or "").strip()
    group_id = groups.parse_group_id(request.args.get("group_id"))
    listed = people_service.list_people(search or None)
    group_of = groups.group_of_people()
    if group_id is not None:
        name = groups.get_group(group_id).name
        listed = [p for p in listed if group_of.get(p.id) == name]
    return render_template("admin/people.html", people=listed, search=search, group_of=group_of,
                           groups=groups.all_groups(), group_id=group_id)


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
            person = people_service.create_person(name, external_id, actor=admin_actor())
            flash(gettext("%(name)s was added. Now add a few photos of their face.", name=person.name), "success")
            return redirect(url_for("admin.person_page", person_id=person.id), 303)
        person, results = enrollment.create_person_with_photos(name, external_id, read_uploads(),
                                                              actor=admin_actor())
    except KioskError as err:
        flash(refusal(err), "error")
        return _people_page_with_form(), err.status
    if person is None:
        flash(gettext("Nobody was added: none of the photos could be enrolled (the reasons are below). "
                      "Choose other photos and add the person again."), "error")
        return _people_page_with_form(results), 422
    training_jobs.retrain_after_change(actor=admin_actor())
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


def _person_page(person: Person, *, results: list[enrollment.EnrollmentOutcome] | None = None, status: int = 200):
    samples = person.enrollment_samples
    recent = attendance_service.recent_events(person.id, limit=5)
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
        flash(refusal(err), "error")
        return _person_page(person, status=err.status)
    results = enrollment.enroll_photos(person, uploads, actor=admin_actor())
    accepted = sum(1 for r in results if r.accepted)
    if accepted:
        training_jobs.retrain_after_change(actor=admin_actor())
    return _person_page(person, results=results, status=201 if accepted else 422)


@admin_bp.post("/people/<int:person_id>/rename")
@admin_required
def person_rename(person_id: int):
    person = people_service.get_person(person_id)
    if "name" not in request.form:
        raise InvalidInput("The form has no 'name' field.", code="missing_name")
    try:
        people_service.rename_person(person, request.form["name"], actor=admin_actor(),
                                     reason=request.form.get("reason"))
    except KioskError as err:
        db.session.rollback()
        flash(refusal(err), "error")
        return _person_page(person, status=err.status)
    flash(gettext("Renamed to %(name)s.", name=person.name), "success")
    return redirect(url_for("admin.person_page", person_id=person.id), 303)


@admin_bp.post("/people/<int:person_id>/active")
@admin_required
def person_set_active(person_id: int):
    person = people_service.get_person(person_id)
    if "active" not in request.form:
        raise InvalidInput("The form has no 'active' field.", code="missing_active")
    active = parse_bool(request.form["active"], "active")
    people_service.set_active(person, active, actor=admin_actor())
    flash(gettext("%(name)s is active again.", name=person.name) if active else
          gettext("%(name)s is deactivated: the kiosk will not check them in.", name=person.name), "success")
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
    report = people_service.delete_person(person, actor=admin_actor(), reason=request.form.get("reason"))
    retraining = training_jobs.retrain_after_change(actor=admin_actor()) or training_jobs.retrain_pending()
    flash(
        gettext("Deleted %(name)s: %(samples)s face sample(s), %(events)s attendance event(s) and %(files)s file(s).",
                name=report.name, samples=report.samples, events=report.events, files=report.files) + " "
        + (gettext("Recognition is being updated in the background.") if retraining else
           gettext("Update recognition on the Recognition page so the kiosk forgets them everywhere.")),
        "success",
    )
    return redirect(url_for("admin.people"), 303)


@admin_bp.post("/people/<int:person_id>/samples/<int:sample_id>/delete")
@admin_required
def sample_delete(person_id: int, sample_id: int):
    person = people_service.get_person(person_id)
    people_service.delete_sample(person, sample_id, actor=admin_actor())
    retraining = training_jobs.retrain_after_change(actor=admin_actor()) or training_jobs.retrain_pending()
    flash(gettext("The photo was removed.") + " " + (
        gettext("Recognition is being updated in the background.") if retraining else
        gettext("Update recognition on the Recognition page to apply the change.")), "success")
    return redirect(url_for("admin.person_page", person_id=person.id) + "#samples", 303)


@admin_bp.post("/people/<int:person_id>/learned/<int:sample_id>/delete")
@admin_required
def learned_delete(person_id: int, sample_id: int):
    person = people_service.get_person(person_id)
    learning.forget(person, sample_id, actor=admin_actor())
    flash(gettext("The learned face was removed; the kiosk no longer uses it."), "success")
    return redirect(url_for("admin.person_page", person_id=person.id) + "#learned", 303)


@admin_bp.post("/people/<int:person_id>/learned/delete")
@admin_required
def learned_delete_all(person_id: int):
    person = people_service.get_person(person_id)
    removed = learning.forget(person, actor=admin_actor())
    flash(gettext("Removed %(count)s learned face(s) of %(name)s; the kiosk no longer uses them.", count=removed,
                  name=person.name), "success")
    return redirect(url_for("admin.person_page", person_id=person.id) + "#learned", 303)


@admin_bp.get("/people/<int:person_id>/samples/<int:sample_id>/crop")
@admin_required
def sample_crop(person_id: int, sample_id: int):
    sample = people_service.get_sample(person_id, sample_id)
    return send_stored(sample.crop_path)  # type from the stored suffix (PNG crops)
