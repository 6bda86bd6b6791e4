"""Database tables. Times are stored in UTC; biometric files are referenced by relative path.

Deleting a :class:`Person` cascades (in the database and in the ORM) to their face
samples and attendance events; the files those rows point to are removed by the
services that delete them (see ``kiosk.services.people.delete_person``).
"""

from __future__ import annotations

import enum
from datetime import datetime, timezone

import numpy as np
from flask_login import UserMixin
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates
from werkzeug.security import check_password_hash, generate_password_hash

from .extensions import db
from .gesture_vocabulary import label_check_sql
from .names import name_key


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


#: The largest primary key a row can have (a signed 64-bit integer in SQLite and PostgreSQL);
#: a larger number in a URL or a filter names no row, and the database driver would overflow on it.
MAX_ROW_ID = 2**63 - 1


def is_row_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ROW_ID


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes in and out, on both engines.

    SQLite has no time zones: naive UTC is stored. PostgreSQL stores ``timestamp with time
    zone`` (the migration ``5ca1e0a70001`` converts the columns); the kiosk's connections run
    with ``TimeZone=UTC`` (``kiosk.config.engine_options``), so a column still ``timestamp
    without time zone`` (one a later migration added with plain ``DateTime``) is read and
    written as UTC too.
    """

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect):  # noqa: ANN001
        if dialect.name == "postgresql":
            return dialect.type_descriptor(DateTime(timezone=True))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect):  # noqa: ANN001
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where a timezone-aware one is required")
        value = value.astimezone(timezone.utc)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect):  # noqa: ANN001
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class EventKind(str, enum.Enum):
    """A punch: ``check_in`` is "in", ``check_out`` is "out" (the words the screens and the
    ``--kind in|out`` option use)."""

    check_in = "check_in"
    check_out = "check_out"

    @property
    def word(self) -> str:
        return "in" if self is EventKind.check_in else "out"


class Person(db.Model):
    __tablename__ = "person"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True, nullable=False)
    # kiosk.names.name_key(name), set whenever name is: the database refuses a second person
    # whose name differs only in case, width or compatibility forms, even from two requests at once.
    name_key: Mapped[str] = mapped_column(String(255), unique=True, nullable=False)
    external_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    # The person's group or department (kiosk.timekeeping_models.PersonGroup): filters, and the
    # group's weekly schedule when the person has none of their own.
    group_id: Mapped[int | None] = mapped_column(ForeignKey("person_group.id", ondelete="SET NULL"), index=True)

    samples: Mapped[list[FaceSample]] = relationship(
        back_populates="person", cascade="all, delete-orphan", passive_deletes=True
    )
    events: Mapped[list[AttendanceEvent]] = relationship(
        back_populates="person", cascade="all, delete-orphan", passive_deletes=True
    )
    suspected_spoofs: Mapped[list[SuspectedSpoof]] = relationship(
        back_populates="person", cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (CheckConstraint("length(trim(name)) > 0", name="name_not_blank"),)

    @validates("name")
    def _keep_name_key(self, _key: str, name: str) -> str:
        self.name_key = name_key(name) if isinstance(name, str) else name
        return name

    def __repr__(self) -> str:
        return f"<Person {self.id} {self.name!r}>"

    @property
    def enrollment_samples(self) -> list[FaceSample]:
        """The enrolled photos (not the samples learned from check-ins), oldest first."""
        return sorted((s for s in self.samples if s.kind is SampleKind.enrollment), key=lambda s: s.id)


class SampleKind(str, enum.Enum):
    enrollment = "enrollment"  # a photo an admin enrolled
    learned = "learned"  # the face of a confirmed check-in (kiosk.services.learning)


class FaceSample(db.Model):
    """One face of a person: its aligned crop on disk and its embedding. Either an enrollment photo
    or a sample *learned* from a confirmed check-in (``kind``; then ``kiosk_id`` says where and
    ``match_distance`` how close it was to the person's enrollment photos)."""

    __tablename__ = "face_sample"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(
        ForeignKey("person.id", ondelete="CASCADE"), nullable=False, index=True
    )
    crop_path: Mapped[str] = mapped_column(String(255), nullable=False, unique=True)
    # float32 bytes; the embedder that made it is recorded so a switch re-embeds.
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary)
    embedder: Mapped[str | None] = mapped_column(String(32))
    source_photo: Mapped[str | None] = mapped_column(String(255))  # original file name, for the admin
    quality: Mapped[float | None] = mapped_column(Float)  # 0..1, from the detector's quality check
    # sha256 (hex) of the photo's bytes: an import skips a photo that is already enrolled. The
    # photo itself is not kept. NULL for samples enrolled before the column existed.
    content_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    kind: Mapped[SampleKind] = mapped_column(
        Enum(SampleKind, name="sample_kind", native_enum=False, validate_strings=True, length=16),
        nullable=False,
        default=SampleKind.enrollment,
        server_default=SampleKind.enrollment.value,
    )
    kiosk_id: Mapped[str | None] = mapped_column(String(64))  # learned: the kiosk that saw the check-in
    match_distance: Mapped[float | None] = mapped_column(Float)  # learned: to the nearest enrollment photo

    person: Mapped[Person] = relationship(back_populates="samples")

    @property
    def learned(self) -> bool:
        return self.kind is SampleKind.learned

    def embedding_array(self) -> np.ndarray | None:
        return None if self.embedding is None else np.frombuffer(self.embedding, dtype=np.float32)

    def set_embedding(self, vector: np.ndarray, embedder: str) -> None:
        self.embedding = np.asarray(vector, dtype=np.float32).tobytes()
        self.embedder = embedder


