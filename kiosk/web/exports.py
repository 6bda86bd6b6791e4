"""The attendance exports as downloads: the raw events (the admin page's and the API's
``.../export``) and payroll's hours and timesheet; each download is audit-logged."""

from __future__ import annotations

from flask import Response

from ..services import audit, hours_exports, reports
from ..services.audit_actions import EXPORT_DOWNLOADED
from .audit_actor import admin_actor


def export_response(start, end, fmt: str, person_id: int | None, group_id: int | None = None) -> Response:
    export = reports.export_attendance(start, end, fmt, person_id, group_id)
    audit.record_now(EXPORT_DOWNLOADED, audit.Target("export", None, export.filename), actor=admin_actor(), after={
        "from": start.isoformat(), "to": end.isoformat(), "format": fmt, "person_id": person_id, "rows": export.rows,
        **({"group_id": group_id} if group_id is not None else {}),
    })
    return _download(export.data, export.filename, export.mimetype, export.rows)


def hours_export_response(report: str, start, end, fmt: str, group_id: int | None,
                          person_id: int | None = None) -> Response:
    export = hours_exports.export_hours(report, start, end, fmt, group_id=group_id, person_id=person_id)
    audit.record_now(EXPORT_DOWNLOADED, audit.Target("export", None, export.filename), actor=admin_actor(), after={
        "report": report, "from": start.isoformat(), "to": end.isoformat(), "format": fmt, "group_id": group_id,
        "person_id": person_id, "rows": export.rows,
    })
    return _download(export.data, export.filename, export.mimetype, export.rows)


def _download(data: bytes, filename: str, mimetype: str, rows: int) -> Response:
    # content_type, not mimetype: Flask would add a second charset to the one the export names.
    response = Response(data, content_type=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"  # personal data: no shared or disk caches
    response.headers["X-Export-Rows"] = str(rows)
    return response
