"""kiosk pairing (issue 21): device display names, location, revocation; pending pairing codes

kiosk_device gains ``name_key`` (the display name folded, for uniqueness: "Front door" and
"front door" are one kiosk), ``location``, ``paired_at`` and ``revoked_at``; ``token_hash``
becomes nullable (a revoked device keeps its row, name and history, but no token). Existing
rows keep their names (slugs are valid display names) and count as paired.

kiosk_pairing holds the short codes unpaired kiosk screens show until an administrator
approves one (docs/frame-api.md, "Pairing").

Revision ID: d21ba12ed001
Revises: a0d17e9c0c01
Create Date: 2026-12-07 17:20:00

"""
import unicodedata

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd21ba12ed001'
down_revision = 'a0d17e9c0c01'
branch_labels = None
depends_on = None


def _key(name):
    folded = unicodedata.normalize("NFKC", name).casefold()
    return unicodedata.normalize("NFKC", folded)


def upgrade():
    with op.batch_alter_table('kiosk_device') as batch:
        batch.add_column(sa.Column('name_key', sa.String(length=128), nullable=True))
        batch.add_column(sa.Column('location', sa.String(length=120), nullable=True))
        batch.add_column(sa.Column('paired_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True))
        batch.alter_column('token_hash', existing_type=sa.String(length=128), nullable=True)

    devices = sa.table('kiosk_device', sa.column('id', sa.Integer), sa.column('name', sa.String),
                       sa.column('name_key', sa.String), sa.column('created_at', sa.DateTime(timezone=True)),
                       sa.column('paired_at', sa.DateTime(timezone=True)))
    connection = op.get_bind()
    for row in connection.execute(sa.select(devices.c.id, devices.c.name, devices.c.created_at)).all():
        # Slugs differ by more than case in practice; a clash (two slugs equal once folded) keeps
        # both kiosks working under a key made unique by the id.
        key = _key(row.name)
        taken = connection.execute(sa.select(devices.c.id).where(devices.c.name_key == key)).first()
        connection.execute(devices.update().where(devices.c.id == row.id).values(
            name_key=key if taken is None else f"{key}#{row.id}", paired_at=row.created_at))

    with op.batch_alter_table('kiosk_device') as batch:
        batch.alter_column('name_key', existing_type=sa.String(length=128), nullable=False)
        batch.create_unique_constraint('uq_kiosk_device_name_key', ['name_key'])

    op.create_table('kiosk_pairing',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('secret_hash', sa.String(length=128), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=True),
    sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('approved_by', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['device_id'], ['kiosk_device.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code'),
    sa.UniqueConstraint('secret_hash'),
    )


def downgrade():
    op.drop_table('kiosk_pairing')
    connection = op.get_bind()
    connection.execute(sa.text("DELETE FROM kiosk_device WHERE token_hash IS NULL"))
    with op.batch_alter_table('kiosk_device') as batch:
        batch.drop_constraint('uq_kiosk_device_name_key', type_='unique')
        batch.alter_column('token_hash', existing_type=sa.String(length=128), nullable=False)
        batch.drop_column('revoked_at')
        batch.drop_column('paired_at')
        batch.drop_column('location')
        batch.drop_column('name_key')
