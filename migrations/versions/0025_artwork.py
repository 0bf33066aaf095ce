"""uploaded artwork: whether a track's cover is a picture its owner uploaded

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-01 06:30:00

"""

from alembic import op
import sqlalchemy as sa


revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("tracks") as batch:
        batch.add_column(sa.Column("artwork_uploaded", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade():
    with op.batch_alter_table("tracks") as batch:
        batch.drop_column("artwork_uploaded")
