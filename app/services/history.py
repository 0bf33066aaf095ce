"""Your listening history, yours to keep: export it (CSV, JSON), bring it back or bring
it from ListenBrainz, delete a period of it.

Exports are read in keyset batches, so a history of a million listens is never in
memory at once. An import is checked whole before anything is written, then written
in the caller's one transaction: a bad file changes nothing. A listen already in the
history (same track, same instant) is never added twice, so importing the same file
twice adds nothing the second time. Listens are matched to tracks the user can see,
by id (our own export) or by folded artist and title; what matches nothing is counted,
never made into a track.

The co-listening table is computed from everyone's plays (app/services/recommend.py);
an import or a deletion that touches public tracks queues its full rebuild.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from sqlalchemy import delete, func, insert, or_, select

from app.extensions import db
from app.models import PlayEvent, Track, Visibility
from app.models.library import TAG_MAX
from app.models.types import utcnow
from app.services import album_plays, jobs, mixes, recommend
from app.services.errors import DomainError
from app.services.library import access
from app.services.text import fold

# Our JSON export's marker and version (an import checks both).
FORMAT = "music-cloud-listens"
VERSION = 1
# Listens read per query when exporting, and written per statement when importing.
BATCH = 2000
# The columns of the CSV export, in order. The player reports whole listens only, so
# there is no "time listened" to export.
CSV_COLUMNS = ("played_at", "track_id", "title", "artist", "album")
# Spreadsheets run a cell that starts with one of these as a formula; a title is data.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Listens from before this, or more than a day in the future, are not real ones.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


class HistoryFileInvalid(DomainError):
    """An import file that cannot be read as listening history. Codes: HISTORY_TOO_LARGE
    (limit_bytes), HISTORY_NOT_JSON (line), HISTORY_WRONG_FORMAT,
    HISTORY_BAD_LISTEN (number: the 1-based position of the first bad listen)."""

    code = "HISTORY_WRONG_FORMAT"


@dataclass(frozen=True)
class Listen:
    """One listen read from a file, before it is matched to a track."""

    played_at: datetime
    artist: str
    title: str
    track_id: int | None = None


@dataclass
class ImportResult:
    added: int = 0
    already: int = 0  # the same track at the same instant was in the history (or twice in the file)
    unmatched: int = 0  # no track the user can see has this artist and title


# --- export ---------------------------------------------------------------------------------


def iso(at: datetime) -> str:
    """UTC ISO 8601 with a Z, to the microsecond when there is one (so an import gives back
    the same instant)."""
    at = at.astimezone(UTC)
    return at.isoformat(timespec="microseconds" if at.microsecond else "seconds").replace("+00:00", "Z")


def _rows(user_id: int) -> Iterator[tuple[str, int, str, str, str]]:
    """The user's listens of tracks they can see, oldest first, a batch per query."""
    last: tuple[datetime, int] | None = None
    while True:
        stmt = (
            select(PlayEvent.played_at, PlayEvent.id, Track.id, Track.title, Track.artist, Track.album)
            .join(Track, Track.id == PlayEvent.track_id)
            .where(PlayEvent.user_id == user_id, access.visible_to(user_id))
            .order_by(PlayEvent.played_at, PlayEvent.id)
            .limit(BATCH)
        )
        if last is not None:
            # The first condition is the index's range (user_id, played_at); the second breaks ties.
            stmt = stmt.where(
                PlayEvent.played_at >= last[0], or_(PlayEvent.played_at > last[0], PlayEvent.id > last[1])
            )
        batch = db.session.execute(stmt).all()
        for played_at, _event_id, track_id, title, artist, album in batch:
            yield iso(played_at), track_id, title, artist, album
        if len(batch) < BATCH:
            return
        last = (batch[-1][0], batch[-1][1])


