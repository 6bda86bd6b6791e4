from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from ..extensions import db
from ..services.readiness import liveness_files_present, readiness

health_bp = Blueprint("health", __name__)


@health_bp.get("/healthz")
def healthz():
    """Liveness and database reachability (Docker's health check): answers at once, loads no
    model. It also says where the models are (``"models"``: ``warming``, ``ready``, ``failed``, or
    ``lazy`` when this server loads them on first use); a warming worker is alive and healthy."""
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any DB failure means "not healthy"
        return jsonify({"status": "error", "database": "unreachable"}), 503
    figures = readiness(current_app).as_dict()
    figures.setdefault("liveness", {"model": "ok" if liveness_files_present() else "missing"})
    figures["liveness"]["policy"] = current_app.config.get("KIOSK_LIVENESS_POLICY", "review")
    return jsonify({"status": "ok", **figures})


@health_bp.get("/readyz")
def readyz():
    """Readiness: 200 once the kiosk answers frames at full speed, 503 while its models warm up
    (or could not load: ``error`` says why). For a load balancer or a deploy script that waits."""
    ready = readiness(current_app)
    status = 200 if ready.state in ("ready", "lazy") else 503
    return jsonify({"status": "ready" if status == 200 else ready.state, **ready.as_dict()}), status
