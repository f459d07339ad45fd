"""Sampled Kick chat (issue 18): a coarse rate curve plus dense pages around the top moments,
within a request budget, against the fake Kick with a busy chat and Kick's burst block.
Pacing is scaled down (chat_request_interval_s 0.02 s, the block a fraction of a second): no
real waits."""

import time

import numpy as np
import pytest

import kick_chat
from audio_analyzer import AUDIO_FEATURES
from chat_features import ChatMessages, chat_features
from chat_replay import ChatReplay, fetch_replay
from config import Config
from kick_clip_generator import KickClipGenerator, StreamFeatures
from kick_server import Fault, KickServer, make_chat
from video_analyzer import VIDEO_FEATURES

START = 1_790_000_000.0
CHANNEL_ID, VOD_ID = 4242, "019f9a00-0000-7000-8000-000000000042"
HOUR_S = 3600.0
MOMENTS = (400.0, 950.0, 1500.0, 2100.0, 2700.0, 3300.0)  # planted: chat answers ~8 s later
DECOYS = (700.0, 1800.0, 3000.0)  # loud on stream, the chat does not care
LAG_S = 8.0


@pytest.fixture(scope="module")
def busy_chat():
    """An hour of chat at ~3 messages a second with a burst 8 s after each planted moment."""
    return make_chat(START, HOUR_S, channel_id=CHANNEL_ID, rate_per_s=3.0, seed=18,
                     bursts=tuple((m + LAG_S, m + LAG_S + 10, 12.0) for m in MOMENTS))


@pytest.fixture
def kick(busy_chat, tmp_path):
    with KickServer() as server:
        server.chat[CHANNEL_ID] = busy_chat
        # Kick's burst block at a scaled pace: more than 4 requests in 60 ms
        server.chat_burst_requests, server.chat_burst_window_s = 4, 0.06
        server.chat_block_s = 0.3
        config = Config(kick_base_url=server.base_url, models_dir=tmp_path / "models",
                        chat_request_interval_s=0.02, chat_block_wait_s=0.4, retry_attempts=2,
                        backoff_base_s=0.01, request_timeout_s=5)
        yield server, config


def candidates(moments=MOMENTS + DECOYS):
    """The analysis' top moments (audio/video), all known: the analysis is done."""
    return lambda: ([(m, 4.0) for m in moments], 1.0)


def fetch(config, duration_s=HOUR_S, **kw):
    return fetch_replay(config, CHANNEL_ID, VOD_ID, START, duration_s, **kw)


def chat_requests(server):
    return [r for r in server.requests if r.path.endswith("/messages")]


def chat_list(replay, config, duration_s=HOUR_S):
    """The chat-only ranking of a replay over random audio/video."""
    n = int(duration_s)
    rng = np.random.default_rng(0)
    features = StreamFeatures(1.0, duration_s, rng.normal(0, 1, (n, len(AUDIO_FEATURES))),
                              rng.normal(0, 1, (n, len(VIDEO_FEATURES))), np.ones(n, bool))
    chat, block, notes = kick_chat.assemble(replay, n, 1.0, duration_s, None,
                                            features.valid, config)
    generator = KickClipGenerator(config)
    scores = generator.score(features, config, chat=chat)
    return generator.rank(features, scores, config, chat), block, notes


def found(highlights, moments=MOMENTS, tolerance_s=12.0):
    return [m for m in moments
            if any(h.start - tolerance_s <= m <= h.end + tolerance_s for h in highlights)]


def test_sampling_keeps_to_the_budget_never_trips_the_block_and_finds_the_bursts(kick):
    server, config = kick
    replay = fetch(config, candidates=candidates())
    assert replay.mode == "sampled" and not replay.complete and replay.reason is None
    assert replay.requests == len(chat_requests(server)) <= config.chat_budget_s  # 60
    assert server.chat_blocks == 0 and replay.blocks == 0
    fetched = sum(hi - lo for lo, hi in replay.spans)
    assert fetched < 0.25 * HOUR_S  # a fraction of the chat ...
    ranking, block, notes = chat_list(replay, config)
    assert len(found(ranking.chat_highlights)) >= 0.8 * len(MOMENTS)  # ... finds its bursts
    assert block["mode"] == "sampled" and block["requests"] == replay.requests
    assert block["dense_s"] > 0 and block["rate_only_s"] > 0
    assert notes[0].startswith(f"chat: sampled with {replay.requests} requests")
    # where only a coarse page (rate only) covers a highlight's peak, its reason says so
    chat, _, _ = kick_chat.assemble(replay, int(HOUR_S), 1.0, HOUR_S, None,
                                    np.ones(int(HOUR_S), bool), config)
    coarse = [h for h in ranking.chat_highlights if chat.rate_only[int(h.peak)]]
    assert coarse  # here the bursts were found by their rate: 210 s rate only, 50 s dense
    for h in coarse:
        assert any(r.startswith("chat rate, sampled (") for r in h.reasons), h.reasons
        assert not any(r.startswith("chat burst") for r in h.reasons), h.reasons