class AttendanceEvent(db.Model):
    __tablename__ = "attendance_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(
        ForeignKey("person.id", ondelete="CASCADE"), nullable=False, index=True
    )
    kind: Mapped[EventKind] = mapped_column(
        Enum(EventKind, name="event_kind", native_enum=False, validate_strings=True, length=16),
        nullable=False,
        default=EventKind.check_in,
    )
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, index=True)
    kiosk_id: Mapped[str] = mapped_column(String(64), nullable=False, default="kiosk-1")
    photo_path: Mapped[str | None] = mapped_column(String(255), unique=True)  # PNG with the memo
    original_photo_path: Mapped[str | None] = mapped_column(String(255), unique=True)  # as captured
    memo: Mapped[str | None] = mapped_column(String(200))
    happy_score: Mapped[float | None] = mapped_column(Float)
    identification_score: Mapped[float | None] = mapped_column(Float)
    # kiosk: recorded at a kiosk; manual: added by an administrator (kiosk.services.corrections).
    source: Mapped[str] = mapped_column(String(16), nullable=False, default="kiosk", server_default="kiosk")
    # A correction removed this punch: it stays for the record (and its revisions say why) but
    # counts nowhere. Its time and kind are the latest revision's; revision 0 is as first recorded.
    removed: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=sa_false())
    # When the row last changed (recorded, memo rewritten): what ``updated_since`` syncs on.
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow,
                                                 index=True)

    person: Mapped[Person] = relationship(back_populates="events")
    revisions: Mapped[list[PunchRevision]] = relationship(
        back_populates="event", cascade="all, delete-orphan", passive_deletes=True, order_by="PunchRevision.number"
    )

    __table_args__ = (
        CheckConstraint("happy_score IS NULL OR (happy_score >= 0 AND happy_score <= 1)", name="happy_range"),
    )


class SpoofStatus(str, enum.Enum):
    open = "open"  # waiting for an administrator
    approved = "approved"  # an administrator made it a normal check-in (event_id)
    dismissed = "dismissed"  # an administrator confirmed it was not the person


class SuspectedSpoof(db.Model):
    """A check-in that failed liveness (kiosk.checkin.liveness): no attendance event until an
    administrator approves it. Its photo and the neutral frame the expression cue rose from are
    biometric data under ``spoofs/`` in the media dir: deleted with the person and by retention."""

    __tablename__ = "suspected_spoof"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), nullable=False, index=True)
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, index=True)
    kiosk_id: Mapped[str] = mapped_column(String(64), nullable=False)
    policy: Mapped[str] = mapped_column(String(16), nullable=False)  # review | refuse: what the kiosk said
    status: Mapped[SpoofStatus] = mapped_column(
        Enum(SpoofStatus, name="spoof_status", native_enum=False, validate_strings=True, length=16),
        nullable=False, default=SpoofStatus.open,
    )
    identification_score: Mapped[float | None] = mapped_column(Float)
    happy_score: Mapped[float | None] = mapped_column(Float)
    liveness_score: Mapped[float] = mapped_column(Float, nullable=False)
    failed_cues: Mapped[str] = mapped_column(String(64), nullable=False)  # comma-separated cue names
    liveness_json: Mapped[str] = mapped_column(Text, nullable=False)  # the verdict's cues and figures
    photo_path: Mapped[str | None] = mapped_column(String(255), unique=True)  # the captured frame (JPEG)
    neutral_path: Mapped[str | None] = mapped_column(String(255), unique=True)  # the least happy frame (JPEG)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("attendance_event.id", ondelete="SET NULL"))
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    person: Mapped[Person] = relationship(back_populates="suspected_spoofs")

    @property
    def files(self) -> list[str]:
        return [p for p in (self.photo_path, self.neutral_path) if p]


class AdminUser(UserMixin, db.Model):
    __tablename__ = "admin_user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    sessions: Mapped[list[AdminSession]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)


