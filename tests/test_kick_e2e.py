"""Kick links through main.py end to end, against a fake Kick on 127.0.0.1 serving an HLS VOD
made from the sample stream (a "720p30" rendition = the sample, a "160p30" one scaled down)."""

import json
from pathlib import Path

import pytest

import main
import media
from conftest import AUDIO_EVENT, VIDEO_EVENT
from kick_server import (
    CLIP_ID,
    LEGACY_CLIP_ID,
    LEGACY_VOD_ID,
    LIVE_SLUG,
    NEW_VOD_ID,
    WEB_SLUG,
    Fault,
)

pytestmark = pytest.mark.slow  # Kick end to end: every test runs the CLI against the fake Kick

LEGACY_VOD = f"https://kick.com/xqc/videos/{LEGACY_VOD_ID}"
NEW_VOD = f"https://kick.com/{WEB_SLUG}/videos/{NEW_VOD_ID}"




def run_cli(capsys, *args) -> tuple[int, dict | None, str]:
    code = main.main([*args, "--json"])
    captured = capsys.readouterr()
    return code, (json.loads(captured.out) if code == 0 else None), captured.err


def covers(h, event) -> bool:
    return h["start"] <= (event.start_s + event.end_s) / 2 <= h["end"]


def test_legacy_vod_analyses_the_small_rendition_and_cuts_from_the_big_one(kick, capsys,
                                                                            ffmpeg):
    code, data, err = run_cli(capsys, LEGACY_VOD, "--no-clips")
    assert code == 0, err
    assert kick.bytes_served("/hls/160p30/") > 0
    assert kick.bytes_served("/hls/720p30/") == 0  # analysis never touched the big one
    assert any(covers(h, AUDIO_EVENT) for h in data["highlights"][:2])
    assert any(covers(h, VIDEO_EVENT) for h in data["highlights"][:2])
    assert data["kick"]["kind"] == "vod" and data["kick"]["channel"] == "xqc"
    assert data["kick"]["url"] == LEGACY_VOD and "master_url" not in data["kick"]
    assert Path(data["run_dir"]).name.startswith("xqc_")

    small = kick.bytes_served("/hls/160p30/")
    code, data, err = run_cli(capsys, LEGACY_VOD, "--top-n", "2")
    assert code == 0, err
    assert any("reused" in n for n in data["notes"])  # second run: features from the cache
    assert kick.bytes_served("/hls/160p30/") - small < 0.1 * small  # only the probe
    assert kick.bytes_served("/hls/720p30/") > 0
    clip = media.probe_media(ffmpeg, data["highlights"][0]["clip_path"])
    assert (clip.width, clip.height) == (320, 180)  # cut from the "720p30" rendition


def test_new_id_vod_goes_through_the_web_api(kick, capsys):
    code, data, err = run_cli(capsys, NEW_VOD, "--no-clips")
    assert code == 0, err
    assert kick.count("/api/v1/stream/", "POST") == 1
    assert kick.bytes_served("/hls/160p30/") > 0
    assert kick.bytes_served("/hls/720p30/") == 0  # the signed master's small rendition only
    assert data["kick"]["id"] == NEW_VOD_ID and data["kick"]["channel"] == WEB_SLUG
    assert any(covers(h, VIDEO_EVENT) for h in data["highlights"][:2])


def test_live_channel_is_followed_for_live_for_seconds_then_stops(kick, capsys, tmp_path):
    """The fixture's live channel plays a finished HLS stream: it is followed (live.py, see
    test_live.py for real live broadcasts) until --live-for is reached."""
    code, data, err = run_cli(capsys, f"https://kick.com/{LIVE_SLUG}", "--live-for", "60",
                              "--top-n", "1")
    assert code == 0, err
    assert data["kick"]["is_live"] is True
    assert data["live"]["state"] == "ended" and "live-for" in data["live"]["reason"]
    assert data["duration_s"] == pytest.approx(60, abs=10)
    assert (Path(data["run_dir"]) / "features.npz").exists()
    assert not list((tmp_path / "temp_chunks").rglob("*.ts"))  # the buffer is gone


@pytest.mark.parametrize("link", [f"https://kick.com/spreen?clip={CLIP_ID}",
                                  f"https://kick.com/spreen/clips/{LEGACY_CLIP_ID}"])
def test_clip_links(link, kick, capsys):
    code, data, err = run_cli(capsys, link, "--top-n", "1")
    assert code == 0, err
    assert data["kick"]["kind"] == "clip"
    assert Path(data["highlights"][0]["clip_path"]).exists()


def test_resolve_prints_the_resolution_and_stops(kick, capsys):
    assert main.main(["--resolve", NEW_VOD]) == 0
    resolved = json.loads(capsys.readouterr().out)
    assert resolved["analysis_url"].endswith("160p30/playlist.m3u8")
    assert resolved["cut_url"].endswith("720p30/playlist.m3u8")
    assert kick.bytes_served("/hls/160p30/") == 0


def test_offline_and_missing_channels_are_one_line_errors(kick, capsys):
    code, _, err = run_cli(capsys, "https://kick.com/ac7ionman")
    assert code == 1 and err.strip().splitlines()[-1].startswith("error: ")
    assert "offline" in err
    code, _, err = run_cli(capsys, "https://kick.com/nosuchchannel")
    assert code == 1 and "error: " in err


def test_blocked_twice_then_through(kick, capsys):
    kick.add_fault("/api/", Fault.blocked(), times=2)
    code, data, err = run_cli(capsys, LEGACY_VOD, "--no-clips")
    assert code == 0, err
    assert kick.count("/api/v1/video/") == 3


def test_challenge_every_time_is_blocked_by_kick_exit_1(kick, capsys, tmp_path):
    kick.add_fault("/api/", Fault.challenge(), times=None)
    code, _, err = run_cli(capsys, LEGACY_VOD)
    assert code == 1
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: Kick refused the request (bot protection)")
    assert "pass --kick-token / the .m3u8 URL" in last  # the engine names the setting in words
    assert not list((tmp_path / "temp_chunks").glob("*"))
    assert not (tmp_path / "output_clips").exists() or not any(
        (tmp_path / "output_clips").iterdir())


def test_rate_limit_waits_as_told(kick, capsys):
    kick.add_fault("/api/", Fault.rate_limited("1"), times=1)
    code, _, err = run_cli(capsys, LEGACY_VOD, "--no-clips")
    assert code == 0, err
    seen = [r for r in kick.requests if r.path.startswith("/api/v1/video/")]
    assert len(seen) == 2 and seen[1].time - seen[0].time >= 0.95


def test_kick_reserved_and_list_pages_exit_2(kick, capsys):
    for link in ("https://kick.com/browse", "https://kick.com/xqc/videos"):
        code, _, err = run_cli(capsys, link)
        assert code == 2 and err.startswith("error: ")


def test_expired_playback_url_is_renewed_and_nothing_is_skipped(kick, capsys):
    """The rendition answers 403 for a while (an expired token): the engine asks Kick for a
    fresh URL and carries on; no chunk is lost."""
    kick.add_fault("/hls/160p30/5.ts", Fault.error(403), times=2)
    kick.add_fault("/hls/720p30/", Fault.error(403), times=1)
    code, data, err = run_cli(capsys, LEGACY_VOD, "--top-n", "1")
    assert code == 0, err
    assert data["skipped_chunks"] == [] and data["failed_clips"] == []
    assert kick.count("/api/v1/video/") >= 2  # resolved again
    assert Path(data["highlights"][0]["clip_path"]).exists()
