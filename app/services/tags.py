"""Reading audio files: format, stream details, tags, and thumbnails of cover art.

The only code that calls mutagen (and Pillow for covers). Files come from
strangers, and mutagen can raise almost anything on a malformed file
(RecursionError, struct.error, IndexError, MemoryError ...) or spend seconds
on a hostile tag. So parsing runs in a small pool of worker processes, each
with an address-space limit and a per-file deadline; any failure, crash or
timeout becomes UnsupportedAudio, and a broken worker is replaced.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import os
import re
import resource
import select
import subprocess
import sys
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO

from app.services import receiving, track_meta
from app.services.errors import DomainError
from app.services.text import clean_tag

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TAG_MAX = 300  # models.library.TAG_MAX; not imported, so parser processes stay free of SQLAlchemy
COVER_SIZE = 320
STARTUP_TIMEOUT = 120.0
COVER_MAX_BYTES = 16 * 1024 * 1024
# The slowest disk a copy into the incoming area is given time for (on top of INGEST_TIMEOUT).
COPY_BYTES_PER_SECOND = 10 * 1024 * 1024

FORMATS = {
    # kind: (extension, mime type)
    "mp3": ("mp3", "audio/mpeg"),
    "flac": ("flac", "audio/flac"),
    "ogg": ("ogg", "audio/ogg"),
    "opus": ("opus", "audio/ogg"),
    "m4a": ("m4a", "audio/mp4"),
    "wav": ("wav", "audio/wav"),
}


class UnsupportedAudio(DomainError):
    """A file the server will not keep: NOT_AUDIO, NO_AUDIO, AUDIO_TOO_SLOW,
    AUDIO_TOO_BIG, READER_UNAVAILABLE or UNSUPPORTED_AUDIO."""

    code = "UNSUPPORTED_AUDIO"
    status = 415


# What a file without those tags is filed under (an upload's folder may say better).
UNKNOWN_ARTIST = "Unknown artist"
UNKNOWN_ALBUM = "Unknown album"


@dataclass
class AudioInfo:
    kind: str
    ext: str
    mime_type: str
    codec: str
    duration: float
    bitrate: int | None
    sample_rate: int | None
    channels: int | None
    title: str
    artist: str
    album: str
    album_artist: str | None
    track_number: int | None
    disc_number: int | None
    year: int | None
    genre: str | None
    # Whether the file carries embedded art; its thumbnail is made later by a
    # background job, with ParserPool.cover().
    has_cover: bool = False
    # The file says it is part of a compilation (ID3 TCMP, Vorbis COMPILATION, MP4 cpil).
    compilation: bool = False
    # Read when the tags hold them (services/track_meta.py has the rules): ID3 TBPM, TKEY,
    # TCOP/WCOP; Vorbis BPM, INITIALKEY, LICENSE; MP4 tmpo.
    bpm: int | None = None
    musical_key: str | None = None
    licence: str | None = None


# --- format detection from the bytes -----------------------------------------------


def sniff(head: bytes) -> str | None:  # noqa: PLR0911 - one return per format reads best
    """The audio kind the first bytes announce, or None. Never trusts a name."""
    if head.startswith(b"fLaC"):
        return "flac"
    if head.startswith(b"OggS"):
        if b"OpusHead" in head[:512]:
            return "opus"
        if b"\x01vorbis" in head[:512]:
            return "ogg"
        return None
    if head[4:8] == b"ftyp":
        return "m4a"
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "wav"
    if head.startswith(b"ID3") and len(head) >= 10:
        size = (head[6] << 21) | (head[7] << 14) | (head[8] << 7) | head[9]
        return "id3:" + str(10 + size)  # resolved by the caller: MP3, or FLAC behind an ID3 tag
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0:
        return "mp3"
    return None


def detect_kind(path: Path) -> str | None:
    with path.open("rb") as fh:
        head = fh.read(4096)
        kind = sniff(head)
        if kind and kind.startswith("id3:"):
            fh.seek(int(kind[4:]))
            return "flac" if fh.read(4) == b"fLaC" else "mp3"
    return kind


# --- parsing (runs inside a worker process) ----------------------------------------------

_NUMBER = re.compile(r"\d+")
_YEAR = re.compile(r"(?<!\d)(\d{4})(?!\d)")


def _first(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value if str(v).strip())
    return str(value)


def _number(value: Any) -> int | None:
    if isinstance(value, list | tuple) and value:
        value = value[0]
    if isinstance(value, tuple):
        value = value[0]
    match = _NUMBER.search(str(value)) if value is not None else None
    if not match:
        return None
    number = int(match.group())
    return number if 0 < number < 10000 else None


def _flag(value: Any) -> bool:
    """A yes/no tag: "1", 1, True (MP4 stores a boolean), "yes"."""
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    return str(value).strip().casefold() in {"1", "true", "yes"} if value is not None else False


def _year(value: Any) -> int | None:
    match = _YEAR.search(_first(value))
    if not match:
        return None
    year = int(match.group(1))
    return year if 1000 <= year <= 2999 else None


def _id3_tags(tags: Any) -> tuple[dict[str, Any], bytes | None]:
    def text(frame_id: str) -> str:
        frame = tags.get(frame_id)
        return _first(list(frame.text)) if frame is not None and hasattr(frame, "text") else ""

    fields = {
        "title": text("TIT2"),
        "artist": text("TPE1"),
        "album": text("TALB"),
        "album_artist": text("TPE2"),
        "track_number": _number(text("TRCK")),
        "disc_number": _number(text("TPOS")),
        "compilation": _flag(text("TCMP")),
        "year": _year(text("TDRC") or text("TYER") or text("TDOR")),
        "genre": text("TCON"),
        "bpm": track_meta.bpm_from_tag(text("TBPM")),
        "musical_key": track_meta.key_from_tag(text("TKEY")),
        "licence": track_meta.licence_from_tag(
            *(frame.url for frame in tags.getall("WCOP")[:2] if hasattr(frame, "url")), text("TCOP")
        ),
    }
    pictures = tags.getall("APIC")
    pictures.sort(key=lambda p: p.type != 3)  # the front cover first
    return fields, (pictures[0].data if pictures else None)


def _vorbis_tags(tags: Any, pictures: list[Any]) -> tuple[dict[str, Any], bytes | None]:
    def text(key: str) -> str:
        return _first(tags.get(key)) if tags is not None else ""

    fields = {
        "title": text("title"),
        "artist": text("artist"),
        "album": text("album"),
        "album_artist": text("albumartist") or text("album artist"),
        "track_number": _number(text("tracknumber")),
        "disc_number": _number(text("discnumber")),
        "compilation": _flag(text("compilation")),
        "year": _year(text("date") or text("year")),
        "genre": text("genre"),
        "bpm": track_meta.bpm_from_tag(text("bpm")),
        "musical_key": track_meta.key_from_tag(text("initialkey") or text("key")),
        "licence": track_meta.licence_from_tag(text("license"), text("copyright")),
    }
    if not pictures and tags is not None:
        from mutagen.flac import Picture  # noqa: PLC0415 - worker-only import

        for encoded in tags.get("metadata_block_picture", [])[:4]:
            with contextlib.suppress(Exception):
                pictures.append(Picture(base64.b64decode(encoded)))
    pictures = sorted(pictures, key=lambda p: p.type != 3)
    return fields, (pictures[0].data if pictures else None)


def _mp4_tags(tags: Any) -> tuple[dict[str, Any], bytes | None]:
    def text(key: str) -> str:
        return _first(tags.get(key)) if tags is not None else ""

    def pair(key: str) -> int | None:
        value = tags.get(key) if tags is not None else None
        return _number(value[0][0]) if value and value[0] else None

    fields = {
        "title": text("\xa9nam"),
        "artist": text("\xa9ART"),
        "album": text("\xa9alb"),
        "album_artist": text("aART"),
        "track_number": pair("trkn"),
        "disc_number": pair("disk"),
        "compilation": _flag(tags.get("cpil") if tags is not None else None),
        "year": _year(text("\xa9day")),
        "genre": text("\xa9gen"),
        "bpm": track_meta.bpm_from_tag(tags.get("tmpo") if tags is not None else None),
    }
    covers = tags.get("covr") if tags is not None else None
    return fields, (bytes(covers[0]) if covers else None)


def _open(path: str, kind: str) -> tuple[Any, dict[str, Any], bytes | None, str]:
    from mutagen.flac import FLAC  # noqa: PLC0415 - imported in the worker only
    from mutagen.mp3 import MP3  # noqa: PLC0415
    from mutagen.mp4 import MP4  # noqa: PLC0415
    from mutagen.oggopus import OggOpus  # noqa: PLC0415
    from mutagen.oggvorbis import OggVorbis  # noqa: PLC0415
    from mutagen.wave import WAVE  # noqa: PLC0415

    if kind == "mp3":
        audio = MP3(path)
        fields, cover = _id3_tags(audio.tags) if audio.tags is not None else ({}, None)
        return audio, fields, cover, "MP3"
    if kind == "flac":
        audio = FLAC(path)
        fields, cover = _vorbis_tags(audio.tags, list(audio.pictures))
        return audio, fields, cover, "FLAC"
    if kind == "ogg":
        audio = OggVorbis(path)
        fields, cover = _vorbis_tags(audio.tags, [])
        return audio, fields, cover, "Vorbis"
    if kind == "opus":
        audio = OggOpus(path)
        fields, cover = _vorbis_tags(audio.tags, [])
        return audio, fields, cover, "Opus"
    if kind == "m4a":
        audio = MP4(path)
        codec = str(getattr(audio.info, "codec", "") or "")
        if not (codec.startswith("mp4a") or codec == "alac"):
            raise UnsupportedAudio("NOT_AUDIO")
        fields, cover = _mp4_tags(audio.tags)
        return audio, fields, cover, "ALAC" if codec == "alac" else "AAC"
    if kind == "wav":
        audio = WAVE(path)
        fields, cover = _id3_tags(audio.tags) if audio.tags is not None else ({}, None)
        return audio, fields, cover, "PCM"
    raise UnsupportedAudio("NOT_AUDIO")


_cover_cache: OrderedDict[str, bytes | None] = OrderedDict()


def _thumbnail(data: bytes | None) -> tuple[str | None, bytes | None]:
    """A square-bounded JPEG thumbnail of embedded art, cached by the art's hash."""
    if not data or len(data) > COVER_MAX_BYTES:
        return None, None
    digest = hashlib.sha256(data).hexdigest()
    if digest in _cover_cache:
        _cover_cache.move_to_end(digest)
        thumb = _cover_cache[digest]
        return (digest, thumb) if thumb else (None, None)
    thumb: bytes | None = None
    try:
        from PIL import Image  # noqa: PLC0415 - worker-only import

        Image.MAX_IMAGE_PIXELS = 40_000_000  # larger pictures are refused as bombs
        with Image.open(io.BytesIO(data)) as image:
            image.draft("RGB", (COVER_SIZE * 2, COVER_SIZE * 2))
            rgb = image.convert("RGB")
            rgb.thumbnail((COVER_SIZE, COVER_SIZE))
            out = io.BytesIO()
            rgb.save(out, "JPEG", quality=85, optimize=True)
            thumb = out.getvalue()
    except Exception:  # noqa: BLE001 - a broken picture only costs the cover, never the track
        thumb = None
    _cover_cache[digest] = thumb
    if len(_cover_cache) > 64:
        _cover_cache.popitem(last=False)
    return (digest, thumb) if thumb else (None, None)


