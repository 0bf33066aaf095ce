"""Our objects as Subsonic (OpenSubsonic) response objects: Child, AlbumID3,
ArtistID3, Playlist, User. Ids carry their kind: a track is "12", an album
"al-12", an artist "ar-12" (cover art takes any of them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.models import Playlist, PlaylistVisibility, Track, User
from app.services.library.analysis import playback_gain
from app.services.library.browse import AlbumSummary, ArtistSummary
from app.services.library.lists import IndexArtist
from app.web.params import parse_id

ALBUM_PREFIX = "al-"
ARTIST_PREFIX = "ar-"
FOLDER_ID = 1
FOLDER_NAME = "Music"


def album_id(album: int) -> str:
    return f"{ALBUM_PREFIX}{album}"


def artist_id(artist: int) -> str:
    return f"{ARTIST_PREFIX}{artist}"


def parse_kind(text: str | None) -> tuple[str, int] | None:
    """("track" | "album" | "artist", id) from an API id; None for anything else."""
    if not text:
        return None
    for prefix, kind in ((ALBUM_PREFIX, "album"), (ARTIST_PREFIX, "artist")):
        if text.startswith(prefix):
            number = parse_id(text[len(prefix) :])
            return (kind, number) if number else None
    number = parse_id(text)
    return ("track", number) if number else None


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _safe_part(text: str) -> str:
    return (text or "").replace("/", "_").replace("\\", "_").strip() or "_"


def song(
    track: Track, starred: dict[int, datetime] | None = None, rated: dict[int, int] | None = None
) -> dict[str, Any]:
    """A track as a Child. Its `path` is made from its tags (clients that cache by
    path need one); the stored file's place is never shown."""
    number = f"{track.track_number:02d} - " if track.track_number else ""
    return {
        "id": str(track.id),
        "parent": album_id(track.album_id),
        "isDir": False,
        "title": track.title,
        "album": track.album,
        "artist": track.artist,
        "track": track.track_number,
        "discNumber": track.disc_number,
        "year": track.year,
        "genre": track.genre,
        "coverArt": str(track.id),
        "size": track.size_bytes,
        "contentType": track.mime_type,
        "suffix": track.format,
        "duration": round(track.duration or 0),
        "bitRate": (track.bitrate or 0) // 1000 or None,
        "samplingRate": track.sample_rate,
        "channelCount": track.channels,
        "path": f"{_safe_part(track.album_artist or track.artist)}/{_safe_part(track.album)}/"
        f"{number}{_safe_part(track.title)}.{track.format}",
        "isVideo": False,
        "created": iso(track.uploaded_at),
        "albumId": album_id(track.album_id),
        "artistId": artist_id(track.artist_id),
        "type": "music",
        "mediaType": "song",
        "starred": iso((starred or {}).get(track.id)),
        "userRating": (rated or {}).get(track.id),
        "replayGain": replay_gain(track),
    }


def replay_gain(track: Track) -> dict[str, float] | None:
    """OpenSubsonic's ReplayGain of a track: the gains our own player applies (the
    file's ReplayGain tags, else the measured loudness against -18 LUFS, the
    ReplayGain 2 reference) and the peaks as linear sample values. None before the
    analysis has measured anything."""
    gains = playback_gain(track)
    if gains is None:
        return None
    answer = {"trackGain": gains["track"], "albumGain": gains["album"]}
    if track.rg_track_peak is not None:
        answer["trackPeak"] = round(track.rg_track_peak, 6)
    elif track.true_peak is not None:
        answer["trackPeak"] = round(10 ** (track.true_peak / 20), 6)
    if track.rg_album_peak is not None:
        answer["albumPeak"] = round(track.rg_album_peak, 6)
    return answer


def album(
    summary: AlbumSummary, starred: dict[int, datetime] | None = None, rated: dict[int, int] | None = None
) -> dict[str, Any]:
    return {
        "id": album_id(summary.id),
        "name": summary.title,
        "artist": summary.artist,
        "artistId": artist_id(summary.artist_id),
        "coverArt": album_id(summary.id),
        "songCount": summary.track_count,
        "duration": round(summary.duration or 0),
        "created": iso(summary.created) or "1970-01-01T00:00:00.000Z",
        "year": summary.year,
        "starred": iso((starred or {}).get(summary.id)),
        "userRating": (rated or {}).get(summary.id),
    }


def album_as_directory(
    summary: AlbumSummary, starred: dict[int, datetime] | None = None, rated: dict[int, int] | None = None
) -> dict[str, Any]:
    """An album as a Child directory (getAlbumList, search2: the folder-based answers)."""
    return {
        "id": album_id(summary.id),
        "parent": artist_id(summary.artist_id),
        "isDir": True,
        "title": summary.title,
        "name": summary.title,
        "album": summary.title,
        "artist": summary.artist,
        "year": summary.year,
        "coverArt": album_id(summary.id),
        "songCount": summary.track_count,
        "duration": round(summary.duration or 0),
        "created": iso(summary.created),
        "starred": iso((starred or {}).get(summary.id)),
        "userRating": (rated or {}).get(summary.id),
    }


def artist(
    summary: ArtistSummary | IndexArtist,
    starred: dict[int, datetime] | None = None,
    rated: dict[int, int] | None = None,
) -> dict[str, Any]:
    return {
        "id": artist_id(summary.id),
        "name": summary.name,
        "albumCount": summary.album_count,
        "coverArt": artist_id(summary.id),
        "starred": iso((starred or {}).get(summary.id)),
        "userRating": (rated or {}).get(summary.id),
    }


def playlist(row: Playlist, owner: str, count: int, duration: float) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "name": row.name,
        "comment": row.description or None,
        "owner": owner,
        "public": row.visibility == PlaylistVisibility.PUBLIC,
        "songCount": count,
        "duration": round(duration or 0),
        "created": iso(row.created_at),
        "changed": iso(row.updated_at),
    }


def user(account: User) -> dict[str, Any]:
    return {
        "username": account.username,
        "scrobblingEnabled": True,
        "adminRole": account.is_admin,
        "settingsRole": True,
        "downloadRole": True,
        "uploadRole": account.can_upload,
        "playlistRole": True,
        "coverArtRole": False,
        "commentRole": False,
        "podcastRole": False,
        "streamRole": True,
        "jukeboxRole": False,
        "shareRole": True,
        "videoConversionRole": False,
        "folder": [FOLDER_ID],
    }
