"""Kick chat as a third signal: pure features on synthetic chat, the reaction-lag estimate,
paging / caching / blocking against the fake Kick on 127.0.0.1, and a Kick VOD end to end."""

import json
import math
import sqlite3
import threading
from pathlib import Path

import numpy as np
import pytest

import kick_chat
import main
from audio_analyzer import AUDIO_FEATURES
from chat_features import (
    CHAT_FEATURES,
    CHAT_NAME,
    ChatMessages,
    chat_features,
    chat_rate,
    count_emotes,
    estimate_lag,
    is_short,
)
from chat_replay import DB_NAME, ChatCache, ChatReplay, fetch_replay
from config import Config
from errors import Cancelled
from kick_clip_generator import KickClipGenerator, StreamFeatures
from kick_server import LEGACY_VOD_ID, Fault, KickServer, load_fixture, make_chat
from timecode import kick_epoch_s
from video_analyzer import VIDEO_FEATURES

RATE, CHATTERS, EMOTES, SHORT = (CHAT_FEATURES.index(n) for n in CHAT_FEATURES)
START = 1_790_000_000.0  # the test VOD's start, epoch s
LEGACY_VOD = f"https://kick.com/xqc/videos/{LEGACY_VOD_ID}"
LEGACY_CHANNEL_ID = 668  # video.json livestream.channel.id
LEGACY_START = kick_epoch_s("2025-08-25 00:40:42")  # video.json livestream.start_time


def messages(times, contents=None, users=None) -> ChatMessages:
    """ChatMessages at `times` (s into the VOD) the way Kick sends them: whole seconds."""
    times = np.asarray(times, float)
    contents = contents if contents is not None else ["what is going on here today"] * len(times)
    users = users if users is not None else range(len(times))
    return ChatMessages.from_rows(
        [(START + math.floor(t), u, c) for t, u, c in zip(times, users, contents)], START)


def poisson(rng, t0, t1, rate):
    return np.sort(rng.uniform(t0, t1, rng.poisson((t1 - t0) * rate)))


# --- messages and features (pure) ------------------------------------------------------------

def test_emotes_and_short_messages_are_parsed_as_kick_writes_them():
    assert count_emotes("[emote:37226:KEKW] no way") == 1
    assert count_emotes("[emote:3331556:][emote:12:a b]x[emote:7:]") == 3  # empty name
    assert count_emotes("[emote:x:KEKW] [emote:1]") == 0
    assert is_short("W") and is_short("NO WAY LMAO")
    assert is_short("[emote:1:a] [emote:2:b] [emote:3:c] [emote:4:d] [emote:5:e]")
    assert not is_short("I just took a dab and the dab genie told me")
    page = load_fixture("chat_messages_cursor.json")["data"]["messages"]
    rows = [(kick_epoch_s(m["created_at"]), m["user_id"], m["content"]) for m in page]
    chat = ChatMessages.from_rows(rows, kick_epoch_s("2026-09-30T17:37:00Z"))
    assert chat.time_s.tolist() == [66.5, 66.5, 50.5, 44.5]  # 17:38:06Z is 66 s in, mid-second
    assert chat.emotes.tolist() == [1, 0, 0, 1] and chat.short.tolist() == [True, True, False,
                                                                            True]
    legacy = load_fixture("chat_messages.json")["data"]["messages"]
    assert kick_epoch_s(legacy[0]["created_at"]) == 1703671017.0
    assert kick_epoch_s("2025-08-25 00:40:42") == kick_epoch_s(
        "2025-08-25T00:40:42.000000Z") == 1756082442.0
    assert kick_epoch_s("") is None and kick_epoch_s("soon") is None


