"""H.264 decoder shortcuts against the plain decode floor: `python bench/decode_options.py`.

Decodes what the analysis decodes (the bench's `decode_floor` argv) with and without each
input option, on the bench's cached media (run bench/run.py once first), and prints the
median user+system CPU seconds of ffmpeg over `--repeat` rounds and the ratio to the plain
decode. CPU time, not wall time: the machine is shared, and wall time measures the load.
Rounds interleave the variants, so a change of load falls on all of them alike.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import media  # noqa: E402

VARIANTS = {
    "plain": [],
    "skip_loop_filter": ["-skip_loop_filter:v", "all"],
    "flags2 fast": ["-flags2:v", "+fast"],
    "skip_frame noref": ["-skip_frame:v", "noref"],
    "loop + fast": ["-skip_loop_filter:v", "all", "-flags2:v", "+fast"],
    "loop + fast + noref": ["-skip_loop_filter:v", "all", "-flags2:v", "+fast",
                            "-skip_frame:v", "noref"],
}


def cpu_seconds(argv: list[str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, check=True, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def floor_argv(ffmpeg: str, source: str, options: list[str]) -> list[str]:
    return [ffmpeg, "-hide_banner", "-loglevel", "error", *options, "-i", source,
            "-map", "0:a:0", "-ac", "1", "-ar", "22050", "-f", "null", "-",
            "-map", "0:v:0", "-vf", "fps=6,scale=160:-2,format=rgb24", "-f", "null", "-"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sources", nargs="+", help="media files or playlists to decode")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    ffmpeg = media.find_ffmpeg()
    for source in args.sources:
        times: dict[str, list[float]] = {name: [] for name in VARIANTS}
        for _ in range(args.repeat):
            for name, options in VARIANTS.items():
                times[name].append(cpu_seconds(floor_argv(ffmpeg, source, options)))
        plain = statistics.median(times["plain"])
        print(f"\n{source}")
        for name, values in times.items():
            median = statistics.median(values)
            print(f"  {name:<22} {median:7.2f} s CPU  ratio {median / plain:.2f}  "
                  f"(runs {', '.join(f'{v:.2f}' for v in values)})", flush=True)


if __name__ == "__main__":
    main()
