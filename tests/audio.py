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
    """The ffmpeg executable: $FFMPEG when set, else `ffmpeg` on PATH, else the one the
    imageio-ffmpeg wheel (a runtime requirement) ships."""
    found = os.environ.get("FFMPEG") or shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        return "ffmpeg"


def synthesize(source: str, out: Path, *options: str) -> None:
    """Render an ffmpeg lavfi source (a tone, noise) with `options` into the audio file `out`.

    Raises subprocess.CalledProcessError when ffmpeg fails, FileNotFoundError when it is missing.
    """
    command = [ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", source, *options, str(out)]
    subprocess.run(command, check=True)


def integrated_loudness(path: Path) -> float:
    """The EBU R128 integrated loudness (LUFS) ffmpeg's ebur128 filter measures in `path`."""
    result = subprocess.run(
        [ffmpeg(), "-hide_banner", "-nostats", "-i", str(path), "-af", "ebur128=framelog=verbose", "-f", "null", "-"],
        check=True,
        capture_output=True,
        text=True,
    )
    summary = result.stderr.rpartition("Integrated loudness:")[2]
    return float(summary.split("I:", 1)[1].split("LUFS", 1)[0])


def tone_at_loudness(out: Path, lufs: float, *, seconds: float = 8.0, frequency: int = 997) -> None:
    """A stereo sine tone made `lufs` loud (measured, then scaled in a second pass), in the
    format `out`'s extension names."""
    raw = out.with_name(out.stem + "-raw.wav")
    synthesize(
        f"sine=frequency={frequency}:duration={seconds}:sample_rate=44100", raw, "-af", "volume=0.25", "-ac", "2"
    )
    change = lufs - integrated_loudness(raw)
    command = [ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(raw), "-af", f"volume={change}dB"]
    subprocess.run([*command, str(out)], check=True)
    raw.unlink()
