"""richer track metadata: description, free tags (folded in track_tags for the
filters), BPM, musical key, licence and whether others may download the original

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-01 04:00:00

"""

from alembic import op
import sqlalchemy as sa


revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("tracks") as batch:
        batch.add_column(sa.Column("description", sa.Text(), nullable=True))
        batch.add_column(sa.Column("tags", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("bpm", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("musical_key", sa.String(length=3), nullable=True))
        batch.add_column(
            sa.Column("licence", sa.String(length=32), nullable=False, server_default="all-rights-reserved")
        )
        batch.add_column(sa.Column("allow_download", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        "track_tags",
        sa.Column("track_id", sa.Integer(), nullable=False),
        sa.Column("tag_key", sa.String(length=120), nullable=False),
        sa.ForeignKeyConstraint(
            ["track_id"], ["tracks.id"], name=op.f("fk_track_tags_track_id_tracks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("track_id", "tag_key", name=op.f("pk_track_tags")),
    )
    op.create_index("ix_track_tags_tag_key", "track_tags", ["tag_key", "track_id"])


def downgrade():
    op.drop_index("ix_track_tags_tag_key", table_name="track_tags")
    op.drop_table("track_tags")
    with op.batch_alter_table("tracks") as batch:
        for column in ("allow_download", "licence", "musical_key", "bpm", "tags", "description"):
            batch.drop_column(column)
