"""kiosk_device.language: the language a paired kiosk speaks (NULL follows the site's KIOSK_LANGUAGE)

Revision ID: f24c1a9e0001
Revises: e23a91b0c001
Create Date: 2026-12-07 21:05:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f24c1a9e0001'
down_revision = 'e23a91b0c001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('kiosk_device', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=8), nullable=True))


def downgrade():
    with op.batch_alter_table('kiosk_device', schema=None) as batch_op:
        batch_op.drop_column('language')
