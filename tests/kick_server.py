"""A fake Kick on 127.0.0.1 (port 0) for tests: the web API, HLS, and programmable faults.

    with KickServer(hls_dir=tmp_path / "hls") as server:
        config = Config(kick_base_url=server.base_url, kick_web_base_url=server.base_url,
                        kick_mobile_base_url=server.base_url)
        server.add_fault("/api/", Fault.blocked(), times=2)   # first two API calls refused
        ...
        server.count("/api/v2/channels/")                      # requests seen
        server.bytes_served_by_prefix["/hls/160p30/"]          # bytes sent under a prefix

API routes (one server plays kick.com, web.kick.com and mobile.kick.com; bodies are the
fixtures in tests/data/kick with their stream URLs pointed at this server):

    GET  /api/v2/channels/{slug}                 E1   buddha (live), ac7ionman and n3on (offline)
    GET  /api/v2/channels/{slug}/livestream      E2
    GET  /api/v1/video/{uuid}                    E4   5c697a87-... (legacy VOD)
    GET  /api/v1/channels/{id}/videos[/{id}]     E6/E7 channel 1227772 (n3on)
    POST /api/v1/stream/{video_id}/playback      E8   public 019f704e-..., sub-only 019f7a11-...
    GET  /api/v2/clips/{id}[/play]               E10/E10b  HLS clip and legacy .mp4 clip
    GET  /api/v1/clips/{id}                      E11  mobile-only clip
    GET  /api/v2/channels/{id}/messages?cursor=  E13  chat history of channel id `id` from
                                                 `chat[id]` (empty without): newest first,
                                                 `chat_page_size` a page, each page repeating
                                                 `chat_overlap` messages of the one before

Media routes:

    /hls/master.m3u8           the master: hls_dir/master.m3u8 if present, else one generated
                               from the rendition folders (relative variant URIs); without an
                               hls_dir the recorded 5-rendition VOD master
    /hls/{path}                files under hls_dir (Range supported); without an hls_dir the
                               recorded media playlist for any rendition and small fake segments
    /live/...                  with `live=` a live_server.LiveBroadcast: its master and sliding
                               media playlists; the live channel (buddha) then plays it and
                               is offline before it starts and after it ends
    /api/v1/stream/manifest.m3u8   the master with absolute variant URIs (E8's `vod`)
    /clips/.../playlist.m3u8   a media playlist (the lowest rendition, absolute segment URIs)
    /clips/....mp4             hls_dir/clip.mp4 if present, else fake bytes

hls_dir layout: one folder per rendition, named like Kick's (`160p30`, `1080p60`, ...), each
holding `playlist.m3u8` (or `index.m3u8`) and its segments. BANDWIDTH comes from `bandwidths`
or Kick's typical value for the name.

The `channels`, `videos`, `web_videos`, `clips`, `mobile_clips` and `chat` dicts are the data
behind the routes; tests may change them. `make_chat` builds fixture-shaped chat messages for a
VOD's time window with planted bursts.
"""

from __future__ import annotations

import bisect
import copy
import http.server
import json
import math
import random
import re
import socket
import struct
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

DATA_DIR = Path(__file__).resolve().parent / "data" / "kick"

LIVE_SLUG = "buddha"
OFFLINE_SLUG = "ac7ionman"
WEB_SLUG = "n3on"
WEB_CHANNEL_ID = 1227772
LEGACY_VOD_ID = "5c697a87-afce-4256-b01f-3c8fe71ef5cb"
NEW_VOD_ID = "019f704e-f6b8-7e32-af4a-c911dc98686b"
SUB_ONLY_VOD_ID = "019f7a11-3c52-7d0e-9e8b-2f41c6a7d903"
CLIP_ID = "clip_01J8RGZRKHXHXXKJEHGRM932A5"
LEGACY_CLIP_ID = "clip_01H2G3FHQG4FVSCRD9D0MYNZ1Z"
MOBILE_CLIP_ID = "clip_01M0BHEHDAX2NEAGXG0DA8V9S5"

# Kick's typical bandwidth per rendition name (docs/KICK_API.md §6), bits/s.
KICK_BANDWIDTHS = {"1080p60": 8534030, "1080p": 6000000, "720p60": 3422999, "720p30": 2500000,
                   "480p30": 1427999, "360p30": 630000, "160p30": 230000}
