"""Following a live HLS stream: media playlists read by sequence number as they advance,
their segments placed on one timeline, expired playlist URLs renewed, and the bounded buffer
of full-quality segments that live clips are cut from. `live.py` runs the followers.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import m3u8

import http_client
import kick_api
from config import Config
from errors import KickAPIError, KickClipError, NotLive

logger = logging.getLogger(__name__)


# --- following a live playlist ----------------------------------------------------------------

@dataclass(frozen=True)
class Segment:
    """One media segment: `seq` its media sequence number, `start_s` broadcast seconds from the
    first segment the run followed."""

    seq: int
    url: str
    start_s: float
    duration_s: float
    discontinuity: bool = False

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s


class Timeline:
    """Media sequence number -> broadcast seconds, shared by both renditions (IVS renditions
    share sequence numbers and boundaries). Second 0 is the start of the first segment seen.
    Program date-times place a segment when the playlist has them; otherwise it follows the
    one before it, and a jump over missing segments is bridged with their estimated length."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._known: dict[int, tuple[float, float]] = {}  # seq -> (start, duration)
        self.first_seq: int | None = None
        self.started_at: datetime | None = None
        self._pdt0: datetime | None = None
        self._last_seq: int | None = None

    def place(self, seq: int, duration_s: float, pdt: datetime | None) -> float:
        with self._lock:
            if seq in self._known:
                return self._known[seq][0]
            if self.first_seq is None:
                self.first_seq, self._pdt0 = seq, pdt
                self.started_at = pdt or datetime.now(timezone.utc)
                start = 0.0
            elif pdt is not None and self._pdt0 is not None:
                start = (pdt - self._pdt0).total_seconds()
            else:
                below = [s for s in self._known if s < seq]
                if below:
                    prev = max(below)
                    p_start, p_dur = self._known[prev]
                    start = p_start + p_dur + (seq - prev - 1) * duration_s
                else:  # before the first one (the other rendition lags): count back
                    f_start, _ = self._known[self.first_seq]
                    start = f_start - (self.first_seq - seq) * duration_s
            self._known[seq] = (round(start, 6), duration_s)
            for old in [s for s in self._known if s < seq - 2000]:
                del self._known[old]  # bounded: only recent neighbours are ever needed
            return round(start, 6)


class Renewer:
    """Fresh playlist URLs when the signed ones expire: for a Kick link the channel is resolved
    again (`sources.resolve_source`), for an HLS master URL the master is read again. Answers
    (low, high) or None when the broadcast is over (channel offline, master gone). One request
    serves both followers (results are reused for a few seconds)."""

    def __init__(self, original: str, config: Config):
        self.original, self.config = original, config
        self._lock = threading.Lock()
        self._last: tuple[float, tuple[str, str] | None] | None = None
        self.count = 0

    def renew(self) -> tuple[str, str] | None:
        from sources import resolve_source  # noqa: PLC0415 - sources imports kick_api

        with self._lock:
            if self._last is not None and time.monotonic() - self._last[0] < 2.0:
                return self._last[1]
            self.count += 1
            try:
                src = resolve_source(self.original, self.config)
                urls: tuple[str, str] | None = (src.analysis_url, src.cut_url)
            except NotLive:
                urls = None
            except KickClipError as err:
                logger.warning("live: cannot renew the playlist URLs: %s", err)
                urls = None
            self._last = (time.monotonic(), urls)
            return urls


@dataclass
class FollowState:
    """Why a follower stopped: "" while it runs, else "ended", "stalled", "gone" or "stopped"."""

    reason: str = ""
    note: str = ""


