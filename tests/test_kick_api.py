"""kick_api against a fake Kick on 127.0.0.1: link parsing, resolution per route, HTTP faults."""

from __future__ import annotations

import json
import logging
import time

import pytest

import http_client
import kick_api
from config import Config
from errors import BlockedByKick, ChannelNotFound, InvalidKickURL, KickAPIError, NotLive
from jsonpick import as_float, as_int, json_object, pick
from kick_api import (
    BLOCKED_MESSAGE,
    PLAYBACK_REQUEST_BODY,
    KickAPI,
    KickSession,
    KickURL,
    is_block_response,
    is_kick_url,
    parse_kick_url,
    pick_variants,
)
from kick_server import (
    CLIP_ID,
    DATA_DIR,
    LEGACY_CLIP_ID,
    LEGACY_VOD_ID,
    LIVE_SLUG,
    MOBILE_CLIP_ID,
    NEW_VOD_ID,
    OFFLINE_SLUG,
    SUB_ONLY_VOD_ID,
    WEB_SLUG,
    Fault,
    KickServer,
)
from timecode import file_stamp, hms, kick_epoch_s, kick_iso

TOKEN = "sekrit-session-token-123"


@pytest.fixture
def server():
    with KickServer() as srv:
        yield srv


@pytest.fixture
def waits() -> list[float]:
    """Every backoff the code asked for, instead of really sleeping."""
    return []


def make_config(server: KickServer, **changes) -> Config:
    values = dict(kick_base_url=server.base_url, kick_web_base_url=server.base_url,
                  kick_mobile_base_url=server.base_url, retry_attempts=3, backoff_base_s=1.0,
                  request_timeout_s=5.0)
    values.update(changes)
    return Config(**values)


@pytest.fixture
def api(server, waits):
    with KickAPI(make_config(server), sleep=waits.append) as client:
        yield client


# --------------------------------------------------------------------------------------------
# Links

OLD_ID = LEGACY_VOD_ID
V7_ID = "019f77a6-ec40-7e2d-b1fc-575b6801b20d"


@pytest.mark.parametrize("url, expected", [
    ("https://kick.com/xqc", KickURL("channel", "xqc", None)),
    ("kick.com/xqc", KickURL("channel", "xqc", None)),
    ("www.kick.com/xqc", KickURL("channel", "xqc", None)),
    ("https://www.kick.com/xqc/", KickURL("channel", "xqc", None)),
    ("http://kick.com/xqc", KickURL("channel", "xqc", None)),
    ("HTTPS://KICK.COM/XQC", KickURL("channel", "xqc", None)),
    ("  https://kick.com/xqc?ref=x  ", KickURL("channel", "xqc", None)),
    ("https://kick.com/a-log-burner", KickURL("channel", "a-log-burner", None)),
    ("https://kick.com/Some_User/", KickURL("channel", "some_user", None)),
    ("https://player.kick.com/kitty", KickURL("channel", "kitty", None)),
    ("player.kick.com/Kitty?autoplay=true", KickURL("channel", "kitty", None)),
    (f"https://kick.com/xqc/videos/{OLD_ID}", KickURL("vod", "xqc", OLD_ID)),
    (f"https://www.kick.com/XQC/videos/{OLD_ID.upper()}/", KickURL("vod", "xqc", OLD_ID)),
    (f"kick.com/xqc/videos/{V7_ID}?t=120", KickURL("vod", "xqc", V7_ID)),
    ("https://kick.com/video/54244b5e-050a-4df4-a013-b2433dafbe35",
     KickURL("vod", None, "54244b5e-050a-4df4-a013-b2433dafbe35")),
    ("kick.com/video/54244B5E-050A-4DF4-A013-B2433DAFBE35/",
     KickURL("vod", None, "54244b5e-050a-4df4-a013-b2433dafbe35")),
    ("https://kick.com/mxddy?clip=clip_01GYXVB5Y8PWAPWCWMSBCFB05X",
     KickURL("clip", "mxddy", "clip_01GYXVB5Y8PWAPWCWMSBCFB05X")),
    ("https://kick.com/mxddy/?clip=clip_01GYXVB5Y8PWAPWCWMSBCFB05X",
     KickURL("clip", "mxddy", "clip_01GYXVB5Y8PWAPWCWMSBCFB05X")),
    ("https://kick.com/MXDDY?ref=share&clip=clip_01GYXVB5Y8PWAPWCWMSBCFB05X&t=3",
     KickURL("clip", "mxddy", "clip_01GYXVB5Y8PWAPWCWMSBCFB05X")),
    ("https://kick.com/spreen/clips/clip_01J8RGZRKHXHXXKJEHGRM932A5",
     KickURL("clip", "spreen", "clip_01J8RGZRKHXHXXKJEHGRM932A5")),
    ("kick.com/Spreen/clips/clip_01J8RGZRKHXHXXKJEHGRM932A5/?clip=clip_OTHER",
     KickURL("clip", "spreen", "clip_01J8RGZRKHXHXXKJEHGRM932A5")),
    ("https://kick.com/spreen/clips?clip=clip_01J8RGZRKHXHXXKJEHGRM932A5",
     KickURL("clip", "spreen", "clip_01J8RGZRKHXHXXKJEHGRM932A5")),
])
def test_parse_kick_url_forms(url, expected):
    assert parse_kick_url(url) == expected


