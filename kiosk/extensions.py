"""Flask extensions, created here and bound to the app in ``create_app`` with ``init_app``."""

from __future__ import annotations

from flask import request
from flask_babel import Babel
from flask_login import LoginManager, current_user
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine

# Named constraints so Alembic can alter them on SQLite (batch mode) later.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING_CONVENTION))
migrate = Migrate()
login_manager = LoginManager()


def bearer_credentials() -> str | None:
    """The token of an ``Authorization: Bearer`` header on an ``/api/`` request, else None."""
    if not request.path.startswith("/api/"):
        return None
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" else None


class CookieCSRFProtect(CSRFProtect):
    """CSRF protects what a browser's cookies authenticate. An API request carrying a bearer token
    is authenticated by that token alone (cookies are not consulted for it: kiosk/web/security.py),
    and a page on another site cannot add that header without CORS, which the kiosk never grants."""

    def protect(self, *args, **kwargs):
        if bearer_credentials() is not None:
            return None
        # An API request no one is signed in for carries no authority a forger could borrow: its
        # view refuses it (401), which tells a script without a token what is wrong; "reload the
        # page" (the CSRF answer) would not. The kiosk's own routes are exempt by name.
        if request.path.startswith("/api/") and not current_user.is_authenticated:
            return None
        return super().protect(*args, **kwargs)


csrf = CookieCSRFProtect()
babel = Babel()

SQLITE_BUSY_TIMEOUT_MS = 10_000


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001 - DB-API objects
    """Foreign keys on (cascades depend on it), WAL for concurrent readers, and a busy
    timeout so a writer waits for another instead of failing with "database is locked"."""
    module = type(dbapi_connection).__module__
    if "sqlite" not in module:
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
