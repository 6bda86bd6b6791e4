"""The console's Devices page: kiosks paired to the site, and kiosks waiting to be (``kiosk.services.pairing``).

- ``/admin/devices``                      paired kiosks (name, location, last seen, state) and pending codes
- POST ``/admin/devices/pair``            approve the code a kiosk screen shows: a new kiosk, or re-pair one
- POST ``/admin/devices/<id>/rename``     new display name and location
- POST ``/admin/devices/<id>/language``   the language the kiosk speaks ("" = the site's KIOSK_LANGUAGE)
- POST ``/admin/devices/<id>/revoke``     its token stops working at once (the kiosk shows a new code)
- POST ``/admin/devices/<id>/delete``     forget the kiosk (its attendance events keep its name)

Pairing is not audit-logged yet: the audit log is being added on another branch.
"""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user

from ...errors import KioskError
from ...languages import LANGUAGES
from ...services import checkin, devices, pairing
from ..audit_actor import admin_actor
from ..console_errors import refusal
from ..security import admin_required
from . import admin_bp


def _back():
    return redirect(url_for("admin.devices_page"), 303)


def _form_device_id() -> int | None:
    value = request.form.get("device_id", "").strip()
    return int(value) if value.isdigit() else None


@admin_bp.get("/devices")
@admin_required
def devices_page():
    states = checkin.device_states()
    waiting = pairing.awaiting_collection()
    rows = [{"device": d, "state": states.get(d.id), "paired": d.token_hash is not None, "waiting": d.id in waiting}
            for d in devices.list_devices()]
    return render_template("admin/devices.html", rows=rows, pending=pairing.pending(),
                           format_code=pairing.format_code, required=current_app.config.get("KIOSK_REQUIRE_PAIRING"),
                           code_minutes=int(pairing.CODE_TTL.total_seconds() // 60),
                           prefill=request.args.get("code", ""), site_language=current_app.config["KIOSK_LANGUAGE"])


@admin_bp.post("/devices/pair")
@admin_required
def devices_pair():
    device_id = _form_device_id()
    try:
        location = request.form.get("location") if not device_id or request.form.get("location") else None
        device = pairing.approve(request.form.get("code", ""), request.form.get("name", "").strip() or None, location,
                                 approved_by=current_user.username, device_id=device_id, actor=admin_actor())
    except KioskError as err:
        flash(refusal(err), "error")
        return _back()
    flash(gettext("Approved: the kiosk becomes “%(name)s” within a few seconds (its screen collects the pairing).",
                  name=device.name), "success")
    return _back()


@admin_bp.post("/devices/<int:device_id>/rename")
@admin_required
def devices_rename(device_id: int):
    try:
        device = devices.rename_device(device_id, request.form.get("name", ""), request.form.get("location", ""),
                                       actor=admin_actor())
    except KioskError as err:
        flash(refusal(err), "error")
        return _back()
    flash(gettext("Saved: %(name)s.", name=device.name), "success")
    return _back()


@admin_bp.post("/devices/<int:device_id>/language")
@admin_required
def devices_language(device_id: int):
    # The form offers only what the kiosk speaks: anything else is a forged request, answered 400
    # (404 for no such kiosk).
    device = devices.set_device_language(device_id, request.form.get("language", ""), actor=admin_actor())
    if device.language:
        flash(gettext("Saved: %(name)s speaks %(language)s from its next screen on.", name=device.name,
                      language=LANGUAGES[device.language]), "success")
    else:
        flash(gettext("Saved: %(name)s speaks the site's default language from its next screen on.", name=device.name),
              "success")
    return _back()


@admin_bp.post("/devices/<int:device_id>/revoke")
@admin_required
def devices_revoke(device_id: int):
    device = devices.revoke_device(device_id, actor=admin_actor())
    flash(gettext("Revoked: %(name)s is refused from its next frame on and shows a new pairing code; re-pair it "
                  "with that code to bring it back.", name=device.name), "success")
    return _back()


@admin_bp.post("/devices/<int:device_id>/delete")
@admin_required
def devices_delete(device_id: int):
    name = devices.get_device(device_id).name
    devices.remove_device(device_id, actor=admin_actor())
    flash(gettext("Removed: %(name)s.", name=name), "success")
    return _back()