@pytest.mark.parametrize("url, message", [
    ("https://kick.com/xqc/videos",
     "https://kick.com/xqc/videos is the list of xqc's videos, not one video - open a video and "
     "paste its link"),
    ("https://kick.com/xqc/videos?sort=views", "list of xqc's videos"),
    ("https://kick.com/XQC/clips", "is the list of xqc's clips, not one clip - open a clip"),
    ("https://kick.com/xqc/clips?sort=date&range=day", "list of xqc's clips"),
    ("https://kick.com/video", "'video' page, not a channel"),
    ("https://kick.com/video/", "'video' page"),
    ("https://kick.com/category/just-chatting", "'category' page"),
    ("https://kick.com/xqc/about", "paste https://kick.com/xqc for the live stream"),
    ("https://kick.com", "front page"),
    ("kick.com/", "front page"),
    ("https://player.kick.com/", "names no channel"),
    ("https://kick.com/x%20y", "not a Kick channel name"),
    ("https://kick.com/xqc/videos/not*an*id", "not a Kick video id"),
    # Kick VOD ids are UUIDs (old random ones and the 2026 019f... ones), never short numbers
    ("https://kick.com/xqc/videos/1",
     "https://kick.com/xqc/videos/1: '1' is not a Kick video id - open the video on kick.com "
     "and paste the link from the address bar (it ends in an id like "
     "5c697a87-afce-4256-b01f-3c8fe71ef5cb)"),
    ("kick.com/video/12345", "'12345' is not a Kick video id - open the video on kick.com"),
    ("https://kick.com/xqc/videos/5c697a87-afce-4256-b01f", "is not a Kick video id"),
    ("https://kick.com/xqc/videos/clip_01J8RGZRKHXHXXKJEHGRM932A5", "is not a Kick video id"),
    ("https://kick.com/xqc/videos/019f704e-f6b8-7e32-af4a-c911dc98686bxx", "not a Kick video id"),
    ("https://twitch.tv/xqc", "not a Kick link"),
    ("https://notkick.com/xqc", "not a Kick link"),
    ("https://kick.com.evil.example/xqc", "not a Kick link"),
    ("https://clips.kick.com/clips/f2/x/playlist.m3u8", "not a Kick link"),
    ("ftp://kick.com/xqc", "not a Kick link"),
    ("xqc", "not a Kick link"),
    ("", "no link given"),
])
def test_parse_kick_url_refuses_non_items(url, message):
    with pytest.raises(InvalidKickURL) as info:
        parse_kick_url(url)
    assert message in str(info.value)
    assert info.value.exit_code == 2


@pytest.mark.parametrize("segment", sorted(kick_api.RESERVED_SEGMENTS))
def test_reserved_segments_are_not_channels(segment):
    with pytest.raises(InvalidKickURL, match="not a channel, video or clip"):
        parse_kick_url(f"https://kick.com/{segment}")
    with pytest.raises(InvalidKickURL):
        parse_kick_url(f"www.kick.com/{segment.upper()}/")


@pytest.mark.parametrize("text, expected", [
    ("https://kick.com/xqc", True),
    ("kick.com/xqc", True),
    ("www.kick.com/xqc/videos", True),
    ("HTTP://WWW.KICK.COM/xqc", True),
    ("https://player.kick.com/kitty", True),
    ("https://kick.com/xqc/videos", True),  # a Kick link, even though not a playable item
    ("https://web.kick.com/api/v1/stream/manifest.m3u8", False),
    ("https://clips.kick.com/clips/a.mp4", False),
    ("https://kick.com.evil.example/xqc", False),
    ("https://example.com/kick.com/xqc", False),
    ("/home/me/kick.com/video.mp4", False),
    ("video.mp4", False),
    ("ftp://kick.com/xqc", False),
    ("", False),
])
def test_is_kick_url(text, expected):
    assert is_kick_url(text) is expected


def test_kickurl_page_url():
    assert KickURL("vod", "xqc", OLD_ID).page_url == f"https://kick.com/xqc/videos/{OLD_ID}"
    assert KickURL("clip", "spreen", CLIP_ID).page_url == \
        f"https://kick.com/spreen/clips/{CLIP_ID}"


# --------------------------------------------------------------------------------------------
# Master playlists


def test_pick_variants_relative_uris_by_bandwidth():
    master = (DATA_DIR / "vod_master.m3u8").read_text()
    url = "https://stream.kick.com/ivs/v1/196233775518/Ds/2025/8/25/0/40/Hq/media/hls/master.m3u8"
    low, high = pick_variants(master, url)
    base = url.rsplit("/", 1)[0]
    assert low == f"{base}/160p30/playlist.m3u8"
    assert high == f"{base}/1080p60/playlist.m3u8"


