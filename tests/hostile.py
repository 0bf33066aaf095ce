"""Builders of hostile and unusual files, made fresh by the tests from the real samples."""

from __future__ import annotations

import struct
from pathlib import Path

from mutagen.id3 import ID3, TALB, TCON, TDRC, TIT2, TPE1, TPE2, TPOS, TRCK, TXXX

from tests.helpers import DATA


def sample(name: str) -> bytes:
    return (DATA / name).read_bytes()


def zero_bytes() -> bytes:
    return b""


def text_file() -> bytes:
    return b"These are my lyrics, not a song.\n" * 20


def html_file() -> bytes:
    return b"<!doctype html><html><body><script>alert(1)</script>Not music</body></html>\n" * 10


def truncated_flac() -> bytes:
    data = sample("tagged.flac")
    return data[:60]  # the STREAMINFO block is cut in half


def flac_without_frames() -> bytes:
    """A real STREAMINFO (claiming 3 s of audio) and a PICTURE block that claims
    more bytes than the file holds: no audio frame anywhere."""
    data = sample("tagged.flac")
    streaminfo = data[4 : 4 + 4 + 34]
    streaminfo = bytes([streaminfo[0] & 0x7F]) + streaminfo[1:]  # not the last block
    picture_header = bytes([0x80 | 6]) + (50_000).to_bytes(3, "big")  # last block, 50 kB claimed
    return b"fLaC" + streaminfo + picture_header + b"\x00" * 200


def m4a_without_media_data() -> bytes:
    """An M4A's header atoms (with their claimed duration) and no mdat atom."""
    data = sample("tagged.m4a")
    out, pos = b"", 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        if size < 8:
            break
        if data[pos + 4 : pos + 8] != b"mdat":
            out += data[pos : pos + size]
        pos += size
    return out


def id3_claiming_256mb() -> bytes:
    size = 256 * 1024 * 1024
    syncsafe = bytes([(size >> 21) & 0x7F, (size >> 14) & 0x7F, (size >> 7) & 0x7F, size & 0x7F])
    return b"ID3\x04\x00\x00" + syncsafe + b"TIT2" + b"\x00" * 200 + sample("untagged.mp3")


def _atom(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def nested_mp4(depth: int = 600) -> bytes:
    inner = _atom(b"free", b"")
    for _ in range(depth):
        inner = _atom(b"udta", inner)
    ftyp = _atom(b"ftyp", b"M4A \x00\x00\x02\x00M4A mp42isom")
    return ftyp + _atom(b"moov", inner)


def mp3_with_tags(
    path: Path,
    *,
    title: str,
    artist: str,
    album: str,
    extra: str | None = None,
    track: str | None = None,
    disc: str | None = None,
    year: str | None = None,
    genre: str | None = None,
    album_artist: str | None = None,
) -> bytes:
    """The untagged sample with an ID3v2.4 tag holding the given text."""
    path.write_bytes(sample("untagged.mp3"))
    tags = ID3()
    tags.add(TIT2(encoding=3, text=title))
    tags.add(TPE1(encoding=3, text=artist))
    tags.add(TALB(encoding=3, text=album))
    optional = {TXXX: extra, TRCK: track, TPOS: disc, TDRC: year, TCON: genre, TPE2: album_artist}
    for frame, value in optional.items():
        if value is not None:
            kwargs = {"desc": "notes"} if frame is TXXX else {}
            tags.add(frame(encoding=3, text=value, **kwargs))
    tags.save(path)
    return path.read_bytes()
