"""Access control shared by the blueprints.

``admin_required`` answers JSON 401 (anonymous) for API calls and redirects pages to the
sign-in form, in the CTFd manner, so a script gets a status and a person gets a form.

The signed session cookie alone never signs anyone in: it carries the token of a server-side
admin session (``SESSION_TOKEN_KEY``), checked on every request by
:func:`kiosk.services.accounts.check_session` (sign-out, password change, admin removal and the
idle and absolute timeouts end it there).
"""

from __future__ import annotations

from functools import wraps

from flask import flash, g, jsonify, redirect, request, session, url_for
from flask_login import current_user

from ..extensions import bearer_credentials, login_manager
from ..models import AdminUser
from ..services import accounts, api_tokens

SESSION_TOKEN_KEY = "admin_session"


@login_manager.user_loader
def _load_admin(user_id: str) -> AdminUser | None:
    checked = accounts.check_session(session.get(SESSION_TOKEN_KEY), user_id)
    if checked.user is None and checked.ended:
        g.admin_session_ended = checked.ended
        session.pop(SESSION_TOKEN_KEY, None)
    return checked.user


@login_manager.unauthorized_handler
def _unauthorized():
    ended = g.pop("admin_session_ended", None)
    if request.path.startswith("/api/"):
        message = ended or "Sign in as an administrator first."
        return jsonify({"error": "unauthorized", "message": message}), 401
    if ended:
        flash(ended, "info")
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def _token_or_refuse(scope: str) -> None:
    """The bearer token of this request checked for ``scope`` (401 / 403 as KioskErrors); kept in
    ``g.api_token`` for the audit log."""
    g.api_token = api_tokens.authenticate(bearer_credentials(), scope).name


def api_access(scope: str):
    """``/api/v1`` routes: an API token with ``scope`` (or ``admin``) in ``Authorization: Bearer``,
    or a signed-in administrator's session (cookie, with CSRF on changes). A request that carries
    a bearer header is judged by the token alone, whatever cookies it also has."""

    def decorate(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if bearer_credentials() is not None or request.headers.get("Authorization"):
                _token_or_refuse(scope)
                return view(*args, **kwargs)
            return admin_required(view)(*args, **kwargs)

        return wrapped

    return decorate


def admin_required(view):
    @wraps(view)
    def wrapped(*args, **kwargs):
        if bearer_credentials() is not None:  # an admin-only API route: the token needs the admin scope
            _token_or_refuse(api_tokens.ADMIN_SCOPE)
            return view(*args, **kwargs)
        if not current_user.is_authenticated:
            return _unauthorized()
        if not isinstance(current_user._get_current_object(), AdminUser):
            if request.path.startswith("/api/"):
                return jsonify({"error": "forbidden", "message": "Administrators only."}), 403
            return redirect(url_for("auth.login"))
        return view(*args, **kwargs)

    return wrapped
