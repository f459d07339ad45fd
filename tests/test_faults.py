"""The real pipeline against an HLS server that misbehaves on purpose (tests/kick_server.py)."""

import os
from pathlib import Path

import pytest

from config import Config
from kick_clip_generator import KickClipGenerator
from kick_server import Fault, KickServer


@pytest.fixture
def server(kick_hls):
    with KickServer(hls_dir=kick_hls) as srv:
        yield srv


def analyse(server, tmp_path, name, **changes):
    settings = dict(output_dir=tmp_path / name, models_dir=tmp_path / f"{name}-models",
                    make_clips=False, use_cache=False, request_timeout_s=2.0)
    config = Config(**{**settings, **changes})
    return KickClipGenerator(config).run(server.master_url, config).to_dict()


def moments(data):
    return [(h["start"], h["end"], h["score"]) for h in data["highlights"]]


@pytest.fixture(scope="module")
def clean(kick_hls, tmp_path_factory):
    """The fault-free result, once for the module (its own server: no test's faults reach it)."""
    with KickServer(hls_dir=kick_hls) as srv:
        return analyse(srv, tmp_path_factory.mktemp("clean"), "clean")


def test_segments_answering_500_or_hanging_up_are_fetched_again(server, tmp_path, clean):
    server.add_fault("/hls/160p30/3.ts", Fault.error(500), times=1)
    server.add_fault("/hls/160p30/9.ts", Fault.error(503), times=2)
    server.add_fault("/hls/160p30/6.ts", Fault.reset(0.5), times=1)  # dropped half-way
    faulty = analyse(server, tmp_path, "faulty")
    assert server.count("/hls/160p30/3.ts") >= 2 and server.count("/hls/160p30/9.ts") >= 3
    assert server.count("/hls/160p30/6.ts") >= 2
    assert faulty["skipped_chunks"] == []
    assert moments(faulty) == moments(clean)


@pytest.mark.slow
@pytest.mark.parametrize("path", ["/hls/160p30/playlist.m3u8", "/hls/160p30/0.ts"],
                         ids=["playlist", "first-segment"])
def test_a_probe_that_stalls_once_is_tried_again_and_the_run_goes_on(server, tmp_path, clean,
                                                                     path):
    """The first read of the stream (the probe) hangs once: it is tried again like a
    segment, and the run ends as a clean one does."""
    server.add_fault(path, Fault.hang(), times=1)
    data = analyse(server, tmp_path, "stalled-probe", request_timeout_s=1.0,
                   backoff_base_s=0.1)
    assert server.count(path) >= 2
    assert data["skipped_chunks"] == []
    assert moments(data) == moments(clean)


@pytest.mark.slow
def test_a_probe_that_never_answers_ends_in_one_error_line_after_its_attempts(
        server, tmp_path, monkeypatch, capsys):
    """The first segment never answers: the probe tries it `probe_attempts` times, then one
    line says so."""
    import main

    segment = "/hls/160p30/0.ts"
    server.add_fault(segment, Fault.hang(), times=None)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KCG_REQUEST_TIMEOUT_S", "1")  # the probe waits 2 x 1 s
    monkeypatch.setenv("KCG_PROBE_ATTEMPTS", "3")
    monkeypatch.setenv("KCG_BACKOFF_BASE_S", "0.1")
    assert main.main([server.master_url, "--no-clips"]) == 1
    errors = [ln for ln in capsys.readouterr().err.splitlines() if "error" in ln.lower()]
    assert errors == [f"error: {server.url('/hls/160p30/playlist.m3u8')}: no answer within "
                      "2 s (3 attempts) - check the link"], errors
    # Each attempt is a new ffmpeg; on a loaded machine one may be stopped by the watchdog
    # before it has sent its request, so the server sees between one and three of them.
    assert 1 <= server.count(segment) <= 3


def test_a_media_playlist_that_never_answers_is_one_line_after_its_retries(
        server, tmp_path, monkeypatch, capsys):
    """Whether an HLS link is live is read from its media playlist before the probe: a
    playlist that never answers is retried like any request, then one line."""
    import main

    playlist = "/hls/160p30/playlist.m3u8"
    server.add_fault(playlist, Fault.hang(), times=None)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KCG_REQUEST_TIMEOUT_S", "0.5")
    monkeypatch.setenv("KCG_RETRY_ATTEMPTS", "3")
    monkeypatch.setenv("KCG_BACKOFF_BASE_S", "0.1")
    assert main.main([server.master_url, "--no-clips"]) == 1
    errors = [ln for ln in capsys.readouterr().err.splitlines() if "error" in ln.lower()]
    assert errors == ["error: could not reach 127.0.0.1: timeout (ReadTimeout) on all 3 "
                      "attempts - check the connection and try again"], errors
    assert server.count(playlist) == 3