KICK_RESOLUTIONS = {"1080": "1920x1080", "720": "1280x720", "480": "852x480", "360": "640x360",
                    "160": "284x160"}

_CONTENT_TYPES = {".m3u8": "application/vnd.apple.mpegurl", ".ts": "video/mp2t",
                  ".mp4": "video/mp4", ".m4s": "video/iso.segment", ".json": "application/json",
                  ".aac": "audio/aac"}
_IVS_RE = re.compile(r"^https://[^/]+\.live-video\.net/.+\.m3u8(\?token=(?P<token>.+))?$")


def load_fixture(name: str) -> Any:
    """A fixture from tests/data/kick, parsed when it is JSON."""
    raw = (DATA_DIR / name).read_text(encoding="utf-8")
    return json.loads(raw) if name.endswith(".json") else raw


@dataclass
class Fault:
    """What to answer instead of the normal response. status 0: answer normally after delay_s."""

    status: int = 0
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    cut_at: float | None = None  # send this share of the body, then reset the connection

    @classmethod
    def blocked(cls) -> Fault:
        """Kick's WAF: 403 with the security-policy JSON."""
        return cls(403, (DATA_DIR / "cloudflare_blocked_403.json").read_bytes(),
                   {"Content-Type": "application/json", "Server": "cloudflare"})

    @classmethod
    def challenge(cls) -> Fault:
        """Cloudflare's "Just a moment..." HTML challenge (403)."""
        return cls(403, (DATA_DIR / "cloudflare_challenge.html").read_bytes(),
                   {"Content-Type": "text/html; charset=UTF-8", "Server": "cloudflare"})

    @classmethod
    def rate_limited(cls, retry_after: str | None = "1") -> Fault:
        headers = {"Content-Type": "application/json"}
        if retry_after is not None:
            headers["Retry-After"] = retry_after
        return cls(429, b'{"message": "Too Many Attempts."}', headers)

    @classmethod
    def error(cls, status: int = 500) -> Fault:
        return cls(status, b'{"message": "Server Error"}', {"Content-Type": "application/json"})

    @classmethod
    def slow(cls, delay_s: float) -> Fault:
        """Answer normally, but only after delay_s (longer than the client timeout: a timeout)."""
        return cls(0, delay_s=delay_s)

    @classmethod
    def hang(cls) -> Fault:
        """Never answer: the request stalls until the server closes (then it is dropped)."""
        return cls(0, delay_s=math.inf)

    @classmethod
    def reset(cls, share: float = 0.5) -> Fault:
        """Answer normally (full Content-Length), but hang up with a TCP reset after `share`
        of the body: a connection dropped half-way."""
        return cls(0, cut_at=share)

    @classmethod
    def json(cls, obj: Any, status: int = 200) -> Fault:
        return cls(status, json.dumps(obj).encode(), {"Content-Type": "application/json"})

    @classmethod
    def text(cls, text: str, status: int = 200,
             content_type: str = "application/vnd.apple.mpegurl") -> Fault:
        return cls(status, text.encode(), {"Content-Type": content_type})


@dataclass
class _Rule:
    prefix: str
    fault: Fault
    remaining: int | None
    method: str | None


@dataclass(frozen=True)
class SeenRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    time: float = field(default_factory=time.monotonic)  # when it arrived


