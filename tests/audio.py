"""Test audio rendered by ffmpeg, for the tests and the benchmarks alike.

The one place that knows which ffmpeg runs. It imports nothing from the app
or pytest, so the benchmark scripts (bench/common.py) use it as well.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path


def ffmpeg() -> str:
    """The ffmpeg executable: $FFMPEG when set, else `ffmpeg` on PATH."""
    return os.environ.get("FFMPEG") or shutil.which("ffmpeg") or "ffmpeg"


def synthesize(source: str, out: Path, *options: str) -> None:
    """Render an ffmpeg lavfi source (a tone, noise) with `options` into the audio file `out`.

    Raises subprocess.CalledProcessError when ffmpeg fails, FileNotFoundError when it is missing.
    """
    command = [ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", source, *options, str(out)]
    subprocess.run(command, check=True)
