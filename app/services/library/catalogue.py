"""The catalogue: tag values cleaned and folded, the artists and albums they name
(found or created once), and pruning those no track refers to any more."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from sqlalchemy import Select, event, exists, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from app.extensions import db
from app.models import Album, Artist, Track
from app.models.library import SEARCH_DESCRIPTION_MARK, SEARCH_TAGS_MARK, TAG_MAX
from app.services.library import vocabulary
from app.services.text import clean_tag, fold
from app.services.track_meta import DESCRIPTION_MAX

# What compilations are filed under, and the album artist tags that mean it (folded).
VARIOUS_ARTISTS = "Various Artists"
_VARIOUS_KEYS = frozenset({"various artists", "various", "va", "v.a.", "v/a", "various artist"})
# Only clear featuring markers ("feat." and "ft." with their dot, "featuring", or any of them
# in brackets): "&", "and", "x" and "," join the names of one act too ("Simon & Garfunkel",
# "Earth, Wind & Fire"), and a bare "Feat" is a word in names ("Little Feat").
_FEATURING = re.compile(
    r"\s*(?:[(\[]\s*(?:feat\.?|ft\.?|featuring)|\b(?:feat\.|ft\.|featuring))\s+(?=\S)", re.IGNORECASE
)


def main_artist(name: str) -> str:
    """The artist a track is filed under: its artist without the guests it features
    ("Main feat. Guest", "Main (ft. Guest)", "Main featuring Guest" are all "Main")."""
    match = _FEATURING.search(name)
    if match is None or match.start() == 0:
        return name
    return name[: match.start()].rstrip(" -,;(") or name


def is_various(name: str | None) -> bool:
    """Whether an album artist tag names a compilation ("Various Artists", "VA", "Various")."""
    return fold(name) in _VARIOUS_KEYS


def search_text_of(track: Track) -> str:
    """What the search looks through, folded: the tags (the genre last: the search ranks
    a match there below one in the others), a mark, the free tags, a mark, the
    description. The marks are always there, so the search can tell where a word was
    found (services/search.py), and no folded text holds them (they are control characters)."""
    parts = [track.title_key, track.artist_key, track.album_key, fold(track.album_artist)[:TAG_MAX], track.genre_key]
    tagged = " ".join(p for p in parts if p)[: 4 * TAG_MAX]
    free_tags = fold(" ".join(track.tags or []))[: 2 * TAG_MAX]
    description = fold(clean_tag(track.description, 2 * DESCRIPTION_MAX))[: 2 * DESCRIPTION_MAX]
    return " ".join(p for p in (tagged, SEARCH_TAGS_MARK, free_tags, SEARCH_DESCRIPTION_MARK, description) if p)


def refresh_search_text(track: Track) -> None:
    """Set the track's search text from its tags, free tags and description, and add its
    words to the search's vocabulary."""
    track.search_text = search_text_of(track)
    vocabulary.remember([track.search_text])


def apply_tags(track: Track, **tags: Any) -> None:
    """Set tag fields and everything derived from them (keys, search text, artist, album).

    A track is filed under its main artist (featured guests dropped), and its album under
    the album artist tag, else that main artist; every spelling of "Various Artists" is one.
    """
    if _set_tag_fields(track, tags):
        refresh_search_text(track)
    _file(track)


# The tags the search text holds.
_SEARCHED_TAGS = frozenset({"title", "artist", "album", "album_artist", "genre"})
# The tags whose change can move a track to another artist or album.
FILING_TAGS = frozenset({"artist", "album_artist", "album"})


def apply_tags_to_many(changes: Iterable[tuple[Track, dict[str, Any]]]) -> None:
    """apply_tags() for many tracks (a bulk edit, its undo) with a few statements: the tag
    fields of all first, then the artists and albums they name found or created together
    (prepare), then each track filed from those; with no change of artist, album artist or
    album, nobody moves. Nothing is flushed until then (one flush, not one per lookup)."""
    with db.session.no_autoflush:
        moved = []
        texts = []
        for track, tags in changes:
            if _set_tag_fields(track, tags):
                track.search_text = search_text_of(track)
                texts.append(track.search_text)
            if FILING_TAGS & tags.keys():
                moved.append(track)
        # The new words of every track at once (not a lookup per track).
        vocabulary.remember(texts)
        if moved:
            prepare([(t.artist, t.album_artist, t.album) for t in moved])
            for track in moved:
                _file(track)
    db.session.flush()