def test_a_probe_answered_404_is_not_tried_again(server, tmp_path):
    from errors import InputError

    server.add_fault("/hls/160p30/playlist.m3u8", Fault.error(404), times=None)
    with pytest.raises(InputError, match="404"):
        analyse(server, tmp_path, "gone", backoff_base_s=0.1)
    assert server.count("/hls/160p30/playlist.m3u8") == 1


def test_a_vod_whose_playlist_is_shorter_than_kick_says_ends_at_what_exists(kick_hls,
                                                                              tmp_path,
                                                                              monkeypatch):
    """Kick's metadata claims 10 minutes; the playlist holds the sample's few: the run
    analyses what exists, skips nothing and reports both lengths."""
    from kick_server import LEGACY_VOD_ID, load_fixture

    video = load_fixture("video.json")
    video["livestream"]["duration"] = 600_000  # ms
    with KickServer(hls_dir=kick_hls) as kick:
        kick.add_fault(f"/api/v1/video/{LEGACY_VOD_ID}", Fault.json(kick._rewrite(video)),
                       times=None)
        for name in ("KICK_BASE_URL", "KICK_WEB_BASE_URL", "KICK_MOBILE_BASE_URL"):
            monkeypatch.setenv(name, kick.base_url)
        config = Config.from_env(output_dir=tmp_path / "out", models_dir=tmp_path / "models",
                                 make_clips=False, use_cache=False)
        data = KickClipGenerator(config).run(
            f"https://kick.com/xqc/videos/{LEGACY_VOD_ID}", config).to_dict()
    playlist = (kick_hls / "160p30" / "playlist.m3u8").read_text()
    held = sum(float(line[8:].rstrip(",")) for line in playlist.splitlines()
               if line.startswith("#EXTINF:"))
    assert data["kick"]["duration_s"] == 600.0
    assert data["duration_s"] == pytest.approx(held, abs=0.5)
    assert data["skipped_chunks"] == [] and data["highlights"]


@pytest.mark.slow
def test_a_segment_that_never_answers_costs_its_chunk_only(server, tmp_path, clean):
    server.add_fault("/hls/160p30/7.ts", Fault.slow(60), times=None)  # 70-80 s stalls
    data = analyse(server, tmp_path, "stalled", request_timeout_s=1.0)
    skipped = data["skipped_chunks"]
    assert skipped and all(s["start"] < 80 and s["end"] > 70 for s in skipped)  # only its chunks
    assert all("segment 7 could not be read" in s["reason"] for s in skipped)
    # everything after the hole keeps its true time: the video event is still at 100-110 s
    assert any(h["start"] <= 105 <= h["end"] for h in data["video_highlights"][:1])


def test_a_playlist_shorter_than_it_claims_ends_cleanly(server, tmp_path, kick_hls):
    playlist = (kick_hls / "160p30" / "playlist.m3u8").read_text()
    lines = playlist.splitlines()
    cut = [i for i, line in enumerate(lines) if line.endswith(".ts")][8]  # keep 9 segments
    short = "\n".join(lines[:cut + 1]) + "\n#EXT-X-ENDLIST\n"
    server.add_fault("/hls/160p30/playlist.m3u8", Fault.text(short), times=None)
    data = analyse(server, tmp_path, "short")
    kept = sum(float(line[8:].rstrip(",")) for line in short.splitlines()
               if line.startswith("#EXTINF:"))
    assert data["duration_s"] == pytest.approx(kept, abs=0.5)  # what the playlist now holds
    assert data["highlights"] and data["skipped_chunks"] == []


def test_a_corrupt_segment_is_analysed_from_what_decodes(server, tmp_path, kick_hls):
    garbage = (kick_hls / "160p30" / "4.ts").read_bytes()[:5000] + b"\x00garbage" * 4000
    server.add_fault("/hls/160p30/4.ts", Fault.text(garbage.decode("latin-1"),
                                                    content_type="video/mp2t"), times=None)
    data = analyse(server, tmp_path, "corrupt")
    assert data["highlights"]
    assert any(h["start"] <= 45 <= h["end"] for h in data["audio_highlights"][:2])


MARK_S = 60.0  # the moment whose decoders die
CUT_S = 57.0  # a dying decoder's stretch ends here: chunks 0-25-55 whole, 50-80 half-decoded

