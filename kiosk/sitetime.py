"""The site's clock: its time zone (``KIOSK_TIMEZONE``) and where its days begin and end.

Times are stored in UTC and shown, grouped into days and exported in the site's time zone. Every
part of the kiosk that needs local time asks here: the check-in screen and the photo memo, the
``daily`` repeat rule, the reports and the admin pages, so they can never disagree.

A base module beside ``config`` and ``storage`` (not under ``services/``): :class:`kiosk.config.Config`
checks the time zone at start-up with :func:`zone_named`, and both services and the web layer
read local time from here.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app

from .errors import KioskError


def zone_named(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; ValueError with a message for the operator when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ValueError(
            f"KIOSK_TIMEZONE={name!r} is not a known time zone: use an IANA name such as Europe/Paris or Asia/Seoul."
        ) from err


def site_timezone() -> ZoneInfo:
    """The running app's ``KIOSK_TIMEZONE``. Checked at start-up (``Config``); a name changed
    afterwards that is unknown is a KioskError ``bad_timezone`` (500), never a silent UTC."""
    name = (current_app.config.get("KIOSK_TIMEZONE") or "UTC").strip()
    try:
        return zone_named(name)
    except ValueError as err:
        raise KioskError(str(err), code="bad_timezone", status=500) from err


def to_local(moment: datetime, tz: ZoneInfo | None = None) -> datetime:
    """``moment`` (timezone-aware) in the site's time zone."""
    if moment.tzinfo is None:
        raise ValueError("a timezone-aware datetime is required")
    return moment.astimezone(tz or site_timezone())


def local_today(tz: ZoneInfo | None = None) -> date:
    return datetime.now(timezone.utc).astimezone(tz or site_timezone()).date()


def day_start(moment: datetime, tz: ZoneInfo | None = None) -> datetime:
    """Local midnight (in UTC) that begins the site's day containing ``moment``."""
    local = to_local(moment, tz)
    return datetime.combine(local.date(), time.min, tzinfo=local.tzinfo).astimezone(timezone.utc)


def utc_bounds(start: date, end: date, tz: ZoneInfo | None = None) -> tuple[datetime, datetime]:
    """UTC instants of local midnight at ``start`` and local midnight after ``end`` (half-open)."""
    tz = tz or site_timezone()
    lower = datetime.combine(start, time.min, tzinfo=tz).astimezone(timezone.utc)
    upper = datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz).astimezone(timezone.utc)
    return lower, upper