class KickServer:
    """Threaded fake Kick; see the module docstring. Use as a context manager or call close()."""

    def __init__(self, hls_dir: Path | str | None = None, *,
                 bandwidths: dict[str, int] | None = None, live: Any = None) -> None:
        self.hls_dir = Path(hls_dir) if hls_dir is not None else None
        self.live = live  # a live_server.LiveBroadcast behind /live/ and the live channel
        self.bandwidths = {**KICK_BANDWIDTHS, **(bandwidths or {})}
        self._lock = threading.Lock()
        self._closing = threading.Event()  # ends stalled answers (Fault.slow, Fault.hang)
        self._rules: list[_Rule] = []
        self._requests: list[SeenRequest] = []
        self._bytes_by_path: Counter[str] = Counter()

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self._httpd.handle_error = lambda request, address: None  # clients that hang up early
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self.master_url = f"{self.base_url}/hls/master.m3u8"
        self._load_data()
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    # -- control ------------------------------------------------------------------------------

    def __enter__(self) -> KickServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._closing.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def url(self, path: str) -> str:
        return self.base_url + path

    def add_fault(self, prefix: str, fault: Fault, *, times: int | None = 1,
                  method: str | None = None) -> None:
        """Answer requests whose path starts with `prefix` with `fault`, `times` times (None:
        always). Rules are tried in the order added; the first one with uses left applies."""
        with self._lock:
            self._rules.append(_Rule(prefix, fault, times, method))

    def clear_faults(self) -> None:
        with self._lock:
            self._rules.clear()

    @property
    def requests(self) -> list[SeenRequest]:
        with self._lock:
            return list(self._requests)

    def count(self, prefix: str = "/", method: str | None = None) -> int:
        """Requests seen whose path starts with `prefix`."""
        return sum(1 for r in self.requests
                   if r.path.startswith(prefix) and (method is None or r.method == method))

    @property
    def bytes_served_by_prefix(self) -> Counter[str]:
        """Body bytes sent, per path and per every folder prefix of it ("/hls/160p30/")."""
        totals: Counter[str] = Counter()
        with self._lock:
            items = list(self._bytes_by_path.items())
        for path, size in items:
            totals[path] += size
            parts = path.split("/")
            for i in range(1, len(parts)):
                totals["/".join(parts[:i]) + "/"] += size
        return totals

    def bytes_served(self, prefix: str) -> int:
        """Body bytes sent for paths starting with `prefix` (any string prefix)."""
        with self._lock:
            return sum(n for path, n in self._bytes_by_path.items() if path.startswith(prefix))

    # -- data ---------------------------------------------------------------------------------

    def _load_data(self) -> None:
        offline = self._fixture("channel_offline.json")
        web_channel = copy.deepcopy(offline)
        web_channel.update(id=WEB_CHANNEL_ID, slug=WEB_SLUG)
        self.channels: dict[str, dict[str, Any]] = {
            LIVE_SLUG: self._fixture("channel_live.json"),
            OFFLINE_SLUG: offline,
            WEB_SLUG: web_channel,
        }
        self.videos: dict[str, dict[str, Any]] = {LEGACY_VOD_ID: self._fixture("video.json")}
        web_rows = self._fixture("web_channel_videos.json")["data"]
        self.web_videos: dict[str, dict[str, Any]] = {row["id"]: row for row in web_rows}
        self.web_videos[NEW_VOD_ID] = self._fixture("web_video.json")["data"]
        self.clips: dict[str, dict[str, Any]] = {
            CLIP_ID: self._fixture("clip.json"),
            LEGACY_CLIP_ID: self._fixture("clip_legacy_mp4.json"),
        }
        self.mobile_clips: dict[str, dict[str, Any]] = {
            MOBILE_CLIP_ID: self._fixture("clip_mobile.json")}
        # channel id -> chat messages (any order), each with a hidden "_us" (epoch µs)
        self.chat: dict[int, list[dict[str, Any]]] = {}
        self.chat_page_size = 25
        self.chat_overlap = 3
        # Kick's burst block (docs/KICK_API.md §3.8): more than `chat_burst_requests` chat
        # requests within `chat_burst_window_s` -> 403 (the WAF body) for `chat_block_s`.
        # Off (None) unless a test sets it; `chat_blocks` counts the blocks started.
        self.chat_burst_requests: int | None = None
        # A test may hold chat pages back until it opens this gate (each request waits at
        # most 30 s): the chat then runs when the test wants it, not when the machine lets it.
        self.chat_gate: threading.Event | None = None
        self.chat_burst_window_s = 3.0
        self.chat_block_s = 60.0
        self.chat_blocks = 0
        self._chat_times: list[float] = []
        self._chat_blocked_until = 0.0
        self._chat_sorted: dict[int, tuple[int, list[int], list[dict[str, Any]]]] = {}

    def _fixture(self, name: str) -> Any:
        return self._rewrite(load_fixture(name))

    def _rewrite(self, value: Any) -> Any:
        """Point the stream URLs inside a fixture at this server."""
        if isinstance(value, dict):
            return {k: self._rewrite(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._rewrite(v) for v in value]
        if not isinstance(value, str):
            return value
        ivs = _IVS_RE.match(value)
        if ivs:
            token = ivs.group("token")
            return self.master_url + (f"?token={token}" if token else "")
        if value.startswith("https://stream.kick.com/") and value.endswith("/master.m3u8"):
            return self.master_url
        path = urlsplit(value).path
        for host in ("https://clips.kick.com", "https://web.kick.com"):
            if value.startswith(host + "/") and path.endswith((".m3u8", ".mp4")):
                return self.base_url + value[len(host):]
        return value

    # -- routing ------------------------------------------------------------------------------

    def _record(self, request: SeenRequest) -> Fault | None:
        with self._lock:
            self._requests.append(request)
            for rule in self._rules:
                if (request.path.startswith(rule.prefix) and rule.remaining != 0
                        and rule.method in (None, request.method)):
                    if rule.remaining is not None:
                        rule.remaining -= 1
                    return rule.fault
        return None

    def _count_bytes(self, path: str, size: int) -> None:
        with self._lock:
            self._bytes_by_path[path] += size

    def route(self, method: str, path: str, body: bytes,
              range_header: str | None, query: str = "") -> tuple[int, dict[str, str], bytes]:
        """The normal answer for a request: (status, headers, body)."""
        if path == "/api/v1/stream/manifest.m3u8":
            return self._playlist(self._master(absolute=True))
        if path.startswith("/api/"):
            status, obj = self._api(method, path, body, query)
            return status, {"Content-Type": "application/json"}, json.dumps(obj).encode()
        if path == "/hls/master.m3u8":
            return self._playlist(self._master(absolute=False))
        if path.startswith("/hls/"):
            return self._hls_file(path[len("/hls/"):], range_header)
        if path.startswith("/live/") and self.live is not None:
            return self.live.route(path, query)
        if path.startswith("/clips/") and path.endswith(".m3u8"):
            return self._playlist(self._clip_playlist())
        if path.startswith("/clips/") and path.endswith(".mp4"):
            if self.hls_dir and (self.hls_dir / "clip.mp4").is_file():
                return _file_answer(self.hls_dir / "clip.mp4", range_header)
            return 200, {"Content-Type": "video/mp4"}, b"\0" * 4096
        return 404, {"Content-Type": "text/plain"}, b"not found"

    def _api(self, method: str, path: str, body: bytes, query: str = "") -> tuple[int, Any]:
        parts = [p for p in path.split("/") if p][1:]  # drop "api"
        not_found = (404, {"message": "No query results for model."})
        match (method, parts):
            case ("GET", ["v2", "channels", slug]):
                channel = self.channels.get(slug.lower())
                if channel is None:
                    return 404, load_fixture("channel_not_found.json")
                return 200, self._live_channel(slug.lower(), channel)
            case ("GET", ["v2", "channels", channel_id, "messages"]):
                if self.chat_gate is not None:
                    self.chat_gate.wait(30.0)
                if self.chat_burst_block():
                    return 403, load_fixture("cloudflare_blocked_403.json")
                return 200, self._chat_page(channel_id, query)
            case ("GET", ["v2", "channels", slug, "livestream"]):
                channel = self.channels.get(slug.lower())
                if channel is None:
                    return 404, load_fixture("channel_not_found.json")
                channel = self._live_channel(slug.lower(), channel)
                if not channel.get("livestream"):
                    return 200, {"data": None}
                live = self._fixture("livestream_live.json")
                live["data"]["playback_url"] = channel["playback_url"]
                return 200, live
            case ("GET", ["v1", "video", video_id]):
                video = self.videos.get(video_id)
                return (200, video) if video else not_found
            case ("GET", ["v1", "channels", channel_id, "videos"]):
                rows = [v for v in self.web_videos.values()
                        if str(v["channel"]["id"]) == channel_id]
                return 200, {"data": rows, "message": "Success"}
            case ("GET", ["v1", "channels", channel_id, "videos", video_id]):
                video = self.web_videos.get(video_id)
                if video is None or str(video["channel"]["id"]) != channel_id:
                    return 404, {"message": "Video not found"}
                return 200, {"data": video, "message": "Success"}
            case ("POST", ["v1", "stream", video_id, "playback"]):
                return self._playback(video_id, body)
            case ("GET", ["v2", "clips", clip_id] | ["v2", "clips", clip_id, "play"]):
                clip = self.clips.get(clip_id)
                return (200, clip) if clip else (404, {"message": "Clip not found"})
            case ("GET", ["v1", "clips", clip_id]):
                clip = self.mobile_clips.get(clip_id)
                return (200, clip) if clip else (404, {"message": "Clip not found"})
        return not_found

    def _live_channel(self, slug: str, channel: dict[str, Any]) -> dict[str, Any]:
        """With a live broadcast attached, the live channel plays it (a fresh token on every
        answer, as Kick signs playback URLs per request) and is offline once it has ended."""
        if self.live is None or slug != LIVE_SLUG:
            return channel
        channel = copy.deepcopy(channel)
        if not self.live.started or self.live.ended:
            channel["livestream"] = None
            channel["playback_url"] = None
        else:
            channel["playback_url"] = self.base_url + self.live.master_path()
        return channel

    def chat_burst_block(self) -> bool:
        """Count one chat request; True when Kick's burst block answers it (see `_load_data`)."""
        if self.chat_burst_requests is None:
            return False
        now = time.monotonic()
        with self._lock:
            if now < self._chat_blocked_until:
                return True
            self._chat_times = [t for t in self._chat_times
                                if now - t < self.chat_burst_window_s] + [now]
            if len(self._chat_times) > self.chat_burst_requests:
                self.chat_blocks += 1
                self._chat_blocked_until = now + self.chat_block_s
                self._chat_times = []
                return True
        return False

    def _chat_rows(self, channel_id: str) -> tuple[list[int], list[dict[str, Any]]]:
        """The channel's chat, newest first (sorted once per list: hours of busy chat)."""
        key = int(channel_id) if channel_id.isdigit() else -1
        rows = self.chat.get(key, [])
        cached = self._chat_sorted.get(key)
        if cached is None or cached[0] != id(rows) or len(cached[2]) != len(rows):
            ordered = sorted(rows, key=lambda m: -m["_us"])
            cached = (id(rows), [-m["_us"] for m in ordered], ordered)
            self._chat_sorted[key] = cached
        return cached[1], cached[2]

    def _chat_page(self, channel_id: str, query: str) -> dict[str, Any]:
        """E13 with `?cursor=µs`: the newest `chat_page_size` messages older than the cursor
        (plus `chat_overlap` of the page before), `data.cursor` = µs of the page's oldest."""
        keys, rows = self._chat_rows(channel_id)
        raw = next(iter(parse_qs(query).get("cursor", [])), None)
        cursor = int(raw) if raw and raw.isdigit() else None
        first = 0
        if cursor is not None:
            first = bisect.bisect_right(keys, -cursor)  # the first message older than cursor
            if first < len(rows):
                first = max(0, first - self.chat_overlap)
        page = rows[first:first + self.chat_page_size]
        oldest = page[-1]["_us"] if page else (cursor or 0)
        return {"data": {"messages": [{k: v for k, v in m.items() if k != "_us"} for m in page],
                         "cursor": str(oldest)}}

    def _playback(self, video_id: str, body: bytes) -> tuple[int, Any]:
        """E8: needs the JSON player payload; `vod` is empty for sub-only videos."""
        try:
            payload = json.loads(body or b"null")
        except ValueError:
            payload = None
        if not isinstance(payload, dict) or "video_player" not in payload:
            return 400, {"data": {"type": "bad_request", "details": "invalid player payload"}}
        video = self.web_videos.get(video_id)
        if video is None:
            return 404, load_fixture("stream_playback_error.json")
        answer = self._fixture("stream_playback_vod.json")
        answer["video_session"].update(video_duration=video["duration"],
                                       video_title=video["title"],
                                       creator_id=str(video["channel"]["id"]))
        if video.get("status") != "public":
            answer["playback_url"]["vod"] = ""
        return 200, answer

    # -- media --------------------------------------------------------------------------------

    def renditions(self) -> list[tuple[str, str, int]]:
        """(name, playlist path relative to hls_dir, bandwidth), highest bandwidth first."""
        if self.hls_dir is None:
            return [(n, f"{n}/playlist.m3u8", self.bandwidths.get(n, 0))
                    for n in ("1080p60", "720p60", "480p30", "360p30", "160p30")]
        found = []
        for folder in sorted(p for p in self.hls_dir.iterdir() if p.is_dir()):
            for name in ("playlist.m3u8", "index.m3u8"):
                if (folder / name).is_file():
                    found.append((folder.name, f"{folder.name}/{name}",
                                  self._bandwidth(folder.name)))
                    break
        return sorted(found, key=lambda r: -r[2])

    def _bandwidth(self, name: str) -> int:
        if name in self.bandwidths:
            return self.bandwidths[name]
        digits = re.match(r"\d+", name)
        return int(digits.group()) * 10000 if digits else 100000

    def _master(self, *, absolute: bool) -> str:
        if self.hls_dir is not None and (self.hls_dir / "master.m3u8").is_file():
            text = (self.hls_dir / "master.m3u8").read_text()
        elif self.hls_dir is None:
            text = load_fixture("vod_master.m3u8")
        else:
            lines = ["#EXTM3U"]
            for name, rel, bandwidth in self.renditions():
                height = re.match(r"\d+", name)
                resolution = KICK_RESOLUTIONS.get(height.group() if height else "", "")
                lines += [f'#EXT-X-MEDIA:TYPE=VIDEO,GROUP-ID="{name}",NAME="{name}",'
                          "AUTOSELECT=YES,DEFAULT=YES",
                          f"#EXT-X-STREAM-INF:PROGRAM-ID=1,BANDWIDTH={bandwidth},"
                          + (f"RESOLUTION={resolution}," if resolution else "")
                          + f'CODECS="avc1.4D401F,mp4a.40.2",VIDEO="{name}"',
                          rel]
            text = "\n".join(lines) + "\n"
        if absolute:
            text = _absolute_uris(text, self.base_url + "/hls/")
        return text

    def _clip_playlist(self) -> str:
        """The lowest rendition's media playlist with absolute segment URIs."""
        name, rel, _ = self.renditions()[-1]
        if self.hls_dir is None:
            text = load_fixture("vod_1080p60_playlist.m3u8")
        else:
            text = (self.hls_dir / rel).read_text()
        folder = rel.rsplit("/", 1)[0]
        return _absolute_uris(text, f"{self.base_url}/hls/{folder}/")

    def _hls_file(self, rel: str, range_header: str | None) -> tuple[int, dict[str, str], bytes]:
        if self.hls_dir is None:
            name = rel.split("/", 1)[0]
            if rel.endswith(".m3u8"):
                return self._playlist(load_fixture("vod_1080p60_playlist.m3u8"))
            if rel.endswith(".ts"):  # fake segment: bigger for higher renditions
                return 200, {"Content-Type": "video/mp2t"}, \
                    b"\x47" * max(188, self._bandwidth(name) // 1000)
            return 404, {"Content-Type": "text/plain"}, b"not found"
        root = self.hls_dir.resolve()
        target = (root / rel).resolve()
        if root not in target.parents or not target.is_file():
            return 404, {"Content-Type": "text/plain"}, b"not found"
        return _file_answer(target, range_header)

    @staticmethod
    def _playlist(text: str) -> tuple[int, dict[str, str], bytes]:
        return 200, {"Content-Type": "application/vnd.apple.mpegurl"}, text.encode()


CHAT_TALK = ("is this the same map as yesterday", "what did he say", "he already said that",
             "chat is he cooking", "first time catching the stream live", "audio is fine for me")
CHAT_REACTIONS = ("W", "[emote:37226:KEKW]", "LMAO", "[emote:3331556:] [emote:3331556:]",
                  "NO WAY", "[emote:2833351:samLVLUP] W")


def make_chat(start_epoch_s: float, duration_s: float, *, channel_id: int,
              rate_per_s: float = 1.0, bursts: tuple[tuple[float, float, float], ...] = (),
              seed: int = 0, margin_s: float = 30.0) -> list[dict[str, Any]]:
    """Chat messages shaped like `chat_messages_cursor.json` for the VOD window
    [start, start + duration] and `margin_s` on either side (which a client must drop).

    Talk arrives at `rate_per_s` (Poisson) from ~200 viewers; each burst (start_s, end_s,
    rate_per_s), in seconds into the VOD, adds short reactions and emotes from many viewers.
    Each message keeps its exact time in `_us` (epoch µs) for the server's cursor."""
    template = load_fixture("chat_messages_cursor.json")["data"]["messages"][0]
    rng = random.Random(seed)
    timed: list[tuple[float, str]] = []

    def arrivals(t0: float, t1: float, rate: float, texts: tuple[str, ...]) -> None:
        t = t0 + rng.expovariate(rate)
        while t < t1:
            timed.append((t, rng.choice(texts)))
            t += rng.expovariate(rate)

    arrivals(-margin_s, duration_s + margin_s, rate_per_s, CHAT_TALK)
    for b0, b1, rate in bursts:
        arrivals(b0, b1, rate, CHAT_REACTIONS)
    out = []
    for t, text in timed:
        epoch = start_epoch_s + t
        message = copy.deepcopy(template)
        user = 81190000 + rng.randrange(200 if text in CHAT_TALK else 5000)
        message.update(id=str(uuid.UUID(int=rng.getrandbits(128), version=4)), chat_id=channel_id,
                       user_id=user, content=text,
                       created_at=datetime.fromtimestamp(int(epoch), timezone.utc)
                       .strftime("%Y-%m-%dT%H:%M:%SZ"), _us=int(epoch * 1e6))
        message["sender"].update(id=user, slug=f"viewer{user}", username=f"Viewer{user}")
        out.append(message)
    return out


def _absolute_uris(text: str, base: str) -> str:
    out = []
    for line in text.splitlines():
        if line and not line.startswith("#") and "://" not in line:
            line = base + line.lstrip("/")
        out.append(line)
    return "\n".join(out) + "\n"


def _file_answer(path: Path, range_header: str | None) -> tuple[int, dict[str, str], bytes]:
    data = path.read_bytes()
    headers = {"Content-Type": _CONTENT_TYPES.get(path.suffix, "application/octet-stream"),
               "Accept-Ranges": "bytes"}
    match = re.match(r"bytes=(\d*)-(\d*)$", (range_header or "").strip())
    if not match or (not match.group(1) and not match.group(2)):
        return 200, headers, data
    if match.group(1):
        start = int(match.group(1))
        end = int(match.group(2)) if match.group(2) else len(data) - 1
    else:  # suffix range: the last N bytes
        start, end = max(0, len(data) - int(match.group(2))), len(data) - 1
    if start >= len(data):
        return 416, {"Content-Range": f"bytes */{len(data)}"}, b""
    end = min(end, len(data) - 1)
    headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
    return 206, headers, data[start:end + 1]


def _make_handler(server: KickServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # headers and body go out as two writes; with Nagle on, the body waits for the
        # client's delayed ACK (~40 ms a request), which paging through chat multiplies
        disable_nagle_algorithm = True

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self._answer(send_body=True)

        def do_POST(self) -> None:
            self._answer(send_body=True)

        def do_HEAD(self) -> None:
            self._answer(send_body=False)

        def _answer(self, *, send_body: bool) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            seen = SeenRequest(self.command, parts.path, parts.query,
                               {k.lower(): v for k, v in self.headers.items()}, body)
            fault = server._record(seen)
            if fault is not None and fault.delay_s:
                if server._closing.wait(None if math.isinf(fault.delay_s) else fault.delay_s):
                    self.close_connection = True  # closing: drop it unanswered
                    return
            if fault is not None and fault.status:
                status, headers, payload = fault.status, dict(fault.headers), fault.body
            else:
                status, headers, payload = server.route(self.command, parts.path, body,
                                                        self.headers.get("Range"), parts.query)
            try:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if send_body and fault is not None and fault.cut_at is not None:
                    self.wfile.write(payload[: int(len(payload) * fault.cut_at)])
                    self.wfile.flush()
                    # SO_LINGER 0 and close now: an RST, not the clean FIN that
                    # socketserver's shutdown would send
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                               struct.pack("ii", 1, 0))
                    self.connection.close()
                    self.close_connection = True
                elif send_body:  # counted first: the client may read it before write returns
                    server._count_bytes(parts.path, len(payload))
                    try:
                        self.wfile.write(payload)
                    except (BrokenPipeError, ConnectionResetError):
                        server._count_bytes(parts.path, -len(payload))
                        raise
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

    return Handler
