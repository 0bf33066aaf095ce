"""Generate a corpus of small, realistically tagged tracks with ffmpeg and mutagen.

    python bench/corpus.py OUT_DIR --tracks 1000 [--albums 100]

Every track is a real, decodable MP3 or FLAC (a few seconds of tone) with its
own tags, so every file has different bytes; each album has its own cover.
"""

from __future__ import annotations

import argparse
import io
import random
import shutil
import tempfile
from pathlib import Path

from common import synthesize
from mutagen.flac import FLAC, Picture
from mutagen.id3 import APIC, ID3, TALB, TCON, TDRC, TIT2, TPE1, TRCK
from PIL import Image

GENRES = ["Rock", "Pop", "Jazz", "Electronic", "Folk", "Classical", "Hip-Hop", "Ambient"]


def base_files(workdir: Path, seconds: float) -> dict[str, Path]:
    tone = f"sine=frequency=440:duration={seconds}"
    files = {"mp3": workdir / "base.mp3", "flac": workdir / "base.flac"}
    synthesize(tone, files["mp3"], "-ac", "2", "-ar", "44100", "-b:a", "128k")
    synthesize(tone, files["flac"], "-ac", "2", "-ar", "44100", "-sample_fmt", "s16")
    return files


def cover(seed: int) -> bytes:
    rng = random.Random(seed)
    image = Image.new("RGB", (500, 500), tuple(rng.randrange(256) for _ in range(3)))
    for _ in range(12):
        x, y = rng.randrange(450), rng.randrange(450)
        image.paste(tuple(rng.randrange(256) for _ in range(3)), (x, y, x + 50, y + 50))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def make(out: Path, tracks: int, albums: int, flac_share: float = 0.2, seconds: float = 2.0) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(42)
    made = []
    with tempfile.TemporaryDirectory() as tmp:
        bases = base_files(Path(tmp), seconds)
        covers = [cover(i) for i in range(albums)]
        for i in range(tracks):
            album = i % albums
            kind = "flac" if rng.random() < flac_share else "mp3"
            folder = out / f"Artist {album % 37:02d}" / f"Album {album:03d}"
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{i:05d} Track {i}.{kind}"
            shutil.copyfile(bases[kind], path)
            title, artist, name = f"Track {i} of the corpus", f"Artist {album % 37:02d}", f"Album {album:03d}"
            number, year, genre = str(i // albums + 1), str(1960 + album % 60), GENRES[album % len(GENRES)]
            if kind == "mp3":
                tags = ID3()
                for frame in (
                    TIT2(encoding=3, text=title),
                    TPE1(encoding=3, text=artist),
                    TALB(encoding=3, text=name),
                    TRCK(encoding=3, text=number),
                    TDRC(encoding=3, text=year),
                    TCON(encoding=3, text=genre),
                ):
                    tags.add(frame)
                tags.add(APIC(encoding=3, mime="image/jpeg", type=3, desc="Cover", data=covers[album]))
                tags.save(path)
            else:
                audio = FLAC(path)
                audio.update(
                    {
                        "title": title,
                        "artist": artist,
                        "album": name,
                        "tracknumber": number,
                        "date": year,
                        "genre": genre,
                    }
                )
                picture = Picture()
                picture.type, picture.mime, picture.data = 3, "image/jpeg", covers[album]
                audio.add_picture(picture)
                audio.save()
            made.append(path)
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--tracks", type=int, default=1000)
    parser.add_argument("--albums", type=int, default=100)
    args = parser.parse_args()
    made = make(args.out, args.tracks, args.albums)
    print(f"{len(made)} files in {args.out}")


if __name__ == "__main__":
    main()
