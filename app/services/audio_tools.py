"""Which ffmpeg the app runs, and what it can encode.

The one place that decides the ffmpeg executable: the `FFMPEG` setting (a
path, or a name on PATH, e.g. Debian's /usr/bin/ffmpeg) when it is set, else
the static build shipped in the `imageio-ffmpeg` wheel, so a fresh install
transcodes without any system package. Its encoders are listed once per
executable (`ffmpeg -encoders`) and remembered.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from dataclasses import dataclass

from app.services.errors import DomainError

# The encoders transcoding uses (and aac, which Apple devices like).
WANTED_ENCODERS = ("libmp3lame", "libopus", "libvorbis", "aac")


class FfmpegMissing(DomainError):
    """No ffmpeg can be run: transcoding is unavailable (FFMPEG_MISSING)."""

    code = "FFMPEG_MISSING"
    status = 503


@dataclass(frozen=True)
class FfmpegInfo:
    """The executable, where it came from ("FFMPEG" or "imageio-ffmpeg"), its version line and encoders."""

    path: str
    source: str
    version: str
    encoders: dict[str, bool]

    def has(self, encoder: str) -> bool:
        return self.encoders.get(encoder, False)


def ffmpeg_path(configured: str | None) -> tuple[str, str]:
    """(executable, source): the configured one when set, else imageio-ffmpeg's.
    Raises FfmpegMissing when neither exists."""
    if configured:
        found = shutil.which(configured)
        if found is None:
            raise FfmpegMissing(path=configured)
        return found, "FFMPEG"
    try:
        import imageio_ffmpeg  # noqa: PLC0415 - only when no FFMPEG is configured

        return imageio_ffmpeg.get_ffmpeg_exe(), "imageio-ffmpeg"
    except (ImportError, RuntimeError) as exc:
        raise FfmpegMissing(path="imageio-ffmpeg") from exc


@functools.cache
def _probe(path: str) -> tuple[str, frozenset[str]]:
    """(version line, encoder names) of an executable; asked once per path."""
    version = subprocess.run(  # noqa: S603 - our own executable, fixed arguments
        [path, "-hide_banner", "-version"], capture_output=True, text=True, timeout=20, check=False
    ).stdout.splitlines()
    listing = subprocess.run(  # noqa: S603
        [path, "-hide_banner", "-encoders"], capture_output=True, text=True, timeout=20, check=False
    ).stdout
    names = set()
    for line in listing.splitlines():
        parts = line.split()
        # " A....D libopus   libopus Opus (codec opus)": flags, then the name.
        if len(parts) >= 2 and len(parts[0]) == 6 and parts[0][0] in "VAS":
            names.add(parts[1])
    # "ffmpeg version 7.0.2-static https://... Copyright (c) ...": the version alone.
    line = version[0].split(" Copyright")[0] if version else "unknown version"
    return line, frozenset(names)


def ffmpeg_info(configured: str | None) -> FfmpegInfo:
    """The ffmpeg in use and which of WANTED_ENCODERS it has. Raises FfmpegMissing."""
    path, source = ffmpeg_path(configured)
    try:
        version, names = _probe(path)
    except (OSError, subprocess.SubprocessError) as exc:
        raise FfmpegMissing(path=path) from exc
    return FfmpegInfo(path, source, version, {name: name in names for name in WANTED_ENCODERS})
