"""in/out punches, groups, weekly schedules, holidays, site settings, punch revisions

attendance_event gains ``source`` (kiosk | manual) and ``removed`` (a correction took the punch
out; the row stays); person gains ``group_id``; new tables person_group, work_schedule,
site_holiday, site_setting and punch_revision (each correction of a punch is a new revision; number
0 is the punch as first recorded).

Existing check-ins become in/out punches, none is lost or moved: per person and local day (the
``KIOSK_TIMEZONE`` the upgrade runs with), a day recorded under the default rule (check-ins only)
alternates in, out, in, ... as the kiosk now records; a day that already has a check-out (the
``check_out`` or ``daily`` rule) keeps its kinds. Every punch whose kind changes gets revision 0
(as recorded) and revision 1 (the new kind, its reason, actor ``system``); the downgrade puts
revision 0 back.

Revision ID: e22a77e4d001
Revises: e7a11c0ffee1
Create Date: 2026-12-07 20:00:00

"""
import os
from datetime import datetime, timezone
from itertools import groupby
from zoneinfo import ZoneInfo

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e22a77e4d001'
down_revision = 'e7a11c0ffee1'
branch_labels = None
depends_on = None

RELABEL_REASON = "in and out alternate within a working day (upgrade of check-ins recorded before)"

_events = sa.table('attendance_event', sa.column('id', sa.Integer), sa.column('person_id', sa.Integer),
                   sa.column('kind', sa.String), sa.column('timestamp', sa.DateTime(timezone=True)))
_revisions = sa.table('punch_revision', sa.column('event_id', sa.Integer), sa.column('number', sa.Integer),
                      sa.column('kind', sa.String), sa.column('timestamp', sa.DateTime(timezone=True)),
                      sa.column('removed', sa.Boolean), sa.column('reason', sa.Text),
                      sa.column('actor', sa.String), sa.column('recorded_at', sa.DateTime(timezone=True)))


def _site_zone():
    try:
        return ZoneInfo((os.environ.get("KIOSK_TIMEZONE") or "UTC").strip())
    except Exception:  # the app refuses a bad zone at start; the upgrade groups by UTC days then
        return timezone.utc


def _aware(moment):
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def upgrade():
    op.create_table('person_group',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('name_key', sa.String(length=160), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name'),
    sa.UniqueConstraint('name_key'),
    )
    with op.batch_alter_table('person') as batch:
        batch.add_column(sa.Column('group_id', sa.Integer(), nullable=True))
        batch.create_index('ix_person_group_id', ['group_id'], unique=False)
        batch.create_foreign_key('fk_person_group_id_person_group', 'person_group', ['group_id'], ['id'],
                                 ondelete='SET NULL')
    with op.batch_alter_table('attendance_event') as batch:
        batch.add_column(sa.Column('source', sa.String(length=16), server_default='kiosk', nullable=False))
        batch.add_column(sa.Column('removed', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table('work_schedule',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=True),
    sa.Column('group_id', sa.Integer(), nullable=True),
    sa.Column('weekday', sa.Integer(), nullable=False),
    sa.Column('start_minute', sa.Integer(), nullable=False),
    sa.Column('end_minute', sa.Integer(), nullable=False),
    sa.Column('overnight', sa.Boolean(), nullable=False),
    sa.Column('grace_minutes', sa.Integer(), nullable=False),
    sa.CheckConstraint('weekday >= 0 AND weekday <= 6', name='weekday_range'),
    sa.CheckConstraint('start_minute >= 0 AND start_minute < 1440', name='start_range'),
    sa.CheckConstraint('end_minute >= 0 AND end_minute < 1440', name='end_range'),
    sa.CheckConstraint('grace_minutes >= 0 AND grace_minutes <= 240', name='grace_range'),
    sa.CheckConstraint('overnight OR end_minute > start_minute', name='ends_after_start'),
    sa.CheckConstraint('person_id IS NULL OR group_id IS NULL', name='one_owner'),
    sa.ForeignKeyConstraint(['group_id'], ['person_group.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_work_schedule_group_id', 'work_schedule', ['group_id'], unique=False)
    op.create_index('ix_work_schedule_person_id', 'work_schedule', ['person_id'], unique=False)
    op.create_table('site_holiday',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('day'),
    )
    op.create_table('site_setting',
    sa.Column('key', sa.String(length=48), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('changed_by', sa.String(length=96), nullable=False),
    sa.PrimaryKeyConstraint('key'),
    )
    op.create_table('punch_revision',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('timestamp', sa.DateTime(timezone=True), nullable=False),
    sa.Column('removed', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('actor', sa.String(length=96), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['attendance_event.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('event_id', 'number', name='uq_punch_revision_number'),
    )
    op.create_index('ix_punch_revision_event_id', 'punch_revision', ['event_id'], unique=False)
    _events_become_in_out_punches(op.get_bind())


def _events_become_in_out_punches(connection):
    zone = _site_zone()
    rows = connection.execute(
        sa.select(_events.c.id, _events.c.person_id, _events.c.kind, _events.c.timestamp)
        .order_by(_events.c.person_id, _events.c.timestamp, _events.c.id)
    ).all()
    now = datetime.now(timezone.utc)
    revisions, relabelled = [], {}
    day_of = lambda row: (row.person_id, _aware(row.timestamp).astimezone(zone).date())  # noqa: E731
    for _, day in groupby(rows, key=day_of):
        day = list(day)
        if any(row.kind == 'check_out' for row in day):
            continue  # recorded under a rule that already made check-outs: kept as it is
        for index, row in enumerate(day):
            kind = 'check_in' if index % 2 == 0 else 'check_out'
            if kind == row.kind:
                continue
            relabelled.setdefault(kind, []).append(row.id)
            revisions.append(dict(event_id=row.id, number=0, kind=row.kind, timestamp=row.timestamp, removed=False,
                                  reason=None, actor='system', recorded_at=now))
            revisions.append(dict(event_id=row.id, number=1, kind=kind, timestamp=row.timestamp, removed=False,
                                  reason=RELABEL_REASON, actor='system', recorded_at=now))
    if revisions:
        connection.execute(_revisions.insert(), revisions)
    for kind, ids in relabelled.items():
        for start in range(0, len(ids), 500):
            connection.execute(_events.update().where(_events.c.id.in_(ids[start:start + 500])).values(kind=kind))


def downgrade():
    connection = op.get_bind()
    # Every corrected punch goes back to how it was first recorded (revision 0).
    originals = connection.execute(
        sa.select(_revisions.c.event_id, _revisions.c.kind, _revisions.c.timestamp).where(_revisions.c.number == 0)
    ).all()
    for row in originals:
        connection.execute(_events.update().where(_events.c.id == row.event_id)
                           .values(kind=row.kind, timestamp=row.timestamp))
    op.drop_index('ix_punch_revision_event_id', table_name='punch_revision')
    op.drop_table('punch_revision')
    op.drop_table('site_setting')
    op.drop_table('site_holiday')
    op.drop_index('ix_work_schedule_person_id', table_name='work_schedule')
    op.drop_index('ix_work_schedule_group_id', table_name='work_schedule')
    op.drop_table('work_schedule')
    with op.batch_alter_table('attendance_event') as batch:
        batch.drop_column('removed')
        batch.drop_column('source')
    with op.batch_alter_table('person') as batch:
        batch.drop_constraint('fk_person_group_id_person_group', type_='foreignkey')
        batch.drop_index('ix_person_group_id')
        batch.drop_column('group_id')
    op.drop_table('person_group')
