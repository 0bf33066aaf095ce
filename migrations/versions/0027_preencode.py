"""pre-encoding of a user's favourites and playlists at a chosen quality, for phones

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-01 11:00:00

"""

from alembic import op
import sqlalchemy as sa


revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("preencode_favourites", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("preencode_playlists", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("preencode_quality", sa.String(length=8), server_default="low", nullable=False))
        batch_op.add_column(sa.Column("preencode_format", sa.String(length=4), server_default="opus", nullable=False))


def downgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("preencode_format")
        batch_op.drop_column("preencode_quality")
        batch_op.drop_column("preencode_playlists")
        batch_op.drop_column("preencode_favourites")
