"""Does rating clips teach the model? `python eval/learning.py`

Stream A and stream B have different planted events and the same kinds of decoys. We analyse
A, rate its clips from the ground truth (keep the ones holding an event, skip the rest: decoys
and filler), and compare where B's decoys rank before and after: B is re-ranked from its saved
features with the model as it was, then with the model retrained on the ratings.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import quality  # noqa: E402

from config import Config  # noqa: E402
from kick_clip_generator import KickClipGenerator  # noqa: E402


def decoy_ranks(highlights: list, items: list) -> list[tuple[str, int, float]]:
    """(decoy kind, rank, score) of highlights that hold a decoy and no event."""
    events = [e for e in items if e.kind in quality.EVENT_KINDS]
    decoys = [e for e in items if e.kind in quality.DECOY_KINDS]
    out = []
    for h in highlights:
        h = h.to_dict() if hasattr(h, "to_dict") else h
        hit = next((d for d in decoys if quality.overlaps(h, d)), None)
        if hit and not any(quality.overlaps(h, e) for e in events):
            out.append((hit.kind, h["rank"], h["score"]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=12.0)
    parser.add_argument("--top-n", type=int, default=12)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        config = Config(output_dir=work / "out", models_dir=work / "models", make_clips=False,
                        top_n=args.top_n, min_gap_s=5.0)
        generator = KickClipGenerator(config)
        path_a, items_a = quality.build(args.minutes, seed=10)
        path_b, items_b = quality.build(args.minutes, seed=11)
        run_a = generator.run(str(path_a), config)
        run_b = generator.run(str(path_b), config)
        before_dir = work / "models-before"
        shutil.copytree(config.models_dir, before_dir)
        before = KickClipGenerator(config).rerank(run_b.run_dir,
                                                  config.replace(models_dir=before_dir))

        events = [e for e in items_a if e.kind in quality.EVENT_KINDS]
        kept = 0
        for h in run_a.highlights:
            keep = any(quality.found(h.to_dict(), e) for e in events)
            generator.rate(run_a.run_dir, h.rank, 1.0 if keep else 0.0, config)
            kept += keep
        generator.retrain(config)
        after = KickClipGenerator(config).rerank(run_b.run_dir, config)

        print(f"rated stream A: {kept} clips kept, {len(run_a.highlights) - kept} skipped "
              f"(decoys there: {decoy_ranks(run_a.highlights, items_a)})")
        n_events = sum(e.kind in quality.EVENT_KINDS for e in items_b)
        for label, result in (("before", before), ("after", after)):
            top = [h.to_dict() for h in result.highlights]
            found = sum(any(quality.found(h, e) for h in top[:n_events])
                        for e in items_b if e.kind in quality.EVENT_KINDS)
            print(f"stream B {label:6}: decoys (kind, rank, score) "
                  f"{decoy_ranks(result.highlights, items_b)}; lowest event score "
                  f"{min(h['score'] for h in top[:n_events]):.2f}; events in the top {n_events}: "
                  f"{found}/{n_events}; model used: {result.highlights[0].ml_score is not None}")


if __name__ == "__main__":
    main()
