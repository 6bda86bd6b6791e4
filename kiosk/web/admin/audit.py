"""The audit log: every admin action, filtered by dates, actor and action, and its CSV export
(kiosk.services.audit; docs/audit.md). Read-only: nothing here changes an entry."""

from __future__ import annotations

from flask import Response, flash, render_template, request

from ...errors import KioskError
from ...services import audit
from ...services.audit_actions import ACTIONS, AREAS, EXPORT_DOWNLOADED, area_label, label, target_kind
from ..audit_actor import admin_actor
from ..console_errors import refusal
from ..security import admin_required
from . import admin_bp


def _filters() -> audit.Filters:
    args = request.args
    return audit.parse_filters(args.get("from"), args.get("to"), args.get("actor"), args.get("action"))


@admin_bp.get("/audit")
@admin_required
def audit_page():
    status = 200
    try:
        filters = _filters()
        rows = [(entry, audit.as_dict(entry)) for entry in audit.entries(filters)]
    except KioskError as err:
        flash(refusal(err), "error")
        filters, rows, status = audit.Filters(), [], err.status
    form = {key: request.args.get(key, "") for key in ("from", "to", "actor", "action")}
    page = render_template(
        "admin/audit.html", rows=rows, form=form, actors=audit.actors(), actions=ACTIONS, areas=AREAS,
        limit=audit.MAX_LISTED, filtered=filters != audit.Filters(), action_label=label, area_label=area_label,
        target_kind=target_kind,
    )
    return page, status


@admin_bp.get("/audit/export")
@admin_required
def audit_export():
    filters = _filters()  # a bad filter is a 400 page (kiosk.web.errors)
    name = audit.export_filename(filters)
    # Exporting the log is an action too; recorded first, so the file includes its own entry.
    audit.record_now(EXPORT_DOWNLOADED, audit.Target("export", None, name), actor=admin_actor(), after={
        "what": "audit", "from": filters.start and filters.start.isoformat(),
        "to": filters.end and filters.end.isoformat(), "actor": filters.actor, "action": filters.action,
    })
    response = Response(audit.export_csv(filters), content_type="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "no-store"
    return response