def title_from_filename(filename: str) -> str:
    """A readable title from an uploaded name: its last path part, without the extension."""
    base = re.split(r"[/\\]", filename or "")[-1]
    stem, dot, ext = base.rpartition(".")
    if dot and stem and len(ext) <= 5:
        base = stem
    return clean_tag(base.replace("_", " "), TAG_MAX) or "Untitled"


def _has_audio_data(path: Path, kind: str) -> bool:
    """Whether audio follows the headers. A duration comes from a header, which
    can claim anything: a FLAC needs a frame after its last metadata block, an
    M4A a media data atom. (MP3 and Ogg durations are measured from frames and
    pages by mutagen; a WAV's from its data chunk.)"""
    with path.open("rb") as fh:
        if kind == "flac":
            return _flac_frame_follows(fh)
        if kind == "m4a":
            return _top_level_atom_with_data(fh, b"mdat")
    return True


def _flac_frame_follows(fh: BinaryIO) -> bool:
    fh.seek(0)
    if fh.read(4) != b"fLaC":
        # Behind an ID3 tag: mutagen found the stream; find its marker.
        head = fh.read(1024 * 1024)
        start = head.find(b"fLaC")
        if start < 0:
            return False
        fh.seek(4 + start + 4)
    while True:
        header = fh.read(4)
        if len(header) < 4:
            return False
        fh.seek(int.from_bytes(header[1:4], "big"), 1)
        if header[0] & 0x80:  # the last metadata block
            break
    sync = fh.read(2)
    # A FLAC frame starts with the 14-bit sync code 0b11111111111110.
    return len(sync) == 2 and sync[0] == 0xFF and (sync[1] & 0xFE) == 0xF8


