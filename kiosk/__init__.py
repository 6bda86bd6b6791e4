"""Face-recognition attendance kiosk with gesture control.

``create_app`` is the application factory (``flask --app kiosk`` finds it); the
``kiosk`` console script is the same app's CLI.
"""

from __future__ import annotations

import logging
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before anything imports TensorFlow
# OpenCV's own decoder cap (read when cv2 is imported): a 10 KB WebP can declare 800 MB of
# pixels, and only OpenCV sees inside every format. Matches decode_image's DEFAULT_MAX_PIXELS.
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", "40000000")

from flask import Flask  # noqa: E402

from .config import REPO_ROOT, Config, ConfigError, check_settings, switch_named  # noqa: E402
from .extensions import csrf, db, login_manager, migrate  # noqa: E402
from .languages import compile_catalogues, language_code  # noqa: E402

__all__ = ["create_app"]


def _check_machine_settings(settings) -> None:
    """The check-in's KIOSK_CHECKIN_* settings and KIOSK_LIVENESS_POLICY, converted and checked once,
    at start: a bad value or a misspelt name stops the start with a message naming it, instead of
    failing (or being ignored) in the middle of someone's check-in."""
    from .checkin.machine import MachineConfig
    from .vision.lanes import lane_count

    try:
        MachineConfig.from_mapping(settings).liveness_settings()
        lane_count()  # KIOSK_MODEL_LANES, read by the models when they load
    except ValueError as err:
        raise ConfigError(str(err)) from None


def create_app(config: object | dict | None = None) -> Flask:
    """Build the app. ``config`` is a config object, a dict of overrides, or None (environment)."""
    app = Flask(
        __name__,
        static_folder=str(REPO_ROOT / "static"),
        template_folder=str(REPO_ROOT / "templates"),
        instance_relative_config=False,
    )
    if config is None or isinstance(config, dict):
        app.config.from_object(Config())
        if isinstance(config, dict):
            app.config.update(config)
    else:
        app.config.from_object(config)
    check_settings(app.config)  # also the overrides: a bad time zone or repeat rule refuses to start
    app.config["KIOSK_TOUCH_CONFIRM"] = switch_named("KIOSK_TOUCH_CONFIRM", app.config.get("KIOSK_TOUCH_CONFIRM"))
    app.config["KIOSK_RETRAIN_AFTER_CHANGES"] = switch_named(
        "KIOSK_RETRAIN_AFTER_CHANGES", app.config.get("KIOSK_RETRAIN_AFTER_CHANGES", True))
    app.config["KIOSK_LANGUAGE"] = language_code(app.config.get("KIOSK_LANGUAGE", "en"))
    compile_catalogues()  # a .mo missing or older than its .po (a fresh checkout, an edited catalogue)
    _check_machine_settings(app.config)

    db.init_app(app)

    @app.teardown_appcontext
    def _end_session_quietly(_exc):  # registered after Flask-SQLAlchemy's, so it runs first
        # A database that restarted while a request held a connection would make Flask-SQLAlchemy's
        # own session.remove() raise in the tear-down: a 500 for an answer already worked out.
        from sqlalchemy.exc import SQLAlchemyError

        try:
            db.session.remove()
        except SQLAlchemyError:
            db.session.registry.clear()  # drop the broken session: Flask-SQLAlchemy's remove() then has none
            app.logger.warning("The database connection was lost when a request ended; it is reopened next time.")
    migrate.init_app(app, db, directory=str(REPO_ROOT / "migrations"), render_as_batch=True)
    login_manager.init_app(app)
    csrf.init_app(app)

    if app.config.get("KIOSK_BEHIND_PROXY"):
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1, x_port=1)  # type: ignore[method-assign]

    from .web.request_body import DrainUnreadBody, KioskRequest, upload_request_limit

    app.request_class = KioskRequest  # streamed (chunked) bodies over the limit: 413, not cut short
    # Outermost: bodies the app answered without reading are read before the connection is
    # reused (otherwise Nginx's next POST on it gets a 502; see kiosk/web/request_body.py).
    # The bulk import route takes larger bodies (KIOSK_IMPORT_MAX_MB, see kiosk/web/admin/imports.py).
    import_limit = upload_request_limit(app.config.get("KIOSK_IMPORT_MAX_MB") or 0)
    app.wsgi_app = DrainUnreadBody(  # type: ignore[method-assign]
        app.wsgi_app, app.config.get("MAX_CONTENT_LENGTH") or 0, {"/admin/people/import": import_limit}
    )

    from .vision import settings as vision_settings
    from .web import device_link, i18n, register_blueprints

    vision_settings.read_app_config_with(_running_app_config)
    device_link.init_app(app)  # the kiosk link /?token=... becomes the device cookie
    i18n.init_app(app)  # the kiosk's language, the console's (Flask-Babel)
    register_blueprints(app)

    from .services import webhook_delivery

    @app.before_request
    def _send_webhooks_from_this_process():
        # The server sends the webhook outbox itself; commands (which never serve a request) do not.
        webhook_delivery.start_in_background(app)

    from .cli import register_commands

    register_commands(app)

    _configure_logging(app)
    return app


def _running_app_config():
    """The config of the app handling this request or command, None outside one (for kiosk.vision)."""
    from flask import current_app, has_app_context

    return current_app.config if has_app_context() else None


def _configure_logging(app: Flask) -> None:
    if not app.debug and not app.testing and not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
