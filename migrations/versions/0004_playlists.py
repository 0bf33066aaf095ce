"""playlists and favourites

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 06:57:30.515131

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "playlists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column(
            "visibility",
            sa.Enum("private", "public", "link", name="playlistvisibility", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("share_token", sa.String(length=64), nullable=True),
        sa.Column("share_token_hash", sa.String(length=64), nullable=True),
        sa.Column("share_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_playlists_owner_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_playlists")),
        sa.UniqueConstraint("share_token_hash", name=op.f("uq_playlists_share_token_hash")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("playlists", schema=None) as batch_op:
        batch_op.create_index("ix_playlists_owner_name", ["owner_id", "name"], unique=False)
        batch_op.create_index("ix_playlists_visibility_name", ["visibility", "name"], unique=False)

    op.create_table(
        "favourites",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("track_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["track_id"], ["tracks.id"], name=op.f("fk_favourites_track_id_tracks"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_favourites_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "track_id", name=op.f("pk_favourites")),
    )
    with op.batch_alter_table("favourites", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_favourites_created_at"), ["created_at"], unique=False)

    op.create_table(
        "playlist_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("playlist_id", sa.Integer(), nullable=False),
        sa.Column("track_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["playlist_id"],
            ["playlists.id"],
            name=op.f("fk_playlist_entries_playlist_id_playlists"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["track_id"], ["tracks.id"], name=op.f("fk_playlist_entries_track_id_tracks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_playlist_entries")),
        sa.UniqueConstraint("playlist_id", "position", name="uq_playlist_entries_playlist_id_position"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("playlist_entries", schema=None) as batch_op:
        batch_op.create_index("ix_playlist_entries_track_id", ["track_id"], unique=False)


def downgrade():
    with op.batch_alter_table("playlist_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_playlist_entries_track_id")

    op.drop_table("playlist_entries")
    with op.batch_alter_table("favourites", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_favourites_created_at"))

    op.drop_table("favourites")
    with op.batch_alter_table("playlists", schema=None) as batch_op:
        batch_op.drop_index("ix_playlists_visibility_name")
        batch_op.drop_index("ix_playlists_owner_name")

    op.drop_table("playlists")
