"""likes and dislikes of tracks, the co-listening table, the dim-disliked setting

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-30 23:05:00

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "track_likes",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("track_id", sa.Integer(), nullable=False),
        sa.Column("value", sa.SmallInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["track_id"], ["tracks.id"], name=op.f("fk_track_likes_track_id_tracks"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_track_likes_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "track_id", name=op.f("pk_track_likes")),
    )
    op.create_index("ix_track_likes_track_value", "track_likes", ["track_id", "value"])
    op.create_table(
        "co_listens",
        sa.Column("track_id", sa.Integer(), nullable=False),
        sa.Column("other_id", sa.Integer(), nullable=False),
        sa.Column("listeners", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["track_id"], ["tracks.id"], name=op.f("fk_co_listens_track_id_tracks"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["other_id"], ["tracks.id"], name=op.f("fk_co_listens_other_id_tracks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("track_id", "other_id", name=op.f("pk_co_listens")),
    )
    op.create_index("ix_co_listens_track_score", "co_listens", ["track_id", "score"])
    with op.batch_alter_table("users") as batch_op:
        # sa.true() renders TRUE on PostgreSQL and 1 on SQLite.
        batch_op.add_column(sa.Column("dim_disliked", sa.Boolean(), server_default=sa.true(), nullable=False))


def downgrade():
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("dim_disliked")
    op.drop_index("ix_co_listens_track_score", table_name="co_listens")
    op.drop_table("co_listens")
    op.drop_index("ix_track_likes_track_value", table_name="track_likes")
    op.drop_table("track_likes")