def test_pick_variants_absolute_uris_kept():
    master = (DATA_DIR / "master.m3u8").read_text()
    low, high = pick_variants(master, "https://x.playback.live-video.net/a.m3u8?token=t")
    assert low.startswith("https://fa723fc1b171.use22.playlist.live-video.net/")
    assert "160p30" in low and "1080p60" in high


def test_pick_variants_order_in_file_does_not_matter():
    master = "\n".join([
        "#EXTM3U",
        "#EXT-X-STREAM-INF:BANDWIDTH=3000000,RESOLUTION=1280x720", "../r/720p60/index.m3u8",
        "#EXT-X-STREAM-INF:BANDWIDTH=200000,RESOLUTION=284x160", "160p30/index.m3u8",
        "#EXT-X-STREAM-INF:BANDWIDTH=9000000,RESOLUTION=1920x1080", "/abs/1080p60/index.m3u8",
        "#EXT-X-STREAM-INF:BANDWIDTH=600000,RESOLUTION=640x360", "360p30/index.m3u8",
    ])
    low, high = pick_variants(master, "http://h.test/v/m/master.m3u8?sig=abc")
    assert low == "http://h.test/v/m/160p30/index.m3u8"  # the master's query is not inherited
    assert high == "http://h.test/abs/1080p60/index.m3u8"


def test_pick_variants_media_playlist_is_its_own_variant():
    media = (DATA_DIR / "vod_1080p60_playlist.m3u8").read_text()
    url = "http://h.test/clip/playlist.m3u8"
    assert pick_variants(media, url) == (url, url)


def test_pick_variants_rejects_non_playlists():
    with pytest.raises(KickAPIError, match="not an HLS playlist"):
        pick_variants("<html>nope</html>", "http://h.test/master.m3u8?token=secret")


def test_pick_walks_objects_and_gives_none_for_any_wrong_step():
    body = {"livestream": {"playback_url": "u", "channel": {"id": "7"}, "n": 0}, "data": [1]}
    assert pick(body, "livestream", "playback_url", type=str) == "u"
    assert pick(body, "livestream", "channel", type=dict) == {"id": "7"}
    assert pick(body, "livestream", "n", type=str) is None  # wrong type
    assert pick(body, "livestream", "n") == 0  # falsy values come back as they are
    assert pick(body, "missing", "playback_url") is None
    assert pick(body, "data", "x") is None  # a list is no object
    assert pick(None, "a") is None and pick("text", "a") is None
    assert as_int(pick(body, "livestream", "channel", "id")) == 7
    assert as_int("") is None and as_int("x") is None and as_float("1.5") == 1.5
    assert json_object('{"a": 1}') == {"a": 1} and json_object("[1]") is None
    assert json_object("not json") is None and json_object({"b": 2}) == {"b": 2}


def test_kick_timestamps_and_timecodes():
    assert kick_iso("2025-08-25 00:40:42") == "2025-08-25T00:40:42Z"  # no zone: UTC
    assert kick_iso("2026-09-30T19:38:06+02:00") == "2026-09-30T17:38:06Z"
    assert kick_iso("2026-09-30T17:38:06.000000Z") == "2026-09-30T17:38:06Z"
    assert kick_iso("soon") == "soon"  # shown as Kick sent it
    assert kick_iso("0001-01-01T00:00:00Z") is None and kick_iso("") is None
    assert kick_epoch_s("2025-08-25 00:40:42") == kick_epoch_s("2025-08-25T00:40:42Z")
    assert kick_epoch_s("soon") is None and kick_epoch_s(None) is None
    assert (hms(3725.4), hms(59.6), hms(0)) == ("1:02:05", "0:01:00", "0:00:00")
    assert (file_stamp(3725.9), file_stamp(65)) == ("01-02-05", "00-01-05")


def test_block_detection():
    blocked = (DATA_DIR / "cloudflare_blocked_403.json").read_bytes()
    challenge = (DATA_DIR / "cloudflare_challenge.html").read_bytes()
    assert is_block_response(403, {"content-type": "application/json"}, blocked)
    assert is_block_response(403, {"content-type": "text/html"}, challenge)
    assert is_block_response(503, {}, challenge)
    assert is_block_response(403, {"cf-mitigated": "challenge"}, b"")
    assert not is_block_response(403, {}, b'{"message": "Subscribers only"}')
    assert not is_block_response(200, {"content-type": "video/mp2t"}, b"\x47" * 1000)


# --------------------------------------------------------------------------------------------
# Resolution


def test_live_channel(api, server):
    stream = api.resolve(f"https://kick.com/{LIVE_SLUG}")
    assert (stream.kind, stream.channel, stream.id) == ("channel", LIVE_SLUG, "64712345")
    assert stream.is_live and stream.duration_s is None
    assert stream.title == "NoPixel 4.0 | Lang Buddha | !merch"
    assert stream.created_at == "2025-07-17T16:02:10Z"
    assert stream.channel_id == 32807
    assert stream.thumbnail.endswith("/thumb0.jpg")
    assert stream.master_url.startswith(server.master_url + "?token=eyJ")
    assert stream.analysis_url == server.url("/hls/160p30/playlist.m3u8")
    assert stream.cut_url == server.url("/hls/1080p60/playlist.m3u8")
    assert stream.page_url == "https://kick.com/buddha"
    assert server.count("/api/v2/channels/") == 1
    assert json.loads(json.dumps(stream.to_dict()))["cut_url"] == stream.cut_url