def _top_level_atom_with_data(fh: BinaryIO, kind: bytes) -> bool:
    fh.seek(0, 2)
    end = fh.tell()
    pos = 0
    while pos + 8 <= end:
        fh.seek(pos)
        header = fh.read(16)
        size = int.from_bytes(header[:4], "big")
        header_size = 8
        if size == 1 and len(header) >= 16:  # a 64-bit size follows
            size, header_size = int.from_bytes(header[8:16], "big"), 16
        elif size == 0:  # to the end of the file
            size = end - pos
        if size < header_size:
            return False
        if header[4:8] == kind:
            return size > header_size and pos + header_size < end
        pos += size
    return False


def parse_here(path: str, original_name: str) -> AudioInfo:
    """Parse in the calling process. Raises UnsupportedAudio or anything mutagen raises."""
    kind = detect_kind(Path(path))
    if kind is None:
        raise UnsupportedAudio("NOT_AUDIO")
    audio, fields, cover, codec = _open(path, kind)
    info = audio.info
    duration = float(getattr(info, "length", 0) or 0)
    if not duration > 0 or duration > 100 * 3600 or not _has_audio_data(Path(path), kind):
        raise UnsupportedAudio("NO_AUDIO")
    ext, mime = FORMATS[kind]

    def tag(name: str) -> str:
        return clean_tag(fields.get(name), TAG_MAX)

    def positive(value: Any) -> int | None:
        return int(value) if isinstance(value, int | float) and value > 0 else None

    return AudioInfo(
        kind=kind,
        ext=ext,
        mime_type=mime,
        codec=codec,
        duration=round(duration, 3),
        bitrate=positive(getattr(info, "bitrate", None)),
        # Opus always decodes at 48 kHz; its header keeps only the input's rate.
        sample_rate=48000 if kind == "opus" else positive(getattr(info, "sample_rate", None)),
        channels=positive(getattr(info, "channels", None)),
        title=tag("title") or title_from_filename(original_name),
        artist=tag("artist") or UNKNOWN_ARTIST,
        album=tag("album") or UNKNOWN_ALBUM,
        album_artist=tag("album_artist") or None,
        track_number=fields.get("track_number"),
        disc_number=fields.get("disc_number"),
        year=fields.get("year"),
        genre=tag("genre") or None,
        has_cover=bool(cover) and len(cover) <= COVER_MAX_BYTES,
        compilation=bool(fields.get("compilation")),
        bpm=fields.get("bpm"),
        musical_key=fields.get("musical_key"),
        licence=fields.get("licence"),
    )


