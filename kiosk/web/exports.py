"""The attendance export as a download (the admin page's and the API's ``.../export``)."""

from __future__ import annotations

from flask import Response

from ..services import audit, reports
from ..services.audit_actions import EXPORT_DOWNLOADED
from .audit_actor import admin_actor


def export_response(start, end, fmt: str, person_id: int | None) -> Response:
    export = reports.export_attendance(start, end, fmt, person_id)
    audit.record_now(EXPORT_DOWNLOADED, audit.Target("export", None, export.filename), actor=admin_actor(), after={
        "from": start.isoformat(), "to": end.isoformat(), "format": fmt, "person_id": person_id, "rows": export.rows,
    })
    # content_type, not mimetype: Flask would add a second charset to the one the export names.
    response = Response(export.data, content_type=export.mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    response.headers["Cache-Control"] = "no-store"  # personal data: no shared or disk caches
    response.headers["X-Export-Rows"] = str(export.rows)
    return response
