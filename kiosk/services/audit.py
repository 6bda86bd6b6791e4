"""The append-only audit log: who did what to which thing, when, and what it was before and after.

:func:`record` adds an :class:`~kiosk.models.AuditEntry` to the session and does **not** commit:
the service that makes the change calls it before its own (single) commit, so the entry and the
change are written together, and a change that is refused or rolled back leaves no entry. An
action that changes nothing in the database (an export, a sign-in, a finished retraining) uses
:func:`record_now`, which commits the entry alone.

There is no update or delete here, and the database refuses both (triggers of migration
``a0d17e9c0c01``). Entries never hold biometric data: :func:`record` refuses before/after
values under keys that name embeddings, images or photo paths, and bytes of any kind.

Errors (for :func:`parse_filters`): ``InvalidInput`` codes ``bad_date``, ``bad_range``,
``unknown_action``, ``bad_actor``.
"""

from __future__ import annotations

import getpass
import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select

from .. import sitetime
from ..errors import InvalidInput
from ..extensions import db
from ..models import AuditEntry
from .audit_actions import ACTIONS, AREAS
from .report_table import Column, header, rows, to_csv

SYSTEM = "system"
MAX_LISTED = 500
MAX_REASON = 500
MAX_EXPORTED = 100_000
# Keys that would carry biometric data or point at it: refused in before/after, whatever the caller.
FORBIDDEN_KEYS = frozenset({
    "embedding", "embeddings", "vector", "image", "images", "photo", "photo_path", "original_photo_path",
    "crop", "crop_path", "neutral_path", "frame", "landmarks", "path", "paths", "files",
})
FIRST_DATE, LAST_DATE = date(1900, 1, 1), date(9998, 12, 31)


@dataclass(frozen=True)
class Actor:
    """Who acts: an admin's username (with the request's address), ``cli:<user>``, ``system``,
    or ``kiosk:<device>``."""

    name: str
    address: str | None = None

    def __str__(self) -> str:
        return self.name


def cli_actor() -> Actor:
    """The operating-system user running a ``kiosk`` command, as ``cli:<user>``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container's arbitrary uid)
        user = "unknown"
    return Actor(f"cli:{user}")


@dataclass(frozen=True)
class Target:
    type: str
    id: object = None
    label: str | None = None

    def __str__(self) -> str:
        text = self.type if self.id is None else f"{self.type} {self.id}"
        return f"{text} ({self.label})" if self.label else text


def person_target(person) -> Target:  # noqa: ANN001 - a Person
    return Target("person", person.id, person.name)


TRAINING_FACTS = ("model", "people", "samples", "embedder", "weights", "cv_accuracy", "threshold", "site_samples",
                  "trained_at", "seconds")


def training_facts(result: dict[str, Any] | None) -> dict[str, Any]:
    """The figures of a training summary worth keeping (never its file paths)."""
    return {key: (result or {})[key] for key in TRAINING_FACTS if key in (result or {})}


def _actor(actor: Actor | str | None) -> Actor:
    if actor is None:
        return Actor(SYSTEM)
    return actor if isinstance(actor, Actor) else Actor(str(actor))


def actor_name(actor: Actor | str | None) -> str:
    """The name an entry would record for ``actor`` (for rows that keep who changed them)."""
    return _actor(actor).name[:96]


def _check_no_biometrics(value: Any, where: str) -> None:
    if isinstance(value, (bytes, bytearray, memoryview)):
        raise ValueError(f"audit {where}: bytes are never logged")
    if isinstance(value, dict):
        for key, item in value.items():
            if str(key).lower() in FORBIDDEN_KEYS:
                raise ValueError(f"audit {where}: {key!r} may hold biometric data and is never logged")
            _check_no_biometrics(item, where)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _check_no_biometrics(item, where)
    elif hasattr(value, "tobytes"):  # numpy arrays
        raise ValueError(f"audit {where}: arrays are never logged")


def _dump(value: Any, where: str) -> str | None:
    if value is None:
        return None
    _check_no_biometrics(value, where)
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def record(action: str, target: Target, *, actor: Actor | str | None, reason: str | None = None,
           before: Any = None, after: Any = None) -> AuditEntry:
    """Add one entry to the current transaction (the caller's commit writes it with the change).
    ``action`` must be in :mod:`.audit_actions`; a programming error (ValueError) otherwise, as for
    biometric data in ``before``/``after``."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}: add it to kiosk/services/audit_actions.py")
    who = _actor(actor)
    entry = AuditEntry(
        actor=who.name[:96], action=action, target_type=target.type[:32],
        target_id=None if target.id is None else str(target.id)[:64],
        target_label=None if target.label is None else str(target.label)[:200],
        reason=(str(reason or "").strip() or None) and str(reason).strip()[:MAX_REASON],
        before_json=_dump(before, "before"), after_json=_dump(after, "after"),
        address=(who.address or None) and who.address[:64],
    )
    db.session.add(entry)
    return entry


def record_now(action: str, target: Target, **kwargs: Any) -> AuditEntry:
    """:func:`record` and commit: for actions whose change is not in the database (a download, a
    sign-in, a model retrained by a background job). Commits whatever else the session holds."""
    entry = record(action, target, **kwargs)
    db.session.commit()
    return entry