@dataclass(frozen=True)
class Cover:
    """A thumbnail of a file's embedded art, named by the art's sha256."""

    digest: str
    jpeg: bytes


def cover_here(path: str) -> Cover | None:
    """The thumbnail of the file's embedded art, in the calling process; None when it has
    no art, or art that is no picture. Raises UnsupportedAudio or anything mutagen raises."""
    kind = detect_kind(Path(path))
    if kind is None:
        raise UnsupportedAudio("NOT_AUDIO")
    _, _, art, _ = _open(path, kind)
    digest, thumb = _thumbnail(art)
    return Cover(digest, thumb) if digest and thumb else None


# --- uploaded artwork -----------------------------------------------------------------------

ARTWORK_FORMATS = ("JPEG", "PNG", "WEBP")
# Larger pictures are refused before they are decoded (a small file can claim
# 20,000 x 20,000 pixels and take gigabytes to decode): 36 megapixels, 6000 x 6000.
ARTWORK_MAX_PIXELS = 36_000_000


class ArtworkRejected(DomainError):
    """An uploaded picture the server will not use: ARTWORK_INVALID (not a whole
    JPEG, PNG or WebP picture), ARTWORK_TOO_LARGE (more than `limit_bytes`) or
    ARTWORK_TOO_MANY_PIXELS (more than `limit_megapixels`)."""

    code = "ARTWORK_INVALID"
    status = 415


class ArtworkTooLarge(ArtworkRejected):
    """ARTWORK_TOO_LARGE (bytes) or ARTWORK_TOO_MANY_PIXELS."""

    code = "ARTWORK_TOO_LARGE"
    status = 413


def artwork_here(path: str) -> Cover | str:
    """The thumbnail of an uploaded picture, in the calling process, or the code of why
    it is refused (ARTWORK_INVALID, ARTWORK_TOO_MANY_PIXELS). Decoding it whole is
    the check: a truncated or damaged picture fails here, not in a browser."""
    from PIL import Image, ImageOps  # noqa: PLC0415 - worker-only import

    data = Path(path).read_bytes()
    try:
        with Image.open(io.BytesIO(data), formats=ARTWORK_FORMATS) as image:
            width, height = image.size
            if width * height > ARTWORK_MAX_PIXELS or width < 1 or height < 1:
                return "ARTWORK_TOO_MANY_PIXELS"
            image.load()
            # A phone's photo is stored sideways with an orientation tag: shown upright.
            rgb = ImageOps.exif_transpose(image).convert("RGB")
    except Image.DecompressionBombError:
        return "ARTWORK_TOO_MANY_PIXELS"
    except Exception:  # noqa: BLE001 - a hostile picture may raise anything at all
        return "ARTWORK_INVALID"
    rgb.thumbnail((COVER_SIZE, COVER_SIZE))
    out = io.BytesIO()
    rgb.save(out, "JPEG", quality=85, optimize=True)
    return Cover(hashlib.sha256(data).hexdigest(), out.getvalue())


# --- embedded lyrics ------------------------------------------------------------------------

MAX_LYRICS = 8  # lyric sets read from one file
MAX_LYRICS_CHARS = 100_000  # of one set's text
MAX_LYRIC_LINES = 5000
_LINE_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_LRC_STAMP = re.compile(r"\[(\d{1,3}):(\d{1,2})(?:[.:](\d{1,3}))?\]")
_LRC_META = re.compile(r"^\[[a-z]+:[^\]]*\]$", re.IGNORECASE)
_LANG = re.compile(r"^[a-z]{2,3}$")


@dataclass
class Lyrics:
    """One set of a file's lyrics: its language (ISO 639, "und" when unknown), whether its
    lines carry start times, and its lines as [start in ms or None, text]."""

    lang: str
    synced: bool
    lines: list[list[Any]]


