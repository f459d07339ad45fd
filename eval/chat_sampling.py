"""Sampled Kick chat against issue 18's targets: `python eval/chat_sampling.py [--scale 1]`.

Chat only, no media: the fake Kick (tests/kick_server.py) serves a busy chat (~3 messages a
second, a burst after each planted moment) and blocks bursts of requests (more than 5 in 3 s:
403 for 60 s). The analysis is simulated: it takes `--analysis-s` (30 minutes at ~128x real
time is ~14 s) and finds the planted moments (plus as many loud decoys the chat ignores) in
time order, as spans finish. The chat is fetched with the default Config at Kick's pace
(`--scale` divides every time: pace, block, tail, analysis). Prints, per case: chat requests,
blocks met, the wait for chat after the analysis, and how many planted moments the chat-only
list finds. Targets: 30 min <= 80 requests, <= 30 s wait, >= 80 % found; 8 h within budget.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "tests"))

import chat_replay  # noqa: E402
import kick_chat  # noqa: E402
from audio_analyzer import AUDIO_FEATURES  # noqa: E402
from config import Config  # noqa: E402
from kick_clip_generator import KickClipGenerator, StreamFeatures  # noqa: E402
from kick_server import KickServer, make_chat  # noqa: E402
from video_analyzer import VIDEO_FEATURES  # noqa: E402

START = 1_790_000_000.0
CHANNEL_ID = 4242
LAG_S = 8.0


def run_case(name: str, duration_s: float, rate: float, n_moments: int, analysis_s: float,
             scale: float) -> dict:
    rng = np.random.default_rng(18)
    slots = np.linspace(120, duration_s - 120, n_moments * 2)
    moments = sorted(float(t) for t in slots[::2])
    decoys = sorted(float(t) for t in slots[1::2])
    chat = make_chat(START, duration_s, channel_id=CHANNEL_ID, rate_per_s=rate, seed=18,
                     bursts=tuple((m + LAG_S, m + LAG_S + 10, 4 * rate) for m in moments))
    with tempfile.TemporaryDirectory() as tmp, KickServer() as server:
        server.chat[CHANNEL_ID] = chat
        server.chat_burst_requests, server.chat_burst_window_s = 5, 3.0 / scale
        server.chat_block_s = 60.0 / scale
        defaults = Config()
        config = Config(kick_base_url=server.base_url, models_dir=Path(tmp) / "models",
                        chat_request_interval_s=defaults.chat_request_interval_s / scale,
                        chat_block_wait_s=defaults.chat_block_wait_s / scale,
                        chat_tail_s=defaults.chat_tail_s / scale)
        began = time.monotonic()
        state: dict = {"deadline": None}

        def candidates():
            analysed = min(1.0, (time.monotonic() - began) / (analysis_s / scale))
            known = [(m, 4.0 + rng_strength) for m, rng_strength in
                     zip(moments, rng_strengths) if m <= analysed * duration_s]
            known += [(d, 3.0) for d in decoys if d <= analysed * duration_s]
            if analysed >= 1.0 and state["deadline"] is None:
                state["deadline"] = time.monotonic() + config.chat_tail_s
            return sorted(known, key=lambda c: -c[1]), analysed

        rng_strengths = rng.uniform(0, 2, len(moments))
        out: dict = {}

        def fetch():
            out["replay"] = chat_replay.fetch_replay(config, CHANNEL_ID, name, START, duration_s,
                                                     candidates=candidates,
                                                     deadline=lambda: state["deadline"])

        thread = threading.Thread(target=fetch)
        thread.start()
        thread.join()
        ended = time.monotonic()
        analysis_end = began + analysis_s / scale
        replay = out["replay"]
        n = int(duration_s)
        feats = StreamFeatures(1.0, duration_s, rng.normal(0, 1, (n, len(AUDIO_FEATURES))),
                               rng.normal(0, 1, (n, len(VIDEO_FEATURES))), np.ones(n, bool))
        chat_f, block, _ = kick_chat.assemble(replay, n, 1.0, duration_s, None, feats.valid,
                                              config)
        generator = KickClipGenerator(config)
        ranking = generator.rank(feats, generator.score(feats, config, chat=chat_f), config,
                                 chat_f)
        found = [m for m in moments if any(h.start - 12 <= m <= h.end + 12
                                           for h in ranking.chat_highlights)]
        return {"case": name, "requests": replay.requests, "budget": config.chat_budget_s,
                "blocks": server.chat_blocks,
                "wait_after_analysis_s": round(max(0.0, ended - analysis_end) * scale, 1),
                "found": f"{len(found)}/{len(moments)}",
                "found_share": len(found) / len(moments), "reason": replay.reason}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0,
                        help="divide every time by this (1: Kick's real pace)")
    parser.add_argument("--analysis-s", type=float, default=14.0,
                        help="simulated analysis time of the 30-minute VOD (s)")
    args = parser.parse_args()
    rows = [run_case("30min", 1800.0, 3.0, 8, args.analysis_s, args.scale),
            run_case("8h", 8 * 3600.0, 3.0, 16, args.analysis_s * 16, args.scale * 4)]
    for r in rows:
        print(f"{r['case']:>6}: {r['requests']} chat requests (budget {r['budget']:.0f}), "
              f"{r['blocks']} blocks, waited {r['wait_after_analysis_s']} s after the "
              f"analysis, chat-only list found {r['found']} planted moments"
              + (f" ({r['reason']})" if r["reason"] else ""))
    short, long = rows
    ok = (short["requests"] <= 80 and short["wait_after_analysis_s"] <= 30
          and short["found_share"] >= 0.8 and long["requests"] <= long["budget"])
    print("targets met" if ok else "targets NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
