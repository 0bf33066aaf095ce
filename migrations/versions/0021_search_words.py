"""the search's vocabulary (words and their one-deletion keys); genres join the search text;
SQLite: an index holding what a search reads

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-01 02:50:00

"""

import re

from alembic import op
import sqlalchemy as sa


revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

# As app/services/library/vocabulary.py at the time of writing (a migration keeps its own copy).
MIN_WORD, WORD_MAX = 4, 40
WORD = re.compile(r"\w+")


def _keys(word):
    return {word} | {word[:i] + word[i + 1 :] for i in range(len(word))}


def upgrade():
    op.create_table(
        "search_words",
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("word", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("key", "word", name=op.f("pk_search_words")),
    )
    bind = op.get_bind()
    tracks = sa.table(
        "tracks", sa.column("id", sa.Integer), sa.column("search_text", sa.String), sa.column("genre_key", sa.String)
    )
    # The genre goes at the end of each track's search text (where the app now puts it).
    rows = bind.execute(sa.select(tracks.c.id, tracks.c.search_text, tracks.c.genre_key)).all()
    words = set()
    for track_id, search_text, genre_key in rows:
        text = " ".join(p for p in search_text.split(" ") if p)
        if genre_key:
            text = (text + " " + genre_key)[:1200]
        if text != search_text:
            bind.execute(sa.update(tracks).where(tracks.c.id == track_id).values(search_text=text))
        words |= {w for w in WORD.findall(text) if MIN_WORD <= len(w) <= WORD_MAX}
    table = sa.table("search_words", sa.column("key", sa.String), sa.column("word", sa.String))
    keyed = [{"key": k, "word": w} for w in sorted(words) for k in sorted(_keys(w))]
    for start in range(0, len(keyed), 5000):
        bind.execute(sa.insert(table), keyed[start : start + 5000])
    if bind.dialect.name == "sqlite":
        # What a search reads, so SQLite scans this instead of the wide rows.
        columns = ["search_text", "owner_id", "visibility", "title_key", "artist_key", "album_key", "genre_key"]
        op.create_index("ix_tracks_search_scan", "tracks", [*columns, "genre", "artist_id", "format", "year"])


def downgrade():
    # The genre stays in the search text: the older search then also finds a track by its genre.
    if op.get_bind().dialect.name == "sqlite":
        op.drop_index("ix_tracks_search_scan", table_name="tracks")
    op.drop_table("search_words")
