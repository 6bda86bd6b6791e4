"""Admin pages under /admin/. Every route is wrapped by ``admin_required``."""

from __future__ import annotations

from flask import Blueprint, render_template
from sqlalchemy import func, select

from ..extensions import db
from ..models import AttendanceEvent, FaceSample, Person
from .security import admin_required

admin_bp = Blueprint("admin", __name__, url_prefix="/admin")


@admin_bp.get("/")
@admin_required
def dashboard():
    counts = {
        "people": db.session.scalar(select(func.count(Person.id))),
        "samples": db.session.scalar(select(func.count(FaceSample.id))),
        "events": db.session.scalar(select(func.count(AttendanceEvent.id))),
    }
    return render_template("admin/dashboard.html", counts=counts)
