"""The console's API tokens page (``kiosk.services.api_tokens``).

- ``/admin/tokens``                     tokens with scopes, state, expiry, last use; the form to create one
- POST ``/admin/tokens``                create: the page shows the new token once (never stored in clear)
- POST ``/admin/tokens/<name>/revoke``  refused from its next request on
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext

from ...errors import KioskError
from ...services import api_tokens
from ..audit_actor import admin_actor
from ..console_errors import refusal
from ..security import admin_required
from . import admin_bp


def _page(status: int = 200, **shown):
    return render_template("admin/api_tokens.html", tokens=[api_tokens.as_dict(t) for t in api_tokens.list_tokens()],
                           scopes=api_tokens.SCOPES, **shown), status


@admin_bp.get("/tokens")
@admin_required
def api_tokens_page():
    return _page()


@admin_bp.post("/tokens")
@admin_required
def api_tokens_create():
    try:
        token, secret = api_tokens.create_token(
            request.form.get("name"), request.form.getlist("scope"),
            expires_at=api_tokens.expiry_after(request.form.get("expires_days")), actor=admin_actor())
    except KioskError as err:
        flash(refusal(err), "error")
        return _page(err.status, form=request.form)
    # Rendered, not redirected: the secret must not travel in a flash cookie, and it is shown only now.
    return _page(201, created={"name": token.name, "token": secret})


@admin_bp.post("/tokens/<path:name>/revoke")
@admin_required
def api_tokens_revoke(name: str):
    try:
        api_tokens.revoke_token(name, actor=admin_actor())
        flash(gettext("API token “%(name)s” revoked: its next request is refused.", name=name), "success")
    except KioskError as err:
        flash(refusal(err), "error")
    return redirect(url_for("admin.api_tokens_page"), 303)