def test_resolving_again_gets_a_new_token(api, server):
    first = api.resolve(KickURL("channel", LIVE_SLUG, None))
    server.channels[LIVE_SLUG]["playback_url"] = server.master_url + "?token=fresh"
    again = api.resolve(first.page_url)
    assert again.master_url == server.master_url + "?token=fresh"
    assert again.analysis_url == first.analysis_url
    assert server.count(f"/api/v2/channels/{LIVE_SLUG}") == 2


def test_offline_channel(api, server):
    with pytest.raises(NotLive) as info:
        api.resolve(f"kick.com/{OFFLINE_SLUG}")
    assert str(info.value) == (f"{OFFLINE_SLUG} is offline right now - paste one of their VOD "
                               f"links (kick.com/{OFFLINE_SLUG}/videos) instead")
    assert server.count("/hls/") == 0


def test_unknown_channel_is_not_found_and_not_retried(api, server, waits):
    with pytest.raises(ChannelNotFound, match="no channel called 'nobody'"):
        api.resolve("kick.com/nobody")
    assert server.count("/api/") == 1 and waits == []


def test_live_falls_back_to_livestream_endpoint(server, waits):
    server.add_fault(f"/api/v2/channels/{LIVE_SLUG}", Fault.error(500), times=2)
    with KickAPI(make_config(server, retry_attempts=2), sleep=waits.append) as client:
        stream = client.resolve(f"kick.com/{LIVE_SLUG}")
    assert server.count(f"/api/v2/channels/{LIVE_SLUG}/livestream") == 1
    assert stream.id == "43094511" and stream.title.startswith("🎅BIG OPENING")
    assert stream.created_at == "2024-12-07T12:59:51Z"
    assert stream.analysis_url == server.url("/hls/160p30/playlist.m3u8")


def test_livestream_endpoint_offline_means_not_live(server, waits):
    server.add_fault(f"/api/v2/channels/{OFFLINE_SLUG}", Fault.error(502), times=1)
    with KickAPI(make_config(server, retry_attempts=1), sleep=waits.append) as client:
        with pytest.raises(NotLive):
            client.resolve(f"kick.com/{OFFLINE_SLUG}")
    assert server.count(f"/api/v2/channels/{OFFLINE_SLUG}/livestream") == 1


def test_blocked_channel_does_not_fall_back(server, waits):
    server.add_fault("/api/", Fault.blocked(), times=None)
    with KickAPI(make_config(server), sleep=waits.append) as client:
        with pytest.raises(BlockedByKick):
            client.resolve(f"kick.com/{LIVE_SLUG}")
    assert server.count("/api/v2/channels/") == 3  # three attempts, no E2


def test_old_id_vod_uses_legacy_endpoint(api, server):
    stream = api.resolve(f"https://kick.com/xqc/videos/{LEGACY_VOD_ID}")
    assert (stream.kind, stream.channel, stream.id) == ("vod", "xqc", LEGACY_VOD_ID)
    assert stream.duration_s == 22278.0  # livestream.duration is in milliseconds
    assert stream.created_at == "2025-08-25T00:40:42Z"
    assert stream.channel_id == 668 and not stream.is_live
    assert stream.title.startswith("🐗LIVE🐗")
    assert stream.master_url == server.master_url
    assert stream.analysis_url == server.url("/hls/160p30/playlist.m3u8")
    assert stream.cut_url == server.url("/hls/1080p60/playlist.m3u8")
    assert server.count("/api/v1/video/") == 1 and server.count("/api/v2/channels/") == 0


def test_legacy_slugless_vod_link_with_old_id(api):
    stream = api.resolve(f"https://kick.com/video/{LEGACY_VOD_ID}")
    assert stream.channel == "xqc"
    assert stream.page_url == f"https://kick.com/xqc/videos/{LEGACY_VOD_ID}"


def test_new_id_vod_uses_web_api(api, server):
    stream = api.resolve(f"https://kick.com/{WEB_SLUG}/videos/{NEW_VOD_ID}")
    assert (stream.kind, stream.channel, stream.id) == ("vod", WEB_SLUG, NEW_VOD_ID)
    assert stream.duration_s == 25514.0  # web API durations are seconds
    assert stream.title == "Fanatics feat. Special Guests"
    assert stream.created_at == "2026-07-17T13:40:51Z"
    assert stream.channel_id == 1227772
    assert stream.master_url.startswith(server.url("/api/v1/stream/manifest.m3u8?init="))
    assert stream.analysis_url == server.url("/hls/160p30/playlist.m3u8")
    assert stream.cut_url == server.url("/hls/1080p60/playlist.m3u8")
    assert server.count("/api/v1/video/") == 0
    assert server.count(f"/api/v1/channels/1227772/videos/{NEW_VOD_ID}") == 1
    [post] = [r for r in server.requests if r.method == "POST"]
    assert post.path == f"/api/v1/stream/{NEW_VOD_ID}/playback"
    assert json.loads(post.body) == PLAYBACK_REQUEST_BODY
    assert post.headers["content-type"] == "application/json"


