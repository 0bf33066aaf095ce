"""an index to page through every track by id with the visibility test inside it
(an empty Subsonic search3: 500 songs at offset 500,000 of a million read the index alone)

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-02 03:40:00

"""

from alembic import op


revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("tracks", schema=None) as batch_op:
        batch_op.create_index("ix_tracks_sort_id", ["id", "owner_id", "visibility"], unique=False)


def downgrade():
    with op.batch_alter_table("tracks", schema=None) as batch_op:
        batch_op.drop_index("ix_tracks_sort_id")
