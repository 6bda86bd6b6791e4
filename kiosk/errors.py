"""Errors raised by services. Each carries the HTTP status the web layer answers with and
a message written for the person who will read it (kiosk user, admin or operator)."""

from __future__ import annotations


class KioskError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None, **extra) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.extra = extra


class NotFound(KioskError):
    status = 404
    code = "not_found"


class Conflict(KioskError):
    status = 409
    code = "conflict"


class InvalidInput(KioskError):
    status = 400
    code = "invalid_input"


class UnprocessableImage(KioskError):
    """The request was well-formed but the image cannot be used (no face, two faces, ...)."""

    status = 422
    code = "unprocessable_image"
