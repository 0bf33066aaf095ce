"""Real ZIP archives for the tests and the benchmark: well-formed ones holding real
audio, and hostile ones made with zipfile and patched bytes."""

from __future__ import annotations

import io
import struct
import warnings
import zipfile
from pathlib import Path

from mutagen.id3 import ID3, TALB, TIT2, TPE1

DATA = Path(__file__).parent / "data"


def mp3_variant(title: str, *, artist: str | None = None, album: str | None = None) -> bytes:
    """The untagged test MP3 with its own tags: distinct bytes, real audio."""
    buffer = io.BytesIO((DATA / "untagged.mp3").read_bytes())
    tags = ID3()
    tags.add(TIT2(encoding=3, text=title))
    if artist:
        tags.add(TPE1(encoding=3, text=artist))
    if album:
        tags.add(TALB(encoding=3, text=album))
    tags.save(buffer)
    return buffer.getvalue()


def build(entries: list[tuple[str | zipfile.ZipInfo, bytes]], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A ZIP of (name or ZipInfo, content) pairs, in order (duplicate names allowed)."""
    out = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Duplicate name": on purpose
        with zipfile.ZipFile(out, "w", compression=method) as archive:
            for name, content in entries:
                archive.writestr(name, content)
    return out.getvalue()


def symlink(name: str, target: str) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.create_system = 3  # Unix
    info.external_attr = (0o120777 << 16) & 0xFFFF0000
    return info, target.encode()


def with_nul(data: bytes, placeholder: bytes) -> bytes:
    """The archive with a name's placeholder byte turned into NUL (local header and directory)."""
    assert len(placeholder) == 1
    return data.replace(b"evil" + placeholder, b"evil\0")


def encrypted(data: bytes, name: str) -> bytes:
    """The archive with `name`'s "encrypted" flag set, in its local header and the directory."""
    raw = bytearray(data)
    encoded = name.encode()
    for signature, flag_at, name_len_at, name_at in ((b"PK\x03\x04", 6, 26, 30), (b"PK\x01\x02", 8, 28, 46)):
        start = 0
        while (pos := raw.find(signature, start)) >= 0:
            (length,) = struct.unpack_from("<H", raw, pos + name_len_at)
            if bytes(raw[pos + name_at : pos + name_at + length]) == encoded:
                (flags,) = struct.unpack_from("<H", raw, pos + flag_at)
                struct.pack_into("<H", raw, pos + flag_at, flags | 0x1)
            start = pos + 4
    return bytes(raw)


def lying_sizes(data: bytes, name: str, declared: int) -> bytes:
    """The archive with `name`'s uncompressed size declared as `declared` (a bomb that lies)."""
    raw = bytearray(data)
    encoded = name.encode()
    for signature, size_at, name_len_at, name_at in ((b"PK\x03\x04", 22, 26, 30), (b"PK\x01\x02", 24, 28, 46)):
        start = 0
        while (pos := raw.find(signature, start)) >= 0:
            (length,) = struct.unpack_from("<H", raw, pos + name_len_at)
            if bytes(raw[pos + name_at : pos + name_at + length]) == encoded:
                struct.pack_into("<I", raw, pos + size_at, declared)
            start = pos + 4
    return bytes(raw)


def damage_entry(data: bytes, name: str) -> bytes:
    """The archive with the middle of `name`'s compressed bytes flipped (its directory intact)."""
    raw = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo(name)
    (name_len, extra_len) = struct.unpack_from("<HH", raw, info.header_offset + 26)
    start = info.header_offset + 30 + name_len + extra_len
    for i in range(start + info.compress_size // 3, start + info.compress_size // 2):
        raw[i] ^= 0x5A
    return bytes(raw)
