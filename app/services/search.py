"""Ranked search over the tracks a user may see, shared by the REST API
(/api/v1/search), the library page and Subsonic's search3.

A query is folded (case and accents ignored) and cut into words. Each word of
five letters or more also stands for the vocabulary's words one typo away
from it (services/library/vocabulary.py). A track matches when each word, or
one of its stand-ins, is found in its search text (title, artist, album,
album artist, genre). Ranking, in SQL so a page is one query on either
database: the whole query as the exact title, then the exact artist, then the
exact album, then every word in the title, then every word in the artist or
album, then the rest (a word found only in the album artist or the genre);
within a rank, tracks matched as spelled come before those matched through a
typo, then by title.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from itertools import islice, product
from typing import Any

from markupsafe import Markup, escape
from sqlalchemy import ColumnElement, Select, String, and_, case, cast, func, literal, or_, select, union_all

from app.extensions import db
from app.models import Track
from app.models.library import TAG_MAX
from app.services.library import vocabulary
from app.services.library.access import visible_to
from app.services.text import clean_tag, fold

MAX_TERMS = 8
# A word this long or longer forgives one typo ("beatels" finds "Beatles").
TYPO_MIN = 5
# At most this many stand-ins per word, and this many spellings of the whole query.
MAX_VARIANTS = 8
MAX_PHRASES = 16
FACET_SIZE = 20
FACETS = ("genre", "artist", "format", "decade")
_PLAIN_WORD = re.compile(r"^\w+$")


@dataclass
class Term:
    """A word of the query and what it stands for: itself first, then its typo neighbours."""

    word: str
    variants: list[str]


@dataclass
class Plan:
    terms: list[Term]
    # The whole query as it may be spelled (each word or one of its stand-ins).
    phrases: list[str]

    def __bool__(self) -> bool:
        return bool(self.terms)


def plan(q: str) -> Plan:
    """The words of `q` and their stand-ins (looked up in the vocabulary)."""
    words = [w for w in fold(clean_tag(q, TAG_MAX)).split(" ") if w][:MAX_TERMS]
    terms = []
    for word in dict.fromkeys(words):
        variants = [word]
        if len(word) >= TYPO_MIN and _PLAIN_WORD.match(word):
            variants += sorted(vocabulary.neighbours(word))[: MAX_VARIANTS - 1]
        terms.append(Term(word, variants))
    phrases = [" ".join(p) for p in islice(product(*(t.variants for t in terms)), MAX_PHRASES)] if terms else []
    return Plan(terms, phrases)


def _like(column: Any, word: str) -> ColumnElement[bool]:
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.like(f"%{escaped}%", escape="\\")


def _found_in(columns: list[Any], term: Term) -> ColumnElement[bool]:
    return or_(*[_like(c, v) for c in columns for v in term.variants])


def conditions(found: Plan) -> list[ColumnElement[bool]]:
    """What a track must satisfy to match: each word (or a stand-in) in its search text."""
    return [_found_in([Track.search_text], t) for t in found.terms]


def score(found: Plan) -> ColumnElement[int]:
    """The rank of a matching track (higher first): see the module's docstring."""
    rank = case(
        (Track.title_key.in_(found.phrases), 600),
        (Track.artist_key.in_(found.phrases), 500),
        (Track.album_key.in_(found.phrases), 400),
        (and_(*[_found_in([Track.title_key], t) for t in found.terms]), 300),
        (and_(*[_found_in([Track.title_key, Track.artist_key, Track.album_key], t) for t in found.terms]), 200),
        else_=100,
    )
    as_spelled = and_(*[_like(Track.search_text, t.word) for t in found.terms])
    return rank + case((as_spelled, 10), else_=0)


def ranked(stmt: Select, found: Plan) -> Select:
    """`stmt` (selecting from tracks) in relevance order."""
    return stmt.order_by(score(found).desc(), Track.title_key, Track.id)


@dataclass
class Filters:
    """Facet values a search is narrowed to (None leaves one out)."""

    genre: str | None = None
    artist_id: int | None = None
    album_id: int | None = None
    format: str | None = None
    decade: int | None = None

    def where(self) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = []
        if self.genre:
            out.append(Track.genre_key == fold(clean_tag(self.genre, TAG_MAX))[:TAG_MAX])
        if self.artist_id is not None:
            out.append(or_(Track.artist_id == self.artist_id, Track.album_artist_id == self.artist_id))
        if self.album_id is not None:
            out.append(Track.album_id == self.album_id)
        if self.format:
            out.append(Track.format == self.format)
        if self.decade is not None:
            out.append(and_(Track.year >= self.decade, Track.year < self.decade + 10))
        return out


@dataclass
class FacetValue:
    value: str | int
    label: str
    count: int


@dataclass
class Hit:
    track: Track
    score: int
    # Escaped HTML of each tag with the matched parts in <mark>.
    highlight: dict[str, Markup]


