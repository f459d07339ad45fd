"""Live mode (live.py): the rolling scorer and trigger on arrays, and whole broadcasts played
faster than real time on loopback (tests/live_server.py) through main.py in-process."""

from __future__ import annotations

import _thread
import contextlib
import io
import json
import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

import demo_media
import live_hls
import live_scoring
import main
import scoring
from audio_analyzer import AUDIO_FEATURES
from config import Config
from errors import InputError
from kick_clip_generator import FEATURES_NAME, KickClipGenerator
from kick_server import LIVE_SLUG, KickServer
from live_server import LiveBroadcast, prepare_renditions
from stream_processor import StreamFeatures
from video_analyzer import VIDEO_FEATURES

# The broadcast: 210 s, three moments after a 30 s warm-up and three decoys between them.
MOMENTS = [demo_media.PlantedEvent(45.0, 57.0, "both"),
           demo_media.PlantedEvent(110.0, 120.0, "audio"),
           demo_media.PlantedEvent(175.0, 185.0, "video")]
DECOYS = [demo_media.PlantedEvent(70.0, 95.0, "brb"),
          demo_media.PlantedEvent(130.0, 155.0, "music"),
          demo_media.PlantedEvent(165.0, 166.0, "cut")]
BROADCAST_S = 210.0
LATENCY_BUDGET_S = 45.0  # broadcast seconds from a moment's end to its clip on disk
# Chat is off unless a test serves it (test_live_chat_joins_the_score...): tests reach no
# server but their own, and the trigger's threshold was tuned on audio and video.
LIVE_ENV = {"KCG_LIVE_POLL_S": "0.1", "KCG_LIVE_WARMUP_S": "30", "KCG_LIVE_STALL_S": "5",
            "KCG_LIVE_WAIT_POLL_S": "0.2", "KCG_USE_CHAT": "0"}


# --- pure parts -------------------------------------------------------------------------------

def _calm(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"audio": rng.normal(1.0, 0.1, (n, len(AUDIO_FEATURES))).astype(np.float32),
            "video": rng.normal(1.0, 0.1, (n, len(VIDEO_FEATURES))).astype(np.float32)}


def _feed(config: Config, rows: dict[str, np.ndarray], step: int = 6,
          chat: np.ndarray | None = None, covered: np.ndarray | None = None):
    scorer = live_scoring.RollingScorer(config, True, True)
    trigger = live_scoring.LiveTrigger(config, config.window_s)
    spans = []
    n = len(rows["audio"])
    for a in range(0, n, step):
        b = min(n, a + step)
        new = scorer.add({m: r[a:b] for m, r in rows.items()}, np.ones(b - a, bool),
                         None if chat is None else chat[a:b],
                         None if covered is None else covered[a:b])
        for i in range(new.start, new.stop):
            span = trigger.feed(scorer.combined.values, i, scorer.warm)
            if span is not None:
                spans.append(span)
    return scorer, trigger, spans


def _bump(rows: dict[str, np.ndarray], start: int, end: int, level: float = 3.0) -> None:
    for r in rows.values():
        r[start:end] += level


def test_each_second_is_scored_against_the_recent_past_with_the_vod_functions():
    config = Config(live_baseline_s=60, live_warmup_s=30)
    rows = _calm(200)
    scorer, _, _ = _feed(config, rows)
    # second 150 came in the batch [150, 156): its baseline is the 60 s before the batch
    med, scale = scoring.robust_baseline(rows["audio"][90:150])
    z = scoring.z_against(rows["audio"][150:151], med, scale)
    assert np.array_equal(scorer.z["audio"].values[150], z[0])
    heuristic = scoring.weighted_score(z, AUDIO_FEATURES, config.audio_weights)
    assert scorer.parts["audio"].values[150] == pytest.approx(float(heuristic[0]), abs=1e-6)


