"""Ranked search over the tracks a user may see, shared by the REST API
(/api/v1/search), the library page and Subsonic's search3.

A query is folded (case and accents ignored) and cut into words. Each word of
five letters or more also stands for the vocabulary's words one typo away
from it (services/library/vocabulary.py). A track matches when each word, or
one of its stand-ins, is found in its search text (title, artist, album,
album artist, genre, then its free tags, then its description). Ranking, in SQL
so a page is one query on either database: the whole query as the exact
title, then the exact artist, then the exact album, then every word in the
title, then every word in the artist or album, then in any of the tags (the
album artist and the genre too), then in the free tags, then the rest (a word
found only in the description); within a rank, tracks matched as spelled come
before those matched through a typo, then by title.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from itertools import islice, product
from typing import Any

from markupsafe import Markup, escape
from sqlalchemy import ColumnElement, Select, and_, case, or_, select

from app.extensions import db
from app.models import Artist, Track
from app.models.library import SEARCH_DESCRIPTION_MARK, SEARCH_TAGS_MARK, TAG_MAX
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


def _like(column: Any, word: str, before: str = "") -> ColumnElement[bool]:
    """`word` is in `column`, and when `before` is given, somewhere before that mark."""
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.like(f"%{escaped}%{before}%" if before else f"%{escaped}%", escape="\\")


def _found_in(columns: list[Any], term: Term, before: str = "") -> ColumnElement[bool]:
    return or_(*[_like(c, v, before) for c in columns for v in term.variants])


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
        (and_(*[_found_in([Track.search_text], t, before=SEARCH_TAGS_MARK) for t in found.terms]), 150),
        (and_(*[_found_in([Track.search_text], t, before=SEARCH_DESCRIPTION_MARK) for t in found.terms]), 120),
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
            # The artist credited on the track, as the artist facet counts them.
            out.append(Track.artist_id == self.artist_id)
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
    every = matches([visible_to(user_id), *conditions(found), *filters.where()], found)
    first = (page - 1) * per_page
    chosen = list(zip(every.ids[first : first + per_page], every.scores[first : first + per_page], strict=True))
    ids = [track_id for track_id, _score in chosen]
    by_id = {t.id: t for t in db.session.scalars(select(Track).where(Track.id.in_(ids)))} if ids else {}
    hits = [Hit(by_id[i], s, highlights(by_id[i], found)) for i, s in chosen if i in by_id]
    terms = {t.word: t.variants for t in found.terms}
    return Result(hits, len(every.ids), page, per_page, every.facets, terms)


@dataclass
class Matches:
    """Every matching track's id and score, best first, and the facets they make."""

    ids: list[int]
    scores: list[int]
    facets: dict[str, list[FacetValue]]


def matches(where: list[ColumnElement[bool]], found: Plan) -> Matches:
    """The tracks meeting `where`, ranked for `found`, with counts per genre, artist,
    format and decade (biggest first, decades in order).

    One pass: the words are found by scanning the search text (SQLite, in an
    index that holds every column read here) or through its trigram index
    (PostgreSQL) once, and the few columns
    the ranking and the facets need come back for every match, in rank order;
    counting those in Python costs less than a second scan for the facets. The
    rows are read as plain tuples (no ORM), and counted column by column."""
    rank = score(found)
    # SQLite reads all of it from one index (ix_tracks_search_scan); PostgreSQL finds
    # the matches through its trigram index.
    stmt = (
        select(Track.id, rank, Track.genre_key, Track.genre, Track.artist_id, Track.format, Track.year)
        .where(*where)
        .order_by(rank.desc(), Track.title_key, Track.id)
    )
    rows = db.session.connection().execute(stmt).all()
    facets: dict[str, list[FacetValue]] = {name: [] for name in FACETS}
    if not rows:
        return Matches([], [], facets)
    ids, scores, genre_keys, genre_names, artist_ids, formats, years = (list(c) for c in zip(*rows, strict=True))
    genres = Counter(genre_keys)
    genres.pop(None, None)
    names_of_genres = dict(zip(genre_keys, genre_names, strict=True))
    artists = Counter(artist_ids)
    decades = Counter(year // 10 * 10 for year in years if year is not None)
    # Names for the biggest artists only (ties at the cut are then ordered by name among those).
    candidates = Counter(dict(artists.most_common(FACET_SIZE * 5)))
    names = dict(db.session.execute(select(Artist.id, Artist.name).where(Artist.id.in_(list(candidates)))).all())
    facets["genre"] = [FacetValue(k, names_of_genres[k], n) for k, n in _top(genres, lambda k: names_of_genres[k])]
    facets["artist"] = [FacetValue(k, names.get(k, ""), n) for k, n in _top(candidates, lambda k: names.get(k, ""))]
    facets["format"] = [FacetValue(k, k, n) for k, n in _top(Counter(formats), str)]
    facets["decade"] = [FacetValue(k, f"{k}s", n) for k, n in sorted(decades.items())]
    return Matches(ids, scores, facets)


def _top(counts: Counter[Any], label: Any) -> list[tuple[Any, int]]:
    """The FACET_SIZE biggest counts, biggest first, ties by label (any case or accents)."""
    return sorted(counts.items(), key=lambda item: (-item[1], fold(label(item[0]))))[:FACET_SIZE]


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
    """Each tag, the free tags (joined by commas) and the description, as escaped HTML
    with the matched parts marked."""
    words = [v for t in found.terms for v in t.variants]
    out = {name: marked(getattr(track, name) or "", words) for name in HIGHLIGHTED}
    out["tags"] = marked(", ".join(track.tags or []), words)
    out["description"] = marked(track.description or "", words)
    return out
