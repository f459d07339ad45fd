"""Shared fixtures: generated media with planted events, isolated configs, a loopback server."""

from __future__ import annotations

import functools
import http.server
import shutil
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import demo_media  # noqa: E402
import media  # noqa: E402
from config import Config  # noqa: E402

# The sample stream: 150 s, an audio event and a video event at known times.
AUDIO_EVENT = demo_media.PlantedEvent(40.0, 50.0, "audio")
VIDEO_EVENT = demo_media.PlantedEvent(100.0, 110.0, "video")
SAMPLE_DURATION_S = 150.0


@pytest.fixture(scope="session")
def ffmpeg() -> str:
    return media.find_ffmpeg()


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def sample_stream(media_dir, ffmpeg) -> Path:
    """150 s, 320x180 @ 30 fps, H.264/AAC, calm except for the two planted events."""
    return demo_media.make_stream(media_dir / "sample.mp4", SAMPLE_DURATION_S,
                                  [AUDIO_EVENT, VIDEO_EVENT], width=320, height=180,
                                  ffmpeg=ffmpeg)


@pytest.fixture(scope="session")
def short_stream(media_dir, ffmpeg) -> Path:
    """20 s: shorter than one chunk."""
    return demo_media.make_stream(media_dir / "short.mp4", 20.0,
                                  [demo_media.PlantedEvent(8.0, 12.0, "both")],
                                  width=160, height=90, ffmpeg=ffmpeg)


@pytest.fixture
def config(tmp_path) -> Config:
    """A config whose every folder lives in this test's tmp dir."""
    return Config(output_dir=tmp_path / "out", models_dir=tmp_path / "models",
                  temp_dir=tmp_path / "temp")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="session")
def hls_stream(media_dir, sample_stream, ffmpeg) -> Path:
    """The sample stream as an HLS VOD (6 s segments) beside it: hls/index.m3u8."""
    out = media_dir / "hls"
    out.mkdir(exist_ok=True)
    media.run_ffmpeg([ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-i",
                      str(sample_stream), "-c", "copy", "-f", "hls", "-hls_time", "6",
                      "-hls_playlist_type", "vod", str(out / "index.m3u8")])
    return out / "index.m3u8"


@pytest.fixture(scope="session")
def http_root(media_dir, hls_stream):
    """A static file server on 127.0.0.1 (port 0) over the media folder; yields its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(media_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def kick_hls(tmp_path_factory, sample_stream, short_stream, ffmpeg):
    """hls/720p30 (the sample, stream-copied), hls/160p30 (160x90), hls/clip.mp4."""
    root = tmp_path_factory.mktemp("kick_hls")
    for name, codec in (("720p30", ["-c", "copy"]),
                        ("160p30", ["-vf", "scale=160:90", "-c:v", "libx264", "-preset",
                                    "ultrafast", "-b:v", "150k", "-c:a", "aac", "-b:a", "48k"])):
        out = root / name
        out.mkdir()
        media.run_ffmpeg([ffmpeg, "-loglevel", "error", "-i", str(sample_stream), *codec,
                          "-f", "hls", "-hls_time", "10", "-hls_playlist_type", "vod",
                          "-hls_segment_filename", str(out / "%d.ts"),
                          str(out / "playlist.m3u8")])
    shutil.copy(short_stream, root / "clip.mp4")
    return root


@pytest.fixture
def kick(kick_hls, monkeypatch, tmp_path):
    """A fake Kick on 127.0.0.1 serving the HLS VOD, the app pointed at it (base URLs, quick
    retries, unpaced chat) and run from `tmp_path`, so logs/, models/ and output_clips/ stay
    there."""
    from kick_server import KickServer

    with KickServer(hls_dir=kick_hls) as server:
        for name in ("KICK_BASE_URL", "KICK_WEB_BASE_URL", "KICK_MOBILE_BASE_URL"):
            monkeypatch.setenv(name, server.base_url)
        monkeypatch.setenv("KCG_RETRY_ATTEMPTS", "3")
        monkeypatch.setenv("KCG_BACKOFF_BASE_S", "0.1")
        monkeypatch.setenv("KCG_REQUEST_TIMEOUT_S", "5")
        monkeypatch.setenv("KCG_CHAT_REQUEST_INTERVAL_S", "0")
        monkeypatch.setenv("KCG_CHAT_BLOCK_WAIT_S", "0.2")  # Kick's minute, scaled down
        monkeypatch.setenv("KCG_CHAT_TAIL_S", "3")
        monkeypatch.chdir(tmp_path)
        yield server