def test_old_id_missing_from_legacy_api_tries_web_api(api, server):
    old_style = "6d1e2f3a-1b2c-4d5e-8f90-a1b2c3d4e5f6"
    server.web_videos[old_style] = {**server.web_videos[NEW_VOD_ID], "id": old_style}
    stream = api.resolve(f"kick.com/{WEB_SLUG}/videos/{old_style}")
    assert stream.id == old_style and stream.duration_s == 25514.0
    assert server.count(f"/api/v1/video/{old_style}") == 1
    assert server.count(f"/api/v1/stream/{old_style}/playback") == 1


def test_slugless_link_with_new_id_needs_the_channel(api, server):
    with pytest.raises(InvalidKickURL, match="channel name is needed"):
        api.resolve(f"https://kick.com/video/{NEW_VOD_ID}")
    assert server.requests == []


def test_slugless_link_with_unknown_old_id(api):
    with pytest.raises(ChannelNotFound, match="may have expired"):
        api.resolve("https://kick.com/video/6d1e2f3a-1b2c-4d5e-8f90-a1b2c3d4e5f6")


def test_sub_only_vod_asks_for_a_token(api):
    with pytest.raises(KickAPIError, match="subscribers only - pass a Kick session token"):
        api.resolve(f"kick.com/{WEB_SLUG}/videos/{SUB_ONLY_VOD_ID}")


def test_unknown_new_vod_is_not_found(api, server):
    with pytest.raises(ChannelNotFound, match="no video"):
        api.resolve(f"kick.com/{WEB_SLUG}/videos/019f0000-0000-7000-8000-000000000000")
    assert server.count("/api/v1/stream/", method="POST") == 1


def test_clip_via_clips_endpoint(api, server):
    stream = api.resolve(f"https://kick.com/spreen/clips/{CLIP_ID}")
    assert (stream.kind, stream.channel, stream.id) == ("clip", "spreen", CLIP_ID)
    assert stream.title == "KLJASLDJKLJKASDLJKDAS"
    assert stream.duration_s == 43.0 and stream.channel_id == 5312671
    assert stream.created_at == "2024-09-27T01:18:58Z"
    assert stream.thumbnail.startswith("https://clips.kick.com/")
    # the clip playlist is a media playlist: it is both the analysis and the cut source
    assert stream.master_url == server.url(f"/clips/f2/{CLIP_ID}/playlist.m3u8")
    assert stream.analysis_url == stream.cut_url == stream.master_url
    assert server.count("/api/v2/clips/") == 1 and server.count("/api/v1/clips/") == 0


def test_clip_via_play_endpoint(api, server):
    server.add_fault(f"/api/v2/clips/{CLIP_ID}", Fault.json({"message": "nope"}, 404), times=1)
    stream = api.resolve(f"kick.com/spreen?clip={CLIP_ID}")
    assert stream.id == CLIP_ID
    assert [r.path for r in server.requests if r.path.startswith("/api/")] == [
        f"/api/v2/clips/{CLIP_ID}", f"/api/v2/clips/{CLIP_ID}/play"]


def test_clip_via_mobile_fallback(api, server):
    stream = api.resolve(f"kick.com/n3on?clip={MOBILE_CLIP_ID}")
    assert (stream.channel, stream.title, stream.duration_s) == ("n3on", "woah", 60.0)
    assert stream.master_url == server.url(f"/clips/19/{MOBILE_CLIP_ID}/playlist.m3u8")
    assert server.count("/api/v2/clips/") == 2 and server.count("/api/v1/clips/") == 1


def test_clip_mobile_fallback_when_kick_com_is_blocked(server, waits):
    server.add_fault("/api/v2/", Fault.blocked(), times=None)
    with KickAPI(make_config(server), sleep=waits.append) as client:
        stream = client.resolve(f"kick.com/n3on?clip={MOBILE_CLIP_ID}")
    assert stream.title == "woah"
    # kick.com refused all 3 attempts at E10, so E10b (same host) is skipped for E11
    assert server.count("/api/v2/clips/") == 3 and server.count("/api/v1/clips/") == 1


def test_legacy_mp4_clip(api, server):
    stream = api.resolve(f"kick.com/fallenshortgaming?clip={LEGACY_CLIP_ID}")
    assert stream.master_url.endswith("/clips/871d6cd1-d322-49c8-b96c-cba506a3400d.mp4")
    assert stream.master_url == stream.analysis_url == stream.cut_url
    assert stream.created_at == "2023-06-09T12:53:10Z"  # started_at is Kick's zero date
    assert server.count("/clips/") == 0  # nothing to parse in an mp4