@dataclass
class Result:
    hits: list[Hit]
    total: int
    page: int
    per_page: int
    facets: dict[str, list[FacetValue]] = field(default_factory=dict)
    # What each query word was taken to mean (itself and its stand-ins).
    terms: dict[str, list[str]] = field(default_factory=dict)


def search(user_id: int, q: str, filters: Filters | None = None, page: int = 1, per_page: int = 20) -> Result:
    """One page of the tracks `user_id` may see that match `q`, best first, with
    the facets of the whole result set. An empty `q` matches nothing."""
    found = plan(q)
    filters = filters or Filters()
    page, per_page = max(1, page), max(1, per_page)
    if not found:
        return Result([], 0, page, per_page, {name: [] for name in FACETS})
    where = [visible_to(user_id), *conditions(found), *filters.where()]
    rank = score(found).label("score")
    stmt = select(Track.id, rank).where(*where).order_by(rank.desc(), Track.title_key, Track.id)
    rows = db.session.execute(stmt.limit(per_page).offset((page - 1) * per_page)).all()
    ids = [r[0] for r in rows]
    by_id = {t.id: t for t in db.session.scalars(select(Track).where(Track.id.in_(ids)))} if ids else {}
    hits = [Hit(by_id[i], s, highlights(by_id[i], found)) for i, s in rows if i in by_id]
    facets, total = facet_counts(where)
    return Result(hits, total, page, per_page, facets, {t.word: t.variants for t in found.terms})


def facet_counts(where: list[ColumnElement[bool]]) -> tuple[dict[str, list[FacetValue]], int]:
    """Counts per genre, artist, format and decade among the tracks meeting `where`,
    biggest first (decades in order), and how many tracks that is. One statement:
    the matching rows are found once (a common table expression used four times)."""
    m = select(Track.id, Track.genre_key, Track.genre, Track.artist_id, Track.artist, Track.format, Track.year)
    m = m.where(*where).cte("matched")
    decade = m.c.year // 10 * 10
    text_of = lambda column: cast(column, String)  # noqa: E731 (each branch's columns share one type)
    stmt = union_all(
        select(literal("genre"), m.c.genre_key, func.min(m.c.genre), func.count())
        .where(m.c.genre_key.is_not(None))
        .group_by(m.c.genre_key),
        select(literal("artist"), text_of(m.c.artist_id), func.min(m.c.artist), func.count()).group_by(m.c.artist_id),
        select(literal("format"), m.c.format, func.min(m.c.format), func.count()).group_by(m.c.format),
        select(literal("decade"), text_of(decade), text_of(func.min(decade)), func.count())
        .where(m.c.year.is_not(None))
        .group_by(decade),
    )
    facets: dict[str, list[FacetValue]] = {name: [] for name in FACETS}
    for name, value, label, count in db.session.execute(stmt):
        facets[name].append(FacetValue(int(value) if name in ("artist", "decade") else value, label, count))
    total = sum(f.count for f in facets["format"])
    for name in ("genre", "artist", "format"):
        facets[name] = sorted(facets[name], key=lambda f: (-f.count, fold(f.label)))[:FACET_SIZE]
    facets["decade"].sort(key=lambda f: f.value)
    for f in facets["decade"]:
        f.label = f"{f.value}s"
    return facets, total


# --- highlighting -----------------------------------------------------------------------------


def _folded_with_positions(text: str) -> tuple[str, list[int]]:
    """`text` folded character by character, and for each folded character the
    index of the original character it came from."""
    out: list[str] = []
    where: list[int] = []
    for i, ch in enumerate(text):
        piece = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c)).casefold()
        out.append(piece)
        where.extend([i] * len(piece))
    return "".join(out), where


def spans(text: str, words: list[str]) -> list[tuple[int, int]]:
    """Where in `text` (start, end character offsets, merged and in order) any of
    `words` (folded) is found, ignoring case and accents."""
    folded, where = _folded_with_positions(text)
    found: list[tuple[int, int]] = []
    for word in words:
        start = folded.find(word)
        while word and start != -1:
            found.append((where[start], where[start + len(word) - 1] + 1))
            start = folded.find(word, start + 1)
    merged: list[tuple[int, int]] = []
    for s, e in sorted(found):
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


def marked(text: str, words: list[str]) -> Markup:
    """`text` as escaped HTML with each place `words` match wrapped in <mark>."""
    out = Markup("")
    last = 0
    for s, e in spans(text, words):
        out += escape(text[last:s]) + Markup("<mark>") + escape(text[s:e]) + Markup("</mark>")
        last = e
    return out + escape(text[last:])


HIGHLIGHTED = ("title", "artist", "album", "album_artist", "genre")


def highlights(track: Track, found: Plan) -> dict[str, Markup]:
    words = [v for t in found.terms for v in t.variants]
    return {name: marked(getattr(track, name) or "", words) for name in HIGHLIGHTED}