def test_a_burst_is_found_at_its_window_and_rated_against_the_usual_rate():
    rng = np.random.default_rng(0)
    talk = poisson(rng, 0, 1800, 1.0)
    burst = poisson(rng, 900, 906, 12.0)
    chat = messages(np.r_[talk, burst], ["is this the same map as yesterday"] * len(talk)
                    + ["[emote:37226:KEKW]"] * len(burst))
    f = chat_features(chat, 1800, 1.0, duration_s=1800)
    assert f.matrix.shape == (1800, len(CHAT_FEATURES)) and f.covered.all()
    for column in (RATE, CHATTERS, EMOTES, SHORT):
        assert 899 <= int(np.argmax(f.matrix[:, column])) <= 907, CHAT_FEATURES[column]
    assert np.median(f.matrix[:, RATE]) == pytest.approx(1.0, abs=0.15)  # usual = 1
    assert f.matrix[902, RATE] > 8  # ~13 messages/s where 1 is usual
    assert f.matrix[902, SHORT] > 0.7 > 0.1 > np.median(f.matrix[:, SHORT])


def test_the_baseline_is_the_streams_own_so_a_quiet_hour_has_bursts_too():
    """0.5 msg/s for an hour, then 5 msg/s: each half is 'usual' at its own level, and a
    tripling stands out alike in both."""
    rng = np.random.default_rng(1)
    times = np.r_[poisson(rng, 0, 3600, 0.5), poisson(rng, 3600, 7200, 5.0),
                  poisson(rng, 1800, 1830, 1.0), poisson(rng, 5400, 5430, 10.0)]
    f = chat_features(messages(times), 7200, 1.0, duration_s=7200)
    rate = f.matrix[:, RATE]
    assert np.median(rate[600:1700]) == pytest.approx(1.0, abs=0.3)
    assert np.median(rate[4200:5300]) == pytest.approx(1.0, abs=0.2)
    quiet_burst, busy_burst = rate[1805:1825].mean(), rate[5405:5425].mean()
    assert quiet_burst > 2 and busy_burst > 2
    assert quiet_burst / busy_burst == pytest.approx(1.0, abs=0.4)


def test_one_spammer_is_not_a_crowd():
    rng = np.random.default_rng(2)
    talk = poisson(rng, 0, 1200, 1.0)
    spam = np.linspace(300, 306, 60)  # one user, 10 messages a second
    crowd = poisson(rng, 900, 906, 10.0)
    users = list(range(len(talk))) + [7] * len(spam) + list(range(10**6, 10**6 + len(crowd)))
    f = chat_features(messages(np.r_[talk, spam, crowd], users=users), 1200, 1.0,
                      duration_s=1200)
    assert f.matrix[303, RATE] > 5  # the rate sees both ...
    assert f.matrix[903, CHATTERS] > 3 * f.matrix[303, CHATTERS]  # ... distinct chatters do not


def test_the_lag_shift_lines_a_burst_up_with_its_moment_and_marks_the_uncovered_tail():
    rng = np.random.default_rng(3)
    times = np.r_[poisson(rng, 0, 600, 1.0), poisson(rng, 308, 314, 12.0)]
    f = chat_features(messages(times), 600, 1.0, duration_s=600, lag_s=8.0)
    assert 299 <= int(np.argmax(f.matrix[:, RATE])) <= 306  # the moment, not the reaction
    assert f.covered[:592].all() and not f.covered[593:].any()  # chat after the end: unknown
    assert (f.matrix[~f.covered] == 0).all()
    partial = chat_features(messages(times), 600, 1.0, duration_s=600, covered_from_s=200.0)
    assert not partial.covered[:200].any() and partial.covered[200:].all()


def reference_and_chat(lag_s, seed=4, n=1800):
    """An audio score with 15 events and chat that answers each, `lag_s` later."""
    rng = np.random.default_rng(seed)
    reference = rng.normal(0, 1, n)
    times = [poisson(rng, 0, n, 1.0)]
    for start in rng.choice(np.arange(30, n - 60), 15, replace=False):
        length = int(rng.integers(4, 10))
        reference[start:start + length] += 5
        times.append(poisson(rng, start + lag_s, start + lag_s + length, 8.0))
    return reference, messages(np.concatenate(times))


