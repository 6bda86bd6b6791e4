"""request_throttle: one table for every request limit (sign-in failures, kiosk frames per device
and per address, sign-ins per address), replacing sign_in_throttle

The rows only count the last few minutes (a sign-in lock lasts KIOSK_LOGIN_LOCKOUT_SECONDS, a rate
window KIOSK_RATE_WINDOW_SECONDS), so the old table's counts are carried over as sign-in rows and
nothing else needs keeping. ``failures`` becomes ``hits`` (a rate limit counts requests, not
failures); ``scope`` names the limit a row belongs to.

Revision ID: e7a11c0ffee1
Revises: d21ba12ed001
Create Date: 2026-12-07 19:55:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e7a11c0ffee1'
down_revision = 'd21ba12ed001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('request_throttle',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('scope', sa.String(length=24), nullable=False),
    sa.Column('hits', sa.Integer(), nullable=False),
    sa.Column('window_started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_request_throttle'))
    )
    op.execute("INSERT INTO request_throttle (key, scope, hits, window_started_at, locked_until) "
               "SELECT key, 'sign_in', failures, window_started_at, locked_until FROM sign_in_throttle")
    op.drop_table('sign_in_throttle')


def downgrade():
    op.create_table('sign_in_throttle',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('window_started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_sign_in_throttle'))
    )
    op.execute("INSERT INTO sign_in_throttle (key, failures, window_started_at, locked_until) "
               "SELECT key, hits, window_started_at, locked_until FROM request_throttle WHERE scope = 'sign_in'")
    op.drop_table('request_throttle')
