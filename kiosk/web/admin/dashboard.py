"""The dashboard: today, the last 30 days, the models."""

from __future__ import annotations

from datetime import timedelta

from flask import render_template
from flask_babel import gettext as _

from ... import sitetime
from ...services import hours, model_status, reports, training_jobs
from ...services import people as people_service
from ..console_text import daily_chart_svg
from ..security import admin_required
from . import admin_bp


@admin_bp.get("/")
@admin_required
def dashboard():
    today = sitetime.local_today()
    start = today - timedelta(days=29)
    counts = reports.daily_counts(start, today)
    today_days = reports.attendance_days(today, today)
    stats = people_service.site_counts()
    stats["present_today"] = len(today_days)
    return render_template(
        "admin/dashboard.html",
        stats=stats,
        counts=stats,  # the lead's first dashboard used this name
        today=today,
        today_days=today_days[-12:][::-1],
        chart_svg=daily_chart_svg(counts, _("People present per day")),
        chart_from=start,
        face_model=model_status.face_model_info(),
        jobs=training_jobs.latest_jobs(),
        today_lists=hours.today_lists(),
    )
