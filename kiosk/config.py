"""Configuration classes, read from the environment (``KIOSK_*``).

``Config`` is production; ``TestingConfig`` points at a temporary data dir. Anything a
site may want to change is here, with its environment variable and unit in the name.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .languages import LANGUAGES, language_code
from .sitetime import zone_named

REPO_ROOT = Path(__file__).resolve().parent.parent

# What a visit outside the duplicate window records (kiosk/services/attendance.py).
REPEAT_RULES = ("in_out", "ignore", "check_out", "daily")
# What worked hours may be rounded to (minutes; 0: not rounded), kiosk/services/hours.py.
ROUNDING_STEPS = (0, 1, 5, 6, 10, 15, 30)


# Webhook delivery timings (kiosk/services/webhook_delivery.py), each a positive number.
WEBHOOK_DURATIONS = ("KIOSK_WEBHOOK_TIMEOUT_S", "KIOSK_WEBHOOK_RETRY_HOURS", "KIOSK_WEBHOOK_FIRST_RETRY_S",
                     "KIOSK_WEBHOOK_MAX_RETRY_S", "KIOSK_WEBHOOK_POLL_S")


class ConfigError(ValueError):
    """A setting the kiosk cannot run with; the message names the variable and what it accepts."""


def repeat_rule_named(value: str | None) -> str:
    rule = (value or "in_out").strip().lower()
    if rule not in REPEAT_RULES:
        raise ConfigError(f"KIOSK_REPEAT_RULE must be one of {', '.join(REPEAT_RULES)}, not {value!r}.")
    return rule


def rounding_named(value: Any) -> int:
    try:
        step = int(str(value if value not in (None, "") else 0).strip())
    except ValueError:
        step = -1
    if step not in ROUNDING_STEPS:
        raise ConfigError(f"KIOSK_ROUNDING_MINUTES must be one of {', '.join(map(str, ROUNDING_STEPS))} "
                          f"(0: hours are not rounded), not {value!r}.")
    return step


def check_settings(settings: Mapping[str, Any]) -> None:
    """Refuse, at start-up, settings that would only fail later, in the middle of a check-in or a
    report: an unknown ``KIOSK_TIMEZONE`` or ``KIOSK_REPEAT_RULE``, a negative
    ``KIOSK_LEARN_MAX_PER_PERSON``. Raises :class:`ConfigError`."""
    try:
        zone_named((settings.get("KIOSK_TIMEZONE") or "UTC").strip())
    except ValueError as err:
        raise ConfigError(str(err)) from None
    repeat_rule_named(settings.get("KIOSK_REPEAT_RULE"))
    rounding_named(settings.get("KIOSK_ROUNDING_MINUTES", 0))
    switch_named("KIOSK_TOUCH_CONFIRM", settings.get("KIOSK_TOUCH_CONFIRM", False))
    switch_named("KIOSK_RETRAIN_AFTER_CHANGES", settings.get("KIOSK_RETRAIN_AFTER_CHANGES", True))
    if language_code(settings.get("KIOSK_LANGUAGE", "en")) is None:
        raise ConfigError(
            f"KIOSK_LANGUAGE must be one of {', '.join(LANGUAGES)}, not {settings.get('KIOSK_LANGUAGE')!r}."
        )
    if int(settings.get("KIOSK_LEARN_MAX_PER_PERSON", 0) or 0) < 0:
        raise ConfigError("KIOSK_LEARN_MAX_PER_PERSON must be 0 (keep no learned samples) or more.")
    for name in WEBHOOK_DURATIONS:
        try:
            value = float(settings.get(name, 1))
        except (TypeError, ValueError):
            value = -1.0
        if not value > 0:
            raise ConfigError(f"{name} must be a number of seconds (or hours) above 0, not {settings.get(name)!r}.")
    check_rate_limits(settings)


def check_rate_limits(settings: Mapping[str, Any]) -> None:
    """The request limits (kiosk.services.throttle) are whole numbers of at least 1, and a count
    is written to the database at least once a window."""
    for name in ("KIOSK_RATE_WINDOW_SECONDS", "KIOSK_RATE_PER_DEVICE", "KIOSK_RATE_PER_ADDRESS",
                 "KIOSK_RATE_SIGN_INS_PER_ADDRESS"):
        value = settings.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a whole number of at least 1, not {value!r}.")
    sync_s = settings.get("KIOSK_RATE_SYNC_SECONDS")
    if not isinstance(sync_s, (int, float)) or not 0 <= sync_s < settings["KIOSK_RATE_WINDOW_SECONDS"]:
        raise ConfigError("KIOSK_RATE_SYNC_SECONDS must be 0 (write every request's count) or more, and less than "
                          f"KIOSK_RATE_WINDOW_SECONDS ({settings['KIOSK_RATE_WINDOW_SECONDS']}), not {sync_s!r}.")


SWITCH_ON = ("1", "true", "yes", "on")
SWITCH_OFF = ("0", "false", "no", "off", "")


def switch_named(name: str, value: Any) -> bool:
    """An on/off setting: a bool, or one of the words of SWITCH_ON / SWITCH_OFF. Anything else
    refuses the start (ConfigError) rather than quietly meaning "off"."""
    if isinstance(value, bool):
        return value
    word = str(value if value is not None else "").strip().lower()
    if word in SWITCH_ON:
        return True
    if word in SWITCH_OFF:
        return False
    raise ConfigError(f"{name} must be on or off (1/0, true/false, yes/no), not {value!r}.")


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {value!r}.") from None


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    try:
        return float(value)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {value!r}.") from None


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def load_or_create_secret_key(data_dir: Path) -> str:
    """``SECRET_KEY`` from the environment, else one generated once and kept in the data dir."""
    from_env = os.environ.get("SECRET_KEY")
    if from_env:
        return from_env
    key_file = data_dir / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    # O_EXCL: two workers starting together must not write two different keys.
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return key_file.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


def normalise_database_url(url: str) -> str:
    """``postgres://`` and ``postgresql://`` mean psycopg 3 here (the driver the kiosk installs;
    SQLAlchemy's default for them would be psycopg2, which it does not)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def engine_options(url: str) -> dict:
    """SQLAlchemy engine options for ``url`` (``SQLALCHEMY_ENGINE_OPTIONS``).

    PostgreSQL: a pool per process sized for gunicorn's threads (each request thread holds at
    most one connection; a training job in the background holds another), ``pool_pre_ping`` so
    that connections a restarted server dropped are replaced instead of failing a request, a
    connect timeout so a vanished server costs seconds, not minutes, and the session time zone
    pinned to UTC (timestamps are stored in UTC whatever the server's own setting).
    SQLite keeps SQLAlchemy's defaults (pragmas: ``kiosk/extensions.py``).
    """
    if not url.startswith("postgresql"):
        return {}
    threads = _env_int("KIOSK_THREADS", 4)
    return {
        "pool_size": _env_int("KIOSK_DB_POOL_SIZE", threads + 2),
        "max_overflow": _env_int("KIOSK_DB_MAX_OVERFLOW", 4),
        "pool_timeout": _env_float("KIOSK_DB_POOL_TIMEOUT_S", 10.0),
        "pool_recycle": 1800,
        "pool_pre_ping": True,
        "connect_args": {
            "connect_timeout": _env_int("KIOSK_DB_CONNECT_TIMEOUT_S", 5),
            "application_name": "kiosk",
            "options": "-c timezone=UTC",
        },
    }


