"""Attendance: recording a check-in with its photo, the duplicate window, deletion and retention.

Consistency between the database and the photo files (the rule of this module):

* **Recording**: the files are written first (each atomically: temp file + rename), then the row
  is committed. If the commit fails, the files are removed. If the process dies in between, the
  worst case is a photo file that no row references (an *orphan*), never a row that points at a
  missing or half-written file. :func:`purge_orphan_files` removes orphans and leftover temp files.
* **Deleting** (an event, a person, photos past the retention): the rows are changed and committed
  first, the files removed after; a failure leaves an orphan file (logged by count), never a
  dangling row.

Repeat rule and minimum gap (the site's Settings page, defaults ``KIOSK_REPEAT_RULE`` and
``KIOSK_DUPLICATE_WINDOW_MINUTES``: kiosk.services.site_settings): a visit within the gap after the
person's last punch records nothing (``duplicate=True``, the earlier punch); otherwise

* ``in_out`` (default): the first punch of the person's working day (kiosk.services.workday: it
  follows their schedule, so a night shift's "out" after midnight belongs to the night before) is
  "in", then "out", "in" (back from a break), ... A missing "out" is never guessed;
* ``ignore``: every visit outside the window is a check-in;
* ``check_out``: a check-out is recorded if that earlier event was a check-in; if it was already
  a check-out, it is a duplicate of that check-out;
* ``daily``: the person's first event of the local day (site time zone) is a check-in and every
  later one a check-out (the reports take the last as the time out); an event inside the window is
  a duplicate of the earlier one, whichever its kind. For sites where people pass the kiosk when
  they arrive and when they leave, not in between.

Settings read here (with defaults): KIOSK_ID, KIOSK_TIMEZONE (via kiosk.sitetime), the repeat rule and
minimum gap (via site_settings), KIOSK_PHOTO_RETENTION_DAYS, KIOSK_MEMO_FONT (via photos).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
from flask import current_app
from sqlalchemy import func, select

from ..config import ConfigError
from ..errors import Conflict, InvalidInput, KioskError, NotFound
from ..extensions import db
from ..models import AttendanceEvent, EventKind, Person, utcnow
from ..sitetime import day_start, to_local
from . import audit, database, photos, site_settings, webhooks
from .audit_actions import ATTENDANCE_DELETED

# Retention and orphan clean-up live with the files (kiosk.services.photos); re-exported here
# because they are part of the attendance service's contract.
from .photos import apply_photo_retention, purge_orphan_files, purge_photos_older_than  # noqa: F401
from .schedules import load_book
from .site_lock import site_lock
from .workday import punches_of_day, working_day

log = logging.getLogger(__name__)



@contextmanager
def one_recorder_at_a_time(person_id: int) -> Iterator[None]:
    """Only one check-in of a person is decided and recorded at a time on this site.

    Two kiosks (served by two gunicorn workers, two app hosts, or a worker and a script) must not
    both find "no earlier event" for the same person and both record one.

    * PostgreSQL (several app hosts): the database serialises them. The person's row is locked
      (``SELECT ... FOR NO KEY UPDATE``) in the transaction that decides and inserts; a second
      recorder of the same person waits for that transaction to end, then sees its event (read
      committed: each statement sees what was committed before it). Other people are not held up,
      and the lock goes with the transaction, whatever happens to the process that held it.
    * SQLite (one box): the site lock ``attendance`` (a thread lock and an ``flock`` in the data
      dir, released by the kernel if the holder dies) serialises the threads and processes sharing it.
    """
    if database.is_postgresql():
        db.session.commit()  # whatever the request did before, it does not share the lock's transaction
        locked = db.session.scalar(select(Person.id).where(Person.id == person_id).with_for_update(key_share=True))
        if locked is None:
            db.session.rollback()
            raise Conflict("This person has been deleted.", code="person_deleted")
        try:
            yield
        except BaseException:
            database.rollback_quietly()
            raise
        db.session.commit()  # ends the transaction (and the lock) when nothing was recorded
        return
    with site_lock("attendance"):
        # A read transaction begun before the lock would keep SQLite's (WAL) snapshot from
        # then and miss a check-in another process has just committed: start afresh.
        # (Pending changes would be committed by the recording anyway.)
        db.session.commit()
        yield


@dataclass
class CheckInResult:
    event: AttendanceEvent  # the new event, or the earlier one when ``duplicate``
    duplicate: bool  # True: nothing was recorded (already checked in/out within the window)
    kind: EventKind  # the kind of ``event``
    local_time: datetime  # ``event.timestamp`` in the site time zone

    @property
    def checked_in_at(self) -> str:
        """``"09:02"``: what the welcome screen shows."""
        return self.local_time.strftime("%H:%M")

    def as_dict(self) -> dict:
        return {
            "event_id": self.event.id,
            "person": self.event.person.name,
            "kind": self.kind.value,
            "duplicate": self.duplicate,
            "timestamp": self.event.timestamp.isoformat(),
            "checked_in_at": self.checked_in_at,
            "happy": self.event.happy_score,
            "has_photo": bool(self.event.photo_path),
        }


def _score(value: float | None, name: str, *, unit_range: bool = True) -> float | None:
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError) as err:
        raise InvalidInput(f"{name} must be a number.", code="bad_score") from err
    if math.isnan(value):
        return None
    if math.isinf(value):
        raise InvalidInput(f"{name} must be finite.", code="bad_score")
    # Softmax outputs can exceed 1 by a rounding error; the happy column only takes 0..1.
    return min(1.0, max(0.0, value)) if unit_range else value


def _repeat_rule() -> str:
    """The site's rule (its Settings page, else ``KIOSK_REPEAT_RULE``, checked at start-up); a rule
    changed afterwards that is unknown is refused loudly rather than guessed."""
    try:
        return site_settings.value("repeat_rule")
    except ConfigError as err:
        raise KioskError(str(err), code="bad_config", status=500) from err


def latest_event_within(person_id: int, now: datetime, minutes: float) -> AttendanceEvent | None:
    """The person's most recent event in ``[now - minutes, now]``, if any."""
    if minutes <= 0:
        return None
    since = now - timedelta(minutes=minutes)
    return db.session.scalar(
        select(AttendanceEvent)
        .where(AttendanceEvent.person_id == person_id, AttendanceEvent.removed.is_(False))
        .where(AttendanceEvent.timestamp >= since, AttendanceEvent.timestamp <= now)
        .order_by(AttendanceEvent.timestamp.desc(), AttendanceEvent.id.desc())
        .limit(1)
    )


