"""Corrections of punches by an administrator: add a missed punch, change a punch's time (or
kind), remove a punch. Always with a reason; the original is kept.

Every correction goes through :func:`apply_correction`, the one place that checks it, writes the
punch's next revision (``PunchRevision``: number 0 is the punch as first recorded, kept the first
time it is corrected), updates the punch to the new version and writes the audit entry, all in one
transaction. Anything that must hear of a correction (a webhook) is called from there.

A correction must leave the working day (kiosk.services.workday) in order around the punch it
touches: an "out" needs an "in" before it, and two stretches of work may not overlap. The punches
recorded at the kiosk may already be out of order elsewhere in the day (a forgotten "out"): that is
what corrections are for, and only the neighbours of the corrected punch are checked.

Errors (nothing is written): ``InvalidInput`` ``missing_reason``, ``reason_too_long``,
``bad_time``, ``bad_kind``, ``punch_in_future``, ``no_change``; ``Conflict`` (409) ``out_before_in``,
``overlapping_pairs``, ``same_time``, ``punch_removed``; ``NotFound``.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select

from ..errors import Conflict, InvalidInput, NotFound
from ..extensions import db
from ..models import AttendanceEvent, EventKind, Person, PunchRevision, utcnow
from ..sitetime import site_timezone, to_local, utc_bounds
from . import audit, webhooks
from .attendance import one_recorder_at_a_time
from .audit_actions import PUNCH_ADDED, PUNCH_CHANGED, PUNCH_REMOVED
from .schedules import load_book
from .workday import punches_of_day, working_day

MAX_REASON = 500
MANUAL_SOURCE = "manual"
KINDS = {"in": EventKind.check_in, "out": EventKind.check_out, "check_in": EventKind.check_in,
         "check_out": EventKind.check_out}


def parse_kind(text: str | None) -> EventKind:
    kind = KINDS.get(str(text or "").strip().lower())
    if kind is None:
        raise InvalidInput(f"The kind {text!r} is neither in nor out.", code="bad_kind", field="kind")
    return kind


def parse_local_time(text: str | None, field: str = "at") -> datetime:
    """``2026-03-02T09:00`` (or with a space) in the site's time zone, as an aware datetime."""
    raw = str(text or "").strip()
    try:
        moment = datetime.fromisoformat(raw.replace(" ", "T", 1))
    except ValueError as err:
        raise InvalidInput(f"The time {raw!r} is not a local date and time such as 2026-03-02T09:00.",
                           code="bad_time", field=field) from err
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=site_timezone())
    if moment.year < 1900:
        raise InvalidInput(f"The time {raw!r} is too far in the past.", code="bad_time", field=field)
    if moment.year > 9000:  # the last years cannot be turned into another time zone
        raise InvalidInput(f"The time {raw!r} is too far in the future.", code="bad_time", field=field)
    return moment


def _reason(reason: str | None) -> str:
    # Control characters (and lone surrogates a JSON body may carry) are no part of a reason, and
    # a database may refuse to store them (PostgreSQL: NUL).
    text = "".join(" " if unicodedata.category(ch)[0] == "C" else ch for ch in str(reason or ""))
    text = " ".join(text.split())
    if not text:
        raise InvalidInput("A correction needs a reason (who asked, or why).", code="missing_reason", field="reason")
    if len(text) > MAX_REASON:
        raise InvalidInput(f"A reason is at most {MAX_REASON} characters.", code="reason_too_long", field="reason",
                           max_length=MAX_REASON)
    return text


def _hhmm(punch: AttendanceEvent | _Candidate) -> str:
    return to_local(punch.timestamp).strftime("%Y-%m-%d %H:%M")


@dataclass
class _Candidate:
    id: int | None
    kind: EventKind
    timestamp: datetime