def test_a_moment_is_clipped_once_with_vod_bounds_and_nothing_in_warm_up_or_calm():
    config = Config(live_baseline_s=120, live_warmup_s=30)
    rows = _calm(300)
    _bump(rows, 10, 20)  # in the warm-up: never a clip
    _bump(rows, 100, 112)
    scorer, trigger, spans = _feed(config, rows)
    assert len(spans) == 1
    span = spans[0]
    assert span.event_start == pytest.approx(100, abs=1) and span.event_end == pytest.approx(
        112, abs=1)
    assert (span.start, span.end) == scoring.clip_span(
        span.event_start, span.event_end, math.inf, clip_length_s=config.clip_length_s,
        pre_roll_s=config.pre_roll_s, post_roll_s=config.post_roll_s,
        max_clip_length_s=config.max_clip_length_s)
    assert 100 <= span.peak <= 112
    assert "loud audio" in " ".join(scoring.explain(0, span, scorer.scores(), config,
                                                         None).reasons)


def test_a_one_second_spike_does_not_trigger_and_close_moments_keep_the_min_gap():
    config = Config(live_baseline_s=120, live_warmup_s=30, min_gap_s=10)
    rows = _calm(300)
    _bump(rows, 60, 61)  # one second, however high (a scene cut): 3 s smoothed stay below
    _bump(rows, 100, 110)  # clip 92-122
    _bump(rows, 125, 135)  # began before 122 + min gap: what the first clip runs into
    _bump(rows, 170, 180)  # clip 162-192
    _bump(rows, 205, 215)  # its clip would start at 197: starts at 202 instead
    _, trigger, spans = _feed(config, rows)
    assert [round(s.peak) // 10 for s in spans] == [10, 17, 20]
    assert trigger.dropped and "min_gap" in trigger.dropped[0]["reason"]
    assert spans[2].start == pytest.approx(spans[1].end + 10)
    assert spans[2].start <= spans[2].event_start and spans[2].end >= spans[2].event_end


def test_the_hourly_cap_drops_clips_beyond_it():
    config = Config(live_baseline_s=120, live_warmup_s=30, live_max_clips_per_hour=2)
    rows = _calm(400)
    for start in (80, 160, 240, 320):
        _bump(rows, start, start + 10)
    _, trigger, spans = _feed(config, rows)
    assert len(spans) == 2 and len(trigger.dropped) == 2


def test_chat_joins_where_covered_and_missing_chat_is_never_a_silent_one():
    config = Config(live_baseline_s=120, live_warmup_s=30)
    rows = _calm(200)
    plain, _, _ = _feed(config, rows)
    chat = np.random.default_rng(1).normal(5, 1, (200, live_scoring.CHAT_COLUMNS))
    chat = chat.astype(np.float32)
    none_covered, _, _ = _feed(config, rows, chat=chat, covered=np.zeros(200, bool))
    np.testing.assert_array_equal(plain.combined.values, none_covered.combined.values)
    chat[150:160] += 20
    covered = np.ones(200, bool)
    with_chat, _, _ = _feed(config, rows, chat=chat, covered=covered)
    assert np.nanmean(with_chat.combined.values[150:160]) > np.nanmean(
        plain.combined.values[150:160]) + 0.5
    assert np.isfinite(with_chat.chat_score.values[100:200]).all()


def test_rows_grow_without_copying_every_second():
    rows = live_scoring.Rows(3)
    for i in range(1000):
        rows.extend(np.full((1, 3), i, np.float32))
    assert rows.values.shape == (1000, 3) and rows.values[-1, 0] == 999
    assert len(rows._data) <= 2048


def test_a_segment_start_time_is_read_from_ffmpeg_output():
    import media

    stderr = ("Input #0, mpegts, from 'analysis.ts':\n"
              "  Duration: 00:00:04.00, start: 49.423222, bitrate: 1604 kb/s\n")
    assert media.parse_start_time(stderr) == pytest.approx(49.423222)
    assert media.parse_start_time("Duration: N/A, bitrate: N/A") is None


def test_the_clip_buffer_keeps_only_its_last_seconds_on_disk(tmp_path):
    buffer = live_hls.SegmentBuffer(tmp_path / "high", keep_s=60.0)
    for seq in range(200):
        buffer.add(live_hls.Segment(seq, "", seq * 2.0, 2.0), b"x" * 1000)
    assert len(list((tmp_path / "high").iterdir())) <= 32  # 60 s of 2 s segments, +1
    target = tmp_path / "clip.ts"
    assert buffer.assemble(350.0, 380.0, 360.0, target) == (350.0, 380.0)
    assert target.stat().st_size == 15 * 1000
    assert buffer.assemble(10.0, 40.0, 20.0, target) is None  # aged out
    buffer.close()
    assert not (tmp_path / "high").exists()


# --- broadcasts on loopback -------------------------------------------------------------------

@pytest.fixture(scope="module")
def renditions(tmp_path_factory, ffmpeg) -> Path:
    root = tmp_path_factory.mktemp("live")
    source = demo_media.make_stream(root / "broadcast.mp4", BROADCAST_S, MOMENTS + DECOYS,
                                    width=320, height=180, seed=3, ffmpeg=ffmpeg)
    return prepare_renditions(ffmpeg, source, root / "hls")


@dataclass
class LiveRun:
    code: int
    out: str
    err: str
    data: dict | None
    tmp: Path
    server: KickServer
    broadcast: LiveBroadcast
    clip_seen_at: dict[str, float] = field(default_factory=dict)  # file name -> clock s
    json_snapshots: int = 0
    json_errors: list[str] = field(default_factory=list)
    ended_at_clock: float = 0.0


class _Watcher(threading.Thread):
    """Watches the output folder as another tool would: when each clip file appears (on the
    broadcast's clock) and whether every version of highlights.json reads whole."""

    def __init__(self, run: LiveRun, interrupt_after_clips: int | None = None):
        super().__init__(daemon=True)
        self.run_, self.stop = run, threading.Event()
        self.interrupt_after = interrupt_after_clips

    def run(self) -> None:
        last = None
        while not self.stop.is_set():
            for clip in (self.run_.tmp / "output_clips").glob("*/clip_*.mp4"):
                self.run_.clip_seen_at.setdefault(clip.name, self.run_.broadcast.clock_s())
            for path in (self.run_.tmp / "output_clips").glob("*/highlights.json"):
                stamp = path.stat().st_mtime_ns
                if stamp != last:
                    last = stamp
                    try:
                        data = json.loads(path.read_text())
                        assert data["live"]["state"] in ("live", "ended", "stopped")
                        for h in data["highlights"]:
                            assert h["clip_path"] is None or on_disk(
                                self.run_, h["clip_path"]).exists()
                        self.run_.json_snapshots += 1
                    except (ValueError, KeyError, AssertionError, FileNotFoundError) as err:
                        self.run_.json_errors.append(repr(err))
            if (self.interrupt_after is not None
                    and len(self.run_.clip_seen_at) >= self.interrupt_after):
                self.interrupt_after = None
                _thread.interrupt_main()  # what Ctrl-C does
            time.sleep(0.03)


def run_live(tmp: Path, renditions: Path, args: list[str], *, kick: bool = True,
             interrupt_after_clips: int | None = None, start_after_s: float = 0.0,
             live: LiveBroadcast | None = None, env: dict[str, str] | None = None,
             **broadcast) -> LiveRun:
    """Play the broadcast (`live`, or one made with `broadcast`'s settings) and run main.py on
    it in-process, with `env` over LIVE_ENV; returns what happened."""
    broadcast.setdefault("speed", 8.0)
    live_broadcast = live or LiveBroadcast(renditions, **broadcast)
    with KickServer(live=live_broadcast) as server, pytest.MonkeyPatch.context() as mp:
        for name in ("KICK_BASE_URL", "KICK_WEB_BASE_URL", "KICK_MOBILE_BASE_URL"):
            mp.setenv(name, server.base_url)
        for name, value in {"KCG_RETRY_ATTEMPTS": "3", "KCG_BACKOFF_BASE_S": "0.1",
                            "KCG_REQUEST_TIMEOUT_S": "5", **LIVE_ENV, **(env or {})}.items():
            mp.setenv(name, value)
        mp.chdir(tmp)
        if start_after_s:
            threading.Timer(start_after_s, live_broadcast.start).start()
        else:
            live_broadcast.start()
        source = f"https://kick.com/{LIVE_SLUG}" if kick else server.url(
            live_broadcast.master_path())
        run = LiveRun(0, "", "", None, tmp, server, live_broadcast)
        watcher = _Watcher(run, interrupt_after_clips)
        watcher.start()
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            run.code = main.main([source, "--json", *args])
        run.ended_at_clock = live_broadcast.clock_s()
        time.sleep(0.1)
        watcher.stop.set()
        watcher.join()
        run.out, run.err = out.getvalue(), err.getvalue()
        run.data = json.loads(run.out) if run.code == 0 else None
        return run


def on_disk(run: LiveRun, path: str) -> Path:
    """Run paths are relative to the folder the CLI ran in (as for VOD runs)."""
    return run.tmp / path


def covers(h: dict, event: demo_media.PlantedEvent) -> bool:
    return h["start"] <= event.start_s and h["end"] >= event.end_s


def overlaps(h: dict, event: demo_media.PlantedEvent) -> bool:
    return min(h["end"], event.end_s) > max(h["start"], event.start_s)


@pytest.fixture(scope="module")
def kick_run(renditions, tmp_path_factory) -> LiveRun:
    """The live Kick channel, followed until it goes offline: a playlist empty for its first
    10 s, playback tokens that expire after 40 broadcast seconds, and a playlist that stops
    advancing for 8 s at 150 s (shorter than live_stall_s: survived). Played at 5x: the
    latency budget is in broadcast seconds, and every second of processing counts 5 here."""
    return run_live(tmp_path_factory.mktemp("kick_run"), renditions, [], speed=5.0,
                    empty_for_s=10.0, token_ttl_s=40.0, stall=(150.0, 8.0))


@pytest.mark.slow
def test_kick_channel_is_followed_until_it_ends_and_exits_0(kick_run):
    assert kick_run.code == 0, kick_run.err
    live_block = kick_run.data["live"]
    assert live_block["state"] == "ended" and "ended" in live_block["reason"]
    assert live_block["covered_s"] == pytest.approx(BROADCAST_S, abs=2.5)
    assert kick_run.data["kick"]["is_live"] is True
    assert kick_run.data["skipped_chunks"] == [] and live_block["segments_lost"] == []
    # the token expired several times and was renewed by resolving the channel again
    assert kick_run.broadcast.refused >= 1
    assert kick_run.server.count(f"/api/v2/channels/{LIVE_SLUG}") >= 3


@pytest.mark.slow
def test_every_moment_gets_a_clip_while_the_broadcast_runs(kick_run):
    highlights = kick_run.data["highlights"]
    for moment in MOMENTS:
        h = next((h for h in highlights if covers(h, moment)), None)
        assert h is not None, (moment, highlights)
        name = Path(h["clip_path"]).name
        assert on_disk(kick_run, h["clip_path"]).exists()
        assert on_disk(kick_run, h["thumbnail_path"]).exists()
        latency = kick_run.clip_seen_at[name] - moment.end_s
        assert 0 < latency <= LATENCY_BUDGET_S, (moment, latency)
    first = min(kick_run.clip_seen_at.values())
    assert first < BROADCAST_S  # clips land while it is still on air
    # a line per clip on the terminal, with its reasons
    assert kick_run.err.count("clip at ") == len(highlights)
    assert "loud audio" in kick_run.err


@pytest.mark.slow
def test_decoys_do_not_trigger(kick_run):
    for h in kick_run.data["highlights"]:
        assert any(overlaps(h, m) for m in MOMENTS), h
    assert len(kick_run.data["highlights"]) == len(MOMENTS)


@pytest.mark.slow
def test_highlights_json_is_whole_every_time_and_the_buffer_is_gone(kick_run):
    assert kick_run.json_errors == []
    assert kick_run.json_snapshots >= len(MOMENTS) + 1
    run_dir = on_disk(kick_run, kick_run.data["run_dir"])
    written = json.loads((run_dir / "highlights.json").read_text())
    assert written["live"]["state"] == "ended"
    assert [h["rank"] for h in written["highlights"]] == [1, 2, 3]
    scores = [h["score"] for h in written["highlights"]]
    assert scores == sorted(scores, reverse=True)
    assert not any((kick_run.tmp / "temp_chunks").rglob("*.ts"))


@pytest.mark.slow
def test_a_live_run_folder_works_with_the_finished_run_tools(kick_run, ffmpeg):
    run_dir = on_disk(kick_run, kick_run.data["run_dir"])
    features = StreamFeatures.load(run_dir / FEATURES_NAME)
    assert len(features.valid) == pytest.approx(BROADCAST_S, abs=2.5)
    assert features.valid.mean() > 0.95
    config = Config(output_dir=kick_run.tmp / "output_clips", models_dir=kick_run.tmp / "m")
    generator = KickClipGenerator(config)
    again = generator.rerank(run_dir, config.replace(top_n=3))
    assert any(covers(h.to_dict(), MOMENTS[0]) for h in again.highlights)
    generator.rate(run_dir, 1, 1.0, config)
    with pytest.raises(InputError, match="live run"):
        generator.recut(run_dir, 1, 10.0, 40.0, config)
    # the same seconds through the VOD path on the analysis rendition: the same features
    vod = generator.run(str(kick_run.broadcast.root / "160p30" / "playlist.m3u8"),
                        config.replace(make_clips=False, use_cache=False))
    vod_features = StreamFeatures.load(Path(vod.run_dir) / FEATURES_NAME)
    n = min(len(vod_features.valid), len(features.valid))

    def agree(live_m, vod_m, names, column) -> float:
        """Share of seconds where live and VOD agree within 5% of the column's typical size."""
        a, b = live_m[:n, names.index(column)], vod_m[:n, names.index(column)]
        return float(np.mean(np.abs(a - b) <= 0.05 * (np.median(np.abs(b)) + 1e-9)))

    # video: decoded on the stream's own clock, frame for frame the VOD's
    for column in VIDEO_FEATURES:
        assert agree(features.video, vod_features.video, VIDEO_FEATURES, column) > 0.97, column
    # audio: the heuristic's features; spectra in dB are relative to each decoded stretch's
    # loudest bin (librosa's top_db), which VOD chunks also differ by at their edges
    for column in config.audio_weights:
        assert agree(features.audio, vod_features.audio, AUDIO_FEATURES, column) > 0.85, column


@pytest.mark.slow
def test_plain_hls_url_survives_a_jump_and_ends_cleanly_on_a_stall_without_clips(
        renditions, tmp_path):
    run = run_live(tmp_path, renditions, ["--no-clips"], kick=False,
                   jump=(60.0, 2), discontinuity_at_s=90.0, stall=(150.0, math.inf))
    assert run.code == 0, run.err
    data = run.data
    assert data["live"]["state"] == "ended" and "stalled" in data["live"]["reason"]
    assert data["live"]["covered_s"] == pytest.approx(150, abs=2.5)
    assert data["live"]["segments_lost"]  # the jump, recorded
    gap = data["skipped_chunks"][0]
    assert gap["start"] == pytest.approx(60, abs=1) and gap["end"] == pytest.approx(64, abs=1)
    assert any("stalled" in n for n in data["notes"])
    assert run.server.bytes_served("/live/720p30/") == 0  # --no-clips: nothing of it fetched
    assert run.server.bytes_served("/live/160p30/") > 0
    assert [covers(h, m) for h in data["highlights"] for m in MOMENTS[:2]].count(True) == 2
    assert all(h["clip_path"] is None for h in data["highlights"])


@pytest.mark.slow
def test_ctrl_c_keeps_the_clips_writes_the_json_and_deletes_the_buffer(renditions, tmp_path):
    run = run_live(tmp_path, renditions, [], kick=False, interrupt_after_clips=1)
    assert run.code == 0, run.err
    assert run.data["live"]["state"] == "stopped"
    assert run.ended_at_clock < BROADCAST_S - 20  # it did not run on to the end
    assert len(run.data["highlights"]) >= 1
    assert all(on_disk(run, h["clip_path"]).exists() for h in run.data["highlights"])
    run_dir = on_disk(run, run.data["run_dir"])
    assert json.loads((run_dir / "highlights.json").read_text())["live"]["state"] == "stopped"
    assert (run_dir / FEATURES_NAME).exists()
    assert not any((tmp_path / "temp_chunks").rglob("*.ts"))
    assert not list(run_dir.glob(".*part*"))


@pytest.mark.slow
def test_wait_polls_an_offline_channel_until_it_goes_live_and_a_404_ends_it(renditions,
                                                                            tmp_path):
    """Offline at first (--wait asks again), then live; at the end the playlists answer 404
    and the channel goes offline: the run ends by itself with everything."""
    run = run_live(tmp_path, renditions, ["--wait", "--no-clips"], start_after_s=1.0,
                   speed=10.0, gone_at_end=True)
    assert run.code == 0, run.err
    assert run.data["live"]["state"] == "ended" and "offline" in run.data["live"]["reason"]
    assert run.data["live"]["covered_s"] == pytest.approx(BROADCAST_S, abs=2.5)
    assert run.server.count(f"/api/v2/channels/{LIVE_SLUG}") >= 3  # asked while offline
    assert sum(covers(h, m) for h in run.data["highlights"] for m in MOMENTS) == len(MOMENTS)


@pytest.mark.slow
def test_the_cancel_event_stops_a_live_run_as_ctrl_c_does(renditions, tmp_path):
    """The UI's way to stop: the cancel event, set here from the clip callback."""
    broadcast = LiveBroadcast(renditions, speed=8.0)
    config = Config(output_dir=tmp_path / "out", models_dir=tmp_path / "models",
                    temp_dir=tmp_path / "temp", live_poll_s=0.1, live_warmup_s=30,
                    request_timeout_s=5)
    cancel = threading.Event()
    landed = []

    def on_clip(h) -> None:
        landed.append(h)
        cancel.set()

    with KickServer(live=broadcast) as server:
        broadcast.start()
        result = KickClipGenerator(config).run(server.url(broadcast.master_path()), config,
                                               cancel=cancel, on_clip=on_clip)
    assert result.live["state"] == "stopped" and len(landed) == 1
    assert [h.clip_path for h in result.highlights] == [landed[0].clip_path]
    assert Path(landed[0].clip_path).exists()
    assert not any((tmp_path / "temp").rglob("*.ts"))


@pytest.mark.slow
def test_the_ui_live_view_shows_clips_while_the_broadcast_runs_and_rates_them(
        renditions, tmp_path, monkeypatch):
    """The real Gradio server, driven by gradio_client as the Live tab drives it: Start, the
    timer's status while clips land, Keep on a clip before the broadcast has ended, Stop."""
    import socket

    from gradio_client import Client

    import gradio_interface as gi

    broadcast = LiveBroadcast(renditions, speed=8.0)
    with KickServer(live=broadcast) as server:
        for name in ("KICK_BASE_URL", "KICK_WEB_BASE_URL", "KICK_MOBILE_BASE_URL"):
            monkeypatch.setenv(name, server.base_url)
        for name, value in LIVE_ENV.items():
            monkeypatch.setenv(name, value)
        config = Config.from_env(output_dir=tmp_path / "out", models_dir=tmp_path / "models",
                                 temp_dir=tmp_path / "temp")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        app = gi.launch(config, port=port, open_browser=False, block=False)
        try:
            client = Client(f"http://127.0.0.1:{port}/", verbose=False)
            broadcast.start()
            client.predict(f"https://kick.com/{LIVE_SLUG}", api_name="/live_start")
            with pytest.raises(Exception, match="a live run is going"):
                client.predict(f"https://kick.com/{LIVE_SLUG}", api_name="/live_start")
            cards, deadline = [], time.monotonic() + 120
            while not cards and time.monotonic() < deadline:
                text, plot, cards, choices = client.predict(api_name="/live_status")
                time.sleep(0.3)
            assert cards, text
            assert not broadcast.ended, "the first clip came only after the broadcast"
            assert plot is not None and "clip(s)" in text
            clip_path = choices["choices"][0][1]
            said = client.predict(clip_path, api_name="/live_keep")
            assert "kept" in said and "1 ratings stored" in said
            text, _ = client.predict(api_name="/live_stop")
        finally:
            app.close()
    run_dir = Path(clip_path).parent
    assert f"Saved in `{run_dir}`" in text
    data = json.loads((run_dir / "highlights.json").read_text())
    assert data["live"]["state"] in ("stopped", "ended")
    assert Path(clip_path).exists()
    assert KickClipGenerator(config).model_status(config).ratings == 1
    assert not list((tmp_path / "temp").glob("live-*")), "the live buffer was left behind"


@pytest.mark.slow
def test_live_chat_joins_the_score_at_the_moment_viewers_reacted_to(renditions, tmp_path):
    """Played in real time (chat is timed by the wall clock): a burst of 40 messages from 20
    viewers, sent while the broadcast runs, is counted in the chat rows `chat_lag_s` before it
    was sent; chat.npz and the JSON's chat block say so."""
    from datetime import datetime as _dt
    from datetime import timezone

    from pusher_server import PusherServer, chat_event

    burst_at_s = 30.0  # broadcast seconds
    broadcast = LiveBroadcast(renditions, speed=1.0)
    broadcast.started_at = _dt.now(timezone.utc)  # program date-times on the wall clock
    sent_at: list[float] = []
    with PusherServer() as pusher:
        def burst() -> None:
            pusher.wait_subscribed(timeout_s=30)
            while broadcast.clock_s() < burst_at_s:
                time.sleep(0.05)
            frames = [chat_event("KEKW" if i % 2 else "no way [emote:1:W]", user_id=i % 20,
                                 created_at=time.time(), chatroom_id=32805)
                      for i in range(40)]
            sent_at.append(time.time())
            pusher.send_chat(frames)

        sender = threading.Thread(target=burst, daemon=True)
        sender.start()
        run = run_live(tmp_path, renditions, ["--live-for", "50"], live=broadcast,
                       env={"KCG_USE_CHAT": "1", "KCG_LIVE_CHAT_URL": pusher.url,
                            "KCG_LIVE_WARMUP_S": "15"})
        sender.join(5)
    assert run.code == 0, run.err
    assert sent_at, "the chat burst was never sent"
    assert run.data["chat"]["available"] is True and run.data["chat"]["messages"] == 40
    chat = np.load(on_disk(run, run.data["run_dir"]) / "chat.npz")
    covered, matrix = chat["covered"], chat["matrix"]
    assert covered.sum() >= 20  # the seconds analysed once chat was connected
    started = _dt.fromisoformat(run.data["live"]["started_at"]).timestamp()
    expected = sent_at[0] - started - Config().chat_lag_s  # the second viewers reacted to
    peak = int(np.argmax(np.where(covered, matrix[:, 0], -np.inf)))
    assert abs(peak - expected) <= 3, (peak, expected)
