"""each listener's play count of each album, for the apps' "most played" list

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-02 03:10:00

"""

from alembic import op
import sqlalchemy as sa


revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "album_plays",
        sa.Column("album_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("play_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["album_id"], ["albums.id"], name=op.f("fk_album_plays_album_id_albums"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_album_plays_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("album_id", "user_id", name=op.f("pk_album_plays")),
    )
    with op.batch_alter_table("album_plays", schema=None) as batch_op:
        batch_op.create_index("ix_album_plays_user_count", ["user_id", "play_count", "album_id"], unique=False)
    # The counts of the history so far: each listen of a track its listener can see
    # (their own, or public), by album.
    op.execute(
        """
        INSERT INTO album_plays (user_id, album_id, play_count)
        SELECT p.user_id, t.album_id, count(*)
        FROM play_events p JOIN tracks t ON t.id = p.track_id
        WHERE t.album_id IS NOT NULL AND (t.owner_id = p.user_id OR t.visibility = 'public')
        GROUP BY p.user_id, t.album_id
        """
    )


def downgrade():
    with op.batch_alter_table("album_plays", schema=None) as batch_op:
        batch_op.drop_index("ix_album_plays_user_count")
    op.drop_table("album_plays")