def test_clip_with_variant_master(api, server):
    server.clips[CLIP_ID]["clip"]["clip_url"] = server.master_url
    stream = api.resolve(f"kick.com/spreen/clips/{CLIP_ID}")
    assert stream.analysis_url == server.url("/hls/160p30/playlist.m3u8")
    assert stream.cut_url == server.url("/hls/1080p60/playlist.m3u8")


def test_unknown_clip_is_not_found(api, server):
    with pytest.raises(ChannelNotFound, match="no clip clip_NOPE"):
        api.resolve("kick.com/xqc?clip=clip_NOPE")
    assert server.count("/api/") == 3


def test_expired_playlist_is_not_found(api, server):
    server.add_fault("/hls/master.m3u8", Fault.text("gone", 404), times=None)
    with pytest.raises(ChannelNotFound, match="may have expired"):
        api.resolve(f"kick.com/xqc/videos/{LEGACY_VOD_ID}")


def test_token_goes_to_kick_api_only_and_is_never_logged(server, waits, caplog):
    caplog.set_level(logging.DEBUG)
    server.add_fault(f"/api/v2/channels/{LIVE_SLUG}", Fault.error(503), times=1)
    with KickAPI(make_config(server, kick_token=TOKEN), sleep=waits.append) as client:
        client.resolve(f"kick.com/{LIVE_SLUG}")
        client.resolve(f"kick.com/{WEB_SLUG}/videos/{NEW_VOD_ID}")
    for request in server.requests:
        expected = f"Bearer {TOKEN}" if request.path.startswith("/api/v") and \
            "manifest" not in request.path else None
        assert request.headers.get("authorization") == expected, request.path
    assert caplog.records and all(TOKEN not in r.getMessage() for r in caplog.records)
    assert all("eyJ" not in r.getMessage() for r in caplog.records)  # playback JWTs neither


# --------------------------------------------------------------------------------------------
# The HTTP layer


def test_blocked_twice_then_success(server, waits, caplog):
    caplog.set_level(logging.WARNING, logger="http_client")
    server.add_fault("/api/", Fault.blocked(), times=2)
    with KickAPI(make_config(server, retry_attempts=5), sleep=waits.append) as client:
        stream = client.resolve(f"kick.com/{LIVE_SLUG}")
    assert stream.channel == LIVE_SLUG
    assert server.count(f"/api/v2/channels/{LIVE_SLUG}") == 3
    assert waits == [1.0, 2.0]
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.endswith("retrying (2/5) in 1 s: blocked by Kick's bot protection (HTTP 403)")
               for m in messages), messages
    assert any("retrying (3/5) in 2 s" in m for m in messages)
    agents = [r.headers["user-agent"] for r in server.requests if r.path.startswith("/api/")]
    assert "Chrome/" in agents[0] and "Firefox/" in agents[1]  # rotated on retry


def test_challenge_page_always_raises_blocked(server):
    server.add_fault("/api/", Fault.challenge(), times=None)
    with KickAPI(make_config(server, retry_attempts=4, backoff_base_s=0.0)) as client:
        with pytest.raises(BlockedByKick) as info:
            client.resolve(f"kick.com/{LIVE_SLUG}")
    assert str(info.value) == BLOCKED_MESSAGE
    assert "--" not in str(info.value)  # the UI shows it as it is; the CLI names the flag
    assert info.value.setting == "kick_token"
    assert server.count("/api/") == 4


def test_retry_after_is_honoured(server):
    server.add_fault("/api/", Fault.rate_limited("1"), times=1)
    with KickAPI(make_config(server, backoff_base_s=0.0)) as client:  # really sleeps
        started = time.monotonic()
        client.resolve(f"kick.com/{LIVE_SLUG}")
        elapsed = time.monotonic() - started
    assert 0.95 <= elapsed < 5
    assert server.count(f"/api/v2/channels/{LIVE_SLUG}") == 2


def test_retry_after_is_capped_and_backoff_used_without_it(server, waits):
    server.add_fault("/api/", Fault.rate_limited("3600"), times=1)
    server.add_fault("/api/", Fault.rate_limited(None), times=1)
    config = make_config(server, retry_attempts=3, backoff_base_s=0.5)
    with KickSession(config, sleep=waits.append) as session:
        response = session.get(server.url(f"/api/v2/channels/{LIVE_SLUG}"))
    assert response.status == 200
    assert waits == [http_client.RETRY_AFTER_MAX_S, 1.0]


def test_rate_limit_that_never_ends(server, waits):
    server.add_fault("/api/", Fault.rate_limited("2"), times=None)
    with KickSession(make_config(server), sleep=waits.append) as session:
        with pytest.raises(KickAPIError, match="rate-limiting us"):
            session.get(server.url("/api/v2/channels/xqc"))
    assert waits == [2.0, 2.0]


