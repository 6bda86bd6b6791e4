"""trained models in the database; timestamp with time zone on PostgreSQL

Several app hosts share one database (issue 14): the trained face model and the site's gesture
model are kept in ``stored_model`` with a version, so no host needs a shared disk for them.

On PostgreSQL the timestamps become ``timestamp with time zone`` (they were written as UTC, and
are read back as UTC by ``kiosk.models.UTCDateTime``); SQLite has no such type and is left alone.

Revision ID: 5ca1e0a70001
Revises: 16467fb9abbf
Create Date: 2026-11-22 16:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5ca1e0a70001'
down_revision = '16467fb9abbf'
branch_labels = None
depends_on = None

# Every timestamp column of the initial schema (all UTC).
TIMESTAMP_COLUMNS = (
    ("admin_user", "created_at"),
    ("admin_user", "locked_until"),
    ("gesture_sample", "created_at"),
    ("kiosk_device", "created_at"),
    ("kiosk_device", "last_seen"),
    ("person", "created_at"),
    ("attendance_event", "timestamp"),
    ("face_sample", "created_at"),
)


def _timestamps_with_time_zone(aware: bool) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in TIMESTAMP_COLUMNS:
        # The stored values are UTC: say so explicitly rather than rely on the session time zone.
        using = f'"{column}" AT TIME ZONE \'UTC\''
        op.alter_column(
            table,
            column,
            type_=sa.DateTime(timezone=aware),
            existing_type=sa.DateTime(timezone=not aware),
            postgresql_using=using,
        )


def upgrade():
    op.create_table('stored_model',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('saved_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('version > 0', name=op.f('ck_stored_model_version_positive')),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_stored_model'))
    )
    _timestamps_with_time_zone(True)


def downgrade():
    _timestamps_with_time_zone(False)
    op.drop_table('stored_model')