def _set_tag_fields(track: Track, tags: dict[str, Any]) -> bool:
    """Set the tag fields and their keys; return whether the search text must be made again."""
    for key in ("title", "artist", "album"):
        if key in tags:
            setattr(track, key, clean_tag(tags[key], TAG_MAX) or getattr(track, key) or "Unknown")
    for key in ("album_artist", "genre"):
        if key in tags:
            setattr(track, key, clean_tag(tags[key], TAG_MAX) or None)
    for key in ("track_number", "disc_number", "year"):
        if key in tags:
            setattr(track, key, tags[key])
    # The folded keys of what changed (of everything when nothing is named: a track filed
    # again). Folding can lengthen text ("…" becomes "...", ligatures split), so keys are
    # clamped again.
    every = not tags
    if every or "title" in tags:
        track.title_key = fold(track.title)[:TAG_MAX]
    if every or "artist" in tags:
        track.artist_key = fold(track.artist)[:TAG_MAX]
    if every or "album" in tags:
        track.album_key = fold(track.album)[:TAG_MAX]
    if every or "genre" in tags:
        track.genre_key = fold(track.genre)[:TAG_MAX] or None
    return every or bool(_SEARCHED_TAGS & tags.keys())


def _file(track: Track) -> None:
    artist = _artist(main_artist(track.artist))
    if not track.album_artist:
        album_artist = artist
    elif is_various(track.album_artist):
        album_artist = _artist(VARIOUS_ARTISTS)
    else:
        album_artist = _artist(track.album_artist)
    track.artist_id = artist.id
    track.album_id = _album(track.album, album_artist).id
    track.album_artist_id = album_artist.id


def prepare(tags: list[tuple[str, str | None, str]]) -> None:
    """Find or create the artists and albums that many new tracks' (artist, album artist,
    album) tags name, with a few statements, so that apply_tags() finds them all cached.

    For a batch: the new rows are flushed together, without a savepoint each, so a
    row another request created at the same moment raises IntegrityError; the
    caller then undoes the batch and adds its tracks one by one.

    The tags are filed by apply_tags()'s rules: the main artist (featured guests dropped),
    and every spelling of "Various Artists" as one.
    """
    tags = [
        (main_artist(artist), VARIOUS_ARTISTS if album_artist and is_various(album_artist) else album_artist, album)
        for artist, album_artist, album in tags
    ]
    cache = _cache()
    names: dict[str, str] = {}
    for artist, album_artist, _ in tags:
        for name in (artist, album_artist):
            if name:
                names.setdefault(fold(name)[:TAG_MAX], name)
    wanted = [key for key in names if ("artist", key) not in cache]
    for start in range(0, len(wanted), 500):
        for row in db.session.scalars(select(Artist).where(Artist.name_key.in_(wanted[start : start + 500]))):
            cache[("artist", row.name_key)] = row
    _create({("artist", key): lambda key=key: Artist(name=names[key], name_key=key) for key in wanted})
    titles: dict[tuple[str, int], str] = {}
    for artist, album_artist, album in tags:
        owner = cache[("artist", fold(album_artist or artist)[:TAG_MAX])]
        titles.setdefault((fold(album)[:TAG_MAX], owner.id), album)
    wanted_albums = [pair for pair in titles if ("album", pair[0], str(pair[1])) not in cache]
    for start in range(0, len(wanted_albums), 500):
        part = wanted_albums[start : start + 500]
        query = select(Album).where(
            Album.title_key.in_({key for key, _ in part}), Album.artist_id.in_({artist_id for _, artist_id in part})
        )
        for row in db.session.scalars(query):
            cache[("album", row.title_key, str(row.artist_id))] = row
    _create(
        {
            ("album", key, str(artist_id)): lambda key=key, artist_id=artist_id: Album(
                title=titles[(key, artist_id)], title_key=key, artist_id=artist_id
            )
            for key, artist_id in wanted_albums
        }
    )


