"""Quality presets and the choice of what to send for a track.

Original sends the stored file. High is MP3 320 kbit/s CBR; Medium and Low are
Opus (128 and 64 kbit/s, in Ogg) for players that decode Opus, else MP3 (192
and 96 kbit/s). Every output is constant bitrate, so a byte offset maps to a
time and the final size is known in advance (duration x bitrate + headers):
that is what keeps a transcoded stream seekable before it is complete.

A lossy source is never transcoded upwards: a 128 kbit/s MP3 asked for at High
is sent as it is.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from app.services.errors import DomainError


class Quality(enum.StrEnum):
    ORIGINAL = "original"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class BadQuality(DomainError):
    code = "BAD_QUALITY"
    status = 400


@dataclass(frozen=True)
class Preset:
    """One output: its name (part of the cache file's name), encoder and container."""

    name: str
    codec: str  # what ffprobe calls it: mp3, opus
    encoder: str  # ffmpeg's encoder
    bitrate: int  # bits per second
    muxer: str
    ext: str
    mime_type: str
    # Bytes of container per second of audio beyond the bitrate, and before the
    # first audio byte: measured on this encoder's CBR output (Ogg pages add
    # about 0.8 %).
    overhead_per_second: float
    header_bytes: int
    sample_rate: int
    # Audio the encoder adds (MP3: LAME's delay and padding, about two frames).
    extra_seconds: float = 0.0

    @property
    def label(self) -> str:
        return f"{self.codec.upper() if self.codec == 'mp3' else 'Opus'} {self.bitrate // 1000}"

    def bytes_per_second(self) -> float:
        return self.bitrate / 8 + self.overhead_per_second

    def estimated_size(self, duration: float) -> int:
        """The size of the finished file, within a fraction of a percent for CBR."""
        return self.header_bytes + int((duration + self.extra_seconds) * self.bytes_per_second()) + 1

    def time_at(self, offset: int) -> float:
        """The time in the audio that byte `offset` of the finished file holds."""
        return max(0.0, (offset - self.header_bytes) / self.bytes_per_second())

    def ffmpeg_output(self) -> list[str]:
        """ffmpeg's output options: CBR, no tags, nothing written back at the end."""
        # -flush_packets: each page or frame reaches the file (or pipe) at once,
        # not in 32 kB batches, so the first audio byte leaves within milliseconds.
        common = ["-map", "0:a:0", "-vn", "-map_metadata", "-1", "-fflags", "+bitexact", "-flush_packets", "1"]
        common += ["-ac", "2"]
        if self.codec == "mp3":
            return [
                *common,
                "-ar", str(self.sample_rate),
                "-c:a", "libmp3lame", "-b:a", str(self.bitrate), "-compression_level", "5",
                "-write_xing", "0", "-id3v2_version", "0", "-write_id3v1", "0",
                "-f", "mp3",
            ]  # fmt: skip
        return [
            *common,
            "-c:a", "libopus", "-b:a", str(self.bitrate), "-vbr", "off", "-compression_level", "4",
            "-f", "ogg",
        ]  # fmt: skip


def _mp3(kbps: int) -> Preset:
    # MP3 frames at 44.1 kHz average exactly bitrate/8 bytes a second; no header (no ID3, no Xing).
    return Preset(f"mp3-{kbps}", "mp3", "libmp3lame", kbps * 1000, "mp3", "mp3", "audio/mpeg", 0.0, 0, 44100, 0.06)


def _opus(kbps: int) -> Preset:
    # Ogg: OpusHead and OpusTags pages first, then one page a second (27 bytes plus lacing).
    lacing = 50 * (kbps * 1000 // 8 // 50 // 255 + 1)
    return Preset(
        f"opus-{kbps}", "opus", "libopus", kbps * 1000, "ogg", "opus", "audio/ogg", 27 + lacing + 8, 130, 48000
    )


PRESETS = {p.name: p for p in (_mp3(320), _mp3(192), _mp3(96), _opus(128), _opus(64))}
# quality -> (with Opus, without Opus)
CHOICES = {
    Quality.HIGH: ("mp3-320", "mp3-320"),
    Quality.MEDIUM: ("opus-128", "mp3-192"),
    Quality.LOW: ("opus-64", "mp3-96"),
}
LOSSLESS_FORMATS = ("flac", "wav")


class Source(Protocol):
    format: str
    codec: str
    bitrate: int | None


def parse_quality(value: str | None) -> Quality:
    """A quality name from a request (None or empty: original). Raises BadQuality."""
    if not value:
        return Quality.ORIGINAL
    try:
        return Quality(value.strip().lower())
    except ValueError:
        raise BadQuality(quality=value[:20]) from None


def is_lossless(track: Source) -> bool:
    return track.format in LOSSLESS_FORMATS or track.codec.upper() == "ALAC"


def choose(track: Source, quality: Quality, *, opus: bool = True) -> Preset | None:
    """The preset to send `track` at `quality`, or None for the original file.

    None too when the source is lossy at a bitrate no higher than the preset's
    (transcoding it would only lose quality and save nothing).
    """
    if quality is Quality.ORIGINAL:
        return None
    preset = PRESETS[CHOICES[quality][0 if opus else 1]]
    if not is_lossless(track) and (track.bitrate or 0) and track.bitrate <= preset.bitrate * 1.05:
        return None
    return preset


def preset_for_bitrate(track: Source, max_kbps: int, fmt: str | None) -> Preset | None:
    """Subsonic's maxBitRate and format: the largest preset of the format (MP3
    unless "opus") at or under `max_kbps` (0: no limit), None for the original."""
    if fmt == "raw" or (not fmt and not max_kbps):
        return None
    codec = "opus" if fmt in ("opus", "ogg") else "mp3"
    fitting = sorted(
        (p for p in PRESETS.values() if p.codec == codec and (not max_kbps or p.bitrate <= max_kbps * 1000)),
        key=lambda p: p.bitrate,
    )
    if not fitting:
        fitting = [min((p for p in PRESETS.values() if p.codec == codec), key=lambda p: p.bitrate)]
    preset = fitting[-1]
    same_codec = track.format == "mp3" if codec == "mp3" else track.format in ("opus",)
    lower = not is_lossless(track) and (track.bitrate or 0) and track.bitrate <= preset.bitrate * 1.05
    if lower and (same_codec or not fmt):
        return None
    return preset