def test_server_error_burst_is_retried_with_backoff(server, waits, caplog):
    caplog.set_level(logging.WARNING, logger="http_client")
    server.add_fault("/api/", Fault.error(500), times=3)
    with KickSession(make_config(server, retry_attempts=5), sleep=waits.append) as session:
        response = session.get(server.url(f"/api/v2/channels/{LIVE_SLUG}"))
    assert response.ok and response.json()["slug"] == LIVE_SLUG
    assert waits == [1.0, 2.0, 4.0]
    assert any(r.getMessage().endswith("retrying (2/5) in 1 s: HTTP 500")
               for r in caplog.records)
    assert all(r.levelno == logging.WARNING for r in caplog.records)


def test_server_errors_that_never_end(server, waits):
    server.add_fault("/", Fault.error(503), times=None)
    with KickSession(make_config(server, retry_attempts=5), sleep=waits.append) as session:
        with pytest.raises(KickAPIError, match=r"kept failing \(HTTP 503\) through 5 attempts"):
            session.get(server.url("/hls/master.m3u8"))
    assert waits == [1.0, 2.0, 4.0, 8.0]
    assert server.count("/hls/") == 5


def test_not_found_is_not_retried(server, waits):
    with KickSession(make_config(server, retry_attempts=5), sleep=waits.append) as session:
        response = session.get(server.url("/api/v2/channels/nobody"))
    assert response.status == 404
    assert response.json() == {"message": "Channel not found."}
    assert server.count("/api/") == 1 and waits == []


def test_country_block_is_an_error_at_once(server, waits):
    server.add_fault("/api/", Fault.json({"message": "Unavailable in your country"}, 423))
    with KickSession(make_config(server), sleep=waits.append) as session:
        with pytest.raises(KickAPIError, match="country"):
            session.get(server.url("/api/v2/channels/xqc"))
    assert server.count("/api/") == 1


def test_timeout_is_retried_then_fails(server, waits):
    server.add_fault("/api/", Fault.slow(1.5), times=None)
    config = make_config(server, retry_attempts=2, request_timeout_s=0.3)
    started = time.monotonic()
    with KickAPI(config, sleep=waits.append) as client:
        with pytest.raises(KickAPIError, match="timeout") as info:
            client.resolve(f"kick.com/{OFFLINE_SLUG}")
    assert time.monotonic() - started < 2.5  # 2 x E1 + 2 x E2, each cut off at 0.3 s
    assert not isinstance(info.value, BlockedByKick)
    assert server.count(f"/api/v2/channels/{OFFLINE_SLUG}") == 4
    assert waits == [1.0, 1.0]


def test_one_timeout_then_success(server, waits):
    server.add_fault("/api/", Fault.slow(1.0), times=1)
    config = make_config(server, request_timeout_s=0.3)
    with KickSession(config, sleep=waits.append) as session:
        assert session.get(server.url(f"/api/v2/channels/{LIVE_SLUG}")).ok
    assert waits == [1.0]


def test_connection_refused_is_retried_then_fails(server, waits):
    dead_url = server.url("/api/v2/channels/xqc")
    server.close()
    with KickSession(make_config(server, retry_attempts=3), sleep=waits.append) as session:
        with pytest.raises(KickAPIError, match="could not reach 127.0.0.1") as info:
            session.get(dead_url)
    assert info.value.__cause__ is not None
    assert waits == [1.0, 2.0]


def test_api_hosts_are_impersonated_and_media_hosts_are_not(server):
    with KickSession(make_config(server)) as session:
        session.get(server.url("/api/v2/channels/xqc"))
    with KickSession(Config()) as session:  # 127.0.0.1 is no API host here: plain requests
        session.get(server.master_url)
    api_request, media_request = server.requests
    assert "sec-ch-ua" in api_request.headers  # sent by curl_cffi's Chrome impersonation
    assert api_request.headers["sec-fetch-mode"] == "cors"
    assert api_request.headers["accept"].startswith("application/json")
    assert "sec-ch-ua" not in media_request.headers
    assert media_request.headers["user-agent"] in http_client.USER_AGENTS
    assert "origin" not in media_request.headers


def test_the_generic_layer_knows_nothing_of_kick(server, waits):
    """http_client.RetrySession alone: a Kick block page and a 423 are answers like any other
    (KickSession is what retries the one and refuses the other)."""
    server.add_fault("/api/", Fault.blocked(), times=1)
    server.add_fault("/api/", Fault.json({"message": "Unavailable in your country"}, 423))
    with http_client.RetrySession(make_config(server), sleep=waits.append) as session:
        url = server.url(f"/api/v2/channels/{LIVE_SLUG}")
        assert session.get(url).status == 403
        assert session.get(url).status == 423
        assert session.get(url).ok
    assert waits == [] and server.count("/api/") == 3
    assert "sec-ch-ua" not in server.requests[0].headers  # no host named for impersonation