class Config:
    TESTING = False

    def __init__(self, data_dir: str | os.PathLike[str] | None = None, database_url: str | None = None) -> None:
        self.KIOSK_DATA_DIR = str(
            Path(data_dir or os.environ.get("KIOSK_DATA_DIR") or REPO_ROOT / "instance").resolve()
        )
        self.SQLALCHEMY_DATABASE_URI = normalise_database_url(
            database_url
            or os.environ.get("KIOSK_DATABASE_URL")
            or "sqlite:///" + str(Path(self.KIOSK_DATA_DIR) / "kiosk.sqlite3")
        )
        self.SQLALCHEMY_ENGINE_OPTIONS = engine_options(self.SQLALCHEMY_DATABASE_URI)
        # Photos and face crops. On several app hosts sharing one database, every host mounts
        # the same folder here (docs/deployment.md); by default it is the data dir itself.
        self.KIOSK_MEDIA_DIR = str(Path(os.environ.get("KIOSK_MEDIA_DIR") or self.KIOSK_DATA_DIR).resolve())
        # Trained models kept in the database (``kiosk.services.model_store``): "auto" = on
        # PostgreSQL (several hosts, one database), not on SQLite (one box, the data dir is enough).
        self.KIOSK_MODELS_IN_DATABASE = os.environ.get("KIOSK_MODELS_IN_DATABASE", "auto")
        # How often a process asks the database whether another host stored a newer model.
        self.KIOSK_MODEL_CHECK_SECONDS = _env_float("KIOSK_MODEL_CHECK_SECONDS", 2.0)
        # How long a request waits for a database that went away (a restart, a fail-over)
        # before it answers 503 "database unavailable".
        self.KIOSK_DB_RETRY_SECONDS = _env_float("KIOSK_DB_RETRY_SECONDS", 15.0)
        self.KIOSK_MODELS_DIR = str(Path(os.environ.get("KIOSK_MODELS_DIR") or REPO_ROOT / "models").resolve())

        # Upload and frame limits (nginx's client_max_body_size matches MAX_CONTENT_LENGTH).
        self.MAX_CONTENT_LENGTH = _env_int("KIOSK_MAX_UPLOAD_MB", 20) * 1024 * 1024
        self.KIOSK_MAX_IMAGE_PIXELS = _env_int("KIOSK_MAX_IMAGE_PIXELS", 40_000_000)
        # Kiosk camera frames: the page scales each one to the width the state asks for (at most
        # 640 px on its longer side, CheckInMachine.frame_wanted); a frame wider or taller than
        # this is refused (413 frame_too_large) from its header, before it costs a decode.
        self.KIOSK_MAX_FRAME_SIDE = _env_int("KIOSK_MAX_FRAME_SIDE", 1280)
        # Bulk import archives uploaded to the admin console (nginx's import location matches).
        self.KIOSK_IMPORT_MAX_MB = _env_int("KIOSK_IMPORT_MAX_MB", 1024)

        # Models.
        self.KIOSK_EMBEDDER = os.environ.get("KIOSK_EMBEDDER", "auto")  # auto | facenet | dlib | facenet+dlib
        # auto | a weights key (kiosk/vision/facenet_weights.py; `kiosk models` lists them)
        self.KIOSK_FACENET_WEIGHTS = os.environ.get("KIOSK_FACENET_WEIGHTS", "auto")
        self.KIOSK_FACE_DETECTOR_RANGE = os.environ.get("KIOSK_FACE_DETECTOR_RANGE", "short")  # short | full
        # Confirmed check-ins teach the face model (kiosk.services.learning); off: nothing new is learned.
        self.KIOSK_LEARN_FROM_CHECKINS = _env_bool("KIOSK_LEARN_FROM_CHECKINS", True)
        self.KIOSK_LEARN_MAX_PER_PERSON = _env_int("KIOSK_LEARN_MAX_PER_PERSON", 10)
        # A change to enrollment in the console (photos added or removed, a person deleted) retrains
        # the face model in the background, coalesced (kiosk.services.training_jobs); off: the
        # administrator retrains on the Recognition page.
        self.KIOSK_RETRAIN_AFTER_CHANGES = switch_named(
            "KIOSK_RETRAIN_AFTER_CHANGES", os.environ.get("KIOSK_RETRAIN_AFTER_CHANGES", "on"))

        # Attendance rules.
        self.KIOSK_ID = os.environ.get("KIOSK_ID", "kiosk-1")
        # The kiosks' language unless a kiosk was opened with its own (/?lang=de); the console's
        # when the browser asks for none the kiosk speaks (kiosk/languages.py, kiosk/web/i18n.py).
        self.KIOSK_LANGUAGE = os.environ.get("KIOSK_LANGUAGE", "en")
        self.KIOSK_TIMEZONE = os.environ.get("KIOSK_TIMEZONE", "UTC")
        self.KIOSK_DUPLICATE_WINDOW_MINUTES = _env_int("KIOSK_DUPLICATE_WINDOW_MINUTES", 30)
        # "ignore": a second check-in inside the window is reported, nothing recorded;
        # "check_out": it is recorded as a check-out; "daily": the first event of the local
        # day is the check-in, later ones check-outs (kiosk/services/attendance.py).
        # "in_out" (default): the first visit of a working day is "in", the next one after the
        # window "out", and so on (breaks).
        self.KIOSK_REPEAT_RULE = os.environ.get("KIOSK_REPEAT_RULE", "in_out")
        self.KIOSK_ROUNDING_MINUTES = os.environ.get("KIOSK_ROUNDING_MINUTES", "0")
        self.KIOSK_PHOTO_RETENTION_DAYS = _env_int("KIOSK_PHOTO_RETENTION_DAYS", 0)  # 0 = keep
        # What a check-in that fails liveness becomes (kiosk.checkin.liveness): "review" (default:
        # kept for an administrator to approve, the kiosk says so), "refuse" (the kiosk asks the
        # person to try again; the attempt is still kept) or "off" (recorded as normal).
        self.KIOSK_LIVENESS_POLICY = os.environ.get("KIOSK_LIVENESS_POLICY", "review")
        # Only paired kiosks may use the frame API (kiosk.services.devices, pairing); a site may turn
        # it off. KIOSK_REQUIRE_DEVICE_TOKEN is the setting's former name, still read.
        # A touch answer (Yes / No buttons) beside the O and X gestures while the kiosk asks for a
        # confirmation, for people who cannot raise their arms. Off by default: a touch screen is
        # not every site's, and the gestures prove a body is there. The liveness checks apply either way.
        self.KIOSK_TOUCH_CONFIRM = switch_named("KIOSK_TOUCH_CONFIRM", os.environ.get("KIOSK_TOUCH_CONFIRM", "off"))
        self.KIOSK_REQUIRE_PAIRING = _env_bool("KIOSK_REQUIRE_PAIRING", _env_bool("KIOSK_REQUIRE_DEVICE_TOKEN", True))
        # Kiosk sessions one address may hold when pairing is off (kiosk.checkin.sessions); a paired
        # kiosk holds one, never taken by other traffic.
        self.KIOSK_SESSIONS_PER_CLIENT = _env_int("KIOSK_SESSIONS_PER_CLIENT", 8)

        # Sessions and cookies: the kiosk is only ever served over HTTPS.
        self.SESSION_COOKIE_SECURE = _env_bool("KIOSK_SECURE_COOKIES", True)
        self.REMEMBER_COOKIE_SECURE = self.SESSION_COOKIE_SECURE
        self.SESSION_COOKIE_HTTPONLY = True
        self.REMEMBER_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.WTF_CSRF_TIME_LIMIT = None
        self.KIOSK_BEHIND_PROXY = _env_bool("KIOSK_BEHIND_PROXY", False)
        # Sign-in limits and admin session lifetimes (kiosk.services.accounts).
        # Webhooks: the running server sends the outbox (a thread per process; 0 turns it off, as
        # tests do). Retries double from FIRST_RETRY_S up to MAX_RETRY_S for RETRY_HOURS, then failed.
        self.KIOSK_WEBHOOKS = _env_bool("KIOSK_WEBHOOKS", True)
        self.KIOSK_WEBHOOK_TIMEOUT_S = _env_float("KIOSK_WEBHOOK_TIMEOUT_S", 10.0)
        self.KIOSK_WEBHOOK_RETRY_HOURS = _env_float("KIOSK_WEBHOOK_RETRY_HOURS", 24.0)
        self.KIOSK_WEBHOOK_FIRST_RETRY_S = _env_float("KIOSK_WEBHOOK_FIRST_RETRY_S", 10.0)
        self.KIOSK_WEBHOOK_MAX_RETRY_S = _env_float("KIOSK_WEBHOOK_MAX_RETRY_S", 3600.0)
        self.KIOSK_WEBHOOK_POLL_S = _env_float("KIOSK_WEBHOOK_POLL_S", 1.0)
        self.KIOSK_LOGIN_MAX_FAILURES = _env_int("KIOSK_LOGIN_MAX_FAILURES", 5)  # per name, per address
        self.KIOSK_LOGIN_MAX_FAILURES_PER_ADDRESS = _env_int("KIOSK_LOGIN_MAX_FAILURES_PER_ADDRESS", 20)
        self.KIOSK_LOGIN_LOCKOUT_SECONDS = _env_int("KIOSK_LOGIN_LOCKOUT_SECONDS", 300)
        self.KIOSK_ADMIN_IDLE_MINUTES = _env_int("KIOSK_ADMIN_IDLE_MINUTES", 30)
        self.KIOSK_ADMIN_SESSION_HOURS = _env_int("KIOSK_ADMIN_SESSION_HOURS", 12)
        # Request rates (kiosk.services.throttle), counted in the database across workers and hosts,
        # in fixed windows. A kiosk sends at most one frame at a time, at the camera's rate (15 a
        # second; message screens ask for fewer) or the server's, whichever is slower: 600 in 10 s is
        # 60 a second, four times that. Traffic that is not a paired kiosk (no or a bad token,
        # pairing, every kiosk when pairing is off) is counted per client address instead.
        self.KIOSK_RATE_LIMITS = _env_bool("KIOSK_RATE_LIMITS", True)
        self.KIOSK_RATE_WINDOW_SECONDS = _env_int("KIOSK_RATE_WINDOW_SECONDS", 10)
        self.KIOSK_RATE_PER_DEVICE = _env_int("KIOSK_RATE_PER_DEVICE", 600)
        self.KIOSK_RATE_PER_ADDRESS = _env_int("KIOSK_RATE_PER_ADDRESS", 600)
        self.KIOSK_RATE_SIGN_INS_PER_ADDRESS = _env_int("KIOSK_RATE_SIGN_INS_PER_ADDRESS", 10)
        # How often a process writes its counts to the database (per kiosk or address); 0: every request.
        self.KIOSK_RATE_SYNC_SECONDS = _env_float("KIOSK_RATE_SYNC_SECONDS", 1.0)

        # Check-in thresholds and timeouts (kiosk.checkin.machine.MachineConfig), e.g.
        # KIOSK_CHECKIN_GESTURE_HOLD_S=0.5; MachineConfig validates and converts them.
        for name, value in os.environ.items():
            if name.startswith("KIOSK_CHECKIN_"):
                setattr(self, name, value)

        check_settings(vars(self))
        Path(self.KIOSK_DATA_DIR).mkdir(parents=True, exist_ok=True)
        self.SECRET_KEY = load_or_create_secret_key(Path(self.KIOSK_DATA_DIR))


class TestingConfig(Config):
    """A throwaway data dir per app; CSRF stays on (tests send the token) unless a test turns it off."""

    TESTING = True
    __test__ = False  # not a pytest test class

    def __init__(self, data_dir: str | os.PathLike[str] | None = None, database_url: str | None = None) -> None:
        super().__init__(data_dir, database_url)
        self.SESSION_COOKIE_SECURE = False
        self.REMEMBER_COOKIE_SECURE = False
        self.KIOSK_WEBHOOKS = False  # no sender thread unless a test about webhooks turns it on
        # No training threads behind a test's back: the tests about it turn it on.
        self.KIOSK_RETRAIN_AFTER_CHANGES = False