def _cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def export_csv(user_id: int) -> Iterator[str]:
    """The history as CSV (a header, then a listen per line), in pieces of a batch each."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for n, (played_at, track_id, title, artist, album) in enumerate(_rows(user_id), 1):
        writer.writerow((played_at, track_id, _cell(title), _cell(artist), _cell(album)))
        if n % BATCH == 0:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()


def export_json(user_id: int) -> Iterator[str]:
    """The history as one JSON document ({"format", "version", "listens": [...]}), a listen
    per line, in pieces; nothing in it depends on when it was made, so the same history
    always gives the same file."""
    yield f'{{"format": "{FORMAT}", "version": {VERSION}, "listens": ['
    sep = "\n"
    for played_at, track_id, title, artist, album in _rows(user_id):
        item = {"played_at": played_at, "track_id": track_id, "title": title, "artist": artist, "album": album}
        yield sep + json.dumps(item, ensure_ascii=False)
        sep = ",\n"
    yield "\n]}\n"


# --- import ---------------------------------------------------------------------------------


def _load_json(data: bytes, limit: int) -> object:
    if len(data) > limit:
        raise HistoryFileInvalid("HISTORY_TOO_LARGE", limit_bytes=limit)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise HistoryFileInvalid("HISTORY_NOT_JSON", line=1) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as whole:
        first_error = whole.lineno
    except (ValueError, RecursionError):
        # Nesting too deep for the parser, a number too long to read: not a history.
        raise HistoryFileInvalid("HISTORY_NOT_JSON", line=1) from None
    # ListenBrainz also exports JSON lines: one listen per line.
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2 or not lines[0].lstrip().startswith("{"):
        raise HistoryFileInvalid("HISTORY_NOT_JSON", line=first_error)
    items = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            items.append(json.loads(line))
        except (ValueError, RecursionError):
            raise HistoryFileInvalid("HISTORY_NOT_JSON", line=number) from None
    return items


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _instant(value: datetime, number: int) -> datetime:
    if value.tzinfo is None or not EARLIEST <= value <= utcnow() + timedelta(days=1):
        raise HistoryFileInvalid("HISTORY_BAD_LISTEN", number=number)
    return value.astimezone(UTC)


def read_own(data: bytes, limit: int) -> list[Listen]:
    """Listens from our own JSON export. Raises HistoryFileInvalid."""
    doc = _load_json(data, limit)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("version") != VERSION:
        raise HistoryFileInvalid("HISTORY_WRONG_FORMAT")
    items = doc.get("listens")
    if not isinstance(items, list):
        raise HistoryFileInvalid("HISTORY_WRONG_FORMAT")
    listens = []
    for number, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise HistoryFileInvalid("HISTORY_BAD_LISTEN", number=number)
        artist, title, when, track_id = (
            _text(item.get("artist")),
            _text(item.get("title")),
            item.get("played_at"),
            item.get("track_id"),
        )
        if artist is None or title is None or not isinstance(when, str):
            raise HistoryFileInvalid("HISTORY_BAD_LISTEN", number=number)
        # A number no track can have (the id column holds 32 bits) is refused, not looked up.
        if track_id is not None and (
            not isinstance(track_id, int) or isinstance(track_id, bool) or not 0 < track_id < 2**31
        ):
            raise HistoryFileInvalid("HISTORY_BAD_LISTEN", number=number)
        try:
            played_at = datetime.fromisoformat(when)
        except ValueError:
            raise HistoryFileInvalid("HISTORY_BAD_LISTEN", number=number) from None
        listens.append(Listen(_instant(played_at, number), artist, title, track_id))
    return listens


def read_listenbrainz(data: bytes, limit: int) -> list[Listen]:
    """Listens from a ListenBrainz export: a JSON array or JSON lines of listens, each with
    `listened_at` (Unix seconds) and `track_metadata` {artist_name, track_name}.
    Raises HistoryFileInvalid."""
    doc = _load_json(data, limit)
    if isinstance(doc, dict) and "listened_at" in doc:
        doc = [doc]  # a file of one listen on one line
    if isinstance(doc, dict) and isinstance(doc.get("payload"), dict):
        doc = doc["payload"].get("listens")  # the API's answer, saved to a file
    if not isinstance(doc, list):
        raise HistoryFileInvalid("HISTORY_WRONG_FORMAT")
    listens = []
    for number, item in enumerate(doc, 1):
        meta = item.get("track_metadata") if isinstance(item, dict) else None
        when = item.get("listened_at") if isinstance(item, dict) else None
        if not isinstance(meta, dict) or not isinstance(when, int | float) or isinstance(when, bool):
            raise HistoryFileInvalid("HISTORY_BAD_LISTEN", number=number)
        artist, title = _text(meta.get("artist_name")), _text(meta.get("track_name"))
        if artist is None or title is None:
            raise HistoryFileInvalid("HISTORY_BAD_LISTEN", number=number)
        try:
            played_at = datetime.fromtimestamp(when, UTC)
        except (OverflowError, OSError, ValueError):
            raise HistoryFileInvalid("HISTORY_BAD_LISTEN", number=number) from None
        listens.append(Listen(_instant(played_at, number), artist, title))
    return listens


def _key(artist: str, title: str) -> tuple[str, str]:
    return fold(artist)[:TAG_MAX], fold(title)[:TAG_MAX]


def _match(user_id: int, listens: list[Listen]) -> list[int | None]:
    """Each listen's track among those the user can see: by id, else by artist and title
    (the user's own track first, then the oldest)."""
    wanted_ids = sorted({li.track_id for li in listens if li.track_id is not None})
    by_id: set[int] = set()
    for start in range(0, len(wanted_ids), 500):
        by_id.update(
            db.session.scalars(
                select(Track.id).where(Track.id.in_(wanted_ids[start : start + 500]), access.visible_to(user_id))
            )
        )
    found: list[int | None] = [li.track_id if li.track_id in by_id else None for li in listens]
    if all(track_id is not None for track_id in found):
        return found
    by_name: dict[tuple[str, str], int] = {}
    rows = db.session.execute(
        select(Track.artist_key, Track.title_key, Track.id)
        .where(access.visible_to(user_id))
        .order_by((Track.owner_id != user_id), Track.id)
    )
    for artist_key, title_key, track_id in rows:
        by_name.setdefault((artist_key, title_key), track_id)
    return [
        track_id if track_id is not None else by_name.get(_key(li.artist, li.title))
        for li, track_id in zip(listens, found, strict=True)
    ]


def import_listens(user_id: int, listens: list[Listen]) -> ImportResult:
    """Add the listens that match a track the user can see and are not in the history yet
    (flushed: the caller commits once)."""
    result = ImportResult()
    matched: list[tuple[int, datetime]] = []
    for li, track_id in zip(listens, _match(user_id, listens), strict=True):
        if track_id is None:
            result.unmatched += 1
        else:
            matched.append((track_id, li.played_at))
    # Checked a time slice at a time, so only the history around the file's listens is read.
    matched.sort(key=lambda pair: pair[1])
    in_file: set[tuple[int, datetime]] = set()
    rows = []
    for first in range(0, len(matched), BATCH):
        chunk = matched[first : first + BATCH]
        seen = set(
            db.session.execute(
                select(PlayEvent.track_id, PlayEvent.played_at).where(
                    PlayEvent.user_id == user_id,
                    PlayEvent.played_at >= chunk[0][1],
                    PlayEvent.played_at <= chunk[-1][1],
                )
            ).tuples()
        )
        for track_id, at in chunk:
            if (track_id, at) in seen or (track_id, at) in in_file:
                result.already += 1
                continue
            in_file.add((track_id, at))
            rows.append({"user_id": user_id, "track_id": track_id, "played_at": at})
    for start in range(0, len(rows), BATCH):
        db.session.execute(insert(PlayEvent), rows[start : start + BATCH])
    result.added = len(rows)
    _refresh_recommendations({row["track_id"] for row in rows})
    if rows:
        # The imported listens join or split the sessions around them.
        recommend.rekey_sessions(user_id)
        album_plays.recount_listener(user_id)
        mixes.note_changes(user_id, len(rows))
    db.session.flush()
    return result


def _refresh_recommendations(track_ids: set[int]) -> None:
    """Queue the co-listening rebuild when public tracks' plays changed (a bulk change
    touches many sessions: one rebuild is cheaper than an update per track)."""
    ids = sorted(track_ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        if db.session.scalar(
            select(func.count()).select_from(Track).where(Track.id.in_(chunk), Track.visibility == Visibility.PUBLIC)
        ):
            jobs.submit(jobs.REBUILD_RECOMMENDATIONS)
            return


# --- deleting a period ----------------------------------------------------------------------


def start_of_day(day: date, zone: tzinfo) -> datetime:
    """Midnight of a local day, as a UTC instant. Flask-Babel's zones are pytz's, whose
    offset is only right through `localize` (as tzinfo= they give the zone's first,
    local mean time: Paris +00:09)."""
    localize = getattr(zone, "localize", None)
    naive = datetime.combine(day, time())
    local = localize(naive) if localize is not None else naive.replace(tzinfo=zone)
    return local.astimezone(UTC)


def period(first: date, last: date, zone: tzinfo) -> tuple[datetime, datetime]:
    """From the start of `first` to the end of `last`, local days in `zone`, as UTC instants
    (the end excluded)."""
    return start_of_day(first, zone), start_of_day(last + timedelta(days=1), zone)


def _in(user_id: int, start: datetime, end: datetime):
    return PlayEvent.user_id == user_id, PlayEvent.played_at >= start, PlayEvent.played_at < end


def count_between(user_id: int, start: datetime, end: datetime) -> int:
    """How many listens the user has from `start` (included) to `end` (excluded)."""
    return db.session.scalar(select(func.count()).select_from(PlayEvent).where(*_in(user_id, start, end))) or 0


def delete_between(user_id: int, start: datetime, end: datetime) -> int:
    """Delete the user's listens from `start` to `end` (excluded); return how many (flushed)."""
    touched = set(db.session.scalars(select(PlayEvent.track_id).where(*_in(user_id, start, end)).distinct()))
    if not touched:
        return 0
    deleted = db.session.execute(delete(PlayEvent).where(*_in(user_id, start, end))).rowcount
    recommend.rekey_sessions(user_id)
    album_plays.recount_listener(user_id)
    _refresh_recommendations(touched)
    mixes.note_changes(user_id, deleted)
    db.session.flush()
    return deleted