class AdminSession(db.Model):
    """One signed-in browser of an admin. The session cookie holds a random token; only its
    hash is stored. Deleting the row ends that session at its next request (sign-out, password
    change, admin removal, timeouts: kiosk.services.accounts)."""

    __tablename__ = "admin_session"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("admin_user.id", ondelete="CASCADE"), nullable=False, index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    user: Mapped[AdminUser] = relationship(back_populates="sessions")


class RequestThrottle(db.Model):
    """The site's request counters, one home for every limit (``kiosk.services.throttle``):
    failed sign-ins per (typed name, client address) and per address, and requests per paired
    kiosk, per address and sign-ins per address in fixed windows. Kept in the database so every
    gunicorn worker and every app host counts against the same numbers.

    ``key`` is a hash of the scope and who is counted (typed names may be passwords typed in the
    wrong field; addresses need not be kept readable). ``hits`` counts what the scope counts
    (attempts in progress or failed, requests) since ``window_started_at``; ``locked_until`` is set
    when a sign-in limit locks its key. ``scope`` says which limit the row belongs to, so each
    limit forgets only its own expired rows."""

    __tablename__ = "request_throttle"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    scope: Mapped[str] = mapped_column(String(24), nullable=False)
    hits: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class GestureSample(db.Model):
    """Pose landmarks recorded at the site with their label, for gesture re-training."""

    __tablename__ = "gesture_sample"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    label: Mapped[str] = mapped_column(String(16), nullable=False)
    landmarks_json: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    # Generated from the vocabulary: a gesture added there needs a migration that widens this check.
    __table_args__ = (CheckConstraint(label_check_sql(), name="label_known"),)


class StoredModel(db.Model):
    """A trained model kept in the database (``kiosk.services.model_store``), so that every app
    host sharing the database serves the same one: the face model, the site's gesture model.
    ``version`` goes up by one with every save; hosts compare it to reload on change."""

    __tablename__ = "stored_model"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    __table_args__ = (CheckConstraint("version > 0", name="version_positive"),)


class AuditEntry(db.Model):
    """One admin action, written by ``kiosk.services.audit.record`` in the same transaction as the
    change it records. Append-only: no service changes or deletes a row, and the database refuses
    it too (triggers, below and in migration ``a0d17e9c0c01``). Never biometric data: no
    embeddings, image bytes or photo paths (``audit.record`` refuses them); names are kept."""

    __tablename__ = "audit_entry"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(96), nullable=False, index=True)
    action: Mapped[str] = mapped_column(String(48), nullable=False, index=True)
    target_type: Mapped[str] = mapped_column(String(32), nullable=False)
    target_id: Mapped[str | None] = mapped_column(String(64))
    target_label: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    before_json: Mapped[str | None] = mapped_column(Text)
    after_json: Mapped[str | None] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(String(64))  # the request's client address, when there is one


# The same refusal in a database made with create_all (the migration adds it to migrated ones).
APPEND_ONLY_SQLITE = (
    "CREATE TRIGGER IF NOT EXISTS audit_entry_no_update BEFORE UPDATE ON audit_entry "
    "BEGIN SELECT RAISE(ABORT, 'audit_entry is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_entry_no_delete BEFORE DELETE ON audit_entry "
    "BEGIN SELECT RAISE(ABORT, 'audit_entry is append-only'); END",
)
APPEND_ONLY_POSTGRESQL = (
    "CREATE OR REPLACE FUNCTION audit_entry_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION 'audit_entry is append-only: % refused', TG_OP USING ERRCODE = '42501'; END $$",
    "CREATE TRIGGER audit_entry_no_change BEFORE UPDATE OR DELETE ON audit_entry "
    "FOR EACH ROW EXECUTE FUNCTION audit_entry_append_only()",
    "CREATE TRIGGER audit_entry_no_truncate BEFORE TRUNCATE ON audit_entry "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_entry_append_only()",
)


def _append_only_triggers(target, connection, **_kw) -> None:  # noqa: ANN001 - SQLAlchemy event
    dialect = connection.dialect.name
    statements = {"sqlite": APPEND_ONLY_SQLITE, "postgresql": APPEND_ONLY_POSTGRESQL}.get(dialect, ())
    for statement in statements:
        connection.exec_driver_sql(statement)


from sqlalchemy import event as _sa_event  # noqa: E402

_sa_event.listen(AuditEntry.__table__, "after_create", _append_only_triggers)


# The time-keeping tables (groups, schedules, holidays, site settings, punch revisions) live in
# their own module; importing them here puts them in the one metadata the migrations compare.
# The paired kiosks' tables live in their own module, in the same metadata.
from .device_tables import KioskDevice, KioskPairing  # noqa: E402,F401

# The integration tables live in their own module; imported here so one metadata holds every table.
from .integration_tables import ApiToken, WebhookDelivery, WebhookSubscription  # noqa: E402,F401
from .timekeeping_models import (  # noqa: E402,F401
    PersonGroup,
    PunchRevision,
    SiteHoliday,
    SiteSetting,
    WorkSchedule,
)
