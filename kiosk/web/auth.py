"""Admin sign-in and sign-out at /auth/.

- Passwords are checked by :func:`kiosk.services.accounts.authenticate` (werkzeug hashes;
  failures are limited per typed name and client address, and per client address: 429 with
  the wait, even for the right password; see that module).
- Signing in opens a server-side admin session; signing out ends it on the server, so a copy
  of the cookie taken before is worth nothing afterwards.
- The form carries a CSRF token (CSRFProtect covers every POST); sign-out is a POST too,
  so a link on another site cannot sign an admin out.
- The session is cleared before signing in (no session fixation) and the cookies are
  Secure/HttpOnly/SameSite=Lax (see ``kiosk.config``).
- ``next`` only ever redirects to a path on this site.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext
from flask_login import current_user, login_required, login_user, logout_user

from ..services import accounts, throttle
from .console_errors import refusal
from .security import SESSION_TOKEN_KEY

auth_bp = Blueprint("auth", __name__, url_prefix="/auth")


def _same_site_path(target: str | None) -> str | None:
    """``target`` when it is a path on this site, else None (it is then ignored).

    Only same-site relative paths: an open redirect would be a phishing aid. No control
    characters or spaces either: CR/LF in a Location header is header injection (werkzeug
    refuses it with a 500), and no path of ours has them."""
    if (
        target
        and target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
        and not any(ch.isspace() or unicodedata.category(ch)[0] == "C" for ch in target)
        and not urlsplit(target).netloc
    ):
        return target
    return None


def _safe_next(target: str | None) -> str:
    return _same_site_path(target) or url_for("admin.dashboard")


@auth_bp.after_request
def _no_store(response):
    response.headers.setdefault("Cache-Control", "no-store")
    return response


@auth_bp.route("/login", methods=["GET", "POST"])
def login():
    next_url = _same_site_path(request.args.get("next"))
    if request.method == "GET" and current_user.is_authenticated:
        return redirect(_safe_next(next_url))
    if request.method == "POST":
        username = (request.form.get("username") or "").strip()
        password = request.form.get("password") or ""
        if not username or not password:
            flash(gettext("Enter both your username and your password."), "error")
            return render_template("auth/login.html", username=username, next_url=next_url), 400
        try:
            throttle.count_sign_in_attempt(request.remote_addr)
            user = accounts.authenticate(username, password, request.remote_addr)
        except (accounts.SignInRefused, throttle.RateLimited) as err:
            flash(refusal(err), "error")
            page = render_template("auth/login.html", username=username, next_url=next_url)
            retry = {"Retry-After": str(err.extra["retry_after"])} if "retry_after" in err.extra else {}
            return page, err.status, retry
        accounts.close_session(session.get(SESSION_TOKEN_KEY))  # signing in again replaces, never adds
        session.clear()  # a fresh session for the signed-in admin: nothing carried over from before
        session[SESSION_TOKEN_KEY] = accounts.open_session(user, request.remote_addr)
        login_user(user)
        return redirect(_safe_next(next_url), 303)
    return render_template("auth/login.html", username="", next_url=next_url)


@auth_bp.post("/logout")
@login_required
def logout():
    accounts.close_session(session.get(SESSION_TOKEN_KEY))
    logout_user()
    session.clear()
    flash(gettext("You are signed out."), "info")
    return redirect(url_for("auth.login"), 303)