def _check_insert(day: list, candidate: _Candidate) -> None:
    """The candidate placed among the day's other punches keeps the day in order around it."""
    for other in day:
        if other.timestamp == candidate.timestamp:
            raise Conflict(f"There is already a punch at {_hhmm(other)}.", code="same_time", time=_hhmm(other))
    ordered = sorted([*day, candidate], key=lambda p: p.timestamp)
    index = ordered.index(candidate)
    before = ordered[index - 1] if index else None
    after = ordered[index + 1] if index + 1 < len(ordered) else None
    word = candidate.kind.word
    if candidate.kind is EventKind.check_in:
        if before is not None and before.kind is EventKind.check_in:
            raise Conflict(f"The in at {_hhmm(candidate)} would fall inside the stretch that began with the in at "
                           f"{_hhmm(before)}, which has no out yet: add or fix that out first.",
                           code="overlapping_pairs")
        if after is not None and after.kind is EventKind.check_in:
            raise Conflict(f"The in at {_hhmm(candidate)} would have no out before the next in at {_hhmm(after)}: "
                           "add its out too (the out first if it comes between).", code="overlapping_pairs")
        return
    if before is None:
        raise Conflict(f"The {word} at {_hhmm(candidate)} comes before any in of that working day: "
                       "an out needs its in first.", code="out_before_in")
    if before.kind is EventKind.check_out:
        raise Conflict(f"The out at {_hhmm(candidate)} follows the out at {_hhmm(before)} with no in between: "
                       "the two stretches would overlap.", code="overlapping_pairs")
    if after is not None and after.kind is EventKind.check_out:
        raise Conflict(f"The out at {_hhmm(candidate)} would come between the in at {_hhmm(before)} and its out at "
                       f"{_hhmm(after)}: the stretches would overlap. Change that out instead.",
                       code="overlapping_pairs")


def _check_removal(day: list, punch: AttendanceEvent) -> None:
    """Taking ``punch`` out of its day (``day`` without it) leaves its neighbours in order."""
    before = max((p for p in day if p.timestamp < punch.timestamp), key=lambda p: p.timestamp, default=None)
    after = min((p for p in day if p.timestamp > punch.timestamp), key=lambda p: p.timestamp, default=None)
    if after is None:
        return
    if before is None and after.kind is EventKind.check_out:
        raise Conflict(f"Without the {punch.kind.word} at {_hhmm(punch)}, the out at {_hhmm(after)} would have no in: "
                       "remove or change that out first.", code="out_before_in")
    if before is not None and before.kind is after.kind:
        what = "out" if after.kind is EventKind.check_out else "in"
        raise Conflict(f"Without the {punch.kind.word} at {_hhmm(punch)}, the {what}s at {_hhmm(before)} and "
                       f"{_hhmm(after)} would follow each other: correct one of them first.",
                       code="overlapping_pairs")


def punch_facts(kind: EventKind, timestamp: datetime, removed: bool) -> dict:
    return {"kind": kind.word, "at": to_local(timestamp).isoformat(timespec="minutes"), "removed": removed}


def punch_target(event: AttendanceEvent, person: Person) -> audit.Target:
    return audit.Target("punch", event.id, f"{person.name}, {_hhmm(event)} {event.kind.word}")


def _original_revision(event: AttendanceEvent) -> PunchRevision:
    actor = f"kiosk:{event.kiosk_id}" if event.source == "kiosk" else audit.SYSTEM
    return PunchRevision(event_id=event.id, number=0, kind=event.kind, timestamp=event.timestamp, removed=event.removed,
                         reason=None, actor=actor[:96], recorded_at=event.timestamp)


