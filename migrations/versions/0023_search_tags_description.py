"""the search finds tracks by their free tags and description: both join the search
text after a mark each (PostgreSQL: the column widens to 6,000 characters)

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-01 06:30:00

"""

import json
import re
import unicodedata

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite


revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

# As the app writes them at the time of writing (a migration keeps its own copy):
# app/models/library.py and app/services/library/catalogue.py search_text_of.
TAGS_MARK, DESCRIPTION_MARK = "\x1f", "\x1e"
TAG_MAX, DESCRIPTION_MAX = 300, 2000
MIN_WORD, WORD_MAX = 4, 40
WORD = re.compile(r"\w+")
CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
SPACES = re.compile(r"\s+")

tracks = sa.table(
    "tracks",
    sa.column("id", sa.Integer),
    sa.column("search_text", sa.String),
    sa.column("tags", sa.JSON),
    sa.column("description", sa.Text),
)


def _fold(text):
    decomposed = unicodedata.normalize("NFKD", text or "")
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return SPACES.sub(" ", stripped.casefold()).strip()


def _keys(word):
    return {word} | {word[:i] + word[i + 1 :] for i in range(len(word))}


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        # A wider varchar is a change of the catalogue only: no rewrite, the trigram index stays.
        op.alter_column("tracks", "search_text", type_=sa.String(length=6000), existing_type=sa.String(length=1200))
    # Every track gets both marks (nothing after them yet).
    bind.execute(sa.update(tracks).values(search_text=tracks.c.search_text + f" {TAGS_MARK} {DESCRIPTION_MARK}"))
    described = sa.or_(tracks.c.description.is_not(None), sa.cast(tracks.c.tags, sa.String) != "[]")
    rows = bind.execute(
        sa.select(tracks.c.id, tracks.c.search_text, tracks.c.tags, tracks.c.description).where(described)
    )
    words = set()
    for track_id, search_text, stored_tags, description in rows.all():
        tagged = search_text.split(f" {TAGS_MARK}", 1)[0]
        tags = json.loads(stored_tags) if isinstance(stored_tags, str) else stored_tags
        free_tags = _fold(" ".join(tags or []))[: 2 * TAG_MAX]
        cleaned = SPACES.sub(" ", CONTROLS.sub(" ", description or "")).strip()[: 2 * DESCRIPTION_MAX]
        folded_description = _fold(cleaned)[: 2 * DESCRIPTION_MAX]
        text = " ".join(p for p in (tagged, TAGS_MARK, free_tags, DESCRIPTION_MARK, folded_description) if p)
        bind.execute(sa.update(tracks).where(tracks.c.id == track_id).values(search_text=text))
        words |= {w for w in WORD.findall(f"{free_tags} {folded_description}") if MIN_WORD <= len(w) <= WORD_MAX}
    keyed = [{"key": k, "word": w} for w in sorted(words) for k in sorted(_keys(w))]
    table = sa.table("search_words", sa.column("key", sa.String), sa.column("word", sa.String))
    dialect = postgresql if bind.dialect.name == "postgresql" else sqlite
    for start in range(0, len(keyed), 5000):
        bind.execute(dialect.insert(table).values(keyed[start : start + 5000]).on_conflict_do_nothing())


def downgrade():
    # The search text goes back to the tags alone (the vocabulary may keep a few words more).
    bind = op.get_bind()
    rows = bind.execute(sa.select(tracks.c.id, tracks.c.search_text).where(tracks.c.search_text.contains(TAGS_MARK)))
    for track_id, search_text in rows.all():
        tagged = search_text.split(f" {TAGS_MARK}", 1)[0][:1200]
        bind.execute(sa.update(tracks).where(tracks.c.id == track_id).values(search_text=tagged))
    if bind.dialect.name == "postgresql":
        op.alter_column("tracks", "search_text", type_=sa.String(length=1200), existing_type=sa.String(length=6000))