# ---------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class Filters:
    start: date | None = None  # site-local days, inclusive
    end: date | None = None
    actor: str | None = None  # exact
    action: str | None = None  # an action, or an area ("person") for all of its actions


def _day(text: str | None, field: str) -> date | None:
    if text is None or not str(text).strip():
        return None
    try:
        day = date.fromisoformat(str(text).strip())
    except ValueError as err:
        raise InvalidInput(f"The {field} date {text!r} is not a date in the form YYYY-MM-DD.",
                           code="bad_date", field=field) from err
    if not FIRST_DATE <= day <= LAST_DATE:  # a day's UTC bounds must not overflow Python's dates
        raise InvalidInput(f"The {field} date {day} is outside {FIRST_DATE} to {LAST_DATE}.", code="bad_date",
                           field=field)
    return day


def parse_filters(start: str | None = None, end: str | None = None, actor: str | None = None,
                  action: str | None = None) -> Filters:
    """Filters from text (a form, the command line); empty values filter nothing."""
    first, last = _day(start, "from"), _day(end, "to")
    if first and last and last < first:
        raise InvalidInput(f"The range ends ({last}) before it starts ({first}).", code="bad_range")
    actor = (actor or "").strip() or None
    if actor is not None and len(actor) > 96:
        raise InvalidInput("An actor is at most 96 characters.", code="bad_actor")
    action = (action or "").strip() or None
    if action is not None and action not in ACTIONS and action not in AREAS:
        raise InvalidInput(f"Unknown action {action!r}: one of {', '.join(ACTIONS)} (or an area: "
                           f"{', '.join(AREAS)}).", code="unknown_action")
    return Filters(first, last, actor, action)


def _query(filters: Filters):
    query = select(AuditEntry)
    if filters.start is not None:
        query = query.where(AuditEntry.at >= sitetime.utc_bounds(filters.start, filters.start)[0])
    if filters.end is not None:
        query = query.where(AuditEntry.at < sitetime.utc_bounds(filters.end, filters.end)[1])
    if filters.actor:
        query = query.where(AuditEntry.actor == filters.actor)
    if filters.action in AREAS:
        query = query.where(AuditEntry.action.like(f"{filters.action}.%"))
    elif filters.action:
        query = query.where(AuditEntry.action == filters.action)
    return query


def entries(filters: Filters = Filters(), *, limit: int | None = MAX_LISTED, newest_first: bool = True
            ) -> list[AuditEntry]:
    order = (AuditEntry.at.desc(), AuditEntry.id.desc()) if newest_first else (AuditEntry.at, AuditEntry.id)
    query = _query(filters).order_by(*order)
    if limit is not None:
        query = query.limit(limit)
    return list(db.session.scalars(query))


def actors() -> list[str]:
    """Everyone who has an entry: the page's actor choices."""
    return list(db.session.scalars(select(AuditEntry.actor).distinct().order_by(AuditEntry.actor)))


def target_text(entry: AuditEntry) -> str:
    return str(Target(entry.target_type, entry.target_id, entry.target_label))


def as_dict(entry: AuditEntry) -> dict[str, Any]:
    """``{"at", "actor", "action", "target", "reason", "before", "after"}`` (``kiosk audit --json``);
    ``at`` in ISO 8601 with the site's offset."""
    return {
        "at": sitetime.to_local(entry.at).isoformat(timespec="seconds"),
        "actor": entry.actor,
        "action": entry.action,
        "target": target_text(entry),
        "reason": entry.reason,
        "before": None if entry.before_json is None else json.loads(entry.before_json),
        "after": None if entry.after_json is None else json.loads(entry.after_json),
    }


def _columns(tz_name: str) -> tuple[Column, ...]:
    """The CSV's columns (one table, kiosk.services.report_table): ``at`` in the site's time zone,
    which ``time_zone`` names."""
    return (
        Column("at", lambda e: sitetime.to_local(e.at).isoformat(timespec="seconds")),
        Column("actor", lambda e: e.actor),
        Column("action", lambda e: e.action),
        Column("target_type", lambda e: e.target_type),
        Column("target_id", lambda e: e.target_id),
        Column("target", lambda e: target_text(e)),
        Column("reason", lambda e: e.reason),
        Column("before", lambda e: e.before_json),
        Column("after", lambda e: e.after_json),
        Column("address", lambda e: e.address),
        Column("time_zone", lambda e: tz_name),  # last: scripts that read the columns by place keep working
    )


EXPORT_COLUMNS = header(_columns(""))


def export_csv(filters: Filters = Filters()) -> bytes:
    """The filtered entries, oldest first, as UTF-8 CSV (with a BOM for spreadsheets); text that a
    spreadsheet would run as a formula is quoted with a leading apostrophe."""
    columns = _columns(sitetime.site_timezone().key)
    return to_csv(columns, rows(columns, entries(filters, limit=MAX_EXPORTED, newest_first=False)))


def export_filename(filters: Filters) -> str:
    first = filters.start.isoformat() if filters.start else "start"
    last = filters.end.isoformat() if filters.end else sitetime.local_today().isoformat()
    return f"audit_{first}_{last}.csv"
