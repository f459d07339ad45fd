"""A live HLS broadcast on loopback, faster than real time, for the live-mode tests.

    renditions = prepare_renditions(ffmpeg, "stream.mp4", out_dir)     # once per session
    live = LiveBroadcast(renditions, speed=8.0)
    with KickServer(live=live) as server:                              # served under /live/
        live.start()
        server.url(live.master_path())                                 # a fresh token each call
        live.clock_s()                                                 # broadcast seconds now

A generated stream is pre-segmented into two renditions with the same 2 s segment boundaries
(`160p30` 160x90 for analysis and `720p30` 320x180 for clips). The broadcast clock runs at
`speed` times real time from `start()`: segment i is published once the clock passes its end,
and each media playlist is a sliding window of the last `window` published segments with
EXT-X-MEDIA-SEQUENCE, EXT-X-PROGRAM-DATE-TIME and EXT-X-TARGETDURATION; EXT-X-ENDLIST once all
are out. Switches for the faults the live follower must survive:

    empty_for_s    the broadcast starts this many clock seconds late: until then the playlists
                   are valid but hold no segment (a channel that has just gone live)
    token_ttl_s    playlist URLs carry ?token=N; a token is refused (403) once it is this many
                   clock seconds old; `master_path()` issues a fresh one (what re-resolving a
                   Kick channel does)
    stall          (at_s, for_s): the playlists stop advancing at broadcast second `at_s` for
                   `for_s` seconds (math.inf: for good, and no ENDLIST ever)
    jump           (at_s, n): the n segments from broadcast second `at_s` are never published,
                   so EXT-X-MEDIA-SEQUENCE jumps over them
    gone_at_end    after the last segment the playlists answer 404 instead of ENDLIST
    discontinuity_at_s  EXT-X-DISCONTINUITY before the segment holding this broadcast second
"""

from __future__ import annotations

import math
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import m3u8

RENDITIONS = {"720p30": (320, 180, "600k"), "160p30": (160, 90, "150k")}
SEGMENT_S = 2.0
SEQ_BASE = 1000


@dataclass(frozen=True)
class LiveSegment:
    index: int
    name: str
    start_s: float
    duration_s: float

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s


def prepare_renditions(ffmpeg: str, source: Path, out_dir: Path) -> Path:
    """Encode `source` into out_dir/{720p30,160p30}/{playlist.m3u8, N.ts}: H.264 with a
    keyframe every 2 s and no scene-cut keyframes, so both renditions cut segments at the same
    times (as IVS renditions do)."""
    import media

    for name, (width, height, rate) in RENDITIONS.items():
        folder = out_dir / name
        if (folder / "playlist.m3u8").is_file():
            continue
        folder.mkdir(parents=True, exist_ok=True)
        media.run_ffmpeg([
            ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-i", str(source),
            "-vf", f"scale={width}:{height}", "-c:v", "libx264", "-preset", "ultrafast",
            "-b:v", rate, "-g", "60", "-keyint_min", "60", "-sc_threshold", "0",
            "-force_key_frames", "expr:gte(t,n_forced*2)",
            "-c:a", "aac", "-b:a", "64k", "-f", "hls", "-hls_time", "2",
            "-hls_playlist_type", "vod", "-hls_segment_filename", str(folder / "%d.ts"),
            str(folder / "playlist.m3u8")], timeout_s=600)
    return out_dir