@pytest.mark.parametrize("planted", [0.0, 3.0, 11.0, 17.0])
def test_a_planted_reaction_lag_is_recovered_within_a_second(planted):
    reference, chat = reference_and_chat(planted)
    rate = chat_rate(chat, len(reference), 1.0)
    lag, estimated = estimate_lag(rate, reference, 1.0, max_lag_s=20, default_s=8.0)
    assert estimated and abs(lag - planted) <= 1.0


def test_chat_that_does_not_follow_the_audio_gets_the_default_lag():
    reference, _ = reference_and_chat(5.0)
    unrelated = messages(poisson(np.random.default_rng(9), 0, 1800, 1.0))
    rate = chat_rate(unrelated, 1800, 1.0)
    assert estimate_lag(rate, reference, 1.0, max_lag_s=20, default_s=8.0) == (8.0, False)
    too_short = estimate_lag(rate[:40], reference[:40], 1.0, max_lag_s=20, default_s=6.5)
    assert too_short == (6.5, False)


def test_too_little_chat_is_left_out_never_zeroed():
    replay = ChatReplay([(START + 5, 1, "W")] * 3, START, 0.0, True)
    chat, block, notes = kick_chat.assemble(replay, 600, 1.0, 600.0, None, np.ones(600, bool),
                                            Config())
    assert chat is None and block["available"] is False and "only 3 chat messages" in notes[0]
    blocked = ChatReplay([], START, 600.0, False, "Kick refused the request")
    chat, block, notes = kick_chat.assemble(blocked, 600, 1.0, 600.0, None, np.ones(600, bool),
                                            Config())
    assert chat is None and notes == ["chat: unavailable (Kick refused the request) - ranked "
                                      "on audio and video"]


def test_a_partial_fetch_scores_what_it_covers_and_leaves_the_rest_to_audio_and_video(
        tmp_path):
    rng = np.random.default_rng(6)
    times = np.r_[poisson(rng, 250, 1200, 1.0), poisson(rng, 900, 906, 12.0)]
    rows = [(START + math.floor(t), i, "W") for i, t in enumerate(times)]
    replay = ChatReplay(rows, START, 250.0, False, "Kick refused the request")
    config = Config(models_dir=tmp_path / "models")
    chat, block, notes = kick_chat.assemble(replay, 1200, 1.0, 1200.0, None,
                                            np.ones(1200, bool), config)
    assert block["available"] and block["covered_from_s"] == 250.0
    assert block["reason"] == "Kick refused the request" and "chat: partial" in notes[0]
    assert not chat.covered[:250 - 8].any() and chat.covered[250:1190].all()

    features = StreamFeatures(1.0, 1200.0, rng.normal(0, 1, (1200, len(AUDIO_FEATURES))),
                              rng.normal(0, 1, (1200, len(VIDEO_FEATURES))),
                              np.ones(1200, bool))
    generator = KickClipGenerator(config)
    without = generator.score(features, config)
    scores = generator.score(features, config, chat=chat)
    assert np.array_equal(scores.combined[~chat.covered], without.combined[~chat.covered])
    assert not np.allclose(scores.combined[chat.covered], without.combined[chat.covered])
    assert np.isnan(scores.chat[~chat.covered]).all()
    ranked = generator.rank(features, scores, config)
    assert 890 <= ranked.chat_highlights[0].peak <= 902  # the burst, 8 s (the default) back
    assert all(h.peak >= 242 for h in ranked.chat_highlights)  # never where chat is unknown


# --- fetching against the fake Kick --------------------------------------------------------

CHANNEL_ID, VOD_ID, DURATION_S = 328683, "019f9a00-0000-7000-8000-000000000001", 600.0


@pytest.fixture
def chat_server(tmp_path):
    with KickServer() as server:
        server.chat[CHANNEL_ID] = make_chat(START, DURATION_S, channel_id=CHANNEL_ID,
                                            rate_per_s=1.0, bursts=((300, 306, 10.0),), seed=5)
        config = Config(kick_base_url=server.base_url, models_dir=tmp_path / "models",
                        chat_request_interval_s=0.0, retry_attempts=2, backoff_base_s=0.01,
                        request_timeout_s=5, chat_block_wait_s=0.1, chat_mode="full")
        yield server, config


