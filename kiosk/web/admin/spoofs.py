"""Admin pages for suspected spoofs: check-ins that failed liveness (``kiosk.services.spoofs``).

- ``/admin/spoofs``                                the list (``?status=open|approved|dismissed|all``)
- ``/admin/spoofs/<id>/<photo|neutral>.jpg``       the frames that decided it (admin only, by id)
- POST ``/admin/spoofs/<id>/approve``              it was the person: record the check-in
- POST ``/admin/spoofs/<id>/dismiss``              it was not: keep it as evidence
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext
from flask_login import current_user

from ... import sitetime
from ...languages import mark
from ...services import spoofs
from ..security import admin_required
from . import admin_bp

STATUSES = ("open", "approved", "dismissed", "all")
# What the page calls each status and each liveness cue (translated in the template).
STATUS_NAMES = {"open": mark("Open"), "approved": mark("Approved"), "dismissed": mark("Dismissed"), "all": mark("All")}
CUE_NAMES = {"expression": mark("No smile from a neutral face"), "body": mark("Face does not fit the body"),
             "passive": mark("Looks like a photo or a screen")}
PASSED_CUE_NAMES = {"expression": mark("Smiled from a neutral face"), "body": mark("Face fits the body"),
                    "passive": mark("Looks like a live person")}


@admin_bp.get("/spoofs")
@admin_required
def spoofs_page():
    status = request.args.get("status", "open")
    if status not in STATUSES:
        status = "open"
    entries = spoofs.listing(None if status == "all" else status)
    rows = [{"spoof": s, "local": sitetime.to_local(s.timestamp), "verdict": spoofs.cues(s)} for s in entries]
    return render_template("admin/spoofs.html", rows=rows, status=status, statuses=STATUSES, cue_names=CUE_NAMES,
                           passed_cue_names=PASSED_CUE_NAMES, status_names=STATUS_NAMES)


@admin_bp.get("/spoofs/<int:spoof_id>/<which>.jpg")
@admin_required
def spoof_frame(spoof_id: int, which: str):
    if which not in ("photo", "neutral"):
        abort(404)
    response = send_file(spoofs.frame_file(spoofs.get(spoof_id), which), mimetype="image/jpeg", max_age=0)
    response.headers["Cache-Control"] = "private, no-store"
    return response


@admin_bp.post("/spoofs/<int:spoof_id>/approve")
@admin_required
def spoof_approve(spoof_id: int):
    event = spoofs.approve(spoof_id, current_user.username)
    when = sitetime.to_local(event.timestamp).strftime("%Y-%m-%d %H:%M")
    flash(gettext("Approved: %(name)s's check-in at %(when)s is recorded.", name=event.person.name, when=when),
          "success")
    return redirect(url_for("admin.spoofs_page"), 303)


@admin_bp.post("/spoofs/<int:spoof_id>/dismiss")
@admin_required
def spoof_dismiss(spoof_id: int):
    spoofs.dismiss(spoof_id, current_user.username)
    flash(gettext("Dismissed: no check-in was recorded; the attempt is kept as evidence."), "success")
    return redirect(url_for("admin.spoofs_page"), 303)


@admin_bp.context_processor
def _open_spoofs() -> dict:
    """The navigation shows how many attempts wait for a decision."""
    return {"open_spoofs": spoofs.open_count()}