def _create(makers: dict[tuple[str, ...], Callable[[], Any]]) -> None:
    """Add the rows not cached yet, flushed together, and cache them."""
    cache = _cache()
    new = {key: make() for key, make in makers.items() if key not in cache}
    if new:
        db.session.add_all(new.values())
        db.session.flush()
        cache.update(new)


def _cache() -> dict[tuple[str, ...], Any]:
    # Artists and albums met in this session; dropped on rollback (see below),
    # since a rolled-back row must not be reused.
    return db.session.info.setdefault("library_cache", {})


@event.listens_for(Session, "after_rollback")
def _forget_cache(session: Session) -> None:
    session.info.pop("library_cache", None)


def forget_catalogue() -> None:
    """Drop the artists and albums met so far: a savepoint that may have created some was rolled back."""
    _forget_cache(db.session)


def _artist(name: str) -> Artist:
    key = fold(name)[:TAG_MAX]
    return _get_or_create(
        ("artist", key), lambda: select(Artist).where(Artist.name_key == key), lambda: Artist(name=name, name_key=key)
    )


def _album(title: str, artist: Artist) -> Album:
    key = fold(title)[:TAG_MAX]
    return _get_or_create(
        ("album", key, str(artist.id)),
        lambda: select(Album).where(Album.title_key == key, Album.artist_id == artist.id),
        lambda: Album(title=title, title_key=key, artist_id=artist.id),
    )


def _get_or_create(cache_key: tuple[str, ...], find: Callable[[], Select], make: Callable[[], Any]) -> Any:
    """The row the query `find()` builds finds, else a new one from `make()`; a row another
    request created at the same moment wins (unique index), and the result is cached.
    (The query is built only on a cache miss: building it costs more than the lookup.)"""
    cache = _cache()
    if cache_key in cache:
        return cache[cache_key]
    query = find()
    row = db.session.scalar(query)
    if row is None:
        try:
            with db.session.begin_nested():
                row = make()
                db.session.add(row)
        except IntegrityError:
            row = db.session.scalar(query)
            if row is None:
                # Neither made nor found: what it refers to (an album's artist) was
                # deleted by another request at this moment; this one changes nothing.
                raise StaleDataError(f"{cache_key[0]} refers to a row deleted meanwhile") from None
    cache[cache_key] = row
    return row


def _forget(rows: list[Album | Artist]) -> None:
    """Deleted rows must not be handed out again by the session's cache."""
    if not rows:
        return
    gone = {id(row) for row in rows}
    cache = _cache()
    for key in [k for k, v in cache.items() if id(v) in gone]:
        del cache[key]


def prune(album_ids: list[int], artist_ids: list[int]) -> None:
    """Drop albums and artists no track refers to any more (a few hundred ids per query)."""
    deleted: list[Album | Artist] = []
    artist_ids = list(artist_ids)
    for chunk in _chunks(sorted(set(album_ids))):
        unused = select(Album).where(Album.id.in_(chunk), ~exists().where(Track.album_id == Album.id))
        for album in db.session.scalars(unused):
            artist_ids.append(album.artist_id)
            deleted.append(album)
            db.session.delete(album)
    db.session.flush()
    for chunk in _chunks(sorted(set(artist_ids))):
        by_track = exists().where(Track.artist_id == Artist.id)
        by_album = exists().where(Album.artist_id == Artist.id)
        for artist in db.session.scalars(select(Artist).where(Artist.id.in_(chunk), ~by_track, ~by_album)):
            deleted.append(artist)
            db.session.delete(artist)
    _forget(deleted)


