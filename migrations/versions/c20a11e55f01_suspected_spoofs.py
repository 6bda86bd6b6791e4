"""suspected_spoof: check-ins that failed liveness, kept for an administrator's review

A check-in whose liveness verdict failed (kiosk.checkin.liveness) records no attendance event;
this row keeps the attempt: who it was identified as, where and when, the cues' figures, and
the captured frame and the neutral frame under ``spoofs/`` in the media dir. Approving it
records the check-in (event_id); dismissing keeps it as evidence until retention removes it.

Revision ID: c20a11e55f01
Revises: b17c0a7e4a51
Create Date: 2026-12-07 17:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c20a11e55f01'
down_revision = 'b17c0a7e4a51'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('suspected_spoof',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('timestamp', sa.DateTime(timezone=True), nullable=False),
    sa.Column('kiosk_id', sa.String(length=64), nullable=False),
    sa.Column('policy', sa.String(length=16), nullable=False),
    sa.Column('status', sa.Enum('open', 'approved', 'dismissed', name='spoof_status', native_enum=False, length=16),
              nullable=False),
    sa.Column('identification_score', sa.Float(), nullable=True),
    sa.Column('happy_score', sa.Float(), nullable=True),
    sa.Column('liveness_score', sa.Float(), nullable=False),
    sa.Column('failed_cues', sa.String(length=64), nullable=False),
    sa.Column('liveness_json', sa.Text(), nullable=False),
    sa.Column('photo_path', sa.String(length=255), nullable=True),
    sa.Column('neutral_path', sa.String(length=255), nullable=True),
    sa.Column('event_id', sa.Integer(), nullable=True),
    sa.Column('decided_by', sa.String(length=64), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_suspected_spoof_person_id_person'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['event_id'], ['attendance_event.id'],
                            name=op.f('fk_suspected_spoof_event_id_attendance_event'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_suspected_spoof')),
    sa.UniqueConstraint('photo_path', name=op.f('uq_suspected_spoof_photo_path')),
    sa.UniqueConstraint('neutral_path', name=op.f('uq_suspected_spoof_neutral_path'))
    )
    with op.batch_alter_table('suspected_spoof', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_suspected_spoof_person_id'), ['person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_suspected_spoof_timestamp'), ['timestamp'], unique=False)


def downgrade():
    with op.batch_alter_table('suspected_spoof', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_suspected_spoof_timestamp'))
        batch_op.drop_index(batch_op.f('ix_suspected_spoof_person_id'))
    op.drop_table('suspected_spoof')
