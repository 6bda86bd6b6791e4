"""The attendance export as a download (the admin page's and the API's ``.../export``)."""

from __future__ import annotations

from flask import Response

from ..services import reports


def export_response(start, end, fmt: str, person_id: int | None) -> Response:
    export = reports.export_attendance(start, end, fmt, person_id)
    response = Response(export.data, mimetype=export.mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    response.headers["Cache-Control"] = "no-store"  # personal data: no shared or disk caches
    response.headers["X-Export-Rows"] = str(export.rows)
    return response