def _chunks(ids: list[int], size: int = 500) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def file_folder(track: Track) -> None:
    """File a track from an uploaded folder with the others of its folder and album name:
    when they name several (main) artists and no album artist, the album is a compilation,
    so all of them get the album artist "Various Artists". Flushed.

    Called as each file is added, so it works across the requests of a folder upload and
    the batches of an import; the earlier tracks of the folder move when the second artist
    arrives (their old album is pruned).
    """
    if not track.source_folder or (track.album_artist and not is_various(track.album_artist)):
        return
    # The artists this session knows filed in the folder under this album name: while that
    # is only this track's artist, nothing can change and no query is needed (an import
    # asks once per album folder, not once per file). A stale entry (a file rolled back)
    # only sends a track to the query below, which reads what is really there.
    memo_key = ("folder", str(track.owner_id), track.source_folder, track.album_key)
    cache = _cache()
    if not track.album_artist and cache.get(memo_key) == {track.artist_id}:
        return
    # "Various Artists" is looked up in the same query, not created: most folders are one
    # artist's, and need no such row.
    various = select(Artist.id).where(Artist.name_key == fold(VARIOUS_ARTISTS)).scalar_subquery()
    in_folder = (
        Track.owner_id == track.owner_id,
        Track.source_folder == track.source_folder,
        Track.album_key == track.album_key,
        or_(Track.album_artist.is_(None), Track.album_artist_id == various),
    )
    other = or_(Track.artist_id != track.artist_id, Track.album_artist_id == various)
    if db.session.scalar(select(Track.id).where(*in_folder, other).limit(1)) is None:
        if not track.album_artist:
            cache[memo_key] = {track.artist_id}
        return
    cache.pop(memo_key, None)
    siblings = list(db.session.scalars(select(Track).where(*in_folder)))
    old_albums = []
    for sibling in siblings:
        if sibling.album_artist is None:
            old_albums.append(sibling.album_id)
            apply_tags(sibling, album_artist=VARIOUS_ARTISTS)
    db.session.flush()
    prune(album_ids=sorted(set(old_albums)), artist_ids=[])


def file_folders(tracks: list[Track]) -> None:
    """file_folder() for a batch of new tracks, flushed together: one check per album folder
    of the batch (its first track that could change anything), not one per track; a folder
    the session already knows as one artist's, and still is, is not asked about at all."""
    groups: dict[tuple[int, str, str], list[Track]] = {}
    for track in tracks:
        if not track.source_folder or (track.album_artist and not is_various(track.album_artist)):
            continue
        groups.setdefault((track.owner_id, track.source_folder, track.album_key), []).append(track)
    cache = _cache()
    for (owner_id, folder, album_key), group in groups.items():
        known = cache.get(("folder", str(owner_id), folder, album_key))
        # A compilation's track, or one by another artist than the folder's known one.
        odd = next((track for track in group if track.album_artist or {track.artist_id} != known), None)
        if odd is not None:
            # Its check reads the whole folder, this batch's tracks included (flushed).
            file_folder(odd)


def regroup(chunk: int = 500) -> int:
    """File every track again by the rules above (featured artists, "Various Artists", a
    folder of several artists), for a library added before them; return how many tracks
    moved. Albums and artists left empty are pruned. Flushed after each chunk of tracks;
    running it again moves nothing."""
    moved = 0
    last_id = 0
    while True:
        tracks = list(db.session.scalars(select(Track).where(Track.id > last_id).order_by(Track.id).limit(chunk)))
        if not tracks:
            return moved
        last_id = tracks[-1].id
        old_albums: set[int] = set()
        old_artists: set[int] = set()
        for track in tracks:
            before = (track.artist_id, track.album_id, track.album_artist_id)
            apply_tags(track)
            file_folder(track)
            if (track.artist_id, track.album_id, track.album_artist_id) != before:
                moved += 1
                old_albums.add(before[1])
                old_artists.update((before[0], before[2]))
        db.session.flush()
        prune(album_ids=sorted(old_albums), artist_ids=sorted(old_artists))
        db.session.flush()
