"""Admin pages under /admin/: one blueprint (``admin``), one module per area. Every route is wrapped
by ``admin_required`` (anonymous -> sign-in).

Pages are plain HTML forms (they work without JavaScript); the webcam enrollment, the
live face check, the gesture recorder and the training progress bar add JavaScript on
top and talk to the JSON API in ``kiosk/web/api/``. Both call the same services (and read
forms with ``kiosk/web/forms.py``), so a photo is refused for the same reason whichever way
it arrives.

Routes (GET unless marked POST), by the module they are in:

``dashboard``   ``/admin/``: today, 30-day chart, model status
``people``      ``/admin/people`` , POST ``/admin/people``: list with search; add (optionally with photos)
                ``/admin/people/<id>``: face crops with quality, enroll, rename, (de)activate
                POST ``/admin/people/<id>/enroll``: upload several photos
                POST ``/admin/people/<id>/rename`` , ``/active``: rename; activate or deactivate
                ``/admin/people/<id>/delete`` , POST: says what will be deleted, then deletes
                POST ``/admin/people/<id>/samples/<sid>/delete``: remove one enrollment photo
                POST ``/admin/people/<id>/learned/<sid>/delete``: remove one face learned from a check-in
                POST ``/admin/people/<id>/learned/delete``: remove all of a person's learned faces
                ``/admin/people/<id>/samples/<sid>/crop``: a face crop, enrolled or learned (admin only,
                by id, never by path)
``imports``     ``/admin/people/import`` , POST: bulk import: upload a ZIP or a CSV with photos; a
                background job with its progress, then the summary
                POST ``/admin/people/import/<staged>/resume`` , ``/discard``: an interrupted import's upload
``attendance``  ``/admin/attendance``: day view with filters (from, to, person)
                ``/admin/attendance/person/<id>``: person view
                ``/admin/attendance/export``: CSV / XLSX of the filtered events
                ``/admin/attendance/<eid>`` , POST ``/memo`` , POST ``/delete``: one check-in
                ``/admin/attendance/<eid>/photo.png``: its PNG (``?download=1``, ``?original=1``)
``reports``     ``/admin/reports``: monthly summary per person
``timesheets``  ``/admin/hours``: hours per person over a period (group filter), ``/admin/hours/export``:
                the summary or the timesheet as CSV / XLSX; ``/admin/hours/person/<id>``: a person's
                timesheet per working day; POST ``.../punches`` (add), POST ``/admin/punches/<eid>/change``,
                ``/remove``: corrections, always with a reason; POST ``.../group``: the person's group
``settings``    ``/admin/settings``: the attendance rules, weekly schedules, holidays, groups (POST
                ``/rules``, ``/schedule``, ``/holidays``, ``/holidays/<id>/delete``, ``/groups``,
                ``/groups/<id>/delete``)
``training``    ``/admin/models`` , POST ``/admin/models/<kind>/train``: model facts, background retraining
``gestures``    ``/admin/models/gestures``: record gesture samples with the webcam
``spoofs``      ``/admin/spoofs``: check-ins that failed liveness, approve or dismiss (docs/liveness.md)
``audit``       ``/admin/audit``: the audit log with filters (from, to, actor, action);
                ``/admin/audit/export``: the filtered entries as CSV (docs/audit.md)
``devices``     ``/admin/devices``: paired kiosks; approve a kiosk's pairing code, rename, revoke, re-pair
``api_tokens``  ``/admin/tokens`` , POST: API tokens for other systems (shown once); POST ``/<name>/revoke``
``webhooks``    ``/admin/webhooks`` , POST: webhooks and the delivery log; POST ``/<id>/remove``,
                POST ``/admin/webhooks/deliveries/<id>/resend`` ("send again")

A new area is a module here that adds its routes to ``admin_bp`` (``from . import admin_bp``),
imported at the end of this file. Routes stay thin: what they read or change goes through
``kiosk.services``; their endpoint names (``admin.<function>``) are what templates' ``url_for`` use.
"""

from __future__ import annotations

from datetime import datetime, timezone

from flask import Blueprint

from ... import sitetime
from ..security import admin_required

admin_bp = Blueprint("admin", __name__, url_prefix="/admin")


@admin_bp.before_request
@admin_required
def _admins_only():
    """Belt and braces: every route of the areas is also decorated, but a forgotten one stays closed."""
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


# The areas: each module adds its routes to admin_bp when imported.
from . import (  # noqa: E402,F401
    api_tokens,
    attendance,
    audit,
    dashboard,
    devices,
    gestures,
    imports,
    people,
    reports,
    settings,
    spoofs,
    timesheets,
    training,
    webhooks,
)
