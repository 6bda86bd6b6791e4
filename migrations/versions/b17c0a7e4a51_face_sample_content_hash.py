"""face_sample.content_hash: the sha256 of the photo a face sample was made from

Bulk import (issue 17) skips photos that are already enrolled, so re-running an import, or
resuming one that was interrupted, changes nothing that is already there. The original photo
is not kept (only the aligned crop), so its hash is stored instead: a hex sha256, indexed for
the look-up. Samples enrolled before this revision have none (NULL).

Revision ID: b17c0a7e4a51
Revises: 1ea4ed160001
Create Date: 2026-11-29 17:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b17c0a7e4a51'
down_revision = '1ea4ed160001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('face_sample', schema=None) as batch_op:
        batch_op.add_column(sa.Column('content_hash', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_face_sample_content_hash'), ['content_hash'], unique=False)


def downgrade():
    with op.batch_alter_table('face_sample', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_face_sample_content_hash'))
        batch_op.drop_column('content_hash')
