"""Benchmark the analysis after upload: CPU seconds for loudness and waveform of a 4-minute FLAC.

    python bench/analysis_bench.py [--runs 7] [--seconds 240]

Renders a 4-minute stereo 44.1 kHz FLAC (tones over pink noise, so it compresses
like music rather than like silence), then, in each run and in the same
process: a plain ffmpeg decode to null of the file (the reference), the app's
one-pass measurement with the true peak (the default) and with the sample peak
(ANALYSIS_TRUE_PEAK=false), and the previous method for comparison: the same
graph with ebur128's own true peak (ffmpeg's CPU alone, its waveform written to
/dev/null). CPU is ffmpeg's (getrusage of children) plus this
process's own (reading the pipe and reducing it to the waveform). The budget
is under 1 s for waveform and loudness together; the machine is shared and
noisy, so the ratio to the plain decode of the same run is the steadier figure.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.services.library.analysis import WAVEFORM_RATE, measure  # noqa: E402
from tests.audio import ffmpeg as tests_ffmpeg  # noqa: E402

BUDGET = 1.0


def the_ffmpeg() -> str:
    """The one the app runs: FFMPEG when set, else the imageio-ffmpeg wheel's."""
    if os.environ.get("FFMPEG"):
        return os.environ["FFMPEG"]
    import imageio_ffmpeg  # noqa: PLC0415

    return imageio_ffmpeg.get_ffmpeg_exe()


def make_flac(out: Path, seconds: int) -> None:
    graph = (
        "[0:a][1:a][2:a]amix=inputs=3:normalize=0,volume=0.6,"
        "aformat=sample_fmts=s16:channel_layouts=stereo:sample_rates=44100[out]"
    )
    subprocess.run(
        [tests_ffmpeg(), "-hide_banner", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", f"sine=frequency=220:duration={seconds}:sample_rate=44100",
         "-f", "lavfi", "-i", f"sine=frequency=331:duration={seconds}:sample_rate=44100",
         "-f", "lavfi", "-i", f"anoisesrc=color=pink:amplitude=0.15:duration={seconds}:sample_rate=44100",
         "-filter_complex", graph, "-map", "[out]", "-c:a", "flac", str(out)],
        check=True,
    )  # fmt: skip


def cpu_of(work: Callable[[], object]) -> tuple[float, float]:
    """(CPU seconds of the children `work` waited for, CPU seconds of this process) it cost."""
    children, own = resource.getrusage(resource.RUSAGE_CHILDREN), resource.getrusage(resource.RUSAGE_SELF)
    work()
    children2, own2 = resource.getrusage(resource.RUSAGE_CHILDREN), resource.getrusage(resource.RUSAGE_SELF)
    return (
        children2.ru_utime - children.ru_utime + children2.ru_stime - children.ru_stime,
        own2.ru_utime - own.ru_utime + own2.ru_stime - own.ru_stime,
    )


def p95(values: list[float]) -> float:
    ranked = sorted(values)
    return ranked[min(len(ranked) - 1, round(0.95 * (len(ranked) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--seconds", type=int, default=240)
    args = parser.parse_args()
    ffmpeg = the_ffmpeg()
    with tempfile.TemporaryDirectory() as tmp:
        flac = Path(tmp) / "four-minutes.flac"
        make_flac(flac, args.seconds)
        size_mb = flac.stat().st_size / 1e6
        results: dict[str, list[float]] = {"decode": [], "true": [], "sample": [], "ebur128": []}
        ratios: dict[str, list[float]] = {"true": [], "sample": [], "ebur128": []}
        previous = [
            ffmpeg, "-nostdin", "-y", "-v", "error", "-threads", "1", "-i", str(flac),
            "-filter_complex",
            "[0:a:0]asplit=2[loud][wave];[loud]ebur128=framelog=verbose:peak=true[m];"
            f"[wave]aformat=channel_layouts=mono,aresample={WAVEFORM_RATE}:filter_size=4,aformat=sample_fmts=s16[s]",
            "-filter_complex_threads", "1",
            "-map", "[m]", "-f", "null", "-", "-map", "[s]", "-f", "s16le", "/dev/null",
        ]  # fmt: skip
        found = None
        for _ in range(args.runs):
            decode = sum(
                cpu_of(
                    lambda: subprocess.run(
                        [ffmpeg, "-nostdin", "-v", "error", "-threads", "1", "-i", str(flac), "-f", "null", "-"],
                        check=True,
                    )
                )
            )
            results["decode"].append(decode)
            for mode in ("true", "sample"):

                def one(mode: str = mode) -> None:
                    nonlocal found
                    found = measure(
                        flac,
                        ffmpeg=ffmpeg,
                        timeout=600,
                        claimed_duration=args.seconds,
                        sample_rate=44100,
                        true_peak=mode == "true",
                    )

                spent = sum(cpu_of(one))
                results[mode].append(spent)
                ratios[mode].append(spent / decode)
            spent = sum(cpu_of(lambda: subprocess.run(previous, check=True)))
            results["ebur128"].append(spent)
            ratios["ebur128"].append(spent / decode)
    print(f"ffmpeg: {ffmpeg}")
    print(f"file: {args.seconds} s stereo 44.1 kHz FLAC, {size_mb:.1f} MB; {args.runs} runs")
    assert found is not None
    print(f"measured: {found.loudness} LUFS, peak {found.peak} dB, {found.duration:.2f} s, "
          f"{found.waveform['length']} waveform pairs")  # fmt: skip
    print("| what | CPU p50 | CPU p95 | x plain decode (p50) | budget |\n|---|---|---|---|---|")
    print(f"| plain decode to null (reference) | {statistics.median(results['decode']):.2f} s "
          f"| {p95(results['decode']):.2f} s | 1.0 | - |")  # fmt: skip
    labels = {
        "true": "loudness + true peak + waveform (default)",
        "sample": "loudness + sample peak + waveform",
        "ebur128": "previous: ebur128's own true peak (ffmpeg only)",
    }
    for mode, label in labels.items():
        median = statistics.median(results[mode])
        verdict = "met" if p95(results[mode]) < BUDGET else "missed"
        print(f"| {label} | {median:.2f} s | {p95(results[mode]):.2f} s "
              f"| {statistics.median(ratios[mode]):.1f} | < {BUDGET:.0f} s: {verdict} |")  # fmt: skip


if __name__ == "__main__":
    main()
