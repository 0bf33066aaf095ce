"""an index to page through every track by id with the visibility test inside it
(an empty Subsonic search3: 500 songs at offset 500,000 of a million read the index alone)

On PostgreSQL it is built CONCURRENTLY, outside the migration's transaction: a big
library keeps taking uploads and edits while it builds. A build that was
interrupted leaves an invalid index behind, which the next run drops first.

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-02 03:40:00

"""

from alembic import op


revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None

NAME = "ix_tracks_sort_id"
COLUMNS = ["id", "owner_id", "visibility"]


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            op.drop_index(NAME, table_name="tracks", postgresql_concurrently=True, if_exists=True)
            op.create_index(NAME, "tracks", COLUMNS, unique=False, postgresql_concurrently=True)
        return
    with op.batch_alter_table("tracks", schema=None) as batch_op:
        batch_op.create_index(NAME, COLUMNS, unique=False)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            op.drop_index(NAME, table_name="tracks", postgresql_concurrently=True, if_exists=True)
        return
    with op.batch_alter_table("tracks", schema=None) as batch_op:
        batch_op.drop_index(NAME)
