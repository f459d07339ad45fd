"""The engine: any stream in, ranked highlights, clips and `highlights.json` out.

`KickClipGenerator` is the orchestrator: it owns no maths, decoding or file layout, only the
order of the stages and what passes between them (see ARCHITECTURE.md):

    sources.resolve_source -> StreamProcessor.probe / .walk (`stream_processor.py`, chunks,
    retries, the feature cache passed in) -> scoring.blend / .rank (`scoring.py`, pure) with
    MLHighlightModel (`highlight_model.py`) (+ Kick chat, fetched meanwhile, `kick_chat.py`)
    -> clip cutting (`clips.py` over `clip_cutter.py`) -> the run folder (`runs.py`)

Each action of the CLI and the UI is one method here. It never prints, exits or imports a UI
library: progress goes to a `(fraction, message)` callback and a `threading.Event` cancels.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

import clips
import exports
import kick_chat
import live
import media
import runs
import scoring
import shorts
import storage
from chat_features import ChatFeatures
from config import Config
from errors import Cancelled, InputError, KickClipError, MediaError
from facecam import FaceBox, parse_box
from feature_cache import FeatureCache, cache_key
from highlight_model import (
    CHANNEL_MIN_RATINGS,
    MLHighlightModel,
    ModelStatus,
    Rated,
    rating_share,
)
from highlight_model import model_status as _model_status
from kick_chat import ChatJob
from runs import JSON_NAME, ClipView, RunResult, RunView, write_json
from scoring import Highlight, Ranking, Scores
from sources import Source, StreamURLs, resolve_source, safe_name
from stream_processor import (
    FEATURES_NAME,
    Chunk,
    ChunkFeatures,
    StreamFeatures,
    StreamProcessor,
    Walk,
    plan_chunks,
)

logger = logging.getLogger(__name__)

Progress = Callable[[float, str], None]
SAMPLES_PER_RUN = 60  # random windows stored per modality and run, besides the highlights

# Where each stage sits on the progress bar (from, to). The analysis shares its stretch with
# the chat fetch, which runs meanwhile: the bar shows the slower of the two.
STAGES = {"resolve": (0.0, 0.02), "analysis": (0.02, 0.85),
          "scoring": (0.86, 0.9), "clips": (0.9, 1.0)}


def stage(progress: Progress, name: str) -> Progress:
    """`progress` for one stage: its 0-1 mapped onto the stage's stretch of the bar."""
    return within(progress, *STAGES[name])


def within(progress: Progress, lo: float, hi: float) -> Progress:
    """`progress` with its 0-1 mapped onto [lo, hi]."""
    return lambda fraction, message: progress(lo + (hi - lo) * fraction, message)


