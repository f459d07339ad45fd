"""Live mode: clip a broadcast while it runs.

    follow the live media playlists (both renditions, by media sequence number)
      low rendition  -> every few seconds of new segments: decode [context + new] from a local
                        byte-concatenated .ts with `stream_processor.analyze_span` -> per-second
                        feature rows (the VOD feature functions)
                     -> `RollingScorer`: robust z against a rolling baseline (median/MAD of the
                        last `live_baseline_s`), the VOD heuristic weights and learned model
                        (`scoring.blend`)
                     -> `LiveTrigger`: smoothed score above `live_threshold` for
                        `live_trigger_s`, grown into its event (`scoring.event_bounds`), clip
                        bounds as VOD (`scoring.clip_span`), min gap, cap per hour
      high rendition -> `SegmentBuffer`: the last `live_buffer_s` of stream-copied segments on
                        disk under the temp folder, deleted as they age out and on exit
    -> each clip is smart-cut from the buffer (`clip_cutter.cut_clip`), `highlights.json` rewritten
       atomically, `on_clip` called (the CLI prints; this module never does).

The run ends when the broadcast does (ENDLIST, the playlist gone, the channel offline), after
`live_for_s`, on a stalled playlist, or on cancel / Ctrl-C; what was clipped stays and
`features.npz` is saved, so finished-run tools (rerank, rate) work on a live run folder.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import clip_cutter
import kick_chat
import live_chat
import media
import runs
import scoring
import storage
import timecode
from chat_features import ChatFeatures
from config import Config
from errors import Cancelled, KickClipError, MediaError, NotLive
from live_hls import PlaylistFollower, Renewer, Segment, SegmentBuffer, Timeline
from live_scoring import LiveTrigger, RollingScorer

logger = logging.getLogger(__name__)

ANALYSIS_STEP_S = 6.0  # decode the low rendition once this much new media is there
CONTEXT_S = 2.0  # seconds decoded before the new ones (motion and flux need a previous frame)
CHAT_WAIT_SLACK_S = 10.0  # a broadcast clock further ahead of ours than lag + this: no wait


# --- the run ----------------------------------------------------------------------------------

def resolve_waiting(source: str, config: Config, progress: Callable[[float, str], None],
                    cancel: threading.Event) -> Any:
    """`sources.resolve_source`, but an offline channel is asked again until it goes live:
    after `live_wait_poll_s`, then 1.5x longer each time up to twice that."""
    from sources import resolve_source  # noqa: PLC0415

    wait = config.live_wait_poll_s
    while True:
        try:
            return resolve_source(source, config)
        except NotLive as err:
            logger.info("live: %s; asking again in %.0f s", err, wait)
            progress(0.0, f"offline - next check in {wait:.0f} s")
        if cancel.wait(wait):
            raise Cancelled("cancelled while waiting for the channel to go live")
        wait = min(wait * 1.5, 2 * config.live_wait_poll_s)


class LiveRun:
    """One live run: followers, analysis, trigger, cutter and the run folder. `follow` is the
    entry point; see the module docstring."""

    def __init__(self, generator: Any, src: Any, config: Config,
                 progress: Callable[[float, str], None], cancel: threading.Event,
                 on_clip: Callable[[Any], None] | None):
        self.generator, self.src, self.config = generator, src, config
        self.progress, self.cancel, self.on_clip = progress, cancel, on_clip
        self.window_s = config.window_s
        self.ffmpeg = media.find_ffmpeg(config.ffmpeg_binary)
        self.stop = threading.Event()  # followers and the cutter
        self.timeline = Timeline()
        self.renewer = Renewer(src.original, config)
        self._lock = threading.Lock()
        self._low: dict[int, tuple[Segment, Path]] = {}
        self._low_arrived = threading.Condition(self._lock)
        self.gaps: list[dict[str, Any]] = []
        self.notes: list[str] = []
        self.failed: list[dict[str, Any]] = []
        self.highlights: list[Any] = []  # Highlight, in landing order
        self.scorer: RollingScorer | None = None
        self.trigger = LiveTrigger(config, config.window_s)
        self.info: media.MediaInfo | None = None
        self._origin_pts: float | None = None  # the stream's timestamp of second 0
        self.state, self.reason = "live", ""
        self.t0 = time.perf_counter()
        self._queue: list[scoring.Span] = []
        self._queue_cv = threading.Condition()
        self._cut_cancel = threading.Event()
        self.chat: live_chat.LiveChat | None = None
        self.chat_off = "the run ended before chat started"  # why there is no chat

    # -- set-up and tear-down -----------------------------------------------------------------

    def follow(self) -> Any:
        c = self.config
        self.run_dir = runs.new_run_dir(Path(c.output_dir), self.src.name)
        self.work: Path | None = None
        self.buffer: SegmentBuffer | None = None
        self.low_follower = self.high_follower = None
        cutter: threading.Thread | None = None
        natural = discard = False
        try:
            Path(c.temp_dir).mkdir(parents=True, exist_ok=True)
            self.work = Path(tempfile.mkdtemp(prefix="live-", dir=c.temp_dir))
            (self.work / "low").mkdir()
            if c.make_clips:
                self.buffer = SegmentBuffer(self.work / "high", c.live_buffer_s)
                self.high_follower = PlaylistFollower(
                    "clip", 1, self.src.cut_url, self.renewer, self.timeline, c, self.stop,
                    self.buffer.add, lambda a, b, why: None,
                    start_seq=lambda: self.timeline.first_seq)
                cutter = threading.Thread(target=self._cutter, name="live-cut", daemon=True)
            self.low_follower = PlaylistFollower(
                "analysis", 0, self.src.analysis_url, self.renewer, self.timeline, c,
                self.stop, self._low_segment, self._gap)
            self._start_chat()
            self._write_json()
            self.progress(0.01, "live: waiting for the first segments")
            self.low_follower.start()
            if self.high_follower is not None:
                self.high_follower.start()
            if cutter is not None:
                cutter.start()
            natural = self._analyse_loop()
        except KeyboardInterrupt:
            self.cancel.set()
        except KickClipError as err:
            if not self.highlights:  # nothing to keep: the error is the run's outcome
                discard = True
                raise
            logger.warning("live: %s; ending with what was clipped", err)
            self._note(f"live: {err}; ended with what was clipped")
            natural, self.state, self.reason = True, "ended", str(err)
        finally:
            if not natural:
                self.state, self.reason = "stopped", "stopped by the user"
                self._cut_cancel.set()
            self.stop.set()
            with self._queue_cv:
                self._queue_cv.notify_all()
            if cutter is not None and cutter.is_alive():
                cutter.join()
            for follower in (self.low_follower, self.high_follower):
                if follower is not None and follower.is_alive():
                    follower.join(timeout=c.request_timeout_s + 5)
            if self.chat is not None:
                self.chat.stop()
                if self.chat.note():
                    self._note(self.chat.note())
            if self.buffer is not None:
                self.buffer.close()
            if self.work is not None:
                shutil.rmtree(self.work, ignore_errors=True)
            if discard:
                shutil.rmtree(self.run_dir, ignore_errors=True)
            else:
                if self.scorer is not None and self.scorer.n:
                    runs.save_signals(self.run_dir, self._features(), self._chat_features())
                result = self.generator.write_exports(self._result())  # exports/ for editors
                self._write_json(result)
        self.progress(1.0, f"live: {self.reason}; {len(self.highlights)} clip(s)")
        return result

    # -- the analysis loop (this thread) ------------------------------------------------------

    def _analyse_loop(self) -> bool:
        """Analyse as segments arrive until the broadcast ends (True) or the user stops (False)."""
        c = self.config
        while True:
            if self.cancel.is_set():
                return False
            low_done = not self.low_follower.is_alive()
            while self._batch(final=low_done):
                if self.cancel.is_set():
                    return False
                if c.live_for_s and self.covered_s >= c.live_for_s:
                    self.reason = f"followed for {c.live_for_s:.0f} s (--live-for)"
                    self._finish_naturally()
                    return True
            if low_done:
                if self.low_follower.error is not None:
                    raise self.low_follower.error
                state = self.low_follower.state
                self.reason = state.note or state.reason
                if state.reason in ("stalled", "gone"):
                    self._note(f"live: {self.reason}; ended with what was clipped")
                self._finish_naturally()
                return True
            with self._lock:
                self._low_arrived.wait(0.2)

    def _finish_naturally(self) -> None:
        """Cut the event still running, if any, and every clip still waiting; then stop."""
        if self.buffer is not None and self.high_follower.is_alive():
            # let the clip rendition catch up with what was analysed (briefly)
            deadline = time.monotonic() + 3 * self.config.live_poll_s + 5.0
            with self.buffer.changed:
                while (self.high_follower.is_alive() and time.monotonic() < deadline
                       and self.buffer.newest_end_s < self.covered_s
                       and not self.cancel.is_set()):
                    self.buffer.changed.wait(0.2)
        self.stop.set()  # the high follower ends: the cutter cuts from what the buffer has
        if self.scorer is not None:
            span = self.trigger.flush(self.scorer.combined.values)
            if span is not None:
                self._landed(span)
        with self._queue_cv:
            self._queue_cv.notify_all()
            while self._queue and not self.cancel.is_set():
                self._queue_cv.wait(0.2)
        self.state = "ended"

    def _note(self, text: str) -> None:
        """A note for highlights.json, once (a long broadcast must not grow a list per batch)."""
        with self._lock:
            if text not in self.notes and len(self.notes) < 50:
                self.notes.append(text)

    @property
    def covered_s(self) -> float:
        return (self.scorer.n if self.scorer else 0) * self.window_s

    def _low_segment(self, segment: Segment, data: bytes) -> None:
        path = self.work / "low" / f"{segment.seq}.ts"
        path.write_bytes(data)
        with self._lock:
            self._low[segment.seq] = (segment, path)
            self._low_arrived.notify_all()

    def _gap(self, first_seq: int, end_seq: int, reason: str) -> None:
        with self._lock:
            last = self.gaps[-1] if self.gaps else {}
            if last.get("end_sequence") == first_seq and last.get("reason") == reason:
                last["end_sequence"] = end_seq  # one entry per stretch, not per segment
            else:
                self.gaps.append({"first_sequence": first_seq, "end_sequence": end_seq,
                                  "reason": reason})
        logger.warning("live: segments %d-%d lost: %s", first_seq, end_seq - 1, reason)

    def _batch(self, final: bool) -> bool:
        """Analyse the next stretch of low-rendition segments if enough has arrived (any amount
        when `final`). Returns True when it added rows."""
        w = self.window_s
        with self._lock:
            segs = sorted((s for s, _ in self._low.values()), key=lambda s: s.seq)
            paths = {s.seq: p for s, p in self._low.values()}
        n = self.scorer.n if self.scorer else 0
        todo = [s for s in segs if s.end_s > n * w + 1e-6]
        if not todo:
            return False
        run = [todo[0]]
        for s in todo[1:]:
            if s.seq != run[-1].seq + 1 or s.discontinuity:
                break
            run.append(s)
        more_after = len(run) < len(todo)
        begin = max(n, math.ceil(run[0].start_s / w - 1e-6))
        end_row = math.floor(run[-1].end_s / w + 1e-6)
        # at most a chunk's worth at once (catching up on a long playlist window), and never
        # past --live-for
        capped = min(end_row, begin + max(1, int(self.config.chunk_duration_s / w)))
        if self.config.live_for_s:
            capped = min(capped, math.ceil(self.config.live_for_s / w - 1e-6))
        if capped < end_row:
            end_row, more_after = max(capped, begin), True
            run = [s for s in run if s.start_s < end_row * w]
        chat_ready = None if final else self._chat_ready_row(end_row)
        if chat_ready is not None:  # wait until viewers' reactions to these seconds are in
            if chat_ready <= begin:
                return False
            end_row = chat_ready
            run = [s for s in run if s.start_s < end_row * w]
        if end_row <= begin:
            if not (more_after or final):
                return False
            self._forget(run)  # too short to hold a whole second
            return more_after
        if not final and not more_after and (end_row - begin) * w < ANALYSIS_STEP_S:
            return False
        # context: contiguous segments just before the run
        files = list(run)
        while (files[0].seq - 1) in paths and not files[0].discontinuity:
            prev = next(s for s in segs if s.seq == files[0].seq - 1)
            if begin * w - prev.start_s > CONTEXT_S + prev.duration_s:
                break
            files.insert(0, prev)
        target = self.work / "analysis.ts"
        with open(target, "wb") as out:
            for s in files:
                out.write(paths[s.seq].read_bytes())
        # Place the stretch on the stream's own clock, as a VOD decode of the same media
        # would: second 0 is the first followed segment's first timestamp (re-anchored after
        # a discontinuity, where timestamps start afresh). Decoding then starts at a whole
        # second of that clock, so frames and samples fall into the same windows.
        file_pts = media.probe_start_time(self.ffmpeg, str(target))
        if file_pts is None:
            file_pts = files[0].start_s + (self._origin_pts or 0.0)
        if self._origin_pts is None or files[0].discontinuity:
            self._origin_pts = file_pts - files[0].start_s
        lead = self._origin_pts + begin * w - file_pts  # file start -> second `begin`
        if lead < -1e-6:  # the stretch starts just after a whole second: begin at the next
            begin, lead = begin + 1, lead + w
            if end_row <= begin:
                self._forget(run)
                return more_after
        skip = max(0, min(int(math.floor(lead / w + 1e-6)), int(round(CONTEXT_S / w))))
        seek = max(0.0, lead - skip * w)
        rows, valid = self._analyse(target, seek, (end_row - begin + skip) * w, skip,
                                    end_row - begin)
        if begin > n:
            self._invalid(n, begin, "segments missing from the playlist" if n else
                          "before the first whole second")
        new = self.scorer.add(rows, valid, *self._chat_rows(begin, end_row - begin))
        for i in range(new.start, new.stop):
            span = self.trigger.feed(self.scorer.combined.values, i, self.scorer.warm)
            if span is not None:
                self._landed(span)
        self._forget([s for s in segs if s.end_s < end_row * w - CONTEXT_S - 4.0])
        limit = self.config.live_for_s
        self.progress(min(0.99, max(0.01, self.covered_s / limit)) if limit else 0.01,
                      f"live {timecode.hms(self.covered_s)}, {len(self.highlights)} clip(s)")
        return True

    def _forget(self, segments: list[Segment]) -> None:
        with self._lock:
            for s in segments:
                entry = self._low.pop(s.seq, None)
                if entry:
                    entry[1].unlink(missing_ok=True)

    def _invalid(self, first: int, end: int, reason: str) -> None:
        k = end - first
        rows = {m: np.zeros((k, len(names)), np.float32) for m, names in self.scorer.modalities}
        self.scorer.add(rows, np.zeros(k, bool))
        self.gaps.append({"start": first * self.window_s, "end": end * self.window_s,
                          "reason": reason})
        for i in range(first, end):
            self.trigger.feed(self.scorer.combined.values, i, self.scorer.warm)

    def _analyse(self, path: Path, seek_s: float, length_s: float, skip: int, count: int
                 ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Per-second rows of `count` seconds of `path` (a local .ts) from `seek_s` on, after
        the first `skip` (context), through the VOD path's decode and feature functions."""
        from stream_processor import Chunk, analyze_span  # noqa: PLC0415

        if self.info is None:
            self.info = media.probe_media(self.ffmpeg, str(path))
            self.scorer = self._new_scorer(self.info)
        got: list[Any] = []
        result = analyze_span(self.ffmpeg, str(path), self.info,
                              [Chunk(0, round(seek_s, 6), length_s)],
                              self.config, got.append, self.cancel, strict=False)
        if result.error:
            logger.warning("live: analysis of %.0f s failed: %s", length_s, result.error)
        valid = np.zeros(count, bool)
        rows = {m: np.zeros((count, len(names)), np.float32)
                for m, names in self.scorer.modalities}
        if got:
            part = got[0]
            for m, _ in self.scorer.modalities:
                have = getattr(part, m)[skip: skip + count]
                rows[m][: len(have)] = have
                valid[: len(have)] = True
        if not valid.all():
            self._note("live: part of a stretch could not be analysed (left out of scoring)")
        return rows, valid

    def _new_scorer(self, info: media.MediaInfo) -> RollingScorer:
        from highlight_model import rating_share  # noqa: PLC0415

        c = self.config
        channel = (self.src.kick or {}).get("channel")
        model = self.generator.model_for(c)
        share = scoring.model_share(c.heuristic_weight,
                                    rating_share(model.store.rating_count(channel)))
        return RollingScorer(c, info.has_audio, info.has_video, model.predict, channel, share)

    # -- clips --------------------------------------------------------------------------------

    def _landed(self, span: scoring.Span) -> None:
        """An event ended: cut it (in the cutter thread) or, without clips, list it now."""
        if self.buffer is None:
            self._deliver(span, None, None)
            return
        with self._queue_cv:
            self._queue.append(span)
            self._queue_cv.notify_all()

    def _cutter(self) -> None:
        while True:
            with self._queue_cv:
                while not self._queue and not (self.stop.is_set() or self._cut_cancel.is_set()):
                    self._queue_cv.wait(0.2)
                if not self._queue or self._cut_cancel.is_set():
                    return
                span = self._queue[0]
            try:
                self._cut(span)
            finally:
                with self._queue_cv:
                    self._queue.pop(0)
                    self._queue_cv.notify_all()

    def _cut(self, span: scoring.Span) -> None:
        c = self.config
        # wait until the buffer holds the clip's end (or nothing more will come)
        # (or the analysis is a minute past it: the clip rendition lags, cut what there is)
        with self.buffer.changed:
            while (self.buffer.newest_end_s < span.end and self.high_follower.is_alive()
                   and self.covered_s < span.end + 60.0 and not self._cut_cancel.is_set()):
                self.buffer.changed.wait(0.2)
        if self._cut_cancel.is_set():
            return
        number = len(self.highlights) + len(self.failed) + 1
        ext = ".mp4" if (self.info is None or self.info.has_video) else ".m4a"
        stem = runs.clip_stem(number, span.start)
        source = self.work / f"cut_{number}.ts"
        try:
            got = self.buffer.assemble(span.start, span.end, span.peak, source)
            if got is None:
                raise MediaError("the clip's part of the stream is no longer buffered")
            offset = max(0.0, span.start - got[0])
            duration = min(span.end, got[1]) - max(span.start, got[0])
            if duration < 1.0:
                raise MediaError("less than a second of the clip was buffered")
            peak = min(max(span.peak - got[0], 0.0), got[1] - got[0] - 0.1)
            has_video = self.info is None or self.info.has_video
            made = clip_cutter.cut_clip(
                self.ffmpeg, str(source), offset, duration, self.run_dir / f"{stem}{ext}",
                fast=c.fast_cut, smart=c.smart_cut, has_video=has_video, preset=c.clip_preset,
                thumbnail=(peak, self.run_dir / f"{stem}.jpg") if has_video else None,
                work_dir=self.work, available_s=got[1] - got[0] - offset,
                timeout_s=c.ffmpeg_timeout_s, cancel=self._cut_cancel)
            if made.note:
                self._note(f"clip {number} re-encoded whole: {made.note}")
            start = max(span.start, got[0])
            span = scoring.Span(span.peak, span.event_start, span.event_end, round(start, 3),
                                round(start + duration, 3), span.index, span.score)
            self._deliver(span, made.path, made.thumbnail)
        except Cancelled:
            return
        except MediaError as err:
            if self._cut_cancel.is_set():
                return
            logger.warning("live: clip %d failed: %s", number, err)
            with self._lock:
                self.failed.append({"rank": number, "start": span.start, "end": span.end,
                                    "reason": str(err)})
            self._write_json()
        finally:
            source.unlink(missing_ok=True)

    def _deliver(self, span: scoring.Span, clip: Path | None, thumb: Path | None) -> None:
        h = scoring.explain(0, span, self.scorer.scores(), self.config, None)
        h = dataclasses.replace(h, clip_path=str(clip) if clip else None,
                                thumbnail_path=str(thumb) if thumb else None)
        with self._lock:
            self.highlights.append(h)
        # rating needs the features beside the clips, while the broadcast still runs
        storage.write_atomically(self.run_dir / runs.FEATURES_NAME, self._features().save)
        self._write_json()
        if self.on_clip is not None:
            self.on_clip(h)

    # -- results ------------------------------------------------------------------------------

    def _ranked(self) -> list[Any]:
        with self._lock:
            ordered = sorted(self.highlights, key=lambda h: (-h.score, h.start))
        return [dataclasses.replace(h, rank=r) for r, h in enumerate(ordered, 1)]

    def _features(self) -> Any:
        from stream_processor import StreamFeatures  # noqa: PLC0415

        s = self.scorer
        return StreamFeatures(self.window_s, self.covered_s,
                              s.features["audio"].values.copy() if "audio" in s.features
                              else None,
                              s.features["video"].values.copy() if "video" in s.features
                              else None, s.valid.values.copy())

    # -- chat ---------------------------------------------------------------------------------

    def _start_chat(self) -> None:
        """Kick's live chat, when the source is a Kick channel and chat is on."""
        reason = live_chat.skip_reason(self.src.kick, self.config)
        if reason is None and self.window_s != 1.0:
            reason = "live chat needs 1 s windows"
        if reason is None:
            self.chat = live_chat.LiveChat(self.config, self.src.kick["chatroom_id"]).start()
            return
        self.chat_off = reason
        if (self.src.kick or {}).get("kind") == "channel":
            self._note(live_chat.unavailable_note(reason))

    def _chat_rows(self, first: int, k: int) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Chat rows for stream seconds first .. first + k - 1: viewers react `chat_lag_s`
        after a moment's wall-clock time (its program date-time); seconds whose reactions have
        not all arrived yet are not covered (left out of the score, never a quiet chat)."""
        started = self.timeline.started_at
        if self.chat is None or started is None or k <= 0:
            return None, None
        return self.chat.rows(started.timestamp() + first + self.config.chat_lag_s, k)

    def _chat_ready_row(self, end_row: int) -> int | None:
        """The first stream second whose chat reactions (`chat_lag_s` later, on the wall
        clock) are not all in yet, when that is before `end_row`: scoring waits for them. None
        when there is no chat to wait for, or when the broadcast's clock is too far off ours
        for waiting to help (its seconds are then scored without chat)."""
        started = self.timeline.started_at
        if self.chat is None or started is None or not self.chat.status().available:
            return None
        ready = math.floor(time.time() - started.timestamp() - self.config.chat_lag_s - 1.0)
        if ready >= end_row or end_row - ready > self.config.chat_lag_s + CHAT_WAIT_SLACK_S:
            return None
        return ready

    def _chat_features(self) -> Any:
        s = self.scorer
        if self.chat is None or s is None or not s.chat_covered.values.any():
            return None
        covered = s.chat_covered.values.copy()
        return ChatFeatures(np.where(covered[:, None], s.chat.values, 0.0)
                            .astype(np.float32), covered, self.chat.status().messages,
                            self.config.chat_lag_s, False)

    def _chat_block(self) -> dict[str, Any]:
        if self.chat is None:
            return kick_chat.unavailable(self.chat_off)
        status = self.chat.status()
        if not status.connections:
            return kick_chat.unavailable(status.note or "never connected")
        return {"available": True, "messages": status.messages,
                "lag_s": self.config.chat_lag_s, "lag_estimated": False, "live": True}

    def _result(self) -> Any:
        c = self.config
        notes = list(self.notes)
        if self.scorer is not None and not self.scorer.model_used:
            notes.append("ranked by the heuristic alone (no trained model yet)")
        notes.append("live: scores are relative to the last "
                     f"{c.live_baseline_s:.0f} s; clips are named in the order they were cut")
        dropped = len(self.trigger.dropped)
        if dropped:
            notes.append(f"live: {dropped} moment(s) not clipped (min gap or hourly cap)")
        with self._lock:
            gaps = [g for g in self.gaps if "start" in g]
            lost = [g for g in self.gaps if "start" not in g]
            failed = list(self.failed)
        if lost:
            notes.append(f"live: {len(lost)} stretch(es) of segments were lost")
        started = self.timeline.started_at
        return runs.RunResult(
            source=self.src.original, title=self.src.title, duration_s=self.covered_s,
            config=c, media=self.info.to_dict() if self.info else {},
            highlights=self._ranked(), audio_highlights=[], video_highlights=[],
            chat=self._chat_block(),
            run_dir=str(self.run_dir), kick=self.src.kick, skipped_chunks=gaps,
            failed_clips=failed, notes=notes,
            model={"used": bool(self.scorer and self.scorer.model_used)},
            timings_s={"total": time.perf_counter() - self.t0},
            live={"started_at": started.isoformat(timespec="seconds") if started else None,
                  "covered_s": round(self.covered_s, 3), "state": self.state,
                  "reason": self.reason, "first_sequence": self.timeline.first_seq,
                  "warm": bool(self.scorer and self.scorer.warm),
                  "segments_lost": lost})

    def _write_json(self, result: Any = None) -> None:

        result = result or self._result()
        with self._lock:
            runs.save(self.run_dir, result)


class LiveHandle:
    """A live run in a background thread, for the UI: `start`, `stop`, and `snapshot` for what
    has been scored and clipped so far. The CLI calls `follow` itself (in its own thread)."""

    def __init__(self, generator: Any, source: str, config: Config):
        self.generator, self.source, self.config = generator, source, config
        self.cancel = threading.Event()
        self.message = "resolving source"
        self.error: KickClipError | None = None
        self.result: Any = None
        self._run: LiveRun | None = None
        self._thread = threading.Thread(target=self._main, name="live", daemon=True)

    def start(self) -> LiveHandle:
        self._thread.start()
        return self

    def _progress(self, fraction: float, message: str) -> None:
        self.message = message

    def _main(self) -> None:
        try:
            runs.check_writable(Path(self.config.output_dir))
            src = self.generator.resolve_live_or_vod(self.source, self.config, self._progress,
                                                     self.cancel)
            if not src.is_live:
                raise NotLive(f"{src.original} is not live - analyse it in the Analyse tab")
            self._run = LiveRun(self.generator, src, self.config, self._progress, self.cancel,
                                None)
            self.result = self._run.follow()
        except KickClipError as err:
            self.error = err
            logger.warning("live: %s", err)

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Ask the run to finish (what was clipped stays); True once it has."""
        self.cancel.set()
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    @property
    def run_dir(self) -> Path | None:
        return getattr(self._run, "run_dir", None)

    def snapshot(self) -> dict[str, Any]:
        """Where the run is: `state` ("starting", "live" ... as highlights.json's `live.state`,
        or "failed"), `message`, `error`, `run_dir`, the clips so far (dicts, best first) and
        the combined score per second so far (float32 (n,), NaN where not analysed)."""
        run = self._run
        if self.error is not None:
            state = "failed"
        elif not self.running and self.result is None and self._thread.ident is not None:
            state, self.message = "failed", "stopped unexpectedly - the log says why"
        elif run is None:
            state = "starting"
        else:
            state = run.state
        scorer = run.scorer if run is not None else None
        return {"state": state, "message": self.message, "running": self.running,
                "error": str(self.error) if self.error else None,
                "run_dir": str(self.run_dir) if self.run_dir else None,
                "covered_s": run.covered_s if run is not None else 0.0,
                "highlights": [h.to_dict() for h in run._ranked()] if run is not None else [],
                "scores": (scorer.combined.values.copy() if scorer is not None
                           else np.zeros(0, np.float32)),
                "window_s": self.config.window_s}


def follow(generator: Any, src: Any, config: Config, progress: Callable[[float, str], None],
           cancel: threading.Event, on_clip: Callable[[Any], None] | None = None) -> Any:
    """Follow the live `src` (a `sources.Source` with is_live) until the broadcast ends,
    `live_for_s`, cancel or Ctrl-C; returns the `RunResult` (its `live.state` says which)."""
    return LiveRun(generator, src, config, progress, cancel, on_clip).follow()
