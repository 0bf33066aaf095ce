"""library: artists, albums, tracks

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 06:40:44.756143

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
        sa.Column("album_artist_id", sa.Integer(), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["album_artist_id"], ["artists.id"], name=op.f("fk_tracks_album_artist_id_artists")),
        sa.ForeignKeyConstraint(["album_id"], ["albums.id"], name=op.f("fk_tracks_album_id_albums")),
        sa.ForeignKeyConstraint(["artist_id"], ["artists.id"], name=op.f("fk_tracks_artist_id_artists")),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_tracks_owner_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracks")),
        sa.UniqueConstraint("owner_id", "sha256", name="uq_tracks_owner_id_sha256"),
        sa.UniqueConstraint("storage_path", name=op.f("uq_tracks_storage_path")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("tracks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_tracks_album_artist_visible", ["album_artist_id", "owner_id", "visibility"], unique=False
        )
        batch_op.create_index(
            "ix_tracks_album_order", ["album_id", "disc_number", "track_number", "owner_id", "visibility"], unique=False
        )
        batch_op.create_index("ix_tracks_artist_visible", ["artist_id", "owner_id", "visibility"], unique=False)
        batch_op.create_index("ix_tracks_owner_genre", ["owner_id", "genre_key", "genre"], unique=False)
        batch_op.create_index("ix_tracks_sort_added", ["uploaded_at", "id", "owner_id", "visibility"], unique=False)
        batch_op.create_index(
            "ix_tracks_sort_album",
            ["album_key", "disc_number", "track_number", "id", "owner_id", "visibility"],
            unique=False,
        )
        batch_op.create_index(
            "ix_tracks_sort_artist",
            ["artist_key", "album_key", "disc_number", "track_number", "id", "owner_id", "visibility"],
            unique=False,
        )
        batch_op.create_index("ix_tracks_sort_duration", ["duration", "id", "owner_id", "visibility"], unique=False)
        batch_op.create_index("ix_tracks_sort_title", ["title_key", "id", "owner_id", "visibility"], unique=False)
        batch_op.create_index("ix_tracks_sort_year", ["year", "id", "owner_id", "visibility"], unique=False)
        batch_op.create_index("ix_tracks_visibility_genre", ["visibility", "genre_key", "genre"], unique=False)


def downgrade():
    with op.batch_alter_table("tracks", schema=None) as batch_op:
        batch_op.drop_index("ix_tracks_visibility_genre")
        batch_op.drop_index("ix_tracks_sort_year")
        batch_op.drop_index("ix_tracks_sort_title")
        batch_op.drop_index("ix_tracks_sort_duration")
        batch_op.drop_index("ix_tracks_sort_artist")
        batch_op.drop_index("ix_tracks_sort_album")
        batch_op.drop_index("ix_tracks_sort_added")
        batch_op.drop_index("ix_tracks_owner_genre")
        batch_op.drop_index("ix_tracks_artist_visible")
        batch_op.drop_index("ix_tracks_album_order")
        batch_op.drop_index("ix_tracks_album_artist_visible")

    op.drop_table("tracks")
    with op.batch_alter_table("albums", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_albums_artist_id"))

    op.drop_table("albums")
    op.drop_table("artists")
