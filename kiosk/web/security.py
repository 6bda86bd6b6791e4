"""Access control shared by the blueprints.

``admin_required`` answers JSON 401 (anonymous) for API calls and redirects pages to the
sign-in form, in the CTFd manner, so a script gets a status and a person gets a form.
"""

from __future__ import annotations

from functools import wraps

from flask import jsonify, redirect, request, url_for
from flask_login import current_user

from ..extensions import db, login_manager
from ..models import AdminUser


@login_manager.user_loader
def _load_admin(user_id: str) -> AdminUser | None:
    return db.session.get(AdminUser, int(user_id)) if user_id.isdigit() else None


@login_manager.unauthorized_handler
def _unauthorized():
    if request.path.startswith("/api/"):
        return jsonify({"error": "unauthorized", "message": "Sign in as an administrator first."}), 401
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def admin_required(view):
    @wraps(view)
    def wrapped(*args, **kwargs):
        if not current_user.is_authenticated:
            return _unauthorized()
        if not isinstance(current_user._get_current_object(), AdminUser):
            if request.path.startswith("/api/"):
                return jsonify({"error": "forbidden", "message": "Administrators only."}), 403
            return redirect(url_for("auth.login"))
        return view(*args, **kwargs)

    return wrapped