def fetch(config, **kw):
    return fetch_replay(config, CHANNEL_ID, VOD_ID, START, DURATION_S, **kw)


def chat_requests(server):
    return [r for r in server.requests if r.path == f"/api/v2/channels/{CHANNEL_ID}/messages"]


def in_window(server):
    return {m["id"] for m in server.chat[CHANNEL_ID]
            if START <= m["_us"] / 1e6 < START + DURATION_S + 1}


def test_paging_walks_back_from_the_end_dedupes_and_stops_at_the_vod_start(chat_server):
    server, config = chat_server
    seen = []
    replay = fetch(config, progress=lambda f, m: seen.append(f))
    cursors = [int(r.query.split("=")[1]) for r in chat_requests(server)]
    assert cursors[0] == int((START + DURATION_S + 1) * 1e6)  # VOD end + 1 s, in µs
    assert cursors == sorted(cursors, reverse=True) and len(set(cursors)) == len(cursors)
    assert replay.complete and replay.reason is None and replay.covered_from_s == 0.0
    wanted = in_window(server)
    assert len(replay.rows) == len(wanted)  # every message of the VOD, each once ...
    served = server.chat_page_size * (len(cursors) - 1)
    assert served > len(wanted)  # ... though the overlapping pages sent some twice
    # it stops at the first page reaching before the start: ~22 new messages a page
    assert len(cursors) <= math.ceil(len(wanted) / (server.chat_page_size
                                                    - server.chat_overlap)) + 2
    assert seen[-1] == 1.0 and seen == sorted(seen)
    chat = chat_features(ChatMessages.from_rows(replay.rows, START), 600, 1.0,
                         duration_s=DURATION_S)
    assert 299 <= int(np.argmax(chat.matrix[:, RATE])) <= 306  # the planted burst


def test_paging_is_paced_at_the_configured_interval(chat_server):
    server, config = chat_server
    server.chat[CHANNEL_ID] = [m for m in server.chat[CHANNEL_ID]
                               if START <= m["_us"] / 1e6 < START + 90]
    fetch(config.replace(chat_request_interval_s=0.15))
    times = [r.time for r in chat_requests(server)]
    # Arrival times at the server carry each request's own latency (a loaded machine delays
    # one by tens of ms, making the next gap look short), so check what pacing guarantees:
    # no burst, and the whole series takes its intervals, give or take one late arrival.
    assert len(times) >= 3 and min(np.diff(times)) >= 0.05
    assert times[-1] - times[0] >= 0.15 * (len(times) - 1) - 0.1


def test_a_finished_fetch_is_cached_and_a_cancelled_one_resumes(chat_server):
    server, config = chat_server
    stop = threading.Event()
    pages = []

    def cancel_after_two(fraction, message):
        pages.append(message)
        if len(pages) == 2:
            stop.set()

    partial = fetch(config, progress=cancel_after_two, stop=stop)
    assert not partial.complete and partial.reason == "cancelled"
    assert len(chat_requests(server)) == 2 and partial.covered_from_s > 500
    state = ChatCache(config.models_dir).begin(
        CHANNEL_ID, VOD_ID, int(START * 1e6), int((START + DURATION_S + 1) * 1e6))
    assert state.pages == 2 and not state.complete

    resumed = fetch(config)  # goes on from the stored cursor, not from the end
    requests = chat_requests(server)
    assert resumed.complete and requests[2].query == f"cursor={state.cursor_us}"
    assert len(resumed.rows) == len(in_window(server))

    again = fetch(config)
    assert again.complete and again.requests == 0 and len(chat_requests(server)) == len(requests)
    assert again.rows == resumed.rows


def test_a_blocked_chat_is_a_reason_not_an_exception(chat_server):
    server, config = chat_server
    server.add_fault(f"/api/v2/channels/{CHANNEL_ID}/messages", Fault.blocked(), times=None)
    replay = fetch(config)
    assert replay.reason == "Kick refused the request" and not replay.complete
    assert replay.rows == [] and len(chat_requests(server)) == 2  # the block waited out once
    server.clear_faults()
    assert fetch(config).complete  # not remembered as done: the next run fetches it