def _earlier_today(person_id: int, now: datetime) -> bool:
    """Whether the person has an event earlier on ``now``'s local day (site time zone)."""
    midnight = day_start(now)
    return db.session.scalar(
        select(AttendanceEvent.id)
        .where(AttendanceEvent.person_id == person_id, AttendanceEvent.removed.is_(False))
        .where(AttendanceEvent.timestamp >= midnight, AttendanceEvent.timestamp <= now)
        .limit(1)
    ) is not None


def _repeat_decision(person_id: int, now: datetime) -> tuple[AttendanceEvent | None, EventKind]:
    """(earlier event if this is a duplicate else None, the kind to record otherwise)."""
    window = float(site_settings.value("minimum_gap_minutes") or 0)
    rule = _repeat_rule()
    earlier = latest_event_within(person_id, now, window)
    if rule == "in_out":
        if earlier is not None:
            return earlier, earlier.kind
        return None, _next_kind_of_working_day(person_id, now)
    if rule == "daily":
        if earlier is not None:
            return earlier, earlier.kind
        return None, EventKind.check_out if _earlier_today(person_id, now) else EventKind.check_in
    if earlier is None:
        return None, EventKind.check_in
    if rule == "check_out" and earlier.kind is EventKind.check_in:
        return None, EventKind.check_out
    return earlier, earlier.kind


def _next_kind_of_working_day(person_id: int, now: datetime) -> EventKind:
    """``in_out``: "out" when the person's last punch of this working day is an "in", else "in"
    (the first of the day, or back from a break). A forgotten "out" yesterday is not guessed:
    today starts with "in" and yesterday stays flagged."""
    book = load_book([person_id])
    day = working_day(book, person_id, now)
    earlier = [p for p in punches_of_day(book, person_id, day) if p.timestamp <= now]
    return EventKind.check_out if earlier and earlier[-1].kind is EventKind.check_in else EventKind.check_in


def recent_repeat(person_id: int, now: datetime | None = None) -> AttendanceEvent | None:
    """The earlier event that a check-in now would merely repeat (nothing would be recorded), else None.

    The state machine asks this as soon as someone is identified, so a person who already checked
    in (or out) is told so at once instead of confirming and smiling for nothing. Under the
    ``check_out`` rule, a check-in inside the window is *not* a repeat (it becomes a check-out).
    """
    now = now or utcnow()
    earlier, _ = database.retry_on_disconnect(
        lambda: _repeat_decision(person_id, now), "checking for an earlier check-in"
    )
    return earlier