class Stopwatch:
    """`timings_s` of a run: `with watch("analysis"): ...` records how long the block took;
    `total()` the time since the watch started."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.laps: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        t = time.perf_counter()
        try:
            yield
        finally:
            self.laps[name] = time.perf_counter() - t

    def total(self) -> dict[str, float]:
        return {**self.laps, "total": time.perf_counter() - self.started}


def _no_progress(fraction: float, message: str) -> None:
    pass


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
        watch = Stopwatch()
        runs.check_writable(Path(config.output_dir))  # before any work, not after an hour
        with watch("probe"):
            progress(STAGES["resolve"][0], "resolving source")
            src = self.resolve_live_or_vod(source, config, progress, cancel)
            if src.is_live:  # follow the broadcast, clipping as it goes
                return live.follow(self, src, config, progress, cancel, on_clip)
            processor = StreamProcessor(config)
            info = processor.probe(src.analysis_url)
        return self._run(src, info, processor, config, progress, cancel, watch)

    @staticmethod
    def resolve_live_or_vod(source: str, config: Config, progress: Progress,
                            cancel: threading.Event) -> Source:
        """What `source` is; with `live_wait`, an offline channel is waited for."""
        if config.live_wait:
            return live.resolve_waiting(source, config, progress, cancel)
        return resolve_source(source, config)

    def start_live(self, source: str, config: Config | None = None) -> live.LiveHandle:
        """Follow a live source in a background thread (the UI's Live view): the handle
        stops it, and says at any moment what has been scored and clipped so far."""
        return live.LiveHandle(self, source, config or self.config).start()

    def _run(self, src: Source, info: media.MediaInfo, processor: StreamProcessor,
             config: Config, progress: Progress, cancel: threading.Event,
             watch: Stopwatch) -> RunResult:
        notes: list[str] = []
        duration = info.duration_s
        if duration is None or duration <= 0:
            raise InputError(f"{src.original}: length unknown (a live stream?) - "
                             "pass a recording or a VOD link")
        if not info.has_video:
            notes.append("no video stream: video features unavailable, video list empty")
        if not info.has_audio:
            notes.append("no audio stream: audio features unavailable, audio list empty")

        urls = StreamURLs(src, config)
        chat_skip = kick_chat.skip_reason(src.kick, config)
        job = None if chat_skip else ChatJob(config, src.kick or {}, duration).start()
        try:
            with watch("analysis"):
                walk = self.walk(processor, src, info, config,
                                 _with_chat(stage(progress, "analysis"), job), cancel, urls,
                                 on_merge=job.watch if job is not None else None)
            if job is not None:
                job.analysis_done()
                with watch("chat_wait"):
                    _wait_for_chat(job, stage(progress, "analysis"), cancel)
        finally:
            if job is not None:
                job.stop()  # on the way out early; what the fetch stored is kept for next time
        notes += _cache_notes(walk)
        features = walk.features

        with watch("scoring"):
            progress(STAGES["scoring"][0], "scoring")
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
                    job.result(), len(features.valid), features.window_s,
                    features.duration_s, reference, features.valid, config)
                notes += chat_notes
            scores = self.score(features, config, channel, chat)
            ranking = self.rank(features, scores, config, chat)
            created_at = datetime.now().astimezone().isoformat(timespec="seconds")
            notes += ranking.notes
            if config.clip_length_s > duration:
                notes.append(f"clip length {config.clip_length_s:.0f} s is longer than the "
                             f"stream; clips are clamped to {duration:.1f} s")
            model = self.learn(src, features, scores, ranking.highlights, created_at, config)

        run_dir = runs.new_run_dir(Path(config.output_dir), src.name)
        try:
            highlights, failed, box = ranking.highlights, [], None
            with watch("clips"):
                runs.save_signals(run_dir, features, chat)  # re-ranking needs no network
                if config.make_clips:
                    highlights, failed, clip_notes = clips.cut_all(
                        processor.ffmpeg, urls, info, highlights, run_dir, config,
                        within(stage(progress, "clips"), 0, _shorts_share(config)), cancel)
                    notes += clip_notes
            if config.make_clips and (config.vertical or config.captions):
                with watch("shorts"):
                    made = shorts.make_shorts(
                        processor.ffmpeg, highlights, cut_url=urls.cut, identity=src.identity,
                        duration_s=duration, config=config, cancel=cancel,
                        progress=within(stage(progress, "clips"), _shorts_share(config), 1))
                highlights, box = made.highlights, made.facecam
                failed, notes = sorted(failed + made.failed, key=lambda f: f["rank"]), \
                    notes + made.notes
            result = RunResult(
                source=src.original, title=src.title, duration_s=features.duration_s,
                config=config, media=info.to_dict(), highlights=highlights,
                audio_highlights=ranking.audio_highlights,
                video_highlights=ranking.video_highlights,
                chat_highlights=ranking.chat_highlights, chat=chat_block,
                run_dir=str(run_dir), kick=src.kick, skipped_chunks=walk.skipped,
                failed_clips=failed, notes=notes, model=model, timings_s=watch.total(),
                created_at=created_at, facecam=box.to_dict() if box else None)
            result = self.write_exports(result, scores, features.window_s)
            runs.save(run_dir, result)
        except BaseException:
            shutil.rmtree(run_dir, ignore_errors=True)
            raise
        progress(1.0, f"done: {len(result.highlights)} highlights")
        return result

    # Steps ------------------------------------------------------------------------------------

    def walk(self, processor: StreamProcessor, src: Source, info: media.MediaInfo,
             config: Config, progress: Progress, cancel: threading.Event,
             urls: StreamURLs | None = None,
             on_merge: Callable[[StreamFeatures], None] | None = None) -> Walk:
        """The stream processor's walk, with the feature cache when the source has an
        identity (a file, a VOD) and the cache is on."""
        store = None
        if config.use_cache and src.identity and not src.is_live:
            key = cache_key(src.identity, config, info.has_audio, info.has_video)
            store = FeatureCache(config.models_dir).stream(key)
        return processor.walk(urls or StreamURLs(src, config), info, progress, cancel, store,
                              on_merge)

    def score(self, features: StreamFeatures, config: Config, channel: str | None = None,
              chat: ChatFeatures | None = None) -> Scores:
        """Per-window scores: each signal's heuristic on per-stream z-scores, blended with the
        model (the channel's own when it has one) by `scoring.blend`. The model's share starts
        at 1 - heuristic_weight and grows towards twice that as the user rates clips."""
        model = self.model_for(config)
        inputs = []
        for m in scoring.modalities():
            matrix, rows, covered = _signal(m.name, features, chat)
            if matrix is None:
                continue
            z = scoring.z_rows(matrix, rows) if m.name != "chat" else kick_chat.chat_z(chat,
                                                                                       rows)
            heuristic = scoring.weighted_score(z, m.features, m.feature_weights(config))
            if m.name == "chat":  # the rate term alone where only a sampled page is known
                heuristic = kick_chat.chat_heuristic(chat, z, heuristic)
            learned = model.predict(m.name, m.features, z, channel) if m.learned else None
            ml = None if learned is None else heuristic + learned  # the heuristic, corrected
            inputs.append(scoring.ModalityInput(m.name, z, heuristic, ml, m.share(config),
                                                covered))
        ml_share = scoring.model_share(config.heuristic_weight,
                                       rating_share(model.store.rating_count(channel)))
        return scoring.blend(inputs, features.valid, ml_share,
                             scoring.Fusion.of(config, features.window_s))

    def rank(self, features: StreamFeatures, scores: Scores, config: Config,
             chat: ChatFeatures | None = None) -> Ranking:
        if scores.ml is None:
            logger.info("no trained model yet: ranking on the heuristic alone")
        ranking = scoring.rank(scores, features.valid, features.window_s, features.duration_s,
                               config)
        if chat is None or chat.rate_only is None:
            return ranking
        mark = functools.partial(kick_chat.mark_rate_only, chat=chat,
                                 window_s=features.window_s)
        return dataclasses.replace(
            ranking, highlights=mark(ranking.highlights),
            audio_highlights=mark(ranking.audio_highlights),
            video_highlights=mark(ranking.video_highlights),
            chat_highlights=mark(ranking.chat_highlights))

    def learn(self, src: Source, features: StreamFeatures, scores: Scores,
              highlights: list[Highlight], created_at: str, config: Config) -> dict[str, Any]:
        """Store this run's samples (highlight peaks + random windows) and refit the models:
        the seed's cold start, on heuristic pseudo-labels until ratings exist. A stream's
        windows are stored once, under its identity: a re-run adds nothing, so the model does
        not drift towards what was run most. A live recording has no identity (what it
        recorded differs every time): each such run is a stream of its own."""
        model = self.model_for(config)
        rng = np.random.default_rng(0)
        valid = np.flatnonzero(features.valid)
        peaks = [int(h.peak / features.window_s) for h in highlights]
        picks = np.unique(np.r_[peaks, rng.choice(valid, min(SAMPLES_PER_RUN, len(valid)),
                                                  replace=False)]).astype(int)
        picks = picks[features.valid[picks]]
        times = _window_times(picks, features.window_s)
        channel = (src.kick or {}).get("channel")
        sample_source = src.identity or f"{src.original}@{created_at}"
        for m in _learned():
            z = scores.z.get(m.name)
            if z is None:
                continue
            heuristic = scoring.weighted_score(z[picks], m.features, m.feature_weights(config))
            model.add_samples(m.name, sample_source, channel, times, z[picks], heuristic)
        trained = self.retrain(config, channel, only_if_stale=True)
        return {"used": scores.ml is not None, "trained_on": trained, **model.store.counts(),
                "sample_source": sample_source}  # where `rate` finds the clips' windows

    # Finished runs: history, re-ranking, ratings, re-cuts, the model --------------------------

    @staticmethod
    def load_run(run_dir: str | Path) -> dict[str, Any]:
        """The `highlights.json` of a run folder."""
        return runs.load(run_dir)

    @staticmethod
    def list_runs(config: Config) -> list[dict[str, Any]]:
        """Past runs under `output_dir`, newest first: run_dir, title, created_at, counts."""
        return runs.list_runs(Path(config.output_dir))

    def _rescore(self, run_dir: str | Path, data: dict[str, Any], config: Config
                 ) -> tuple[StreamFeatures, ChatFeatures | None, Scores]:
        features, chat = runs.load_signals(run_dir)  # saved: no decoding, no network
        channel = (data.get("kick") or {}).get("channel")
        return features, chat, self.score(features, config, channel, chat)

    def rerank(self, run_dir: str | Path, config: Config | None = None) -> RunResult:
        """Rank a finished run again with other weights / top N / gaps: no decoding."""
        config = config or self.config
        data = runs.load(run_dir)
        features, chat, scores = self._rescore(run_dir, data, config)
        ranking = self.rank(features, scores, config, chat)
        return RunResult(
            source=data["source"], title=data["title"], duration_s=features.duration_s,
            config=config, media=data.get("media", {}), highlights=ranking.highlights,
            audio_highlights=ranking.audio_highlights,
            video_highlights=ranking.video_highlights,
            chat_highlights=ranking.chat_highlights,
            chat=data.get("chat") or kick_chat.unavailable("this run predates chat"),
            run_dir=str(run_dir), kick=data.get("kick"),
            skipped_chunks=data.get("skipped_chunks", []), notes=ranking.notes)

    @staticmethod
    def write_exports(result: RunResult, scores: Scores | None = None,
                      window_s: float = 1.0) -> RunResult:
        """Write a run's `exports/` (the kinds `config.exports` names; scores.csv when `scores`
        is given) as it is saved; their notes (YouTube chapter rules not met, a file not
        written) join the run's. Never raises: an export never costs a run."""
        done = exports.write_exports(result.run_dir or ".", result.to_dict(),
                                     result.config.exports, scores, window_s)
        notes = done.notes + [f"exports: {name} not written (see the log)"
                              for name in done.failed]
        return dataclasses.replace(result, notes=result.notes + notes) if notes else result

    def export(self, run_dir: str | Path, kinds: str | None = None,
               config: Config | None = None) -> exports.Exported:
        """Write (again) the files for editors of a finished run into `run_dir/exports/`:
        `kinds` a comma list of otio, fcpxml, edl, chapters, csv (default: `config.exports`).
        scores.csv is computed again from the run's saved signals, with today's model."""
        config = config or self.config
        kinds_ = exports.parse_kinds(config.exports if kinds is None else kinds)
        data = runs.load(run_dir)
        try:
            features, _, scores = self._rescore(run_dir, data, config)
            window_s: float = features.window_s
        except (OSError, ValueError, KeyError, KickClipError) as err:
            logger.info("scores.csv left out: the run's signals cannot be read (%s)", err)
            scores, window_s = None, 1.0
        return exports.write_exports(run_dir, data, kinds_, scores, window_s)

    def exports_zip(self, run_dir: str | Path, config: Config | None = None) -> Path:
        """`exports.zip` of the run's `exports/` folder, for a download (written first when
        the run has none: runs from before exports, or with exports off)."""
        if not exports.listed(run_dir):
            self.export(run_dir, "all", config)
        return exports.zip_exports(run_dir)

    def view(self, run_dir: str | Path, config: Config | None = None) -> RunView:
        """A finished run for display: its JSON, its scores re-computed with `config` (for a
        timeline) and its `clips.zip` if one was made (`zip_clips` makes it: only on request,
        it doubles the run's size)."""
        data = runs.load(run_dir)
        features, _, scores = self._rescore(run_dir, data, config or self.config)
        archive = Path(run_dir) / runs.ZIP_NAME
        return RunView(data, scores, features.window_s, archive if archive.exists() else None)

    @staticmethod
    def zip_clips(run_dir: str | Path) -> Path | None:
        """`clips.zip` of a run's clips (None: the run has none), made now."""
        return runs.zip_clips(run_dir, runs.load(run_dir))

    def clip(self, run_dir: str | Path, rank: int, config: Config | None = None) -> ClipView:
        """Clip `rank` of a run and the user's rating of it (None: not rated)."""
        h = runs.find_rank(runs.load(run_dir), rank)
        return ClipView(h, self.ratings(run_dir, config).get(rank))

    def rate_clip(self, run_dir: str | Path, clip_path: str, rating: float,
                  config: Config | None = None) -> Rated:
        """`rate` the clip in file `clip_path`: a live run re-ranks as clips land, so a rank
        read a moment ago may name another clip now."""
        return self.rate(run_dir, runs.rank_of(runs.load(run_dir), clip_path), rating, config)

    def rate(self, run_dir: str | Path, rank: int, rating: float,
             config: Config | None = None) -> Rated:
        """Store a user's rating (0 = skip .. 1 = keep) of clip `rank` with its features,
        then refit the models the rating changed (the global one and the channel's own, once
        it has enough ratings): the next run already ranks with it, from the CLI and the UI
        alike."""
        config = config or self.config
        if not 0.0 <= rating <= 1.0:
            raise InputError("a rating is between 0 (skip) and 1 (keep)")
        data = runs.load(run_dir)
        h = runs.find_rank(data, rank)
        features, _ = runs.load_signals(run_dir)
        scores = self.score(features, config)
        peak = min(int(h["peak"] / features.window_s), len(features.valid) - 1)
        rows = np.arange(max(0, peak - 2), min(len(features.valid), peak + 3))
        rows = rows[features.valid[rows]]
        matrices, heuristic = {}, {}
        rated = rated_signals(scores, peak)
        for m in _learned():
            z = scores.z.get(m.name)
            if z is not None:
                matrices[m.name] = z[rows]
                heuristic[m.name] = scoring.weighted_score(z[rows], m.features,
                                                           m.feature_weights(config))
        channel = (data.get("kick") or {}).get("channel")
        # runs from before sample_source stored their windows under the source as given
        source = (data.get("model") or {}).get("sample_source") or data["source"]
        model = self.model_for(config)
        model.store.add_rating(str(Path(run_dir).resolve()), rank, float(rating), channel,
                               h["start"], h["end"], source,
                               _window_times(rows, features.window_s), matrices, heuristic,
                               rated)
        trained = self.retrain(config, channel, only_if_stale=True)
        counts = model.store.counts()
        return Rated(counts["samples"], counts["ratings"], trained)

    def ratings(self, run_dir: str | Path, config: Config | None = None) -> dict[int, float]:
        return self.model_for(config or self.config).store.ratings(str(Path(run_dir).resolve()))

    def recut(self, run_dir: str | Path, rank: int, start_s: float, end_s: float,
              config: Config | None = None) -> Highlight:
        """Cut clip `rank` again with new bounds and update `highlights.json`."""
        config = config or self.config
        data = runs.load(run_dir)
        h = runs.find_rank(data, rank)
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
        has_video = bool(data.get("media", {}).get("has_video", True))
        target = Path(run_dir) / f"{runs.clip_stem(rank, start_s)}{runs.clip_ext(has_video)}"
        clip = clips.cut_one(StreamProcessor(config).ffmpeg, url, start_s, end_s, target,
                             has_video, duration, config, None).path
        old = Path(h.get("clip_path") or clip).resolve()
        if old != clip.resolve() and old.parent == Path(run_dir).resolve():
            old.unlink(missing_ok=True)  # only ever a clip of this run, whatever the JSON says
        h.update(start=round(start_s, 3), end=round(end_s, 3), clip_path=str(clip))
        if h.get("vertical_path") or h.get("transcript") is not None:
            h.update(_redo_shorts(StreamProcessor(config).ffmpeg, h, old, data, config))
        write_json(Path(run_dir) / JSON_NAME, data)
        return Highlight.from_dict(h)

    def facecam_still(self, run_dir: str | Path, config: Config | None = None) -> Path:
        """A full-size still of the run's first clip (`facecam.jpg` in the run folder): the
        picture the webcam box's pixels refer to, to draw the box on and correct it."""
        config = config or self.config
        data = runs.load(run_dir)
        clip = next((h["clip_path"] for h in data["highlights"]
                     if h.get("clip_path") and Path(h["clip_path"]).suffix == ".mp4"), None)
        if clip is None or not Path(clip).exists():
            raise InputError("this run has no video clips - run it again with clips")
        return shorts.still(StreamProcessor(config).ffmpeg, Path(clip),
                            Path(run_dir) / "facecam.jpg", config.ffmpeg_timeout_s)

    def reshort(self, run_dir: str | Path, facecam: str | None = None,
                config: Config | None = None) -> dict[str, Any]:
        """Render a finished run's 9:16 clips again (and nothing else): with the webcam box
        `facecam` ("X,Y,W,H", source pixels: a corrected box) or the run's own, in
        `config.layout`. Captions are burned from the words the run
        transcribed. Updates and returns `highlights.json`."""
        config = (config or self.config).replace(vertical=True, captions=False)
        data = runs.load(run_dir)
        highlights = [Highlight.from_dict(h) for h in data["highlights"]]
        box = (FaceBox.from_dict(data.get("facecam")) if facecam is None
               else parse_box(facecam))
        made = shorts.make_shorts(
            StreamProcessor(config).ffmpeg, highlights, cut_url=data["source"],
            identity=None, duration_s=float(data["duration_s"]), config=config,
            progress=_no_progress, cancel=threading.Event(), box=box, find_box=False)
        if made.failed:
            raise MediaError(f"{len(made.failed)} 9:16 clip(s) failed: "
                             f"{made.failed[0]['reason']}")
        by_rank = {h.rank: h for h in made.highlights}
        for h in data["highlights"]:
            h["vertical_path"] = by_rank[h["rank"]].vertical_path
        data["facecam"] = box.to_dict() if box else None
        write_json(Path(run_dir) / JSON_NAME, data)
        return data

    def model_status(self, config: Config | None = None) -> ModelStatus:
        """Samples and ratings stored, when each model was trained, feature importances."""
        return _model_status(self.model_for(config or self.config),
                             {m.name: m.features for m in _learned()})

    def taste(self, config: Config | None = None) -> Taste:
        """What the ratings say, for a person: clips rated and kept, each learned signal's
        rated windows (feature names, z-scores (n, f), ratings (n,)), and the model's share
        of the next run's scores (0 while no model is trained)."""
        config = config or self.config
        model = self.model_for(config)
        rated = {}
        for m in _learned():
            x, _, rating = model.store.load(m.name, len(m.features), rated_only=True)
            rated[m.name] = (m.features, x, rating)
        with contextlib.closing(storage.connect(model.store.path)) as db:
            count, kept = db.execute("SELECT COUNT(*), COALESCE(SUM(rating >= 0.5), 0) "
                                     "FROM ratings").fetchone()
        trained = any(model.store.get_meta(f"{m.name}_trained_at") for m in _learned())
        share = min(1.0, scoring.model_share(config.heuristic_weight,
                                             rating_share(int(count)))) if trained else 0.0
        return Taste(int(count), int(kept), rated, share)

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
        for m in _learned():
            for ch in (None, *channels):
                if only_if_stale and not model.is_stale(m.name, ch):
                    continue
                trained[f"{m.name}@{ch}" if ch else m.name] = model.train(
                    m.name, m.features, channel=ch)
        return trained

    def describe(self, link: str, config: Config | None = None) -> dict[str, Any]:
        """What a Kick link resolves to (title, channel, renditions, ...), as JSON data."""
        import kick_api

        if not link or not kick_api.is_kick_url(link):
            raise InputError("only a Kick link (kick.com/...) can be resolved")
        with kick_api.KickAPI(config or self.config) as api:
            return api.resolve(link).to_dict()


@dataclass(frozen=True)
class Taste:
    """`KickClipGenerator.taste`: the ratings as the UI's Model tab tells them."""

    ratings: int
    kept: int
    rated: dict[str, tuple[tuple[str, ...], np.ndarray, np.ndarray]]
    model_share: float


def rated_signals(scores: Scores, peak: int) -> dict[str, bool]:
    """Which signals a rating of the moment at window `peak` speaks about: those at least half
    as high there as the strongest. Keeping a shout over a calm picture says nothing about
    calm pictures (rated so, the video model learnt to like them and the next stream's calm
    stretches rose); skipping steady music says nothing about the picture beside it."""
    here = {m.name: float(scores.parts[m.name][peak]) for m in _learned()
            if m.name in scores.parts and np.isfinite(scores.parts[m.name][peak])}
    top = max(here.values(), default=0.0)
    return {name: top <= 0 or value >= 0.5 * top for name, value in here.items()}


def _redo_shorts(ffmpeg: str, h: dict[str, Any], old_clip: Path, data: dict[str, Any],
                 config: Config) -> dict[str, Any]:
    """A re-cut clip's 9:16 version and captions, made again as the run made them (its
    webcam box, its layout); the old clip's go. Returns the highlight's new fields."""
    made = shorts.make_shorts(
        ffmpeg, [dataclasses.replace(Highlight.from_dict(h), vertical_path=None,
                                     transcript=None, words=None)],
        cut_url=data["source"], identity=None, duration_s=float(data["duration_s"]),
        config=config.replace(vertical=bool(h.get("vertical_path")),
                              captions=h.get("transcript") is not None,
                              layout=(data.get("config") or {}).get("layout"),
                              captions_model=(data.get("config") or {}).get("captions_model")),
        progress=_no_progress, cancel=threading.Event(),
        box=FaceBox.from_dict(data.get("facecam")), find_box=False)
    if old_clip != Path(h["clip_path"]).resolve():
        for stale in (shorts.vertical_path(old_clip), old_clip.with_suffix(".srt"),
                      old_clip.with_suffix(".vtt")):
            stale.unlink(missing_ok=True)
    new = made.highlights[0]
    return {"vertical_path": new.vertical_path, "transcript": new.transcript,
            "words": new.words}


def _shorts_share(config: Config) -> float:
    """The share of the clips' stretch of the progress bar the 9:16 clips and captions take."""
    return 0.5 if config.vertical or config.captions else 1.0


def _learned() -> list[scoring.Modality]:
    """The signals a model learns (audio, video)."""
    return [m for m in scoring.modalities() if m.learned]


def _signal(name: str, features: StreamFeatures, chat: ChatFeatures | None
            ) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
    """(matrix, rows its baseline is taken over, covered or None) of one signal."""
    if name == "chat":
        if chat is None or len(chat.covered) != len(features.valid):
            return None, features.valid, None
        use = chat.covered & features.valid
        return chat.matrix, use, use
    return getattr(features, name), features.valid, None


def _cache_notes(walk: Walk) -> list[str]:
    if not walk.reused:
        return []
    verb = "reused" if walk.reused == walk.chunks else "resumed"
    note = (f"{verb}: {walk.reused} of {walk.chunks} chunks from the feature cache (turn "
            "the feature cache off to analyse everything again)")
    logger.info(note)
    return [note]


def _window_times(windows: np.ndarray, window_s: float) -> np.ndarray:
    """The middle (s) of each window index: the sample store's key of a window."""
    return (np.asarray(windows) + 0.5) * window_s


def _with_chat(progress: Progress, job: ChatJob | None) -> Progress:
    """The analysis progress (0-1) with the chat fetch's beside it: the bar shows the slower
    of the two, so its ETA is the run's."""
    if job is None:
        return progress

    def report(fraction: float, message: str) -> None:
        chat_fraction, _ = job.status()
        progress(min(fraction, chat_fraction), f"{message}, chat {100 * chat_fraction:.0f}%")

    return report


def _wait_for_chat(job: ChatJob, progress: Progress, cancel: threading.Event) -> None:
    """Analysis is done; the chat fetch may still run (an 8-hour VOD's chat takes ~15-20 min
    at Kick's pace, once: it is cached). Show its progress until it ends or the user cancels."""
    while not job.wait(0.2):
        if cancel.is_set():
            raise Cancelled("cancelled")
        fraction, message = job.status()
        progress(fraction, message)


__all__ = ["KickClipGenerator", "RunResult", "Highlight", "KickClipError", "Chunk",
           "ChunkFeatures", "plan_chunks", "resolve_source", "safe_name", "StreamFeatures",
           "write_json", "Source", "StreamURLs", "FEATURES_NAME", "JSON_NAME", "Scores",
           "Rated", "RunView", "ClipView", "STAGES"]
