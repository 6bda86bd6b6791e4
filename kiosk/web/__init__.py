"""The web layer: one blueprint per area, thin routes that call services.

- ``health``: ``/healthz`` (alive, database, where the models are) for Docker and Nginx,
  ``/readyz`` (503 while the worker's models warm up) for whatever must wait for them.
- ``kiosk_page``: the kiosk screen at ``/``.
- ``auth``: admin sign-in at ``/auth/``.
- ``admin``: admin pages under ``/admin/`` (redirect to sign-in when anonymous).
- ``api``: JSON under ``/api/v1/`` (401/403 JSON when anonymous); one module per area
  in ``kiosk/web/api/``.
"""

from __future__ import annotations

from flask import Flask

from . import errors, security_headers


def register_blueprints(app: Flask) -> None:
    from .admin import admin_bp
    from .api import api_bp
    from .auth import auth_bp
    from .health import health_bp
    from .kiosk_page import kiosk_bp

    for blueprint in (health_bp, kiosk_bp, auth_bp, admin_bp, api_bp):
        app.register_blueprint(blueprint)
    errors.register_error_handlers(app)
    security_headers.init_app(app)
