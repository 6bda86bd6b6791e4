"""Sending a file stored under the data dir (a face crop, a check-in photo) to an admin."""

from __future__ import annotations

from flask import abort, current_app, send_file

from ... import storage
from ...errors import NotFound


def send_stored(relative: str | None, mimetype: str | None = None, *, download_name: str | None = None):
    """Send a file stored under the data dir; paths come from the database, never from the URL."""
    if not relative:
        raise NotFound("There is no file for this item.")
    try:
        path = storage.resolve(relative)
    except storage.UnsafePath:
        current_app.logger.error("A stored path points outside the data directory; refusing to serve it.")
        abort(404)
    if not path.is_file():
        raise NotFound("The file is missing (it may have been purged by the retention rule).")
    response = send_file(
        path,
        mimetype=mimetype,
        as_attachment=download_name is not None,
        download_name=download_name,
        conditional=True,
        max_age=0,
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response
