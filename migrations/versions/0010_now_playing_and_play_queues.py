"""now playing and play queues (from music apps)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 20:44:19.043918

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "play_queues",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("current_index", sa.Integer(), nullable=True),
        sa.Column("position_ms", sa.BigInteger(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_play_queues_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_play_queues")),
    )
    op.create_table(
        "now_playing",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("track_id", sa.Integer(), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["track_id"], ["tracks.id"], name=op.f("fk_now_playing_track_id_tracks"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_now_playing_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_now_playing")),
    )
    op.create_table(
        "play_queue_entries",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("track_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["track_id"], ["tracks.id"], name=op.f("fk_play_queue_entries_track_id_tracks"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_play_queue_entries_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "position", name=op.f("pk_play_queue_entries")),
    )
    with op.batch_alter_table("play_queue_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_play_queue_entries_track_id"), ["track_id"], unique=False)


def downgrade():
    with op.batch_alter_table("play_queue_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_play_queue_entries_track_id"))

    op.drop_table("play_queue_entries")
    op.drop_table("now_playing")
    op.drop_table("play_queues")