def apply_correction(action: str, person: Person, event: AttendanceEvent | None, *, kind: EventKind,
                     at: datetime, removed: bool, reason: str | None,
                     actor: audit.Actor | str | None) -> AttendanceEvent:
    """The one way a punch is added, changed or removed by hand (see the module docstring)."""
    reason = _reason(reason)
    if at.tzinfo is None:
        raise InvalidInput("The time must say its time zone.", code="bad_time", field="at")
    with one_recorder_at_a_time(person.id):
        # Under the person's lock, read afresh: another admin may have just removed it.
        if event is not None and event.removed:
            raise Conflict("This punch was removed already.", code="punch_removed")
        if at > utcnow():
            when = to_local(at).strftime('%Y-%m-%d %H:%M')
            raise InvalidInput(f"{when} is in the future: a punch records what happened.", code="punch_in_future",
                               field="at", when=when)
        book = load_book([person.id])
        if event is not None:
            if not removed and (at, kind) == (event.timestamp, event.kind):
                raise InvalidInput("The punch already has this time and kind: nothing to change.", code="no_change")
        candidate = _Candidate(event.id if event else None, kind, at)
        new_day = working_day(book, person.id, at)
        if event is not None:
            old_day = working_day(book, person.id, event.timestamp)
            remaining = punches_of_day(book, person.id, old_day, exclude_id=event.id)
            # A punch moved within its day: the neighbours it leaves see it at its new time.
            _check_removal(remaining + ([candidate] if not removed and new_day == old_day else []), event)
        if not removed:
            _check_insert(punches_of_day(book, person.id, new_day, exclude_id=candidate.id), candidate)
        before = None if event is None else punch_facts(event.kind, event.timestamp, event.removed)
        if event is None:
            event = AttendanceEvent(person_id=person.id, kind=kind, timestamp=at, kiosk_id=MANUAL_SOURCE,
                                    source=MANUAL_SOURCE)
            db.session.add(event)
            db.session.flush()
            number = 0
        else:
            number = db.session.scalar(select(func.max(PunchRevision.number))
                                       .where(PunchRevision.event_id == event.id))
            if number is None:
                db.session.add(_original_revision(event))
                number = 0
            number += 1
            event.kind, event.timestamp, event.removed = kind, at, removed
        who = audit.actor_name(actor)
        db.session.add(PunchRevision(event_id=event.id, number=number, kind=kind, timestamp=at, removed=removed,
                                     reason=reason, actor=who))
        after = punch_facts(kind, at, removed)
        audit.record(action, punch_target(event, person), actor=actor, reason=reason, before=before, after=after)
        # In the correction's own transaction: payroll hears of every change it will be paid on.
        webhooks.enqueue("correction", {**webhooks.attendance_payload(event), "action": action, "reason": reason,
                                        "actor": who, "before": before, "after": after})
        db.session.commit()
    return event


def add_punch(person: Person, at: datetime, kind: EventKind, *, reason: str | None,
              actor: audit.Actor | str | None) -> AttendanceEvent:
    """A punch the kiosk missed (``source`` manual; its revision 0 holds the reason)."""
    return apply_correction(PUNCH_ADDED, person, None, kind=kind, at=at, removed=False, reason=reason, actor=actor)


def change_punch(event: AttendanceEvent, *, at: datetime | None = None, kind: EventKind | None = None,
                 reason: str | None, actor: audit.Actor | str | None) -> AttendanceEvent:
    return apply_correction(PUNCH_CHANGED, event.person, event, kind=kind or event.kind, at=at or event.timestamp,
                            removed=False, reason=reason, actor=actor)


def remove_punch(event: AttendanceEvent, *, reason: str | None, actor: audit.Actor | str | None) -> AttendanceEvent:
    """The punch stays (with its revisions) but counts nowhere."""
    return apply_correction(PUNCH_REMOVED, event.person, event, kind=event.kind, at=event.timestamp, removed=True,
                            reason=reason, actor=actor)


def get_punch(event_id: int) -> AttendanceEvent:
    event = db.session.get(AttendanceEvent, event_id)
    if event is None:
        raise NotFound("No such punch.")
    return event


def revisions(event: AttendanceEvent) -> list[PunchRevision]:
    return list(db.session.scalars(select(PunchRevision).where(PunchRevision.event_id == event.id)
                                   .order_by(PunchRevision.number)))


def removed_punches(person_id: int, start: date, end: date) -> list[tuple[AttendanceEvent, PunchRevision]]:
    """The person's punches a correction removed in ``[start, end]`` (local days), each with the
    revision that removed it: the timesheet lists them, struck through, with the reason."""
    lower, upper = utc_bounds(start, end)
    events = db.session.scalars(select(AttendanceEvent).where(
        AttendanceEvent.person_id == person_id, AttendanceEvent.removed.is_(True),
        AttendanceEvent.timestamp >= lower, AttendanceEvent.timestamp < upper).order_by(AttendanceEvent.timestamp))
    return [(event, revisions(event)[-1]) for event in events]