def test_a_second_run_asks_for_nothing_cached_and_full_fetches_only_the_gaps(kick):
    server, config = kick
    first = fetch(config, candidates=candidates())
    cached = [(START * 1e6 + lo * 1e6, START * 1e6 + hi * 1e6) for lo, hi in first.spans]
    before = len(chat_requests(server))
    again = fetch(config, candidates=candidates())  # a fresh budget goes on what is missing
    assert again.requests == len(chat_requests(server)) - before
    for r in chat_requests(server)[before:]:  # never a cursor inside what the cache holds
        cursor = int(r.query.split("=")[1])
        assert not any(lo + 1 < cursor < hi - 1 for lo, hi in cached)
    assert set(first.rows) <= set(again.rows)

    short = 900.0  # --chat full on a 15-minute VOD whose sampled pages are cached
    server.chat_burst_requests = None
    part = fetch_replay(config, CHANNEL_ID, "short-vod", START, short,
                        candidates=candidates((400.0,)))
    before = len(chat_requests(server))
    spans_us = [(START * 1e6 + lo * 1e6, START * 1e6 + hi * 1e6) for lo, hi in part.spans]
    full = fetch_replay(config.replace(chat_mode="full"), CHANNEL_ID, "short-vod", START, short)
    assert full.complete and full.requests == len(chat_requests(server)) - before
    for r in chat_requests(server)[before:]:  # never a cursor inside what the cache holds
        cursor = int(r.query.split("=")[1])
        assert not any(lo + 1 < cursor < hi - 1 for lo, hi in spans_us)
    wanted = {m["id"] for m in server.chat[CHANNEL_ID]
              if START <= m["_us"] / 1e6 < START + short + 1}
    assert len(full.rows) == len(wanted)


def test_a_block_is_waited_out_once_and_the_fetch_goes_on(kick):
    server, config = kick
    server.add_fault(f"/api/v2/channels/{CHANNEL_ID}/messages", Fault.blocked(), times=1)
    replay = fetch(config, candidates=candidates())
    assert replay.blocks == 1 and replay.reason is None and replay.requests > 20
    requests = chat_requests(server)
    assert requests[1].time - requests[0].time >= config.chat_block_wait_s - 0.05
    assert requests[1].query == requests[0].query  # the refused page, asked again


def test_a_second_block_ends_the_chat_not_the_run(kick):
    server, config = kick
    burst = config.replace(chat_request_interval_s=0.0)  # no pacing: Kick blocks the burst
    server.chat_burst_window_s = 5.0  # (5 unpaced requests take far less, even on a busy box)
    replay = fetch(burst, candidates=candidates())
    assert server.chat_blocks == 2 and replay.blocks == 2
    assert replay.reason == "Kick refused the request" and not replay.complete
    chat, block, notes = kick_chat.assemble(replay, int(HOUR_S), 1.0, HOUR_S, None,
                                            np.ones(int(HOUR_S), bool), burst)
    assert any("Kick refused the request" in n for n in notes)  # noted, never raised


def test_candidates_arriving_while_the_analysis_runs_and_the_deadline_after_it(kick):
    """Spans finish in time order: probes are spent in step with the analysis, and once it
    is done (deadline set) the fetch stops within the tail."""
    server, config = kick
    state = {"analysed": 0.0, "deadline": None}

    def moments():
        state["analysed"] = min(1.0, state["analysed"] + 0.05)
        known = [m for m in MOMENTS if m < state["analysed"] * HOUR_S]
        if state["analysed"] >= 1.0 and state["deadline"] is None:
            state["deadline"] = time.monotonic() + 0.6  # 25 s at Kick's pace
        return [(m, 4.0) for m in known], state["analysed"]

    replay = fetch(config, candidates=moments, deadline=lambda: state["deadline"])
    assert replay.requests <= config.chat_budget_s
    assert time.monotonic() - state["deadline"] < 0.5
    # probes only for moments analysed when they were spent (how many fit is timing's)
    assert replay.requests > 10 and not replay.complete


def test_an_eight_hour_vod_stays_within_the_default_budget(tmp_path):
    duration = 8 * HOUR_S
    moments = tuple(float(t) for t in range(1800, int(duration), 3600))
    with KickServer() as server:
        server.chat[CHANNEL_ID] = make_chat(START, duration, channel_id=CHANNEL_ID,
                                            rate_per_s=0.8, seed=3, bursts=tuple(
                                                (m + LAG_S, m + LAG_S + 10, 8.0)
                                                for m in moments))
        config = Config(kick_base_url=server.base_url, models_dir=tmp_path / "models",
                        chat_request_interval_s=0.005)
        replay = fetch(config, duration, candidates=candidates(moments))
        assert replay.requests == len(chat_requests(server)) <= 60
        assert not replay.complete and replay.spans


