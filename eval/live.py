"""Live mode against planted ground truth: `python eval/live.py [--minutes 10] [--speed 2]`.

For each seed, a broadcast with planted moments (audio-only, video-only, both; 8-20 s) and
decoys (steady loud music, a static "be right back" card, a single scene cut) is generated
(cached in eval/cache/), cut into two renditions with 2 s segments and played on loopback
faster than real time through a fake live Kick channel whose playback tokens expire every
2 broadcast minutes (tests/live_server.py, tests/kick_server.py). `main.py
https://kick.com/<channel>` runs in a subprocess (a fresh models folder: heuristic only) and
is left to end by itself when the channel goes offline. Measured: for every moment after the
first minute (the warm-up), whether a clip covers it and its latency - broadcast seconds from
the moment's end to its clip file appearing, on the broadcast's own clock; decoys clipped;
peak RSS of the whole process tree (Python and every ffmpeg); the exit code. Seed 0 is the
one the thresholds were looked at on; seed 11 is held out (see SEEDS). Appends to
eval/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE.parent / "bench"))

from procmem import run_measured  # noqa: E402

import demo_media  # noqa: E402
import media  # noqa: E402
from kick_server import LIVE_SLUG, KickServer  # noqa: E402
from live_server import LiveBroadcast, prepare_renditions  # noqa: E402

EVENT_KINDS = ("audio", "video", "both")
DECOY_KINDS = ("music", "brb", "cut")
WARMUP_S = 60.0
LATENCY_BUDGET_S = 45.0
# Seed 7 was held out until its one miss (two moments 26 s apart: the second was dropped by the
# min gap) changed how a close clip is placed; seed 11 is held out since.
SEEDS = {0: "tuning", 7: "looked at once", 11: "held out"}


def plan(minutes: float, seed: int) -> list[demo_media.PlantedEvent]:
    """Two moments of each kind and one decoy of each kind, in random order after the warm-up,
    at least 25 s of calm stream around each."""
    rng = np.random.default_rng(seed)
    kinds = [*EVENT_KINDS, *EVENT_KINDS, *DECOY_KINDS]
    rng.shuffle(kinds)
    lengths = [rng.uniform(30, 50) if k in ("music", "brb") else 1.0 if k == "cut"
               else rng.uniform(8, 20) for k in kinds]
    return demo_media.place(kinds, lengths, rng, start_s=WARMUP_S, end_s=minutes * 60,
                            gap_s=25.0)


def build(minutes: float, seed: int, ffmpeg: str) -> tuple[Path, list]:
    items = plan(minutes, seed)
    folder = HERE / "cache" / f"live_{minutes:g}m_seed{seed}"
    source = folder / "broadcast.mp4"
    if not source.exists():
        print(f"generating {source} ...", file=sys.stderr)
        demo_media.make_stream(source, minutes * 60, items, width=320, height=180, seed=seed,
                               ffmpeg=ffmpeg)
    return prepare_renditions(ffmpeg, source, folder / "hls"), items


def covers(h: dict, e: demo_media.PlantedEvent) -> bool:
    return h["start"] <= e.start_s + 0.5 and h["end"] >= e.end_s - 0.5


def overlaps(h: dict, e: demo_media.PlantedEvent) -> bool:
    return min(h["end"], e.end_s) > max(h["start"], e.start_s)


def evaluate(minutes: float, seed: int, speed: float, work: Path, ffmpeg: str) -> dict:
    root, items = build(minutes, seed, ffmpeg)
    moments = [e for e in items if e.kind in EVENT_KINDS and e.start_s >= WARMUP_S]
    decoys = [e for e in items if e.kind in DECOY_KINDS]
    broadcast = LiveBroadcast(root, speed=speed, window=6, token_ttl_s=120.0)
    seen: dict[str, float] = {}
    stop = threading.Event()
    out_dir = work / "out"

    def watch() -> None:
        while not stop.is_set():
            for clip in out_dir.glob("*/clip_*.mp4"):
                seen.setdefault(clip.name, broadcast.clock_s())
            time.sleep(0.05)

    with KickServer(live=broadcast) as server:
        env = {**os.environ, "KICK_BASE_URL": server.base_url,
               "KICK_WEB_BASE_URL": server.base_url, "KICK_MOBILE_BASE_URL": server.base_url,
               "KCG_OUTPUT_DIR": str(out_dir), "KCG_MODELS_DIR": str(work / "models"),
               "KCG_TEMP_DIR": str(work / "temp"), "KCG_LIVE_POLL_S": str(0.5 / speed),
               "KCG_REQUEST_TIMEOUT_S": "10", "PYTHONUNBUFFERED": "1",
               "KCG_USE_CHAT": "0"}  # no chat server here: audio and video alone
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        broadcast.start()
        proc, wall, peak_kb, samples = run_measured(
            [sys.executable, str(HERE.parent / "main.py"), f"https://kick.com/{LIVE_SLUG}",
             "--json"], env=env, cwd=str(work))
        ended_clock = broadcast.clock_s()
        time.sleep(0.2)
        stop.set()
        watcher.join()
        refused = broadcast.refused
    data = json.loads(proc.stdout) if proc.returncode == 0 else {}
    highlights = data.get("highlights", [])
    rows = []
    for e in moments:
        h = next((h for h in highlights if covers(h, e)), None)
        latency = None
        if h and h.get("clip_path"):
            appeared = seen.get(Path(h["clip_path"]).name)
            latency = None if appeared is None else appeared - e.end_s
        rows.append((e, h is not None, latency))
    fooled = [h for h in highlights if any(overlaps(h, d) for d in decoys)
              and not any(overlaps(h, e) for e in moments)]
    half = wall / 2  # memory must not grow with the broadcast: each half's peak
    peaks = [max((kb for t, kb in samples if (t < half) == first), default=0) / 1024
             for first in (True, False)]
    leftover = list((work / "temp").rglob("*.ts")) if (work / "temp").exists() else []
    return {"seed": seed, "rows": rows, "decoys": len(decoys), "fooled": len(fooled),
            "clips": len(highlights), "peak_mb": peak_kb / 1024, "halves_mb": peaks,
            "code": proc.returncode,
            "state": (data.get("live") or {}).get("state"),
            "reason": (data.get("live") or {}).get("reason"), "wall_s": wall,
            "ended_clock": ended_clock, "duration": broadcast.duration_s,
            "renewed": refused, "leftover": len(leftover),
            "stderr": proc.stderr.decode("utf-8", "replace")[-2000:]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--speed", type=float, default=2.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()
    ffmpeg = media.find_ffmpeg()
    lines = ["| seed | moment | kind | clipped | latency s (broadcast) |",
             "| --- | --- | --- | --- | --- |"]
    summary = ["| seed | part | moments clipped | latency median / max s | decoys clipped | "
               "clips | peak RSS MB (tree; 1st / 2nd half) | ended by itself, exit | "
               "expired tokens seen | buffer files left |",
               "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as tmp:
            r = evaluate(args.minutes, seed, args.speed, Path(tmp), ffmpeg)
        if r["code"] != 0:
            print(r["stderr"], file=sys.stderr)
        got = [lat for _, ok, lat in r["rows"] if ok and lat is not None]
        for e, ok, lat in r["rows"]:
            lines.append(f"| {seed} | {e.start_s:.0f}-{e.end_s:.0f} s | {e.kind} | "
                         f"{'yes' if ok else 'NO'} | {'-' if lat is None else f'{lat:.1f}'} |")
        hits = sum(1 for _, ok, _ in r["rows"] if ok)
        lat_text = (f"{np.median(got):.1f} / {max(got):.1f}" if got else "-")
        summary.append(
            f"| {seed} | {SEEDS.get(seed, 'other')} | {hits}/{len(r['rows'])} | {lat_text} | "
            f"{r['fooled']}/{r['decoys']} | {r['clips']} | {r['peak_mb']:.0f} "
            f"({r['halves_mb'][0]:.0f} / {r['halves_mb'][1]:.0f}) | "
            f"{'yes' if r['state'] == 'ended' else 'no'} ({r['reason']}), exit {r['code']} | "
            f"{r['renewed']} | {r['leftover']} |")
        print(summary[-1], file=sys.stderr)
    text = "\n".join(summary) + "\n\n" + "\n".join(lines) + (
        f"\n\n{args.minutes:g}-minute broadcasts played at {args.speed:g}x on loopback "
        f"(latency budget {LATENCY_BUDGET_S:.0f} s; playback tokens expire every 120 "
        "broadcast seconds); moments in the first minute (warm-up) are not counted")
    print(text)
    if not args.no_append:
        machine = f"{platform.machine()}, {os.cpu_count()} cores"
        with open(HERE / "RESULTS.md", "a", encoding="utf-8") as out:
            out.write(f"\n## Live mode, {datetime.now():%Y-%m-%d %H:%M} - {machine}\n\n"
                      f"{text}\n")


if __name__ == "__main__":
    main()