def test_an_empty_replay_and_a_404_end_cleanly(chat_server):
    server, config = chat_server
    server.add_fault("/api/v2/channels/", Fault.json(load_fixture("chat_messages_empty.json")))
    empty = fetch(config)
    assert empty.complete and empty.rows == [] and len(chat_requests(server)) == 1
    server.add_fault("/api/v2/channels/", Fault.json({"message": "Not found"}, 404))
    gone = fetch_replay(config, CHANNEL_ID, "another-vod", START, DURATION_S)
    assert gone.reason == "Kick has no chat replay for this video"


# --- a Kick VOD end to end -----------------------------------------------------------------



def run_cli(capsys, *args):
    code = main.main([*args, "--no-clips", "--json"])
    captured = capsys.readouterr()
    return code, (json.loads(captured.out) if code == 0 else None), captured.err


def legacy_chat_requests(server):
    return server.count(f"/api/v2/channels/{LEGACY_CHANNEL_ID}/messages")


def test_kick_vod_chat_end_to_end(kick, capsys):
    """The sample's loud moment (40-50 s) gets a chat reaction 8 s later, and a chat-only
    burst comes at 128-134 s: the lag is estimated from the first, and the burst is ranked
    first on chat at the moment it answers (~120-126 s)."""
    kick.chat[LEGACY_CHANNEL_ID] = make_chat(
        LEGACY_START, 150, channel_id=LEGACY_CHANNEL_ID, rate_per_s=2.0,
        bursts=((48, 58, 6.0), (128, 134, 20.0)), seed=7)
    code, data, err = run_cli(capsys, LEGACY_VOD)
    assert code == 0, err
    chat = data["chat"]
    assert chat["available"] and chat["messages"] > 300
    assert chat["lag_estimated"] and chat["lag_s"] == pytest.approx(8.0, abs=1.5)
    top = data["chat_highlights"][0]
    assert 119 <= top["peak"] <= 127 and top["kind"] == "chat"
    assert any(r.startswith("chat burst (+") for r in top["reasons"])
    assert all(h["chat_score"] is not None for h in data["highlights"][:3])
    assert (Path(data["run_dir"]) / CHAT_NAME).exists()

    requests = legacy_chat_requests(kick)
    config = Config.from_env()
    reranked = KickClipGenerator(config).rerank(data["run_dir"])
    assert [h.peak for h in reranked.chat_highlights] == [h["peak"] for h in
                                                          data["chat_highlights"]]
    assert reranked.chat == chat

    import gradio_interface as gi  # the UI shows it: a chat column and a chat line
    from ui_cards import DETAIL_HEADERS

    summary, timeline, _, rows, *_ = gi.UI(KickClipGenerator(config), config).show(
        data["run_dir"])
    assert rows[0][DETAIL_HEADERS.index("chat")] == (
        f"{data['highlights'][0]['chat_score']:.2f}")
    assert "<i style='background:#a855f7'></i>chat</span>" in timeline  # its own line
    assert f"Chat counted: {chat['messages']} messages" in summary

    code, again, err = run_cli(capsys, LEGACY_VOD)  # chat from the cache: no requests
    assert code == 0, err
    assert legacy_chat_requests(kick) == requests and again["chat"] == chat