class LiveBroadcast:
    """The broadcast behind `/live/`: see the module docstring."""

    def __init__(self, root: Path, *, speed: float = 8.0, window: int = 10,
                 empty_for_s: float = 0.0, token_ttl_s: float | None = None,
                 stall: tuple[float, float] | None = None,
                 jump: tuple[float, int] | None = None, gone_at_end: bool = False,
                 discontinuity_at_s: float | None = None) -> None:
        self.root = Path(root)
        self.speed, self.window, self.empty_for_s = speed, window, empty_for_s
        self.token_ttl_s, self.stall, self.jump = token_ttl_s, stall, jump
        self.gone_at_end = gone_at_end
        self.discontinuity_at_s = discontinuity_at_s
        self.segments = self._read_segments()
        self.duration_s = self.segments[-1].end_s
        self.started_at = datetime(2026, 11, 30, 12, 0, 0, tzinfo=timezone.utc)
        self._t0: float | None = None
        self._lock = threading.Lock()
        self._tokens: dict[int, float] = {}  # token -> clock second it was issued
        self.refused = 0  # playlist requests answered 403 (expired token)

    def _read_segments(self) -> list[LiveSegment]:
        names = {}
        for rendition in RENDITIONS:
            playlist = m3u8.load(str(self.root / rendition / "playlist.m3u8"))
            names[rendition] = [(s.uri, float(s.duration)) for s in playlist.segments]
        low, high = names["160p30"], names["720p30"]
        count = min(len(low), len(high))
        out, t = [], 0.0
        for i in range(count):
            duration = low[i][1]
            out.append(LiveSegment(i, low[i][0], round(t, 6), duration))
            t += duration
        return out

    # -- the clock ----------------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            if self._t0 is None:
                self._t0 = time.monotonic()

    @property
    def started(self) -> bool:
        return self._t0 is not None

    def clock_s(self) -> float:
        """Broadcast seconds since the stream's first frame (negative while `empty_for_s`)."""
        if self._t0 is None:
            return -self.empty_for_s
        return (time.monotonic() - self._t0) * self.speed - self.empty_for_s

    def wall_s(self, broadcast_s: float) -> float:
        """Real seconds from `start()` until the clock reads `broadcast_s`."""
        return (broadcast_s + self.empty_for_s) / self.speed

    def _published_until(self) -> float:
        now = self.clock_s()
        if self.stall is not None:
            at, length = self.stall
            if at <= now < at + length:
                return at
        return now

    def published(self) -> list[LiveSegment]:
        until = self._published_until()
        out = [s for s in self.segments if s.end_s <= until + 1e-9]
        if self.jump is not None:
            at, n = self.jump
            skipped = [s.index for s in self.segments if s.start_s >= at][:n]
            out = [s for s in out if s.index not in skipped]
        return out

    @property
    def ended(self) -> bool:
        return self.clock_s() >= self.duration_s and not (
            self.stall is not None and math.isinf(self.stall[1])
            and self.stall[0] < self.duration_s)

    # -- URLs and tokens ----------------------------------------------------------------------

    def issue_token(self) -> int:
        with self._lock:
            token = len(self._tokens) + 1
            self._tokens[token] = self.clock_s()
            return token

    def master_path(self) -> str:
        return f"/live/master.m3u8?token={self.issue_token()}"

    def _token_ok(self, query: str) -> bool:
        if self.token_ttl_s is None:
            return True
        match = re.search(r"token=(\d+)", query or "")
        with self._lock:
            issued = self._tokens.get(int(match.group(1))) if match else None
        return issued is not None and self.clock_s() - issued < self.token_ttl_s

    # -- answers ------------------------------------------------------------------------------

    def route(self, path: str, query: str) -> tuple[int, dict[str, str], bytes]:
        rel = path[len("/live/"):]
        if rel.endswith(".m3u8"):
            if not self._token_ok(query):
                with self._lock:
                    self.refused += 1
                return 403, {"Content-Type": "text/plain"}, b"token expired"
            if rel == "master.m3u8":
                return self._text(self._master(query))
            rendition = rel.split("/", 1)[0]
            if rendition not in RENDITIONS:
                return 404, {"Content-Type": "text/plain"}, b"not found"
            if self.gone_at_end and self.ended:
                return 404, {"Content-Type": "text/plain"}, b"stream is offline"
            return self._text(self._media(rendition))
        match = re.fullmatch(r"([^/]+)/(\d+)\.ts", rel)
        if match and match.group(1) in RENDITIONS:
            index = int(match.group(2))
            if index in {s.index for s in self.published()}:
                data = (self.root / match.group(1) / f"{index}.ts").read_bytes()
                return 200, {"Content-Type": "video/mp2t"}, data
        return 404, {"Content-Type": "text/plain"}, b"not found"

    def _master(self, query: str) -> str:
        token = re.search(r"token=(\d+)", query or "")
        suffix = f"?token={token.group(1)}" if token else ""
        lines = ["#EXTM3U"]
        for name, (width, height, _) in RENDITIONS.items():
            bandwidth = 2500000 if name == "720p30" else 230000
            lines += [f'#EXT-X-STREAM-INF:BANDWIDTH={bandwidth},RESOLUTION={width}x{height},'
                      f'CODECS="avc1.4D401F,mp4a.40.2",VIDEO="{name}"',
                      f"{name}/playlist.m3u8{suffix}"]
        return "\n".join(lines) + "\n"

    def _media(self, rendition: str) -> str:
        published = self.published()
        shown = published[-self.window:]
        if self.jump is not None and shown and shown[-1].start_s >= self.jump[0]:
            # the encoder skipped ahead: the window restarts after the jump, so a client sees
            # EXT-X-MEDIA-SEQUENCE jump over the segments that never came
            shown = [seg for seg in shown if seg.start_s >= self.jump[0]]
        first = shown[0].index if shown else (published[-1].index + 1 if published else 0)
        lines = ["#EXTM3U", "#EXT-X-VERSION:3", f"#EXT-X-TARGETDURATION:{math.ceil(SEGMENT_S)}",
                 f"#EXT-X-MEDIA-SEQUENCE:{SEQ_BASE + first}"]
        for seg in shown:
            when = self.started_at + timedelta(seconds=seg.start_s)
            if (self.discontinuity_at_s is not None
                    and seg.start_s <= self.discontinuity_at_s < seg.end_s):
                lines.append("#EXT-X-DISCONTINUITY")
            lines += [f"#EXT-X-PROGRAM-DATE-TIME:{when.isoformat(timespec='milliseconds')}",
                      f"#EXTINF:{seg.duration_s:.3f},", f"{seg.index}.ts"]
        if self.ended and not self.gone_at_end:
            lines.append("#EXT-X-ENDLIST")
        return "\n".join(lines) + "\n"

    @staticmethod
    def _text(text: str) -> tuple[int, dict[str, str], bytes]:
        return 200, {"Content-Type": "application/vnd.apple.mpegurl"}, text.encode()
