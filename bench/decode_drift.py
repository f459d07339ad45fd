"""Feature drift of the decoder shortcuts: `python bench/decode_drift.py SOURCE [SOURCE ...]`.

Runs the real CLI (analysis only, no cache) on each source plainly (`fast_decode` off) and
with each set of decoder options in VARIANTS (as `media.FAST_DECODE_ARGS`), loads the features
each run saved, and prints per feature the max and median absolute difference of the robust
z-scores (scoring.robust_z over the valid windows), and whether the top-10 highlight list
changed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import runs  # noqa: E402
from audio_analyzer import AUDIO_FEATURES  # noqa: E402
from scoring import robust_z  # noqa: E402
from stream_processor import StreamFeatures  # noqa: E402
from video_analyzer import VIDEO_FEATURES  # noqa: E402

VARIANTS = {
    "loop + fast": ("-skip_loop_filter:v", "all", "-flags2:v", "+fast"),
    "loop + fast + noref": ("-skip_loop_filter:v", "all", "-flags2:v", "+fast",
                            "-skip_frame:v", "noref"),
}


def analyse(source: str, options: tuple[str, ...] | None, work: Path) -> dict:
    """The CLI's JSON for `source`, decoded with `options` (None: fast_decode off)."""
    env = {**os.environ, "KCG_FAST_DECODE": "0" if options is None else "1"}
    code = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); import media, main; "
            f"media.FAST_DECODE_ARGS = {options!r}; sys.exit(main.main(sys.argv[1:]))")
    done = subprocess.run([sys.executable, "-c", code, source, "--no-clips", "--no-cache", "-q",
                           "--json", "--output-dir", str(work / "out"),
                           "--models-dir", str(work / "models")],
                          env=env, capture_output=True, check=True)
    return json.loads(done.stdout)


def main() -> None:
    wanted = [v for v in VARIANTS if os.environ.get("DRIFT_VARIANTS", v) in v]
    for source in sys.argv[1:]:
        with tempfile.TemporaryDirectory() as tmp:
            plain = analyse(source, None, Path(tmp) / "plain")  # each its own models folder
            a, _ = runs.load_signals(plain["run_dir"])
            for variant in wanted:
                options = VARIANTS[variant]
                fast = analyse(source, options, Path(tmp) / variant.replace(" ", ""))
                b, _ = runs.load_signals(fast["run_dir"])
                compare(f"{source}, {variant}", a, b, plain, fast)


def compare(name: str, a: StreamFeatures, b: StreamFeatures, plain: dict, fast: dict
            ) -> None:
    valid = a.valid & b.valid
    print(f"\n{name}: {len(valid)} windows, {int((a.valid != b.valid).sum())} differ in "
          "validity", flush=True)
    for names, x, y in ((AUDIO_FEATURES, a.audio, b.audio),
                        (VIDEO_FEATURES, a.video, b.video)):
        diff = np.abs(robust_z(x[valid]) - robust_z(y[valid]))
        for j, feature in enumerate(names):
            print(f"  {feature:<20} |dz| max {diff[:, j].max():6.3f}  "
                  f"median {np.median(diff[:, j]):6.3f}  p99 {np.percentile(diff[:, j], 99):6.3f}"
                  f"  windows > 0.5: {int((diff[:, j] > 0.5).sum())}")
    top = [[(round(h["start"]), round(h["end"])) for h in r["highlights"][:10]]
           for r in (plain, fast)]
    print(f"  top-10 plain: {top[0]}\n  top-10 fast:  {top[1]}\n  "
          f"same list: {top[0] == top[1]}, same set: {set(top[0]) == set(top[1])}")


if __name__ == "__main__":
    main()