def test_blocked_chat_leaves_the_term_out_and_no_chat_skips_it(kick, capsys, monkeypatch):
    monkeypatch.setenv("KCG_MIN_TRAINING_SAMPLES", "100000")  # both runs: the heuristic alone
    kick.chat[LEGACY_CHANNEL_ID] = make_chat(LEGACY_START, 150, channel_id=LEGACY_CHANNEL_ID,
                                             rate_per_s=2.0, bursts=((128, 134, 20.0),))
    kick.add_fault(f"/api/v2/channels/{LEGACY_CHANNEL_ID}/messages", Fault.blocked(),
                   times=None)
    code, blocked, err = run_cli(capsys, LEGACY_VOD)
    assert code == 0, err
    assert blocked["chat"]["available"] is False
    assert "chat: unavailable (Kick refused the request) - ranked on audio and video" in \
        blocked["notes"]
    assert blocked["chat_highlights"] == []
    assert all(h["chat_score"] is None for h in blocked["highlights"])

    before = legacy_chat_requests(kick)
    code, off, err = run_cli(capsys, LEGACY_VOD, "--no-chat")
    assert code == 0, err
    assert legacy_chat_requests(kick) == before
    assert off["chat"]["reason"] == "turned off"
    # left out, not zeroed: the ranking is exactly the one without chat
    assert [(h["peak"], h["score"]) for h in blocked["highlights"]] == \
        [(h["peak"], h["score"]) for h in off["highlights"]]


def test_slow_chat_is_shown_after_the_analysis_and_a_cancel_keeps_what_was_fetched(
        kick, monkeypatch, tmp_path):
    monkeypatch.setenv("KCG_CHAT_REQUEST_INTERVAL_S", "0.1")
    kick.chat[LEGACY_CHANNEL_ID] = make_chat(LEGACY_START, 150, channel_id=LEGACY_CHANNEL_ID,
                                             rate_per_s=1.5, seed=8)
    kick.chat_page_size = 10  # ~30 pages: ~3 s at 0.1 s a page
    config = Config.from_env(make_clips=False)
    generator = KickClipGenerator(config)
    generator.run(LEGACY_VOD, config.replace(use_chat=False))  # fills the feature cache
    # The chat answers only once the analysis is done and the run waits for it ("chat ..."),
    # however fast or slow the machine is; then it answers at its 0.1 s pace.
    kick.chat_gate = threading.Event()

    cancel = threading.Event()
    seen = []

    def watch(fraction, message):
        seen.append((fraction, message))
        if message.startswith("chat "):
            kick.chat_gate.set()
            waiting = [f for f, m in seen if m.startswith("chat ") and "page" in m]
            if len(waiting) >= 3 and waiting[-1] > waiting[0]:
                cancel.set()  # the user gives up waiting for the chat

    with pytest.raises(Cancelled):
        generator.run(LEGACY_VOD, config, watch, cancel)
    waiting = [(f, m) for f, m in seen if m.startswith("chat ") and "page" in m]
    assert len(waiting) >= 3 and waiting[-1][0] > waiting[0][0]  # the bar keeps moving
    assert [f for f, _ in seen] == sorted(f for f, _ in seen)
    assert len(list((tmp_path / "output_clips").glob("*/highlights.json"))) == 1  # only A's
    first = legacy_chat_requests(kick)
    with sqlite3.connect(tmp_path / "models" / DB_NAME) as db:
        cursor, done = db.execute("SELECT cursor_us, complete FROM chat_fetches").fetchone()
    assert not done

    seen.clear()  # again: the fetch goes on from where it was cancelled
    kick.chat_gate.clear()

    def note(fraction, message):
        seen.append((fraction, message))
        if message.startswith("chat "):
            kick.chat_gate.set()

    result = generator.run(LEGACY_VOD, config, note)
    assert result.chat["available"] and result.timings_s["chat_wait"] > 0.3
    assert [f for f, _ in seen] == sorted(f for f, _ in seen) and seen[-1][0] == 1.0
    resumed = [r for r in kick.requests if r.path.endswith("/messages")][first]
    assert resumed.query == f"cursor={cursor}"  # where B stopped, not the VOD's end


def test_the_summary_says_whether_chat_was_used():
    used = {"available": True, "messages": 812, "lag_s": 7.6, "lag_estimated": True}
    assert main.chat_line(used) == "chat: 812 messages, reaction lag 7.6 s (estimated)"
    assert main.chat_line(kick_chat.unavailable("Kick refused the request")) == \
        "chat: not used (Kick refused the request)"
