"""library: artists, albums, tracks

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 06:19:00.851595

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "artists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("name_key", sa.String(length=300), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_artists")),
        sa.UniqueConstraint("name_key", name=op.f("uq_artists_name_key")),
    )
    op.create_table(
        "albums",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("title_key", sa.String(length=300), nullable=False),
        sa.Column("artist_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["artist_id"], ["artists.id"], name=op.f("fk_albums_artist_id_artists"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_albums")),
        sa.UniqueConstraint("title_key", "artist_id", name="uq_albums_title_key_artist_id"),
    )
    with op.batch_alter_table("albums", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_albums_artist_id"), ["artist_id"], unique=False)

    op.create_table(
        "tracks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column(
            "visibility", sa.Enum("private", "public", name="visibility", native_enum=False, length=16), nullable=False
        ),
        sa.Column("storage_path", sa.String(length=255), nullable=False),
        sa.Column("original_filename", sa.String(length=300), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("mime_type", sa.String(length=32), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("codec", sa.String(length=32), nullable=False),
        sa.Column("duration", sa.Float(), nullable=False),
        sa.Column("bitrate", sa.Integer(), nullable=True),
        sa.Column("sample_rate", sa.Integer(), nullable=True),
        sa.Column("channels", sa.Integer(), nullable=True),
        sa.Column("cover_path", sa.String(length=255), nullable=True),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("artist", sa.String(length=300), nullable=False),
        sa.Column("album", sa.String(length=300), nullable=False),
        sa.Column("album_artist", sa.String(length=300), nullable=True),
        sa.Column("track_number", sa.Integer(), nullable=True),
        sa.Column("disc_number", sa.Integer(), nullable=True),
        sa.Column("year", sa.Integer(), nullable=True),
        sa.Column("genre", sa.String(length=300), nullable=True),
        sa.Column("title_key", sa.String(length=300), nullable=False),
        sa.Column("artist_key", sa.String(length=300), nullable=False),
        sa.Column("album_key", sa.String(length=300), nullable=False),
        sa.Column("genre_key", sa.String(length=300), nullable=True),
        sa.Column("search_text", sa.String(length=1200), nullable=False),
        sa.Column("artist_id", sa.Integer(), nullable=False),
        sa.Column("album_id", sa.Integer(), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["album_id"], ["albums.id"], name=op.f("fk_tracks_album_id_albums")),
        sa.ForeignKeyConstraint(["artist_id"], ["artists.id"], name=op.f("fk_tracks_artist_id_artists")),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_tracks_owner_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracks")),
        sa.UniqueConstraint("owner_id", "sha256", name="uq_tracks_owner_id_sha256"),
        sa.UniqueConstraint("storage_path", name=op.f("uq_tracks_storage_path")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("tracks", schema=None) as batch_op:
        batch_op.create_index("ix_tracks_album_id_order", ["album_id", "disc_number", "track_number"], unique=False)
        batch_op.create_index("ix_tracks_album_sort", ["album_key", "disc_number", "track_number", "id"], unique=False)
        batch_op.create_index("ix_tracks_artist_id", ["artist_id"], unique=False)
        batch_op.create_index(
            "ix_tracks_artist_sort", ["artist_key", "album_key", "disc_number", "track_number", "id"], unique=False
        )
        batch_op.create_index("ix_tracks_duration_id", ["duration", "id"], unique=False)
        batch_op.create_index("ix_tracks_genre_key", ["genre_key"], unique=False)
        batch_op.create_index(batch_op.f("ix_tracks_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index("ix_tracks_title_key_id", ["title_key", "id"], unique=False)
        batch_op.create_index("ix_tracks_uploaded_at_id", ["uploaded_at", "id"], unique=False)
        batch_op.create_index("ix_tracks_visibility_id", ["visibility", "id"], unique=False)
        batch_op.create_index("ix_tracks_year_id", ["year", "id"], unique=False)


def downgrade():
    with op.batch_alter_table("tracks", schema=None) as batch_op:
        batch_op.drop_index("ix_tracks_year_id")
        batch_op.drop_index("ix_tracks_visibility_id")
        batch_op.drop_index("ix_tracks_uploaded_at_id")
        batch_op.drop_index("ix_tracks_title_key_id")
        batch_op.drop_index(batch_op.f("ix_tracks_owner_id"))
        batch_op.drop_index("ix_tracks_genre_key")
        batch_op.drop_index("ix_tracks_duration_id")
        batch_op.drop_index("ix_tracks_artist_sort")
        batch_op.drop_index("ix_tracks_artist_id")
        batch_op.drop_index("ix_tracks_album_sort")
        batch_op.drop_index("ix_tracks_album_id_order")

    op.drop_table("tracks")
    with op.batch_alter_table("albums", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_albums_artist_id"))

    op.drop_table("albums")
    op.drop_table("artists")
