"""API tokens, webhook subscriptions and their delivery outbox; attendance_event.updated_at

``api_token``: named bearer tokens for /api/v1 (SHA-256 of the secret, scopes, expiry,
revocation, last use). ``webhook_subscription`` and ``webhook_delivery`` (the outbox written in
the transaction of each event). ``attendance_event.updated_at`` lets a client sync only what
changed (``updated_since``); existing rows take their own timestamp.

Revision ID: e23a91b0c001
Revises: e22a77e4d001
Create Date: 2026-12-07 19:45:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e23a91b0c001'
down_revision = 'e22a77e4d001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('api_token',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=True),
    sa.Column('scopes', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=96), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name'),
    sa.UniqueConstraint('token_hash'),
    )
    op.create_table('webhook_subscription',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('url', sa.String(length=2000), nullable=False),
    sa.Column('events', sa.String(length=300), nullable=False),
    sa.Column('secret', sa.String(length=256), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=96), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    )
    op.create_table('webhook_delivery',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('delivery_id', sa.String(length=36), nullable=False),
    sa.Column('subscription_id', sa.Integer(), nullable=False),
    sa.Column('event', sa.String(length=32), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('retry_until', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_response_status', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.String(length=300), nullable=True),
    sa.ForeignKeyConstraint(['subscription_id'], ['webhook_subscription.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('delivery_id'),
    )
    op.create_index('ix_webhook_delivery_subscription_id', 'webhook_delivery', ['subscription_id'])
    op.create_index('ix_webhook_delivery_due', 'webhook_delivery', ['status', 'next_attempt_at'])

    with op.batch_alter_table('attendance_event') as batch:
        batch.add_column(sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True))
    op.execute('UPDATE attendance_event SET updated_at = "timestamp"')
    with op.batch_alter_table('attendance_event') as batch:
        batch.alter_column('updated_at', existing_type=sa.DateTime(timezone=True), nullable=False)
        batch.create_index('ix_attendance_event_updated_at', ['updated_at'])


def downgrade():
    with op.batch_alter_table('attendance_event') as batch:
        batch.drop_index('ix_attendance_event_updated_at')
        batch.drop_column('updated_at')
    op.drop_index('ix_webhook_delivery_due', table_name='webhook_delivery')
    op.drop_index('ix_webhook_delivery_subscription_id', table_name='webhook_delivery')
    op.drop_table('webhook_delivery')
    op.drop_table('webhook_subscription')
    op.drop_table('api_token')
