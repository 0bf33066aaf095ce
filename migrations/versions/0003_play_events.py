"""play events

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 06:45:40.574238

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "play_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("track_id", sa.Integer(), nullable=False),
        sa.Column("played_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["track_id"], ["tracks.id"], name=op.f("fk_play_events_track_id_tracks"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_play_events_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_play_events")),
    )
    with op.batch_alter_table("play_events", schema=None) as batch_op:
        batch_op.create_index("ix_play_events_track_user", ["track_id", "user_id"], unique=False)
        batch_op.create_index("ix_play_events_user_played", ["user_id", "played_at"], unique=False)


def downgrade():
    with op.batch_alter_table("play_events", schema=None) as batch_op:
        batch_op.drop_index("ix_play_events_user_played")
        batch_op.drop_index("ix_play_events_track_user")

    op.drop_table("play_events")
