"""The monthly report: a summary per person and the days' chart."""

from __future__ import annotations

from datetime import timedelta

from flask import render_template, request
from flask_babel import gettext as _

from ...services import reports
from ..console_text import daily_chart_svg
from ..security import admin_required
from . import admin_bp


@admin_bp.get("/reports")
@admin_required
def reports_page():
    first_day = reports.parse_month(request.args.get("month"))
    start, end = reports.month_range(first_day)
    summary = reports.monthly_summary(first_day)
    previous = (first_day - timedelta(days=1)).replace(day=1)
    following = end + timedelta(days=1)
    return render_template(
        "admin/reports.html",
        month=first_day,
        start=start,
        end=end,
        summary=summary,
        previous=previous,
        following=following,
        working_days=sum(1 for _, n in reports.daily_counts(start, end) if n),
        chart_svg=daily_chart_svg(reports.daily_counts(start, end), _("People present per day")),
    )
