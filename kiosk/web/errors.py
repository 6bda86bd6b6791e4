"""Error responses: JSON under ``/api/``, a short page elsewhere; never a stack trace.

Services raise :class:`kiosk.errors.KioskError` subclasses that carry an HTTP status and
a message written for the person who reads it; they are turned into responses here, so
routes stay thin.
"""

from __future__ import annotations

import logging

from flask import Flask, jsonify, make_response, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

from ..errors import KioskError
from ..services.database import DatabaseUnavailable, is_disconnect, rollback_quietly
from .console_errors import console_message
from .kiosk_errors import screen_message
from .server_paths import hide_server_paths

log = logging.getLogger(__name__)


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def error_response(status: int, code: str, message: str, **extra):
    message, extra = hide_server_paths(message), hide_server_paths(extra)
    if wants_json():
        from .i18n import is_kiosk_request  # noqa: PLC0415 - i18n reads the token through device_link, which uses us

        if is_kiosk_request():  # a person reads it on the kiosk screen, in the kiosk's language
            on_screen = screen_message(code, message, extra)
            if on_screen is not None:
                message, extra = on_screen, {**extra, "detail": message}
        return jsonify({"error": code, "message": message, **extra}), status
    # A page: a person reads it, in the page's language (the English stays in the JSON and the log).
    return render_template("error.html", status=status, message=console_message(code, message, extra)), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(KioskError)
    def _kiosk_error(err: KioskError):
        response, status = error_response(err.status, err.code, str(err), **err.extra)
        if "retry_after" in err.extra:
            response = make_response(response, status)
            response.headers["Retry-After"] = str(err.extra["retry_after"])
            return response
        return response, status

    @app.errorhandler(DBAPIError)
    def _database_error(err: DBAPIError):
        if not is_disconnect(err):
            return _unexpected(err)
        # A database server that went away (restart, fail-over) is not a bug of the request.
        log.warning("Database unreachable on %s %s: %s", request.method, request.path, type(err.orig).__name__)
        rollback_quietly()
        return _kiosk_error(DatabaseUnavailable())

    @app.errorhandler(CSRFError)
    def _csrf_error(err: CSRFError):
        return error_response(400, "csrf_failed",
                              "The form expired or was not sent by this site; reload the page and try again.")

    @app.errorhandler(413)
    def _too_large(err: HTTPException):
        limit_mb = (app.config.get("MAX_CONTENT_LENGTH") or 0) // (1024 * 1024)
        return error_response(413, "too_large", f"The upload is too large; the limit is {limit_mb} MB.")

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException):
        code = (err.name or "error").lower().replace(" ", "_")
        return error_response(err.code or 500, code, err.description or err.name)

    @app.errorhandler(Exception)
    def _unexpected(err: Exception):
        log.exception("Unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal_error",
                              "Something went wrong on the server; the operator has been told in the log.")