def _lang(value: Any) -> str:
    text = str(value or "").strip().lower()
    return text if _LANG.match(text) and text != "xxx" else "und"


def _clean_lines(text: str) -> list[str]:
    text = unicodedata.normalize("NFC", text[:MAX_LYRICS_CHARS]).replace("\r\n", "\n").replace("\r", "\n")
    text = _LINE_CONTROLS.sub(" ", text)
    lines = [line.strip() for line in text.split("\n")][:MAX_LYRIC_LINES]
    while lines and not lines[-1]:
        lines.pop()
    while lines and not lines[0]:
        lines.pop(0)
    return lines


def _from_text(value: Any, lang: Any = None) -> Lyrics | None:
    """Lyrics from a tag's text: synced when every line is LRC ("[01:02.50]words")."""
    lines = _clean_lines(_first(value) if isinstance(value, list | tuple) else str(value or ""))
    if not any(lines):
        return None
    timed: list[list[Any]] = []
    for line in lines:
        stamps, rest = [], line
        while match := _LRC_STAMP.match(rest):
            fraction = (match.group(3) or "0").ljust(3, "0")
            stamps.append((int(match.group(1)) * 60 + int(match.group(2))) * 1000 + int(fraction))
            rest = rest[match.end() :]
        if stamps:
            timed += [[stamp, rest.strip()] for stamp in stamps]
        elif line and not _LRC_META.match(line):
            return Lyrics(_lang(lang), False, [[None, line] for line in lines])
    if not timed:
        return Lyrics(_lang(lang), False, [[None, line] for line in lines])
    return Lyrics(_lang(lang), True, sorted(timed, key=lambda pair: pair[0])[:MAX_LYRIC_LINES])


def _id3_lyrics(tags: Any) -> list[Lyrics]:
    found: list[Lyrics] = []
    for frame in tags.getall("SYLT")[:MAX_LYRICS]:
        if getattr(frame, "format", None) != 2:  # 2: milliseconds (1 counts MPEG frames)
            continue
        lines, room = [], MAX_LYRICS_CHARS
        for text, start in list(frame.text)[:MAX_LYRIC_LINES]:
            line = " ".join(_clean_lines(str(text)[:room]))
            room -= len(line)
            lines.append([int(start), line])
            if room <= 0:
                break
        if any(text for _start, text in lines):
            found.append(Lyrics(_lang(frame.lang), True, sorted(lines, key=lambda pair: pair[0])))
    for frame in tags.getall("USLT")[:MAX_LYRICS]:
        lyrics = _from_text(str(frame.text), frame.lang)
        if lyrics is not None:
            found.append(lyrics)
    return found


def lyrics_here(path: str) -> list[Lyrics]:
    """The lyrics embedded in a file (ID3 SYLT and USLT, Vorbis LYRICS and
    UNSYNCEDLYRICS, MP4 ©lyr), synced sets first, in the calling process.
    Raises UnsupportedAudio or anything mutagen raises."""
    kind = detect_kind(Path(path))
    if kind is None:
        raise UnsupportedAudio("NOT_AUDIO")
    audio, _fields, _cover, _codec = _open(path, kind)
    tags = audio.tags
    if tags is None:
        return []
    if kind in ("mp3", "wav"):
        found = _id3_lyrics(tags)
    elif kind == "m4a":
        found = [_from_text(value) for value in (tags.get("\xa9lyr") or [])[:MAX_LYRICS]]
    else:
        values = [*(tags.get("lyrics") or []), *(tags.get("unsyncedlyrics") or [])][:MAX_LYRICS]
        found = [_from_text(value) for value in values]
    kept = [lyrics for lyrics in found if lyrics is not None][:MAX_LYRICS]
    return sorted(kept, key=lambda lyrics: not lyrics.synced)


@dataclass(frozen=True)
class ReplayGain:
    """ReplayGain values a file's tags carry: gains in dB, peaks as linear sample values."""

    track_gain: float | None = None
    track_peak: float | None = None
    album_gain: float | None = None
    album_peak: float | None = None


_GAIN_NUMBER = re.compile(r"[-+]?\d+(?:[.,]\d+)?")
_GAIN_KEYS = ("track_gain", "track_peak", "album_gain", "album_peak")


def _gain_value(raw: Any, low: float, high: float) -> float | None:
    """The number in a tag's text ("-6.48 dB", "0.988525"), or None when absent or absurd."""
    if isinstance(raw, list | tuple):
        raw = raw[0] if raw else None
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    match = _GAIN_NUMBER.search(str(raw)) if raw is not None else None
    if match is None:
        return None
    value = float(match.group().replace(",", "."))
    return value if low <= value <= high else None


