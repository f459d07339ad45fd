"""Highlight quality against planted ground truth: `python eval/quality.py [--minutes 20]`.

Builds streams (cached in eval/cache/) with a calm base, planted events of 8-20 s (audio-only,
video-only, both) and decoys that fool naive scoring (steady loud music, a static "be right
back" card, a single scene cut), runs the real pipeline (heuristic only: a fresh models dir),
and scores its three lists; then scores the seed's raw formulas (no normalisation, 30 s chunks)
on the same feature rows as the baseline. Prints a table and appends it to eval/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import demo_media  # noqa: E402
from audio_analyzer import AUDIO_FEATURES  # noqa: E402
from config import Config  # noqa: E402
from kick_clip_generator import FEATURES_NAME, KickClipGenerator  # noqa: E402
from stream_processor import StreamFeatures  # noqa: E402
from video_analyzer import VIDEO_FEATURES  # noqa: E402

EVENT_KINDS = ("audio", "video", "both")
DECOY_KINDS = ("music", "brb", "cut")
TARGETS = {"recall": 0.95, "precision": 0.9, "decoys": 0, "coverage": 0.9,
           "pre_roll": (2.0, 10.0)}


MIN_GAP_S = 20.0  # calm time around every planted item


def plan(minutes: float, seed: int) -> list[demo_media.PlantedEvent]:
    """Events and decoys in random order at random, non-overlapping times, at least
    MIN_GAP_S of calm stream between any two."""
    rng = np.random.default_rng(seed)
    duration = minutes * 60
    n_events = max(3, int(minutes // 3))
    kinds = [EVENT_KINDS[i % 3] for i in range(n_events)] + list(DECOY_KINDS)
    rng.shuffle(kinds)
    lengths = [rng.uniform(30, 60) if k in ("music", "brb") else 1.0 if k == "cut"
               else rng.uniform(8, 20) for k in kinds]
    return demo_media.place(kinds, lengths, rng, start_s=0.0, end_s=duration, gap_s=MIN_GAP_S)


def build(minutes: float, seed: int) -> tuple[Path, list[demo_media.PlantedEvent]]:
    items = plan(minutes, seed)
    path = HERE / "cache" / f"stream_{minutes:g}m_seed{seed}.mp4"
    if not path.exists():
        print(f"generating {path.name} ...", file=sys.stderr)
        demo_media.make_stream(path, minutes * 60, items, width=320, height=180, seed=seed)
    return path, items


@dataclass
class Scores:
    recall: float
    precision: float
    decoys: int
    coverage: float
    pre_roll: float


def found(h: dict, e: demo_media.PlantedEvent) -> bool:
    """A highlight holds half the event or its middle."""
    inside = min(h["end"], e.end_s) - max(h["start"], e.start_s)
    middle = (e.start_s + e.end_s) / 2
    return inside >= (e.end_s - e.start_s) / 2 or h["start"] <= middle <= h["end"]


def overlaps(h: dict, e: demo_media.PlantedEvent) -> bool:
    return min(h["end"], e.end_s) > max(h["start"], e.start_s)


def score_list(top: list[dict], events: list, decoys: list) -> Scores:
    n = len(events)
    hits = [e for e in events if any(found(h, e) for h in top)]
    good = [h for h in top if any(overlaps(h, e) for e in events)]
    fooled = sum(1 for h in top if any(overlaps(h, d) for d in decoys)
                 and not any(overlaps(h, e) for e in events))
    cover, pre = [], []
    for e in hits:
        h = next(h for h in top if found(h, e))
        cover.append((min(h["end"], e.end_s) - max(h["start"], e.start_s)) / (e.end_s - e.start_s))
        pre.append(e.start_s - h["start"])
    return Scores(len(hits) / max(n, 1), len(good) / max(len(top), 1), fooled,
                  float(np.mean(cover)) if cover else 0.0, float(np.median(pre)) if pre else 0.0)


SEED_AUDIO = {"rms_mean": 2.0, "rms_std": 1.5, "zcr_mean": 1.0, "spectral_centroid": 1 / 1000,
              "loudness_variance": 0.5, "high_freq_energy": 1 / 1e9}
SEED_VIDEO = {"motion_mean": 2.0, "motion_std": 1.5, "edge_density_mean": 100.0,
              "edge_density_std": 50.0, "color_variance": 1 / 1000}


def baseline(features: StreamFeatures, top_n: int) -> list[dict]:
    """The seed as written: raw feature values, its formulas, one score per 30 s chunk, top N
    chunks (audio + video summed), each chunk its own clip."""
    chunk = int(30 / features.window_s)
    n = len(features.valid) // chunk
    total = np.zeros(n)
    for matrix, names, weights in ((features.audio, AUDIO_FEATURES, SEED_AUDIO),
                                   (features.video, VIDEO_FEATURES, SEED_VIDEO)):
        if matrix is None:
            continue
        means = matrix[: n * chunk].reshape(n, chunk, -1).mean(axis=1)
        total += sum(w * means[:, names.index(f)] for f, w in weights.items())
    order = np.argsort(-total)[:top_n]
    return [{"start": i * 30.0, "end": (i + 1) * 30.0} for i in order]


def evaluate(minutes: float, seed: int, work: Path) -> dict[str, Scores]:
    path, items = build(minutes, seed)
    events = [e for e in items if e.kind in EVENT_KINDS]
    decoys = [e for e in items if e.kind in DECOY_KINDS]
    config = Config(output_dir=work / f"out{seed}", models_dir=work / f"models{seed}",
                    make_clips=False, use_cache=False, top_n=len(events))
    data = KickClipGenerator(config).run(str(path), config).to_dict()
    features = StreamFeatures.load(Path(data["run_dir"]) / FEATURES_NAME)
    audio_events = [e for e in events if e.kind in ("audio", "both")]
    video_events = [e for e in events if e.kind in ("video", "both")]
    return {
        "combined": score_list(data["highlights"], events, decoys),
        "audio list": score_list(data["audio_highlights"][:len(audio_events)], audio_events,
                                 decoys),
        "video list": score_list(data["video_highlights"][:len(video_events)], video_events,
                                 decoys),
        "seed baseline": score_list(baseline(features, len(events)), events, decoys),
    }


def meets(s: Scores) -> bool:
    lo, hi = TARGETS["pre_roll"]
    return (s.recall >= TARGETS["recall"] and s.precision >= TARGETS["precision"]
            and s.decoys <= TARGETS["decoys"] and s.coverage >= TARGETS["coverage"]
            and lo <= s.pre_roll <= hi)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()
    rows = ["| seed | list | recall@N | precision@N | decoys in top N | event coverage | "
            "pre-roll s (median) | targets |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    all_met = True
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            for name, s in evaluate(args.minutes, seed, Path(tmp)).items():
                ok = meets(s)
                if name == "combined":
                    all_met &= ok
                rows.append(f"| {seed} | {name} | {s.recall:.2f} | {s.precision:.2f} | "
                            f"{s.decoys} | {s.coverage:.2f} | {s.pre_roll:.1f} | "
                            f"{'met' if ok else 'not met'} |")
    text = "\n".join(rows) + (f"\n\n{args.minutes:g}-minute streams; combined list targets "
                              f"{'met on every seed' if all_met else 'NOT met on every seed'}")
    print(text)
    if not args.no_append:
        machine = f"{platform.machine()}, {os.cpu_count()} cores"
        with open(HERE / "RESULTS.md", "a", encoding="utf-8") as out:
            out.write(f"\n## {datetime.now():%Y-%m-%d %H:%M} - {machine}\n\n{text}\n")


if __name__ == "__main__":
    main()