def test_every_candidate_gets_a_probe_page_before_any_gets_more(kick):
    """When time allows only a page or two per candidate (the budget stands in for the tail
    here), each candidate gets one page just after its expected reaction before any gets a
    second, and those lone pages are enough for the chat-only list to find every burst."""
    server, config = kick
    config = config.replace(chat_budget_s=20.0)
    replay = fetch(config, candidates=candidates())
    assert replay.requests == len(chat_requests(server)) <= 20
    cursors = [int(r.query.split("=")[1]) / 1e6 - START for r in chat_requests(server)]
    for moment in MOMENTS + DECOYS:
        assert any(moment < c <= moment + LAG_S + 15 for c in cursors), moment
    ranking, block, _ = chat_list(replay, config)
    assert found(ranking.chat_highlights) == list(MOMENTS)
    assert block["dense_s"] == 0  # rate-only pages: found by their rate alone


def second_precise(times_s):
    """Kick's created_at is whole seconds: ChatMessages' time is the middle of the second."""
    t = np.floor(np.asarray(times_s, np.float64)) + 0.5
    n = len(t)
    return ChatMessages(t, np.arange(n, dtype=np.int64), np.zeros(n, np.int32),
                                  np.zeros(n, bool))


def test_a_lone_page_inside_a_burst_reads_as_a_burst():
    """A page a burst packs into under a second (its cursors mid-second, its messages' times
    whole seconds) still has its messages and its rate, spread over a few windows so the
    ranking's smoothing does not wash it out; pages in bursts nearby do not lift the
    baseline it is measured against."""
    rng = np.random.default_rng(1)
    calm = [(t, t + 8.0) for t in (100.0, 300.0, 700.0, 900.0, 1100.0, 1300.0)]
    bursts = [(500.6, 501.55), (560.3, 561.9), (620.2, 621.4)]
    times = [rng.uniform(lo, hi, 24) for lo, hi in calm]
    times += [rng.uniform(lo, hi, 25) for lo, hi in bursts]
    messages = second_precise(np.concatenate(times))
    chat = chat_features(messages, 1400, 1.0, duration_s=1400.0, lag_s=0.0,
                                   spans=sorted(calm + bursts))
    calm_rate = chat.matrix[chat.covered & (np.arange(1400) < 400), 0]
    assert np.allclose(calm_rate.mean(), 1.0, atol=0.3)
    for lo, hi in bursts:
        rows = np.flatnonzero(chat.covered & (np.abs(np.arange(1400) + 0.5 - (lo + hi) / 2)
                                              < 5))
        assert len(rows) >= 4 and chat.rate_only[rows].all()
        assert chat.matrix[rows, 0].min() > 5  # ~20 a second against a calm 3
        assert (chat.matrix[rows, 1:] == 0).all()


def test_the_lag_is_not_read_off_lone_pages(kick):
    """Scattered single pages line up with the audio at whatever lag a few of them happen to:
    the lag of a sampled chat without dense stretches is the configured one."""
    server, config = kick
    n = int(HOUR_S)
    rng = np.random.default_rng(5)
    spans, times = [], []
    reference = np.zeros(n)
    for t in np.arange(60.0, HOUR_S - 60, 45.0):  # 10-s pages, a third of them busy ...
        spans.append((t, t + 10.0))
        busy = rng.random() < 0.3
        times.append(rng.uniform(t + 6.0 if busy else t, t + 10.0, 25))
        if busy:  # ... 4 s after the "audio" peaks: a lag a few pages happen to line up
            reference[int(t) + 2:int(t) + 6] = 5.0
    messages = second_precise(np.concatenate(times))
    replay = ChatReplay([(START + t - 0.5, i, "x") for i, t in
                                   enumerate(messages.time_s)], START, 0.0, False,
                                  spans=spans, mode="sampled", requests=len(spans))
    chat, block, _ = kick_chat.assemble(replay, n, 1.0, HOUR_S, reference, np.ones(n, bool),
                                        config)
    assert chat is not None and not block["lag_estimated"]
    assert block["lag_s"] == config.chat_lag_s


def test_a_re_timed_vod_fetches_again_what_its_old_window_held(kick):
    """The VOD grew (or was re-timed): its cached chat is thrown away, so the fetch must not
    skip the stretches the thrown-away pages covered."""
    server, config = kick
    server.chat_burst_requests = None
    full = config.replace(chat_mode="full")
    first = fetch_replay(full, CHANNEL_ID, "re-timed", START, 600.0)
    assert first.complete and first.rows
    grown = fetch_replay(full, CHANNEL_ID, "re-timed", START, 900.0)
    assert grown.complete
    assert set(first.rows) <= set(grown.rows)  # the first 10 minutes are there again
