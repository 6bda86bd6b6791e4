"""The time-keeping tables: groups of people, weekly schedules, the site's holidays and settings,
and the revisions of punches (corrections). Imported by :mod:`kiosk.models`, which re-exports them.

Schedules are minutes after local midnight in the site's time zone (``kiosk.sitetime``); the
real length of a shift on a daylight-saving day comes from the dates it falls on
(``kiosk.services.schedules``), never from ``end - start`` in minutes.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, CheckConstraint, Date, Enum, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from .extensions import db
from .models import EventKind, UTCDateTime, utcnow
from .names import name_key

MINUTES_PER_DAY = 24 * 60


class PersonGroup(db.Model):
    """A group or department ("Kitchen", "Night shift"). Unique by ``name_key`` (case and width
    folded, as people's names are)."""

    __tablename__ = "person_group"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True, nullable=False)
    name_key: Mapped[str] = mapped_column(String(160), unique=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    @validates("name")
    def _keep_name_key(self, _key: str, name: str) -> str:
        self.name_key = name_key(name) if isinstance(name, str) else name
        return name


class WorkSchedule(db.Model):
    """One weekday of a weekly schedule, for one person, one group, or the whole site (neither).

    A person's own week replaces their group's, a group's replaces the site's; a weekday without
    a row in the week that applies is a day off. ``overnight``: the shift ends the next day (a night
    shift 22:00-06:00); otherwise it must end after it starts."""

    __tablename__ = "work_schedule"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("person_group.id", ondelete="CASCADE"), index=True)
    weekday: Mapped[int] = mapped_column(Integer, nullable=False)  # Monday 0 .. Sunday 6
    start_minute: Mapped[int] = mapped_column(Integer, nullable=False)
    end_minute: Mapped[int] = mapped_column(Integer, nullable=False)
    overnight: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    grace_minutes: Mapped[int] = mapped_column(Integer, nullable=False, default=0)

    __table_args__ = (
        CheckConstraint("weekday >= 0 AND weekday <= 6", name="weekday_range"),
        CheckConstraint(f"start_minute >= 0 AND start_minute < {MINUTES_PER_DAY}", name="start_range"),
        CheckConstraint(f"end_minute >= 0 AND end_minute < {MINUTES_PER_DAY}", name="end_range"),
        CheckConstraint("grace_minutes >= 0 AND grace_minutes <= 240", name="grace_range"),
        CheckConstraint("overnight OR end_minute > start_minute", name="ends_after_start"),
        CheckConstraint("person_id IS NULL OR group_id IS NULL", name="one_owner"),
    )


class SiteHoliday(db.Model):
    """A day nobody is expected (a public holiday, the office closed): no lateness, no absence."""

    __tablename__ = "site_holiday"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date, unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(120), nullable=False)


class SiteSetting(db.Model):
    """A rule the site's administrators set on the Settings page (``kiosk.services.site_settings``);
    a rule without a row follows its environment variable."""

    __tablename__ = "site_setting"

    key: Mapped[str] = mapped_column(String(48), primary_key=True)
    value: Mapped[str] = mapped_column(Text, nullable=False)  # JSON
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    changed_by: Mapped[str] = mapped_column(String(96), nullable=False)


class PunchRevision(db.Model):
    """One version of a punch. Number 0 is the punch as first recorded (written when it is first
    corrected, or at once for a punch an administrator added); each correction adds the next
    number with its reason and actor. The event row holds the latest version; rows here are never
    changed (``kiosk.services.corrections``)."""

    __tablename__ = "punch_revision"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(
        ForeignKey("attendance_event.id", ondelete="CASCADE"), nullable=False, index=True
    )
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    kind: Mapped[EventKind] = mapped_column(
        Enum(EventKind, name="event_kind", native_enum=False, validate_strings=True, length=16), nullable=False
    )
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    removed: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    reason: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(96), nullable=False)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    event = relationship("AttendanceEvent", back_populates="revisions")

    __table_args__ = (UniqueConstraint("event_id", "number", name="uq_punch_revision_number"),)
