"""Admin accounts: creation and sign-in with a lock-out after repeated failures."""

from __future__ import annotations

import re
from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from ..errors import Conflict, InvalidInput, KioskError
from ..extensions import db
from ..models import AdminUser, utcnow

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
MIN_PASSWORD_LENGTH = 10


class SignInRefused(KioskError):
    status = 401
    code = "sign_in_refused"


def create_admin(username: str, password: str) -> AdminUser:
    """Create an admin. Raises InvalidInput (bad name or short password) or Conflict (exists)."""
    username = username.strip()
    if not USERNAME_RE.match(username):
        raise InvalidInput("A username is 1-64 letters, digits or . _ @ -.")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"The password must be at least {MIN_PASSWORD_LENGTH} characters long.")
    if db.session.scalar(select(AdminUser).where(AdminUser.username == username)):
        raise Conflict(f"An admin named {username!r} already exists.")
    user = AdminUser(username=username)
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    return user


def authenticate(username: str, password: str) -> AdminUser:
    """The admin for these credentials, or SignInRefused (wrong, or locked out: status 429)."""
    generic = SignInRefused("Wrong username or password.")
    user = db.session.scalar(select(AdminUser).where(AdminUser.username == username))
    if user is None:
        # Hash anyway so a missing user takes as long as a wrong password.
        AdminUser(username="-").set_password(password or "-")
        raise generic
    now = utcnow()
    if user.locked_until and user.locked_until > now:
        wait = int((user.locked_until - now).total_seconds()) + 1
        raise SignInRefused(
            f"Too many failed sign-ins; try again in {wait} seconds.", status=429, code="locked_out"
        )
    if not user.check_password(password):
        user.failed_logins += 1
        if user.failed_logins >= current_app.config["KIOSK_LOGIN_MAX_FAILURES"]:
            user.locked_until = now + timedelta(seconds=current_app.config["KIOSK_LOGIN_LOCKOUT_SECONDS"])
            user.failed_logins = 0
        db.session.commit()
        raise generic
    user.failed_logins = 0
    user.locked_until = None
    db.session.commit()
    return user