class PlaylistFollower(threading.Thread):
    """Polls one live media playlist and hands every new segment, in sequence order, to
    `on_segment(segment, bytes)`; segments that could not be had go to `on_gap(seq, reason)`.
    Every request has the config's timeout (`http_client.RetrySession`). A refused or vanished
    playlist (401/403/404/410) is renewed through `renewer` and followed on from the next
    sequence number; a playlist without a new segment for `live_stall_s` ends the follow."""

    def __init__(self, name: str, which: int, url: str, renewer: Renewer, timeline: Timeline,
                 config: Config, stop: threading.Event,
                 on_segment: Callable[[Segment, bytes], None],
                 on_gap: Callable[[int, int, str], None], start_seq: Callable[[], int | None]
                 | None = None):
        super().__init__(name=f"live-{name}", daemon=True)
        self.label, self.which, self.url = name, which, url
        self.renewer, self.timeline, self.config, self.stop = renewer, timeline, config, stop
        self.on_segment, self.on_gap, self.start_seq = on_segment, on_gap, start_seq
        self.state = FollowState()
        self.error: BaseException | None = None
        self.bytes_fetched = 0

    def run(self) -> None:
        try:
            self._follow()
        except BaseException as err:  # noqa: BLE001 - handed to the run
            self.error = err
            self.state.reason = self.state.reason or "failed"
        finally:
            self.state.reason = self.state.reason or "stopped"

    def _follow(self) -> None:
        c = self.config
        session = http_client.RetrySession(c)
        next_seq: int | None = None
        last_new = time.monotonic()
        refused = 0
        try:
            while not self.stop.is_set():
                try:
                    response = session.get(self.url)
                except KickAPIError as err:  # 5xx / network failures outlasted the retries
                    response, failure = None, str(err)
                else:
                    failure = "" if response.ok else f"HTTP {response.status}"
                if response is None or response.status in (401, 403, 404, 410):
                    refused += 1
                    if refused > 3:
                        self.state = FollowState("gone", f"the {self.label} playlist is gone "
                                                 f"({failure})")
                        return
                    fresh = self.renewer.renew()
                    if fresh is None:
                        self.state = FollowState("ended", "the broadcast ended (the channel is "
                                                 "offline or its playlist gone)")
                        return
                    self.url = fresh[self.which]
                    if refused > 1:
                        self.stop.wait(c.live_poll_s)
                    continue
                if not response.ok:
                    self.stop.wait(c.live_poll_s)
                    continue
                refused = 0
                playlist = m3u8.loads(response.text, uri=response.url or self.url)
                if playlist.is_variant:  # a master where a media playlist was: take ours
                    self.url = kick_api.pick_variants(response.text, self.url)[self.which]
                    continue
                got_new = False
                first = playlist.media_sequence or 0
                if next_seq is None and playlist.segments:
                    wanted = self.start_seq() if self.start_seq else None
                    next_seq = first if wanted is None else max(first, wanted)
                for k, seg in enumerate(playlist.segments):
                    seq = first + k
                    if next_seq is None or seq < next_seq or self.stop.is_set():
                        continue
                    if seq > next_seq:
                        self.on_gap(next_seq, seq, "segments left the playlist before they "
                                    "were fetched (media sequence jumped)")
                    duration = float(seg.duration or playlist.target_duration or 2.0)
                    start = self.timeline.place(seq, duration, seg.program_date_time)
                    segment = Segment(seq, seg.absolute_uri, start, duration,
                                      bool(seg.discontinuity))
                    data = self._fetch(session, segment)
                    if data is None:
                        self.on_gap(seq, seq + 1, "a segment could not be fetched")
                    else:
                        self.bytes_fetched += len(data)
                        self.on_segment(segment, data)
                    next_seq, got_new = seq + 1, True
                if got_new:
                    last_new = time.monotonic()
                if playlist.is_endlist and (next_seq is None or next_seq >= first +
                                            len(playlist.segments)):
                    self.state = FollowState("ended", "the broadcast ended (end of playlist)")
                    return
                if time.monotonic() - last_new > c.live_stall_s:
                    if self.renewer.renew() is None:
                        self.state = FollowState("ended", "the broadcast ended (the channel "
                                                 "is offline)")
                    else:
                        self.state = FollowState("stalled", f"the {self.label} playlist "
                                                 f"stalled (no new segment for "
                                                 f"{c.live_stall_s:.0f} s)")
                    return
                if not got_new:
                    self.stop.wait(c.live_poll_s)
        finally:
            session.close()

    def _fetch(self, session: http_client.RetrySession, segment: Segment) -> bytes | None:
        try:
            response = session.get(segment.url)
        except KickAPIError as err:
            logger.warning("live: segment %d: %s", segment.seq, err)
            return None
        if not response.ok:
            logger.warning("live: segment %d: HTTP %d", segment.seq, response.status)
            return None
        return response.content


class SegmentBuffer:
    """The high rendition's last `keep_s` seconds, stream-copied segment files in `folder`;
    older ones are deleted as new ones arrive, all of them by `close`."""

    def __init__(self, folder: Path, keep_s: float):
        self.folder, self.keep_s = folder, keep_s
        folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._segments: dict[int, tuple[Segment, Path]] = {}
        self.newest_end_s = 0.0
        self.changed = threading.Condition(self._lock)

    def add(self, segment: Segment, data: bytes) -> None:
        path = self.folder / f"{segment.seq}.ts"
        path.write_bytes(data)
        with self._lock:
            self._segments[segment.seq] = (segment, path)
            self.newest_end_s = max(self.newest_end_s, segment.end_s)
            for seq, (old, old_path) in list(self._segments.items()):
                if old.end_s < self.newest_end_s - self.keep_s:
                    old_path.unlink(missing_ok=True)
                    del self._segments[seq]
            self.changed.notify_all()

    def assemble(self, start_s: float, end_s: float, peak_s: float, target: Path
                 ) -> tuple[float, float] | None:
        """Byte-concatenate the contiguous segments that cover [start_s, end_s) around
        `peak_s` into `target` (MPEG-TS segments join by concatenation). Returns (the first
        segment's start, the last one's end) in broadcast seconds, or None when the buffer
        holds nothing of the span."""
        with self._lock:
            chosen = sorted((s for s, _ in self._segments.values()
                             if s.end_s > start_s and s.start_s < end_s), key=lambda s: s.seq)
            paths = {s.seq: p for s, p in self._segments.values()}
            if not chosen:
                return None
            # keep the contiguous run holding the peak (a gap splits the span)
            runs: list[list[Segment]] = [[chosen[0]]]
            for s in chosen[1:]:
                if s.seq == runs[-1][-1].seq + 1 and not s.discontinuity:
                    runs[-1].append(s)
                else:
                    runs.append([s])
            run = next((r for r in runs if r[0].start_s <= peak_s < r[-1].end_s),
                       max(runs, key=len))
            with open(target, "wb") as out:
                for s in run:
                    out.write(paths[s.seq].read_bytes())
            return run[0].start_s, run[-1].end_s

    def close(self) -> None:
        with self._lock:
            self._segments.clear()
        shutil.rmtree(self.folder, ignore_errors=True)


