"""The engine: any stream in, ranked highlights, clips and `highlights.json` out.

Data flows through the seed's components in this order:

    source -> StreamProcessor (probe, plan chunks, decode each chunk through ffmpeg pipes)
           -> AudioAnalyzer / VideoAnalyzer (one feature row per window, `audio_analyzer.py`,
              `video_analyzer.py`)
           -> scoring (per-stream robust z-scores, the seed's weighted heuristic, `scoring.py`)
           -> MLHighlightModel (GradientBoosting blended in once trained, `highlight_model.py`)
           (+ Kick chat for VODs: fetched in a background thread meanwhile, `kick_chat.py`)
           -> selection (peaks, padding, min gap) -> clip cutting (`media.py`) -> JSON

`KickClipGenerator` drives it. It never prints, exits or imports a UI library: progress goes to
a `(fraction, message)` callback and a `threading.Event` cancels.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import shutil
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

import kick_chat
import media
import scoring
from audio_analyzer import AUDIO_FEATURES
from config import VERSION, Config
from errors import Cancelled, InputError, KickClipError, MediaError
from feature_cache import FeatureCache, cache_key
from highlight_model import CHANNEL_MIN_RATINGS, MLHighlightModel, rating_share
from kick_chat import CHAT_FEATURES, CHAT_NAME, ChatFeatures, ChatJob
from sources import Source, StreamURLs, resolve_source, safe_name
from stream_processor import (
    FEATURES_NAME,
    Chunk,
    ChunkFeatures,
    StreamFeatures,
    StreamProcessor,
    analyze_span_collect,
    limit_heap_arenas,
    plan_chunks,
    plan_spans,
    release_free_memory,
)
from video_analyzer import VIDEO_FEATURES, opencv_threads

logger = logging.getLogger(__name__)

Progress = Callable[[float, str], None]
JSON_NAME = "highlights.json"
CLIPS_AT_ONCE = 3  # smart cuts are mostly reading, copying and starting ffmpeg: overlap them
SAMPLES_PER_RUN = 60  # random windows stored per modality and run, besides the highlights


def _no_progress(fraction: float, message: str) -> None:
    pass


# --- results ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Highlight:
    rank: int
    start: float
    end: float
    peak: float
    score: float
    audio_score: float | None
    video_score: float | None
    chat_score: float | None
    ml_score: float | None
    kind: str
    reasons: list[str]
    clip_path: str | None = None
    thumbnail_path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Scores:
    """Per-window scores of a stream (each float32 (n_windows,) or None). `chat` is NaN where
    chat does not cover a window; the `_z` matrices are (n_windows, n_features)."""

    combined: np.ndarray
    audio: np.ndarray | None
    video: np.ndarray | None
    ml: np.ndarray | None
    audio_z: np.ndarray | None
    video_z: np.ndarray | None
    chat: np.ndarray | None = None
    chat_z: np.ndarray | None = None


@dataclass
class RunResult:
    source: str
    title: str
    duration_s: float
    config: Config
    media: dict[str, Any]
    highlights: list[Highlight]
    audio_highlights: list[Highlight]
    video_highlights: list[Highlight]
    chat_highlights: list[Highlight] = field(default_factory=list)
    chat: dict[str, Any] = field(default_factory=lambda: kick_chat.unavailable("not scored"))
    run_dir: str | None = None
    kick: dict[str, Any] | None = None
    skipped_chunks: list[dict[str, Any]] = field(default_factory=list)
    failed_clips: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    model: dict[str, Any] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)
    created_at: str = field(default_factory=lambda: datetime.now().astimezone().isoformat(
        timespec="seconds"))
    live: dict[str, Any] | None = None  # live runs only (live.py): started_at, covered_s, state

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "source": self.source,
            "title": self.title,
            "duration_s": round(self.duration_s, 3),
            "created_at": self.created_at,
            "config": self.config.to_dict(),
            "media": self.media,
            "kick": self.kick,
            "highlights": [h.to_dict() for h in self.highlights],
            "audio_highlights": [h.to_dict() for h in self.audio_highlights],
            "video_highlights": [h.to_dict() for h in self.video_highlights],
            "chat_highlights": [h.to_dict() for h in self.chat_highlights],
            "chat": self.chat,
            "skipped_chunks": self.skipped_chunks,
            "failed_clips": self.failed_clips,
            "notes": self.notes,
            "model": self.model,
            "timings_s": {k: round(v, 3) for k, v in self.timings_s.items()},
            "run_dir": self.run_dir,
            **({"live": self.live} if self.live is not None else {}),
        }


# --- the driver -------------------------------------------------------------------------------

class KickClipGenerator:
    """Runs the whole pipeline. One instance can serve many runs (CLI, UI, scripts)."""

    def __init__(self, config: Config | None = None):
        self.config = config or Config.from_env()
        self._models: dict[Path, MLHighlightModel] = {}

    def model_for(self, config: Config) -> MLHighlightModel:
        key = Path(config.models_dir).resolve()
        if key not in self._models:
            self._models[key] = MLHighlightModel(config.models_dir, config.min_training_samples)
        return self._models[key]

    # The whole job ----------------------------------------------------------------------------

    def run(self, source: str, config: Config | None = None, progress: Progress | None = None,
            cancel: threading.Event | None = None,
            on_clip: Callable[[Highlight], None] | None = None) -> RunResult:
        """Analyse `source`, select highlights, cut clips (unless `make_clips` is off), write
        `highlights.json`. A live source is followed until it ends (`live.py`), `on_clip`
        called as each clip lands. Raises `KickClipError` subclasses for anything the user
        can fix."""
        config = config or self.config
        progress = progress or _no_progress
        cancel = cancel or threading.Event()
        t0 = time.perf_counter()

        _check_writable(Path(config.output_dir))  # before any work, not after an hour of it
        progress(0.0, "resolving source")
        if config.live_wait:
            import live  # noqa: PLC0415 - live mode only

            src = live.resolve_waiting(source, config, progress, cancel)
        else:
            src = resolve_source(source, config)
        if src.is_live:  # follow the broadcast, clipping as it goes (live.py)
            import live  # noqa: PLC0415

            return live.follow(self, src, config, progress, cancel, on_clip)
        return self._run(src, config, progress, cancel, t0)

    def _run(self, src: Source, config: Config, progress: Progress, cancel: threading.Event,
             t0: float) -> RunResult:
        timings: dict[str, float] = {}
        processor = StreamProcessor(config)
        info = processor.probe(src.analysis_url)
        notes: list[str] = []
        duration = info.duration_s
        if duration is None or duration <= 0:
            raise InputError(f"{src.original}: length unknown (a live stream?) - "
                             "pass a recording or a VOD link")
        if not info.has_video:
            notes.append("no video stream: video features unavailable, video list empty")
        if not info.has_audio:
            notes.append("no audio stream: audio features unavailable, audio list empty")
        timings["probe"] = time.perf_counter() - t0

        t1 = time.perf_counter()
        urls = StreamURLs(src, config)
        chat_skip = kick_chat.skip_reason(src.kick, config)
        job = None if chat_skip else ChatJob(config, src.kick or {}, duration).start()
        try:
            features, skipped, cache_notes = self.extract_features(
                processor, src, info, config, _with_chat(progress, job), cancel, urls)
            timings["analysis"] = time.perf_counter() - t1
            if job is not None:
                t_wait = time.perf_counter()
                _wait_for_chat(job, progress, cancel)
                timings["chat_wait"] = time.perf_counter() - t_wait
        finally:
            if job is not None:
                job.stop()  # on the way out early; what the fetch stored is kept for next time
        notes += cache_notes

        t2 = time.perf_counter()
        progress(0.86, "scoring")
        channel = (src.kick or {}).get("channel")
        if job is None:
            chat, chat_block = None, kick_chat.unavailable(chat_skip or "")
            if (src.kick or {}).get("kind") == "vod" and config.use_chat:
                notes.append(f"chat: unavailable ({chat_skip}) - ranked on audio and video")
        else:
            # the lag is estimated against the heuristic alone: the same whatever the model
            plain = self.score(features, config.replace(heuristic_weight=1.0), channel)
            reference = plain.audio if plain.audio is not None else plain.combined
            chat, chat_block, chat_notes = kick_chat.assemble(
                job.result(), len(features.valid), features.window_s, features.duration_s,
                reference, features.valid, config)
            notes += chat_notes
        scores = self.score(features, config, channel, chat)
        result = self.rank(features, scores, config)
        result.source, result.title, result.kick = src.original, src.title, src.kick
        result.media = info.to_dict()
        result.skipped_chunks = skipped
        result.chat = chat_block
        result.notes = notes + result.notes
        if config.clip_length_s > duration:
            result.notes.append(f"clip length {config.clip_length_s:.0f} s is longer than the "
                                f"stream; clips are clamped to {duration:.1f} s")
        result.model = self.learn(src, features, scores, result, config)
        timings["scoring"] = time.perf_counter() - t2

        t3 = time.perf_counter()
        run_dir = self._new_run_dir(config, src.name)
        try:
            features.save(run_dir / FEATURES_NAME)
            if chat is not None:
                chat.save(run_dir / CHAT_NAME)  # re-ranking needs no network
            if config.make_clips:
                self.cut_clips(processor, urls, info, result, run_dir, config, progress,
                               cancel)
            timings["clips"] = time.perf_counter() - t3
            timings["total"] = time.perf_counter() - t0
            result.timings_s = timings
            result.run_dir = str(run_dir)
            write_json(run_dir / JSON_NAME, result.to_dict())
        except BaseException:
            shutil.rmtree(run_dir, ignore_errors=True)
            raise
        progress(1.0, f"done: {len(result.highlights)} highlights")
        return result

    # Steps ------------------------------------------------------------------------------------

    def extract_features(self, processor: StreamProcessor, src: Source, info: media.MediaInfo,
                         config: Config, progress: Progress, cancel: threading.Event,
                         urls: StreamURLs | None = None
                         ) -> tuple[StreamFeatures, list[dict[str, Any]], list[str]]:
        """Walk the stream: runs of consecutive chunks ("spans"), `workers` at a time, each
        decoded by one ffmpeg; cached chunks are reused. When a span fails, the rest of it is
        tried again from the chunk it stopped at; a chunk that stops it `chunk_attempts`
        times is recorded and skipped."""
        duration = float(info.duration_s or 0.0)
        chunks = plan_chunks(duration, config)
        features = StreamFeatures.empty(duration, config.window_s, info.has_audio,
                                        info.has_video)
        edge = np.full(len(features.valid), -1.0)
        cache = key = None
        done: dict[int, ChunkFeatures] = {}
        notes: list[str] = []
        if config.use_cache and src.identity and not src.is_live:
            cache = FeatureCache(config.models_dir)
            key = cache_key(src.identity, config, info.has_audio, info.has_video)
            done = {i: p for i, p in cache.load(key).items() if i < len(chunks)}
            if done:
                verb = "reused" if len(done) == len(chunks) else "resumed"
                notes.append(f"{verb}: {len(done)} of {len(chunks)} chunks from the feature "
                             "cache (--no-cache analyses everything again)")
                logger.info(notes[-1])
        for part in done.values():
            features.merge(part, edge)
        settled = set(done)  # chunk indices merged or given up on
        skipped: list[dict[str, Any]] = []
        attempts: Counter[int] = Counter()
        arrived: queue.Queue[ChunkFeatures] = queue.Queue()
        urls = urls or StreamURLs(src, config)
        todo = [c for c in chunks if c.index not in done]
        workers = min(config.workers or os.cpu_count() or 1, max(len(todo), 1))

        def report() -> None:
            progress(0.02 + 0.83 * len(settled) / len(chunks),
                     f"chunk {min(len(settled) + 1, len(chunks))}/{len(chunks)}")

        def take(part: ChunkFeatures) -> None:
            if part.chunk.index in settled:
                return
            settled.add(part.chunk.index)
            features.merge(part, edge)
            if cache is not None:
                cache.store(key, part)
            report()

        def give_up(chunk: Chunk, reason: str) -> None:
            logger.warning("chunk %d (%.0f-%.0f s) skipped: %s", chunk.index + 1,
                           chunk.start_s, chunk.end_s, reason)
            settled.add(chunk.index)
            skipped.append({"start": chunk.start_s, "end": chunk.end_s, "reason": reason})
            report()

        pool, close = _executor(config, workers)

        def submit(span: list[Chunk]):
            strict = attempts[span[0].index] == 0  # a retry takes damaged data as it decodes
            if config.dask_scheduler:  # runs elsewhere: its own ffmpeg, results at the end
                return pool.submit(analyze_span_collect, urls.analysis, info, span, config,
                                   strict)
            return pool.submit(processor.analyze, urls.analysis, info, span, arrived.put,
                               cancel, strict)

        report()
        # Each worker is one core's worth: BLAS's and OpenCV's own threads on top would
        # oversubscribe the machine (measured: 60-min HLS analysis 18.0 s -> 14.5 s on 2 cores
        # for BLAS; OpenCV is slower with its threads even on one worker, see opencv_threads).
        limit_heap_arenas()
        libraries = _single_threaded_libraries()  # in force from here; closed in `finally`
        try:
            running = {submit(span): span for span in plan_spans(todo, len(chunks))}
            while running:
                try:
                    take(arrived.get(timeout=0.1))
                except queue.Empty:
                    pass
                if cancel.is_set():
                    raise Cancelled("cancelled")
                for future in [f for f in running if f.done()]:
                    span = running.pop(future)
                    result = future.result()
                    while not arrived.empty():
                        take(arrived.get())
                    for part in result.parts:
                        take(part)
                    for chunk, reason in result.empty:
                        give_up(chunk, reason)
                    rest = [c for c in span if c.index not in settled]
                    if not rest:
                        continue
                    error = MediaError(result.error or "the decoder stopped early")
                    if not urls.renew_if_expired(error):
                        attempts[rest[0].index] += 1
                        if attempts[rest[0].index] >= config.chunk_attempts:
                            give_up(rest[0], str(error))
                            rest = rest[1:]
                        else:
                            logger.warning("chunk %d failed (%s); trying again",
                                           rest[0].index + 1, error)
                    if rest:
                        running[submit(rest)] = rest
        finally:
            if sys.exc_info()[0] is not None:
                cancel.set()  # stops ffmpeg in the other workers at once
            close()
            libraries.close()
            release_free_memory()  # the chunks' temporaries, before scoring and training
        if cancel.is_set():  # asked to stop just as the last chunk came in
            raise Cancelled("cancelled")
        skipped.sort(key=lambda item: item["start"])
        if not features.valid.any():
            reason = skipped[0]["reason"] if skipped else "nothing decoded"
            raise MediaError(f"could not analyse any part of the stream: {reason}")
        return features, skipped, notes

    def score(self, features: StreamFeatures, config: Config, channel: str | None = None,
              chat: ChatFeatures | None = None) -> Scores:
        """Per-window heuristic scores on per-stream z-scores, blended with the model (the
        channel's own when it has one). The model's share starts at 1 - heuristic_weight and
        grows towards twice that as the user rates clips. Chat (heuristic only) is a third
        term where it covers a window; the combined score is the weighted mean of the terms
        present there, so missing chat is left out, never counted as zero."""
        model = self.model_for(config)
        valid = features.valid
        parts: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray | None]] = {}
        for modality, matrix, names, weights in (
            ("audio", features.audio, AUDIO_FEATURES, config.audio_weights),
            ("video", features.video, VIDEO_FEATURES, config.video_weights),
        ):
            if matrix is None:
                continue
            z = np.zeros_like(matrix)
            z[valid] = scoring.robust_z(matrix[valid])
            heuristic = scoring.weighted_score(z, names, weights)
            ml = model.predict(modality, names, z, channel)
            parts[modality] = (z, heuristic, ml)
        share = scoring.model_share(config.heuristic_weight,
                                    rating_share(model.store.rating_count(channel)))
        blended = {m: scoring.blend(heuristic, ml, share)
                   for m, (_, heuristic, ml) in parts.items()}
        ml_parts = [ml for _, _, ml in parts.values() if ml is not None]
        weight = {"audio": config.audio_weight, "video": config.video_weight}
        chat_score = chat_z = chat_heuristic = use = None
        if chat is not None and len(chat.covered) == len(valid):
            use = chat.covered & valid
            chat_z = np.zeros_like(chat.matrix)
            chat_z[use] = scoring.robust_z(chat.matrix[use])
            chat_heuristic = scoring.weighted_score(chat_z, CHAT_FEATURES, config.chat_weights)
            chat_score = np.where(use, chat_heuristic, np.nan).astype(np.float32)
        combined = scoring.combine(blended, weight, len(valid), chat_heuristic,
                                   config.chat_weight, use)
        combined = np.where(valid, combined, np.nan).astype(np.float32)
        ml_mean = np.mean(ml_parts, axis=0).astype(np.float32) if ml_parts else None
        return Scores(combined, blended.get("audio"), blended.get("video"), ml_mean,
                      parts["audio"][0] if "audio" in parts else None,
                      parts["video"][0] if "video" in parts else None, chat_score, chat_z)

    def rank(self, features: StreamFeatures, scores: Scores, config: Config) -> RunResult:
        """Select the ranked lists (combined, audio, video, chat). Pure: no decoding, so
        re-ranking is instant."""
        notes = []
        if scores.ml is None:
            logger.info("no trained model yet: ranking on the heuristic alone")
            notes.append("ranked by the heuristic alone (no trained model yet)")

        def pick(score: np.ndarray | None, kind_hint: str | None) -> list[Highlight]:
            if score is None:
                return []
            usable = features.valid & np.isfinite(score)  # chat covers only part, maybe
            if not usable.any():
                return []
            filled = np.where(usable, score, np.nanmin(score[usable]))
            spans = scoring.select_spans(
                filled, features.window_s, features.duration_s, top_n=config.top_n,
                min_gap_s=config.min_gap_s, smooth_s=config.smooth_s,
                clip_length_s=config.clip_length_s, pre_roll_s=config.pre_roll_s,
                post_roll_s=config.post_roll_s, max_clip_length_s=config.max_clip_length_s,
                valid=usable)
            return [self._highlight(rank, span, scores, config, kind_hint)
                    for rank, span in enumerate(spans, 1)]

        return RunResult(
            source="", title="", duration_s=features.duration_s, config=config, media={},
            highlights=pick(scores.combined, None), audio_highlights=pick(scores.audio, "audio"),
            video_highlights=pick(scores.video, "video"),
            chat_highlights=pick(scores.chat, "chat"), notes=notes)

    def _highlight(self, rank: int, span: scoring.Span, scores: Scores,
                   config: Config, kind_hint: str | None) -> Highlight:
        i = span.index
        lo, hi = int(span.event_start / config.window_s), int(span.event_end / config.window_s)
        region = slice(lo, max(hi, lo + 1))

        def part(values: np.ndarray | None) -> float | None:
            if values is None:
                return None
            known = values[region][np.isfinite(values[region])]
            return round(float(known.max()), 3) if len(known) else None

        audio, video, chat = part(scores.audio), part(scores.video), part(scores.chat)
        chat_here = scores.chat is not None and bool(np.isfinite(scores.chat[i]))
        reasons = []
        for modality, z, names, weights, w in (
            ("audio", scores.audio_z, AUDIO_FEATURES, config.audio_weights, config.audio_weight),
            ("video", scores.video_z, VIDEO_FEATURES, config.video_weights, config.video_weight),
            ("chat", scores.chat_z if chat_here else None, CHAT_FEATURES, config.chat_weights,
             config.chat_weight),
        ):
            if z is not None and w > 0 and kind_hint in (None, modality):
                reasons += [(f, w * c) for f, c in scoring.contributions(z[i], names, weights)]
        reasons.sort(key=lambda r: -r[1])
        words = [f"{scoring.REASON_WORDS.get(f, f)} (+{c:.1f})" for f, c in reasons[:3] if c > 0]
        if kind_hint is None:
            a = config.audio_weight * max(audio or 0.0, 0.0)
            v = config.video_weight * max(video or 0.0, 0.0)
            kind = "audio" if a > 2 * v else "video" if v > 2 * a else "both"
            if config.chat_weight * max(chat or 0.0, 0.0) > 2 * max(a, v):
                kind = "chat"
        else:
            kind = kind_hint
        return Highlight(rank, span.start, span.end, span.peak, span.score,
                         audio, video, chat, part(scores.ml), kind, words)

    def learn(self, src: Source, features: StreamFeatures, scores: Scores, result: RunResult,
              config: Config) -> dict[str, Any]:
        """Store this run's samples (highlight peaks + random windows) and refit the models:
        the seed's cold start, on heuristic pseudo-labels until ratings exist."""
        model = self.model_for(config)
        rng = np.random.default_rng(0)
        valid = np.flatnonzero(features.valid)
        peaks = [int(h.peak / config.window_s) for h in result.highlights]
        picks = np.unique(np.r_[peaks, rng.choice(valid, min(SAMPLES_PER_RUN, len(valid)),
                                                  replace=False)]).astype(int)
        picks = picks[features.valid[picks]]
        times = (picks + 0.5) * config.window_s
        channel = (src.kick or {}).get("channel")
        trained = {}
        for modality, z, names, weights in (
            ("audio", scores.audio_z, AUDIO_FEATURES, config.audio_weights),
            ("video", scores.video_z, VIDEO_FEATURES, config.video_weights),
        ):
            if z is None:
                continue
            heuristic = scoring.weighted_score(z[picks], names, weights)
            model.add_samples(modality, src.original, channel, times, z[picks], heuristic)
        trained = self.retrain(config, channel, only_if_stale=True)
        return {"used": scores.ml is not None, "trained_on": trained, **model.store.counts()}

    def cut_clips(self, processor: StreamProcessor, urls: StreamURLs, info: media.MediaInfo,
                  result: RunResult, run_dir: Path, config: Config, progress: Progress,
                  cancel: threading.Event) -> None:
        """Cut each combined highlight and its thumbnail, CLIPS_AT_ONCE at a time. One failure
        is recorded and does not stop the rest."""
        ext = ".mp4" if info.has_video else ".m4a"
        n = len(result.highlights)
        whole: list[str] = []  # why clips a smart cut would have sped up were re-encoded whole

        def cut(h: Highlight) -> Highlight:
            if cancel.is_set():
                raise Cancelled("cancelled")
            stem = f"clip_{h.rank:02d}_{_hms(h.start, sep='-')}"
            clip = thumb = None
            try:
                for last_try in (False, True):
                    try:
                        made = self._cut(processor, urls.cut, h.start, h.end,
                                         run_dir / f"{stem}{ext}", info.has_video,
                                         info.duration_s, config, cancel,
                                         thumbnail=(h.peak, run_dir / f"{stem}.jpg"))
                        break
                    except MediaError as err:
                        if last_try or not urls.renew_if_expired(err):
                            raise
                clip, thumb = made.path, made.thumbnail
                if made.note:
                    whole.append(made.note)
                if info.has_video and thumb is None:
                    thumb = media.make_thumbnail(processor.ffmpeg, urls.cut, h.peak,
                                                 run_dir / f"{stem}.jpg",
                                                 timeout_s=config.ffmpeg_timeout_s,
                                                 cancel=cancel)
            except MediaError as err:
                logger.warning("clip %d failed: %s", h.rank, err)
                result.failed_clips.append({"rank": h.rank, "start": h.start, "end": h.end,
                                            "reason": str(err)})
            return _with_paths(h, clip, thumb)

        progress(0.9, f"cutting clip 1/{n}")
        done: dict[int, Highlight] = {}
        with ThreadPoolExecutor(CLIPS_AT_ONCE, thread_name_prefix="clip") as pool:
            futures = {pool.submit(cut, h): h.rank for h in result.highlights}
            try:
                for future in as_completed(futures):
                    done[futures[future]] = future.result()
                    progress(0.9 + 0.1 * len(done) / n,
                             f"cutting clip {min(len(done) + 1, n)}/{n}")
            except BaseException:
                cancel.set()
                raise
        result.highlights = [done[h.rank] for h in result.highlights]
        result.failed_clips.sort(key=lambda f: f["rank"])
        if config.fast_cut:
            result.notes.append("--fast: clips are stream copies; starts snap to keyframes")
        if whole:
            reasons = "; ".join(f"{reason} ({count}x)" if count > 1 else reason
                                for reason, count in Counter(whole).most_common(3))
            result.notes.append(f"{len(whole)} clip(s) re-encoded whole instead of smart-cut: "
                                f"{reasons}")

    @staticmethod
    def _cut(processor: StreamProcessor, url: str, start_s: float, end_s: float, target: Path,
             has_video: bool, duration_s: float | None, config: Config,
             cancel: threading.Event | None,
             thumbnail: tuple[float, Path] | None = None) -> media.CutResult:
        """One clip as the config says: smart cut (default), whole re-encode or --fast copy."""
        return media.cut_clip(
            processor.ffmpeg, url, start_s, end_s - start_s, target, fast=config.fast_cut,
            smart=config.smart_cut, has_video=has_video, preset=config.clip_preset,
            thumbnail=thumbnail if has_video else None, work_dir=config.temp_dir,
            available_s=None if not duration_s else duration_s - start_s,
            timeout_s=config.ffmpeg_timeout_s, cancel=cancel)

    # Finished runs: history, re-ranking, ratings, re-cuts, the model --------------------------

    @staticmethod
    def load_run(run_dir: str | Path) -> dict[str, Any]:
        """The `highlights.json` of a run folder."""
        path = Path(run_dir) / JSON_NAME
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as err:
            raise InputError(f"{run_dir} is not a run folder (no {JSON_NAME})") from err
        except (OSError, ValueError) as err:
            raise InputError(f"{path} cannot be read: {err}") from err

    @staticmethod
    def list_runs(config: Config) -> list[dict[str, Any]]:
        """Past runs under `output_dir`, newest first: run_dir, title, created_at, counts."""
        runs = []
        for json_path in Path(config.output_dir).glob(f"*/{JSON_NAME}"):
            try:
                data = json.loads(json_path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            runs.append({"run_dir": str(json_path.parent), "title": data.get("title", ""),
                         "created_at": data.get("created_at", ""),
                         "duration_s": data.get("duration_s", 0.0),
                         "highlights": len(data.get("highlights", []))})
        return sorted(runs, key=lambda r: r["created_at"], reverse=True)

    def rerank(self, run_dir: str | Path, config: Config | None = None) -> RunResult:
        """Rank a finished run again with other weights / top N / gaps: no decoding."""
        config = config or self.config
        data = self.load_run(run_dir)
        features = StreamFeatures.load(Path(run_dir) / FEATURES_NAME)
        chat = ChatFeatures.load(Path(run_dir) / CHAT_NAME)  # saved: no network needed
        channel = (data.get("kick") or {}).get("channel")
        result = self.rank(features, self.score(features, config, channel, chat), config)
        result.source, result.title, result.kick = data["source"], data["title"], data.get("kick")
        result.media, result.run_dir = data.get("media", {}), str(run_dir)
        result.skipped_chunks = data.get("skipped_chunks", [])
        result.chat = data.get("chat") or kick_chat.unavailable("this run predates chat")
        return result

    def rate(self, run_dir: str | Path, rank: int, rating: float,
             config: Config | None = None) -> dict[str, int]:
        """Store a user's rating (0 = skip .. 1 = keep) of clip `rank` with its features."""
        config = config or self.config
        if not 0.0 <= rating <= 1.0:
            raise InputError("a rating is between 0 (skip) and 1 (keep)")
        data = self.load_run(run_dir)
        h = _find_rank(data, rank)
        features = StreamFeatures.load(Path(run_dir) / FEATURES_NAME)
        scores = self.score(features, config)
        peak = min(int(h["peak"] / features.window_s), len(features.valid) - 1)
        rows = np.arange(max(0, peak - 2), min(len(features.valid), peak + 3))
        rows = rows[features.valid[rows]]
        matrices = {m: z[rows] for m, z in (("audio", scores.audio_z), ("video", scores.video_z))
                    if z is not None}
        channel = (data.get("kick") or {}).get("channel")
        model = self.model_for(config)
        model.store.add_rating(str(Path(run_dir).resolve()), rank, float(rating), channel,
                               h["start"], h["end"], matrices)
        return model.store.counts()

    def ratings(self, run_dir: str | Path, config: Config | None = None) -> dict[int, float]:
        return self.model_for(config or self.config).store.ratings(str(Path(run_dir).resolve()))

    def recut(self, run_dir: str | Path, rank: int, start_s: float, end_s: float,
              config: Config | None = None) -> Highlight:
        """Cut clip `rank` again with new bounds and update `highlights.json`."""
        config = config or self.config
        data = self.load_run(run_dir)
        h = _find_rank(data, rank)
        if data.get("live"):
            raise InputError("this is a live run: the stream it was cut from is gone (its "
                             "buffer was deleted when the run ended) - a live clip cannot be "
                             "re-cut")
        duration = float(data["duration_s"])
        start_s, end_s = max(0.0, float(start_s)), min(duration, float(end_s))
        if end_s - start_s < 1.0:
            raise InputError("a clip must be at least 1 s long and end after it starts")
        url = data["source"]
        if data.get("kick"):  # playback URLs expire: ask Kick again
            url = resolve_source(data["source"], config).cut_url
        processor = StreamProcessor(config)
        has_video = bool(data.get("media", {}).get("has_video", True))
        ext = ".mp4" if has_video else ".m4a"
        clip = self._cut(processor, url, start_s, end_s,
                         Path(run_dir) / f"clip_{rank:02d}_{_hms(start_s, sep='-')}{ext}",
                         has_video, duration, config, None).path
        old = Path(h.get("clip_path") or clip).resolve()
        if old != clip.resolve() and old.parent == Path(run_dir).resolve():
            old.unlink(missing_ok=True)  # only ever a clip of this run, whatever the JSON says
        h.update(start=round(start_s, 3), end=round(end_s, 3), clip_path=str(clip))
        write_json(Path(run_dir) / JSON_NAME, data)
        return Highlight(**{k: h.get(k) for k in Highlight.__dataclass_fields__})

    def model_status(self, config: Config | None = None) -> dict[str, Any]:
        """Samples and ratings stored, when each model was trained, feature importances."""
        model = self.model_for(config or self.config)
        status: dict[str, Any] = dict(model.store.counts())
        for modality, names in (("audio", AUDIO_FEATURES), ("video", VIDEO_FEATURES)):
            status[f"{modality}_trained_at"] = model.store.get_meta(f"{modality}_trained_at")
            status[f"{modality}_importances"] = model.feature_importances(modality, names)
        return status

    def retrain(self, config: Config | None = None, channel: str | None = None, *,
                only_if_stale: bool = False) -> dict[str, int]:
        """Refit the global models from everything stored now, and the channel's own (or,
        without a channel, every channel's) once it has CHANNEL_MIN_RATINGS ratings. With
        `only_if_stale`, a model is refit only when it could learn something new (see
        `MLHighlightModel.is_stale`). Returns the samples each refit model used."""
        model = self.model_for(config or self.config)
        trained = {}
        rated = model.store.rated_channels()
        channels = [c for c in ([channel] if channel else rated)
                    if c and rated.get(c, 0) >= CHANNEL_MIN_RATINGS]
        for modality, names in (("audio", AUDIO_FEATURES), ("video", VIDEO_FEATURES)):
            for ch in (None, *channels):
                if only_if_stale and not model.is_stale(modality, ch):
                    continue
                trained[f"{modality}@{ch}" if ch else modality] = model.train(
                    modality, names, channel=ch)
        return trained

    @staticmethod
    def _new_run_dir(config: Config, name: str) -> Path:
        base = _check_writable(Path(config.output_dir))
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        run_dir = base / f"{name}_{stamp}"
        suffix = 1
        while run_dir.exists():
            suffix += 1
            run_dir = base / f"{name}_{stamp}_{suffix}"
        try:
            run_dir.mkdir()
        except OSError as err:
            raise InputError(f"cannot write to {base}: {err.strerror} - "
                             "choose another --output-dir") from err
        return run_dir


def _single_threaded_libraries() -> contextlib.ExitStack:
    """BLAS and OpenCV at one thread each from now until the returned stack is closed: while
    chunks are analysed the chunk workers are the parallelism, and the libraries' threads on
    tiny arrays cost more than they save."""
    stack = contextlib.ExitStack()
    stack.enter_context(threadpool_limits(1))
    stack.enter_context(opencv_threads(1))
    return stack


def _check_writable(folder: Path) -> Path:
    """Make `folder` if needed and prove a file can be written in it; InputError if not."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise InputError(f"cannot write to {folder}: {err.strerror} - "
                         "choose another --output-dir") from err
    return folder


def _executor(config: Config, workers: int) -> tuple[Any, Callable[[], None]]:
    """(executor, close) for the span tasks: a local thread pool of `workers`, or a
    dask.distributed cluster when `dask_scheduler` is set."""
    if not config.dask_scheduler:
        pool = ThreadPoolExecutor(workers, thread_name_prefix="chunk")
        return pool, lambda: pool.shutdown(wait=True, cancel_futures=True)
    try:
        from distributed import Client
    except ImportError as err:
        raise InputError("--dask-scheduler needs dask.distributed - "
                         "pip install -r requirements-dask.txt") from err
    try:
        client = Client(config.dask_scheduler, timeout=config.request_timeout_s)
    except (OSError, TimeoutError) as err:
        raise KickClipError(f"cannot reach the Dask scheduler at {config.dask_scheduler}: "
                            f"{err} - check the address and that the scheduler runs") from err
    n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    logger.info("sending chunks to %s (%d workers)", config.dask_scheduler, n_workers)

    def close() -> None:
        client.close()

    return client.get_executor(pure=False), close


def _with_chat(progress: Progress, job: ChatJob | None) -> Progress:
    """The analysis progress with the chat fetch's beside it. The bar shows the slower of the
    two, so its ETA is the run's (fractions 0.02-0.85 are the analysis stage)."""
    if job is None:
        return progress

    def report(fraction: float, message: str) -> None:
        chat_fraction, _ = job.status()
        progress(min(fraction, 0.02 + 0.83 * chat_fraction),
                 f"{message}, chat {100 * chat_fraction:.0f}%")

    return report


def _wait_for_chat(job: ChatJob, progress: Progress, cancel: threading.Event) -> None:
    """Analysis is done; the chat fetch may still run (an 8-hour VOD's chat takes ~15-20 min
    at Kick's pace, once: it is cached). Show its progress until it ends or the user cancels."""
    while not job.wait(0.2):
        if cancel.is_set():
            raise Cancelled("cancelled")
        fraction, message = job.status()
        progress(0.02 + 0.83 * fraction, message)


def _find_rank(data: dict[str, Any], rank: int) -> dict[str, Any]:
    for h in data.get("highlights", []):
        if h["rank"] == rank:
            return h
    raise InputError(f"this run has no clip {rank} (it has {len(data.get('highlights', []))})")


def _with_paths(h: Highlight, clip: Path | None, thumb: Path | None) -> Highlight:
    d = h.to_dict()
    d["clip_path"] = str(clip) if clip else None
    d["thumbnail_path"] = str(thumb) if thumb else None
    return Highlight(**d)


def _hms(seconds: float, sep: str = ":") -> str:
    s = int(seconds)
    return f"{s // 3600:02d}{sep}{s % 3600 // 60:02d}{sep}{s % 60:02d}"


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write JSON atomically (temp name beside it, then replace)."""
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


__all__ = ["KickClipGenerator", "RunResult", "Highlight", "KickClipError", "Chunk",
           "ChunkFeatures", "plan_chunks", "resolve_source", "safe_name", "StreamFeatures",
           "write_json", "Source", "StreamURLs"]
