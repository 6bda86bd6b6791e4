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
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter

from ..models import MAX_ROW_ID
from . import errors, security_headers
from .console_errors import console_message
from .console_text import console_text
from .server_paths import hide_server_paths


class RowIdConverter(IntegerConverter):
    """``<int:...>`` in every route: a number larger than any row id is a 404 at once, where it
    would otherwise reach the database driver and overflow it (a 500). Raised here rather than
    refused with ``max=``: a refused converter makes werkzeug answer a PATCH or DELETE with 405."""

    def to_python(self, value: str) -> int:
        number = super().to_python(value)
        if number > MAX_ROW_ID:
            raise NotFound("Nothing here has that number: it is larger than any id.")
        return number


def register_blueprints(app: Flask) -> None:
    app.url_map.converters["int"] = RowIdConverter  # before any rule is added
    from .admin import admin_bp
    from .api import api_bp
    from .auth import auth_bp
    from .health import health_bp
    from .kiosk_page import kiosk_bp

    for blueprint in (health_bp, kiosk_bp, auth_bp, admin_bp, api_bp):
        app.register_blueprint(blueprint)
    errors.register_error_handlers(app)
    app.add_template_filter(hide_server_paths)
    app.add_template_global(console_message)  # a refused photo's reason in the console's language
    app.add_template_global(console_text)  # the layout's and the macros' (a job's stage line)
    security_headers.init_app(app)
