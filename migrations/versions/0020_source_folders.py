"""the folder a track came from, for filing a folder of several artists as a compilation

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-01 02:50:00

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("tracks") as batch_op:
        batch_op.add_column(sa.Column("source_folder", sa.String(length=500), nullable=True))
    op.create_index("ix_tracks_owner_folder", "tracks", ["owner_id", "source_folder"])


def downgrade():
    op.drop_index("ix_tracks_owner_folder", table_name="tracks")
    with op.batch_alter_table("tracks") as batch_op:
        batch_op.drop_column("source_folder")