def record_check_in(
    person: Person,
    frame_bgr: np.ndarray,
    *,
    happy: float | None,
    identification_score: float | None,
    kiosk_id: str | None = None,
    now: datetime | None = None,
    memo: str | None = None,
) -> CheckInResult:
    """Record that ``person`` checked in (or out, see the module docstring) with this photo.

    ``frame_bgr`` is the captured frame (BGR uint8); ``memo`` defaults to name + local date/time.
    Raises InvalidInput (bad frame/score/memo, naive ``now``), Conflict (person inactive or not saved)
    or KioskError ``bad_config`` (unknown KIOSK_REPEAT_RULE). On a storage or database error
    nothing is left behind but possibly an orphan file.
    """
    if person is None or person.id is None:
        raise Conflict("The person must be saved before checking in.", code="person_unsaved")
    if not person.active:
        raise Conflict("This person is deactivated and cannot check in.", code="person_inactive")
    if now is not None and now.tzinfo is None:
        raise InvalidInput("The check-in time must be timezone-aware.", code="naive_time")
    happy = _score(happy, "happy")
    identification_score = _score(identification_score, "identification_score", unit_range=False)
    kiosk_id = (kiosk_id or current_app.config.get("KIOSK_ID") or "kiosk-1")[:64]

    person_id, name = person.id, person.name
    # The files of an attempt whose commit broke with the connection: whether the server had
    # committed it is only known once the database is back (the next attempt asks first).
    uncertain: list[str] = []

    def decide_and_record() -> CheckInResult:
        if uncertain:
            committed = _event_with_photo(uncertain[0])
            if committed is not None:
                uncertain.clear()
                return CheckInResult(committed, False, committed.kind, to_local(committed.timestamp))
            photos.remove_files(uncertain)
            uncertain.clear()
        with one_recorder_at_a_time(person_id):
            at = now or _time_under_the_lock()
            earlier, kind = _repeat_decision(person_id, at)
            if earlier is not None:
                return CheckInResult(earlier, True, earlier.kind, to_local(earlier.timestamp))
            text = photos.clean_memo(memo) if memo is not None else photos.default_memo(name, at, kind)
            stored = photos.save_photos(frame_bgr, text)
            event = AttendanceEvent(
                person_id=person_id,
                kind=kind,
                timestamp=at,
                kiosk_id=kiosk_id,
                photo_path=stored.photo_path,
                original_photo_path=stored.original_path,
                memo=text,
                happy_score=happy,
                identification_score=identification_score,
            )
            try:
                db.session.add(event)
                db.session.flush()
                # In the event's own transaction: a check-in is never recorded without its webhooks.
                webhooks.enqueue(kind.value, {**webhooks.attendance_payload(event), "person": name}, now=at)
                db.session.commit()
            except BaseException as err:
                database.rollback_quietly()
                if database.is_disconnect(err):
                    uncertain[:] = [stored.photo_path, stored.original_path]
                else:
                    photos.remove_files([stored.photo_path, stored.original_path])
                raise
        return CheckInResult(event, False, kind, to_local(at))

    # A database that went away mid check-in (a restart, a fail-over) costs a wait, not the
    # check-in: the decision runs again once it is back. If the connection broke during the
    # commit, the next attempt first looks for the event by its (unique, random) photo path.
    # A database still gone after KIOSK_DB_RETRY_SECONDS leaves at worst orphan files.
    return database.retry_on_disconnect(decide_and_record, "recording a check-in")


def _time_under_the_lock() -> datetime:
    """The check-in's time, taken once the person's lock is held, so that the order of the
    timestamps is the order in which the decisions were made. On PostgreSQL it is the database
    server's clock: app hosts' clocks may disagree by more than two racing check-ins do, and an
    event stamped a few milliseconds "after" the decision would fall outside its window."""
    if database.is_postgresql():
        return db.session.scalar(select(func.clock_timestamp())).astimezone(timezone.utc)
    return utcnow()


def _event_with_photo(photo_path: str) -> AttendanceEvent | None:
    return db.session.scalar(select(AttendanceEvent).where(AttendanceEvent.photo_path == photo_path))


def get_event(event_id: int) -> AttendanceEvent:
    event = db.session.get(AttendanceEvent, event_id)
    if event is None:
        raise NotFound("No such attendance event.")
    return event


def recent_events(person_id: int, limit: int) -> list[AttendanceEvent]:
    """A person's latest check-ins, newest first."""
    return list(
        db.session.scalars(
            select(AttendanceEvent)
            .where(AttendanceEvent.person_id == person_id)
            .order_by(AttendanceEvent.timestamp.desc())
            .limit(limit)
        )
    )


def event_target(event: AttendanceEvent) -> audit.Target:
    when = to_local(event.timestamp).strftime("%Y-%m-%d %H:%M")
    return audit.Target("attendance", event.id, f"{event.person.name}, {when}")


def event_facts(event: AttendanceEvent) -> dict:
    """What an audit entry keeps of an event (never its photos)."""
    return {"person_id": event.person_id, "person": event.person.name, "kind": event.kind.value,
            "timestamp": event.timestamp.isoformat(timespec="seconds"), "kiosk_id": event.kiosk_id, "memo": event.memo}


def delete_event(event: AttendanceEvent, *, actor: audit.Actor | str | None = None, reason: str | None = None) -> None:
    """Delete an attendance event and its photo files (row first, then the files)."""
    paths = photos.event_files(event)
    audit.record(ATTENDANCE_DELETED, event_target(event), actor=actor, reason=reason, before=event_facts(event))
    db.session.delete(event)
    db.session.commit()
    photos.remove_files(paths)
