"""hardening (issue 13): server-side admin sessions, sign-in limits per name and address, person name keys

- admin_session: one row per signed-in browser (the cookie holds a token, the row its hash).
- sign_in_throttle: failed sign-ins per (typed name, address) and per address; replaces
  admin_user.failed_logins and admin_user.locked_until (dropped: a lock per account let anyone
  lock the administrator out).
- Timestamps are ``timestamp with time zone`` on PostgreSQL, like the others since 5ca1e0a70001
  (SQLite ignores the flag).
- person.name_key: the name with case, width and compatibility forms folded, unique, so two
  people whose names look the same cannot both exist. Existing names are keyed here; should two
  existing people already share a key, the later one's key gets its id appended (and a warning is
  printed) so that the upgrade never fails: rename one of them.

Revision ID: h13a5e55101e
Revises: 5ca1e0a70001
Create Date: 2026-11-29 16:30:00

"""
import logging
import unicodedata

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'h13a5e55101e'
down_revision = '5ca1e0a70001'
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")


def _name_key(name):
    """kiosk.names.name_key as it was when this migration was written (frozen here on purpose)."""
    kept = "".join(ch for ch in unicodedata.normalize("NFC", name or "") if unicodedata.category(ch) != "Cf")
    folded = unicodedata.normalize("NFKC", " ".join(kept.split())).casefold()
    return unicodedata.normalize("NFKC", folded)


def upgrade():
    op.create_table('admin_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['admin_user.id'], name=op.f('fk_admin_session_user_id_admin_user'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_admin_session')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_admin_session_token_hash'))
    )
    with op.batch_alter_table('admin_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_admin_session_user_id'), ['user_id'], unique=False)

    op.create_table('sign_in_throttle',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('window_started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_sign_in_throttle'))
    )

    with op.batch_alter_table('admin_user', schema=None) as batch_op:
        batch_op.drop_column('locked_until')
        batch_op.drop_column('failed_logins')

    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.add_column(sa.Column('name_key', sa.String(length=255), nullable=True))
    connection = op.get_bind()
    seen = set()
    for person_id, name in connection.execute(sa.text("SELECT id, name FROM person ORDER BY id")).fetchall():
        key = _name_key(name)[:255]
        if key in seen:
            key = f"{key[:230]}#{person_id}"
            log.warning("Person %d's name is the same as an earlier person's once case and width are folded: "
                        "rename one of them.", person_id)
        seen.add(key)
        connection.execute(sa.text("UPDATE person SET name_key = :key WHERE id = :id"), {"key": key, "id": person_id})
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.alter_column('name_key', existing_type=sa.String(length=255), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_person_name_key'), ['name_key'])


def downgrade():
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_person_name_key'), type_='unique')
        batch_op.drop_column('name_key')

    with op.batch_alter_table('admin_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failed_logins', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True))

    op.drop_table('sign_in_throttle')
    with op.batch_alter_table('admin_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_admin_session_user_id'))

    op.drop_table('admin_session')