WRAPPER = """#!{python}
import os, signal, subprocess, sys

argv = sys.argv[1:]
covers_mark = False
if "s16le" in argv and {source!r} in argv:  # a decoder of the stream, not a probe
    start = float(argv[argv.index("-ss") + 1]) if "-ss" in argv else 0.0
    length = argv.index("-t") + 1  # the input-side -t, ahead of -ss and -i
    covers_mark = start <= {mark!r} < start + float(argv[length])
if covers_mark:
    fd = os.open({log!r}, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    os.write(fd, b"x")  # one byte a decoder: the n-th of them meets deaths[n]
    nth = os.fstat(fd).st_size - 1
    os.close(fd)
    deaths = {deaths!r}
    if nth < len(deaths) and deaths[nth] == "mid-chunk":
        argv[length] = str({cut!r} - start)
        subprocess.run([{ffmpeg!r}, *argv], close_fds=False)  # keeps the video pipe
        os.kill(os.getpid(), signal.SIGKILL)
    if nth < len(deaths) and deaths[nth] == "at once":
        os.kill(os.getpid(), signal.SIGKILL)
os.execv({ffmpeg!r}, [{ffmpeg!r}, *argv])
"""


def dying_ffmpeg(folder: Path, ffmpeg: str, source: Path, deaths: list[str]) -> tuple[str, Path]:
    """An ffmpeg for `Config.ffmpeg_binary` that is the real one, except for decoders of
    `source` whose stretch holds MARK_S: the n-th of those meets `deaths[n]` - "mid-chunk":
    it decodes up to CUT_S and is then killed; "at once": killed before it writes anything;
    past the list: it runs normally. Returns (the wrapper, its log: one byte a decoder).
    No watcher racing the decoder: each death is decided by the decoder's own argv."""
    import sys

    log = folder / "decoders-at-mark.log"
    wrapper = folder / "dying-ffmpeg"
    wrapper.write_text(WRAPPER.format(python=sys.executable, source=str(source), mark=MARK_S,
                                      cut=CUT_S, log=str(log), deaths=deaths, ffmpeg=ffmpeg))
    wrapper.chmod(0o755)
    return str(wrapper), log


posix_only = pytest.mark.skipif(os.name != "posix", reason="a shell-less POSIX wrapper: "
                                "shebang, execv, SIGKILL")


@posix_only
def test_a_decoder_killed_mid_chunk_is_retried_and_nothing_is_lost(sample_stream, tmp_path,
                                                                   ffmpeg):
    settings = dict(make_clips=False, use_cache=False, workers=1)
    clean_config = Config(output_dir=tmp_path / "a", models_dir=tmp_path / "ma", **settings)
    clean = KickClipGenerator(clean_config).run(str(sample_stream), clean_config).to_dict()

    wrapper, log = dying_ffmpeg(tmp_path, ffmpeg, sample_stream, ["mid-chunk"])
    config = Config(output_dir=tmp_path / "b", models_dir=tmp_path / "mb",
                    ffmpeg_binary=wrapper, **settings)
    data = KickClipGenerator(config).run(str(sample_stream), config).to_dict()
    assert log.read_bytes() == b"xx"  # killed once, retried once
    assert data["skipped_chunks"] == []
    assert [(h["rank"], h["start"], h["end"]) for h in data["highlights"]] == \
        [(h["rank"], h["start"], h["end"]) for h in clean["highlights"]]


@posix_only
def test_a_chunk_whose_decoder_keeps_dying_is_skipped_and_listed(sample_stream, tmp_path,
                                                                 ffmpeg):
    """Killed once mid-chunk: retried from that chunk. Killed again on the retry: that
    chunk is skipped, listed with the reason, and the run goes on with the chunks after it."""
    wrapper, log = dying_ffmpeg(tmp_path, ffmpeg, sample_stream, ["mid-chunk", "at once"])
    config = Config(output_dir=tmp_path / "out", models_dir=tmp_path / "models",
                    make_clips=False, use_cache=False, workers=1, ffmpeg_binary=wrapper)
    data = KickClipGenerator(config).run(str(sample_stream), config).to_dict()
    assert log.read_bytes() == b"xx"
    skipped = data["skipped_chunks"]
    assert [(s["start"], s["end"]) for s in skipped] == [(50.0, 80.0)], skipped
    assert "ffmpeg failed" in skipped[0]["reason"], skipped
    assert data["highlights"] and data["duration_s"] > skipped[0]["end"]