def _replaygain_of(texts: Mapping[str, Any]) -> ReplayGain:
    """From tags by lower-case name (replaygain_track_gain ...; r128_track_gain in Opus)."""
    found: dict[str, float | None] = {}
    for key in _GAIN_KEYS:
        raw = texts.get("replaygain_" + key)
        found[key] = _gain_value(raw, 0.0, 10.0) if key.endswith("peak") else _gain_value(raw, -60.0, 60.0)
    for key in ("track_gain", "album_gain"):
        # Opus (RFC 7845): Q7.8 steps against -23 LUFS; ReplayGain's reference is 5 dB louder.
        r128 = _gain_value(texts.get("r128_" + key), -32768, 32767)
        if found[key] is None and r128 is not None:
            found[key] = round(r128 / 256 + 5.0, 2)
    return ReplayGain(**found)


def replaygain_here(path: str) -> ReplayGain:
    """The ReplayGain tags of a file (ID3 TXXX, Vorbis comments, MP4 freeform atoms), in
    the calling process. Raises UnsupportedAudio or anything mutagen raises."""
    kind = detect_kind(Path(path))
    if kind is None:
        raise UnsupportedAudio("NOT_AUDIO")
    audio, _, _, _ = _open(path, kind)
    tags = audio.tags
    texts: dict[str, Any] = {}
    if tags is None:
        return ReplayGain()
    if kind in ("mp3", "wav"):
        for frame in tags.getall("TXXX"):
            texts[str(frame.desc).lower()] = list(frame.text)
    elif kind == "m4a":
        prefix = "----:com.apple.itunes:"
        for key, value in tags.items():
            if key.lower().startswith(prefix):
                texts[key[len(prefix) :].lower()] = [bytes(v) for v in value]
    else:
        for key, value in tags.items():
            texts[key.lower()] = value
    return _replaygain_of(texts)


def _picture_answer(op: str, path: str) -> list[str] | str | None:
    """A worker's answer to "cover" or "artwork": [digest, base64 JPEG], None (no
    embedded art) or an uploaded picture's refusal code."""
    found = cover_here(path) if op == "cover" else artwork_here(path)
    if found is None or isinstance(found, str):
        return found
    return [found.digest, base64.b64encode(found.jpeg).decode("ascii")]


def worker_main(memory_bytes: int) -> None:
    """A parser process: reads one JSON request a line on stdin, answers one JSON line on stdout.

    Request {"path", "name"} (parse), {"op": "cover", "path"} (thumbnail the embedded
    art), {"op": "artwork", "path"} (check and thumbnail an uploaded picture: [digest,
    base64 JPEG] or the refusal's code) or {"op": "lyrics", "path"}; answer {"status": "ok"|"error"|"fatal", "payload"}:
    the parsed AudioInfo, or [digest, base64 JPEG] or null, or a list of Lyrics, or an
    UnsupportedAudio error code.

    art) or {"op": "replaygain", "path"}; answer {"status": "ok"|"error"|"fatal", "payload"}: the parsed AudioInfo, or
    [digest, base64 JPEG] or null, or an UnsupportedAudio error code.
    """
    protocol_out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    sys.stdout = sys.stderr  # nothing but answers may reach the protocol stream
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # Load the parsers now, so the first file's deadline measures only the file.
    import mutagen.flac, mutagen.mp3, mutagen.mp4, mutagen.oggopus, mutagen.oggvorbis, mutagen.wave  # noqa: E401, F401, I001, PLC0415
    import PIL.Image, PIL.JpegImagePlugin, PIL.PngImagePlugin, PIL.WebPImagePlugin  # noqa: E401, F401, PLC0415

    protocol_out.write(json.dumps({"status": "ready"}) + "\n")
    protocol_out.flush()
    for line in sys.stdin:
        status, payload = "error", UnsupportedAudio.code
        request = None
        try:
            request = json.loads(line)
            if request.get("op") in ("cover", "artwork"):
                payload = _picture_answer(request["op"], request["path"])
            elif request.get("op") == "lyrics":
                payload = [asdict(lyrics) for lyrics in lyrics_here(request["path"])]

            elif request.get("op") == "replaygain":
                payload = asdict(replaygain_here(request["path"]))
            elif request.get("op") == "copy":
                payload = asdict(receiving.copy_file(request["source"], request["target"], request["max_bytes"]))
            elif request.get("op") == "unpack":
                filled = receiving.unpack_entry(
                    request["archive"], request["index"], request["size"], request["target"], request["max_bytes"]
                )
                payload = asdict(filled)
            else:
                payload = asdict(parse_here(request["path"], request["name"]))
            status = "ok"
        except UnsupportedAudio as exc:
            payload = exc.code
        except MemoryError:
            status, payload = "fatal", "AUDIO_TOO_BIG"
        except BaseException:  # noqa: BLE001, S110 - hostile input may raise anything at all
            pass
        if not isinstance(request, dict) or request.get("op") != "unpack":
            # An import's archive stays open for its entries only (its space is freed at the
            # worker's next other request, or when the idle worker stops).
            receiving.close_archives()
        protocol_out.write(json.dumps({"status": status, "payload": payload}) + "\n")
        protocol_out.flush()
        if status == "fatal":
            return