def test_without_curl_cffi_plain_requests_sends_browser_headers(server, waits, monkeypatch):
    monkeypatch.setattr(http_client, "curl_requests", None)
    server.add_fault("/api/", Fault.blocked(), times=2)
    with KickAPI(make_config(server), sleep=waits.append) as client:
        assert client.resolve(f"kick.com/{LIVE_SLUG}").channel == LIVE_SLUG
    calls = [r for r in server.requests if r.path.startswith("/api/")]
    assert len(calls) == 3
    for call in calls:
        headers = call.headers
        assert headers["accept"].startswith("application/json")
        assert headers["accept-language"].startswith("en-US")
        assert headers["referer"] == "https://kick.com/"
        assert (headers["sec-fetch-mode"], headers["sec-fetch-site"]) == ("cors", "same-origin")
        assert headers["sec-fetch-user"] == "?1"
    assert len({c.headers["user-agent"] for c in calls}) == 3  # rotated every attempt


# --------------------------------------------------------------------------------------------
# The fake server itself (the engine's end-to-end tests build on it)


def test_server_serves_an_hls_dir_and_counts_bytes(tmp_path):
    hls = tmp_path / "hls"
    for name, size in (("160p30", 100), ("1080p60", 5000)):
        (hls / name).mkdir(parents=True)
        (hls / name / "playlist.m3u8").write_text(
            "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:6.0,\n0.ts\n#EXTINF:6.0,\n1.ts\n"
            "#EXT-X-ENDLIST\n")
        for seg in ("0.ts", "1.ts"):
            (hls / name / seg).write_bytes(b"\x47" * size)
    with KickServer(hls_dir=hls) as server:
        with KickAPI(make_config(server)) as client:
            stream = client.resolve(f"kick.com/{LIVE_SLUG}")
            assert stream.analysis_url == server.url("/hls/160p30/playlist.m3u8")
            assert stream.cut_url == server.url("/hls/1080p60/playlist.m3u8")
            for seg in ("0.ts", "1.ts"):
                assert client.session.get(server.url(f"/hls/160p30/{seg}")).content == \
                    b"\x47" * 100
            partial = client.session.get(server.url("/hls/1080p60/0.ts"),
                                         headers={"Range": "bytes=10-19"})
        assert (partial.status, len(partial.content)) == (206, 10)
        served = server.bytes_served_by_prefix
        assert served["/hls/160p30/"] == server.bytes_served("/hls/160p30/") == 200
        assert served["/hls/1080p60/0.ts"] == 10
        assert served["/hls/720p60/"] == 0
        assert server.count("/hls/160p30/0.ts") == 1


def test_server_fault_rules_apply_in_order_and_run_out(server):
    server.add_fault("/api/v2/", Fault.error(500), times=1)
    server.add_fault("/api/", Fault.blocked(), times=1)
    config = make_config(server, retry_attempts=1)
    with KickSession(config) as session:
        url = server.url(f"/api/v2/channels/{LIVE_SLUG}")
        with pytest.raises(KickAPIError, match="HTTP 500"):
            session.get(url)
        with pytest.raises(BlockedByKick):
            session.get(url)
        assert session.get(url).ok


# --------------------------------------------------------------------------------------------
# Offline: a host name that does not resolve

UNRESOLVABLE = "https://nonexistent.invalid"  # .invalid never resolves (RFC 2606)


@pytest.mark.parametrize("impersonate", [True, False], ids=["curl_cffi", "requests"])
def test_a_host_that_does_not_resolve_fails_at_once_without_retries(impersonate, waits,
                                                                    caplog):
    from errors import HostNotResolved

    if impersonate and http_client.curl_requests is None:
        pytest.skip("curl_cffi is not installed")
    config = Config(kick_base_url=UNRESOLVABLE, retry_attempts=5, backoff_base_s=1.0,
                    request_timeout_s=5.0)
    with KickSession(config, sleep=waits.append) as session:
        with caplog.at_level(logging.WARNING, logger="http_client"):
            with pytest.raises(HostNotResolved,
                               match="^cannot resolve nonexistent.invalid - check your "
                                     "internet connection$"):
                session.get(f"{UNRESOLVABLE}/api/v2/channels/xqc", impersonate=impersonate)
    assert waits == [] and caplog.records == []


@pytest.mark.parametrize("link", ["https://kick.com/xqc",
                                  f"https://kick.com/{WEB_SLUG}/videos/{NEW_VOD_ID}",
                                  f"https://kick.com/xqc/clips/{CLIP_ID}"],
                         ids=["channel", "vod", "clip"])
def test_offline_a_kick_link_is_one_line_at_once_through_the_cli(link, monkeypatch, tmp_path,
                                                                 capsys):
    """No retries, no second endpoint, no warnings: one line, exit 1, in well under the
    backoff's first second."""
    import main

    monkeypatch.chdir(tmp_path)
    for name in ("KICK_BASE_URL", "KICK_WEB_BASE_URL", "KICK_MOBILE_BASE_URL"):
        monkeypatch.setenv(name, UNRESOLVABLE)
    started = time.monotonic()
    code = main.main([link, "--no-clips"])
    took = time.monotonic() - started
    err = capsys.readouterr().err
    assert code == 1
    assert err == "error: cannot resolve nonexistent.invalid - check your internet " \
                  "connection\n", err
    assert took < 3.0
