"""face samples learned from confirmed check-ins: kind, kiosk, match distance

A face sample is either an enrollment photo (every existing row) or the face of a confirmed
check-in that the kiosk learned (issue 16, ``kiosk.services.learning``). A learned sample records
the kiosk that saw it and its distance to the person's nearest enrollment photo; its time is the
row's ``created_at`` (timestamp with time zone on PostgreSQL since 5ca1e0a70001).

Revision ID: 1ea4ed160001
Revises: h13a5e55101e
Create Date: 2026-11-24 10:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '1ea4ed160001'
down_revision = 'h13a5e55101e'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('face_sample', schema=None) as batch_op:
        batch_op.add_column(sa.Column(
            'kind', sa.Enum('enrollment', 'learned', name='sample_kind', native_enum=False, length=16),
            server_default='enrollment', nullable=False,
        ))
        batch_op.add_column(sa.Column('kiosk_id', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('match_distance', sa.Float(), nullable=True))


def downgrade():
    with op.batch_alter_table('face_sample', schema=None) as batch_op:
        batch_op.drop_column('match_distance')
        batch_op.drop_column('kiosk_id')
        batch_op.drop_column('kind')