# --- the pool (runs in the web or CLI process) ------------------------------------------------


class _Worker:
    """One parser subprocess (a fresh interpreter: no forked locks, no shared state)."""

    def __init__(self, memory_bytes: int) -> None:
        self.idle_since = time.monotonic()
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "app.services.tags_worker", str(memory_bytes)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=str(PROJECT_ROOT),
            text=True,
            encoding="utf-8",
        )
        # Starting an interpreter is slow on a loaded machine; it does not
        # count against a file's deadline.
        try:
            status, _ = self._answer(STARTUP_TIMEOUT)
        except (TimeoutError, EOFError, ValueError):
            self.stop()
            raise
        if status != "ready":
            self.stop()
            raise EOFError

    def _answer(self, timeout: float) -> tuple[str, Any]:
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            raise TimeoutError
        line = self.process.stdout.readline()
        if not line:
            raise EOFError
        answer = json.loads(line)
        return answer["status"], answer.get("payload")

    def ask(self, request: dict[str, Any], timeout: float) -> tuple[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return self._answer(timeout)

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.process.kill()
            self.process.wait(timeout=2)
        for stream in (self.process.stdin, self.process.stdout):
            with contextlib.suppress(Exception):
                stream.close()


class ParserPool:
    """Up to `size` parser processes, started on demand, replaced when they fail,
    and stopped after `idle_seconds` without a file (0: kept until the process ends).

    Safe to share between threads. The most recently used process is handed
    out first, so under light load the others go idle and are stopped: a
    server at rest holds no parser at all. A reaper thread does the stopping;
    it runs only while the pool has processes.
    """

    def __init__(self, size: int = 2, timeout: float = 10.0, memory_mb: int = 1024, idle_seconds: float = 60.0) -> None:
        self.size = max(1, size)
        self.timeout = timeout
        self.memory_bytes = memory_mb * 1024 * 1024
        self.idle_seconds = idle_seconds
        self._idle: list[_Worker] = []  # a stack: the last one checked in is reused first
        self._started = 0  # processes running or starting, idle or busy
        self._lock = threading.Lock()
        self._available = threading.Condition(self._lock)
        self._reaper: threading.Thread | None = None
        self._wake_reaper = threading.Event()

    def parse(self, path: Path, original_name: str) -> AudioInfo:
        """Raises UnsupportedAudio with a reason fit to show the user."""
        return AudioInfo(**self._ask({"path": str(path), "name": original_name}))

    def cover(self, path: Path) -> Cover | None:
        """The thumbnail of a file's embedded art (None: no usable art), made in a worker.
        Raises UnsupportedAudio as parse() does."""
        payload = self._ask({"op": "cover", "path": str(path)})
        return None if payload is None else Cover(payload[0], base64.b64decode(payload[1]))

    def artwork(self, path: Path) -> Cover:
        """The thumbnail of an uploaded picture, checked and made in a worker. Raises
        ArtworkRejected for anything but a whole JPEG, PNG or WebP picture of at most
        ARTWORK_MAX_PIXELS, or UnsupportedAudio when no worker could do it."""
        payload = self._ask({"op": "artwork", "path": str(path)})
        if payload == "ARTWORK_TOO_MANY_PIXELS":
            raise ArtworkTooLarge(payload, limit_megapixels=ARTWORK_MAX_PIXELS // 1_000_000)
        if isinstance(payload, str):
            raise ArtworkRejected(payload)
        return Cover(payload[0], base64.b64decode(payload[1]))

    def lyrics(self, path: Path) -> list[Lyrics]:
        """The lyrics embedded in a file, read in a worker. Raises UnsupportedAudio as parse() does."""
        return [Lyrics(**found) for found in self._ask({"op": "lyrics", "path": str(path)})]

    def replaygain(self, path: Path) -> ReplayGain:
        """The file's ReplayGain tags, read in a worker. Raises UnsupportedAudio as parse() does."""
        return ReplayGain(**self._ask({"op": "replaygain", "path": str(path)}))

    def copy(self, source: Path, target: str, max_bytes: int) -> receiving.Filled:
        """Copy a file on the server into the (empty) temporary file `target` and hash it,
        in a worker (services/receiving.py). Raises UnsupportedAudio as parse() does."""
        size = min(source.stat().st_size, max_bytes) if source.exists() else 0
        request = {"op": "copy", "source": str(source), "target": target, "max_bytes": max_bytes}
        return receiving.Filled(**self._ask(request, self._copy_timeout(size)))

    def unpack(self, archive: Path, index: int, size: int, target: str, max_bytes: int) -> receiving.Filled:
        """Unpack entry `index` (of `size` bytes) of a ZIP archive into the temporary file
        `target` and hash it, in a worker: a hostile archive is read in the sandbox, as
        a hostile tag is. Raises UnsupportedAudio as parse() does."""
        request = {
            "op": "unpack",
            "archive": str(archive),
            "index": index,
            "size": size,
            "target": target,
            "max_bytes": max_bytes,
        }
        return receiving.Filled(**self._ask(request, self._copy_timeout(min(size, max_bytes))))

    def _copy_timeout(self, size: int) -> float:
        # The parsing deadline, and time to move the bytes at a slow disk's pace.
        return self.timeout + size / COPY_BYTES_PER_SECOND

    def _ask(self, request: dict[str, Any], timeout: float | None = None) -> Any:
        try:
            worker = self._checkout()
        except (TimeoutError, EOFError, OSError, ValueError):
            raise UnsupportedAudio("READER_UNAVAILABLE") from None
        healthy = False
        try:
            status, payload = worker.ask(request, timeout or self.timeout)
            healthy = status != "fatal"
        except TimeoutError:
            raise UnsupportedAudio("AUDIO_TOO_SLOW") from None
        except (EOFError, OSError, ValueError):
            raise UnsupportedAudio() from None
        finally:
            self._checkin(worker, healthy)
        if status != "ok":
            raise UnsupportedAudio(payload)
        return payload

    def warm(self) -> None:
        """Start every worker now, in parallel, rather than on first use."""
        with ThreadPoolExecutor(max_workers=self.size) as starter:
            starting = [starter.submit(self._checkout) for _ in range(self.size)]
        # Checked in once all have started (else a later checkout would take an
        # earlier one), and each one that did start, even if another failed.
        failed = [f.exception() for f in starting if f.exception() is not None]
        for started in starting:
            if started.exception() is None:
                self._checkin(started.result(), healthy=True)
        if failed:
            raise failed[0]

    @property
    def processes(self) -> int:
        """Parser processes running (idle or busy) or starting."""
        with self._lock:
            return self._started

    def close(self) -> None:
        """Stop the idle processes now; busy ones stop when they go idle."""
        with self._lock:
            idle, self._idle = self._idle, []
            self._started -= len(idle)
            self._available.notify_all()
        for worker in idle:
            worker.stop()
        self._wake_reaper.set()

    def _checkout(self) -> _Worker:
        with self._lock:
            while not self._idle and self._started >= self.size:
                self._available.wait()
            if self._idle:
                return self._idle.pop()
            self._started += 1
            self._start_reaper()
        # Started outside the lock: an interpreter takes a while to start, and
        # the others may hand out idle processes or start more meanwhile.
        try:
            return _Worker(self.memory_bytes)
        except BaseException:
            with self._lock:
                self._started -= 1
                self._available.notify()
            raise

    def _checkin(self, worker: _Worker, healthy: bool) -> None:
        if healthy:
            worker.idle_since = time.monotonic()
            with self._lock:
                self._idle.append(worker)
                self._available.notify()
            return
        worker.stop()
        with self._lock:
            self._started -= 1
            self._available.notify()

    def _start_reaper(self) -> None:
        """Called with the lock held, whenever a process is started."""
        if self.idle_seconds > 0 and self._reaper is None:
            self._reaper = threading.Thread(target=self._reap, name="parser-pool-reaper", daemon=True)
            self._reaper.start()

    def _reap(self) -> None:
        """Stop the processes idle for idle_seconds; return once the pool has none."""
        while True:
            self._wake_reaper.clear()
            with self._lock:
                now = time.monotonic()
                expired = [w for w in self._idle if now - w.idle_since >= self.idle_seconds]
                self._idle = [w for w in self._idle if w not in expired]
                self._started -= len(expired)
                self._available.notify_all()  # room to start one, should anybody wait
                done = self._started == 0
                if done:
                    self._reaper = None  # the next process started starts a new reaper
                # A busy process goes idle no earlier than now, so it expires no
                # earlier than a full idle period from now.
                wait = min((w.idle_since + self.idle_seconds - now for w in self._idle), default=self.idle_seconds)
            for worker in expired:
                worker.stop()
            if done:
                return
            self._wake_reaper.wait(max(wait, 0.01))


_pool: ParserPool | None = None
_pool_lock = threading.Lock()


def get_pool(size: int, timeout: float, memory_mb: int, idle_seconds: float = 60.0) -> ParserPool:
    """The process's parser pool, created on first use with these settings."""
    global _pool  # noqa: PLW0603 - one pool per process, created on first use
    with _pool_lock:
        if _pool is None:
            _pool = ParserPool(size, timeout, memory_mb, idle_seconds)
        return _pool


def pool_for(config: Mapping[str, Any]) -> ParserPool:
    """The process's parser pool with the app's INGEST_* settings (uploads, imports and jobs alike)."""
    return get_pool(
        config["INGEST_WORKERS"], config["INGEST_TIMEOUT"], config["INGEST_MEMORY_MB"], config["INGEST_IDLE_SECONDS"]
    )


def _forget_pool_after_fork() -> None:
    """A forked child (a gunicorn worker) starts without a pool: the parent's
    processes, pipes and reaper thread are not its own, and a lock some other
    thread held at the fork would never be released."""
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_pool_after_fork)
