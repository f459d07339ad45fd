"""Walking a stream: chunk planning, decoding each chunk through ffmpeg pipes, and the
stream-wide feature matrix the chunks are merged into.

`StreamProcessor.walk` owns the whole walk: it plans chunks and spans, takes what a feature
cache (passed in) already holds, schedules the spans on an executor with retries, merges the
chunks as they arrive and hands back one `Walk`. `analyze_span` decodes a run of consecutive
chunks with one ffmpeg; the same task runs in a local thread pool or, through
`analyze_span_collect`, on a Dask worker.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import logging
import math
import os
import queue
import sys
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from threadpoolctl import threadpool_limits

import media
from audio_analyzer import AUDIO_FEATURES, extract_audio_features
from config import Config
from errors import Cancelled, MediaError
from video_analyzer import VIDEO_FEATURES, extract_video_features, opencv_threads

logger = logging.getLogger(__name__)

FEATURES_NAME = "features.npz"

# --- chunks -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Chunk:
    index: int
    start_s: float
    duration_s: float

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s


def plan_chunks(duration_s: float, config: Config) -> list[Chunk]:
    """Overlapping chunks covering [0, duration_s). Starts fall on the window grid so every
    chunk's windows line up with the stream's."""
    if duration_s <= 0:
        return []
    w = config.window_s
    step = max(w, math.floor(config.chunk_step_s / w) * w)
    chunks, start = [], 0.0
    while True:
        length = min(config.chunk_duration_s, duration_s - start)
        chunks.append(Chunk(len(chunks), round(start, 6), round(length, 6)))
        if start + length >= duration_s - 1e-6:
            return chunks
        start += step


@dataclass(frozen=True)
class ChunkFeatures:
    """Feature rows of one chunk; row i is stream window `first_window + i`."""

    chunk: Chunk
    first_window: int
    audio: np.ndarray | None  # float32 (n, len(AUDIO_FEATURES))
    video: np.ndarray | None  # float32 (n, len(VIDEO_FEATURES))


def analysis_frame_size(info: media.MediaInfo, width_px: int) -> tuple[int, int]:
    if not info.width or not info.height:
        return width_px, max(2, round(width_px * 9 / 16 / 2) * 2)
    return width_px, max(2, round(width_px * info.height / info.width / 2) * 2)


@dataclass
class SpanResult:
    """What a span task hands back: `parts` not already emitted, chunks that decoded to
    nothing (`empty`, e.g. a playlist shorter than it claimed), and the error that stopped
    the span early, if any (its remaining chunks are the caller's to retry)."""

    parts: list[ChunkFeatures] = field(default_factory=list)
    empty: list[tuple[Chunk, str]] = field(default_factory=list)
    error: str | None = None


def fast_decode_for(config: Config) -> bool:
    """Whether the decoder may skip non-reference frames: only when the analysis keeps one
    frame in `frame_skip` >= 4 (x264 puts at most 3 B-frames in a row), so a decoded frame
    is always near the one a full decode would give."""
    return config.fast_decode and config.frame_skip >= media.FAST_DECODE_MIN_FRAME_SKIP


def analyze_span(ffmpeg: str, url: str, info: media.MediaInfo, chunks: list[Chunk],
                 config: Config, emit: Callable[[ChunkFeatures], None],
                 cancel: threading.Event | None = None, strict: bool = True) -> SpanResult:
    """Decode consecutive `chunks` with ONE ffmpeg reading from the first chunk's start to the
    last one's end, and `emit` each chunk's features as soon as both modalities have them.

    Reading a stretch once (instead of seeking for every chunk) is what keeps the analysis
    at the decoder's own speed and reads every byte of an HLS rendition about once. Audio and
    video are consumed in their own threads with a buffer of one chunk each. A decoder error
    ends the span: the result names it, and what was emitted stays emitted. `strict` stops
    at damaged HLS packets too (a first attempt: a dropped connection heals on the retry,
    which then takes a segment damaged at the source as it decodes).
    """
    start, end = chunks[0].start_s, chunks[-1].end_s
    width, height = analysis_frame_size(info, config.analysis_width_px)
    fps = (info.fps or 30.0) / config.frame_skip
    sr = config.sample_rate_hz
    req = media.ChunkRequest(url, start, end - start, sr, info.has_audio, info.has_video, fps,
                             width, height, config.request_timeout_s, fast_decode_for(config))
    wanted = {m for m, ok in (("audio", info.has_audio), ("video", info.has_video)) if ok}
    pending: dict[int, dict[str, np.ndarray]] = {}
    result = SpanResult()
    lock = threading.Lock()
    lost = threading.Event()  # a segment went missing: later data sits at the wrong times

    tails: dict[str, tuple[int, np.ndarray]] = {}  # modality -> (chunk index, rows) at EOF

    def finish(chunk: Chunk, got: dict[str, np.ndarray]) -> None:
        n = min(len(m) for m in got.values())
        if n == 0:
            result.empty.append((chunk, "nothing decoded (the stream ends before it)"))
            return
        emit(ChunkFeatures(chunk, int(round(chunk.start_s / config.window_s)),
                           got["audio"][:n] if "audio" in got else None,
                           got["video"][:n] if "video" in got else None))

    def deliver(chunk: Chunk, modality: str, rows: np.ndarray) -> None:
        with lock:
            if lost.is_set():
                return
            got = pending.setdefault(chunk.index, {})
            got[modality] = rows
            if set(got) != wanted:
                return
            del pending[chunk.index]
        finish(chunk, got)

    def consume(pipe, rate: float, unit_bytes: int, to_array, features) -> None:
        """Slide over the pipe chunk by chunk; `rate` units (samples or frames) per second.
        A chunk the data runs out in is kept aside: whether it is the stream's real end or a
        decoder that died is only known when ffmpeg has exited."""
        buf, buf_first = to_array(b""), 0  # buf[0] is unit number buf_first of the span
        for i, chunk in enumerate(chunks):
            lo = round((chunk.start_s - start) * rate)
            hi = round((chunk.end_s - start) * rate)
            missing = hi - (buf_first + len(buf))
            if missing > 0:
                buf = np.concatenate([buf, to_array(media.read_exactly(pipe,
                                                                       missing * unit_bytes))])
            rows = features[1](buf[lo - buf_first: hi - buf_first], chunk)
            if buf_first + len(buf) < hi:
                tails[features[0]] = (chunk.index, rows)
                return
            deliver(chunk, features[0], rows)
            following = chunks[i + 1].start_s if i + 1 < len(chunks) else end
            drop = min(len(buf), max(0, round((following - start) * rate) - buf_first))
            buf, buf_first = buf[drop:], buf_first + drop

    frame_bytes = width * height * 3

    def audio(pipe) -> None:
        consume(pipe, sr, media.AUDIO_SAMPLE_BYTES, media.pcm_to_float,
                ("audio", lambda x, c: extract_audio_features(x, sr, config.window_s)))

    def video(pipe) -> None:
        consume(pipe, fps, frame_bytes,
                lambda b: np.frombuffer(b[: len(b) // frame_bytes * frame_bytes], np.uint8)
                .reshape(-1, height, width, 3),
                ("video", lambda x, c: extract_video_features(x, fps, config.window_s,
                                                               c.duration_s)))

    try:
        media.decode(ffmpeg, req, audio, video, config.ffmpeg_timeout_s, cancel, lost, strict)
    except MediaError as err:
        result.error = str(err)  # what was cut short is the caller's to try again
        return result
    # ffmpeg finished cleanly: the stream really ends here; what exists of the last chunks
    # is analysed, chunks past the end are reported empty
    for chunk in chunks:
        got = pending.pop(chunk.index, None)
        if got is None and all(tails.get(m, (None,))[0] != chunk.index for m in wanted):
            if any(m in tails and tails[m][0] < chunk.index for m in wanted):
                result.empty.append((chunk, "nothing decoded (the stream ends before it)"))
            continue
        got = dict(got or {})
        for m in wanted:
            if m not in got:
                index, rows = tails.get(m, (None, None))
                got[m] = rows if index == chunk.index else np.zeros((0, 1), np.float32)
        finish(chunk, got)
    return result


def analyze_span_collect(url: str, info: media.MediaInfo, chunks: list[Chunk],
                         config: Config, strict: bool = True) -> SpanResult:
    """`analyze_span` returning every part in the result: for Dask workers, which cannot
    stream back. Resolves ffmpeg on the worker."""
    parts: list[ChunkFeatures] = []
    result = analyze_span(media.find_ffmpeg(config.ffmpeg_binary), url, info, chunks, config,
                          parts.append, strict=strict)
    result.parts = parts + result.parts
    return result


# --- memory ---------------------------------------------------------------------------------

M_ARENA_MAX = -8  # glibc's mallopt parameter


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim, libc.mallopt  # noqa: B018 - glibc, not musl
        return libc
    except (OSError, AttributeError):
        return None


def limit_heap_arenas(n: int = 2) -> None:
    """Let glibc keep at most `n` malloc arenas. Every decoding thread otherwise gets a heap
    of its own that holds on to its largest chunk's temporaries (measured on a 10-minute HLS
    stream: the analysing process peaked at 317-354 MB, with two arenas at 210-214 MB, in
    the same time). No-op off glibc."""
    libc = _glibc()
    if libc is not None:
        libc.mallopt(M_ARENA_MAX, n)


def release_free_memory() -> None:
    """Hand memory that is free inside malloc's heaps back to the system (glibc only)."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


SPAN_MAX_CHUNKS = 12  # about 5 minutes at the defaults: a failure costs little
SPAN_MIN_CHUNKS = 3


def span_size(n_chunks: int) -> int:
    """Chunks per span for a stream of `n_chunks`: about a quarter of the stream, within
    [SPAN_MIN_CHUNKS, SPAN_MAX_CHUNKS]. It depends on the stream alone, never on the executor,
    so a local run and a Dask run decode the very same stretches (and get the same numbers)."""
    return max(SPAN_MIN_CHUNKS, min(SPAN_MAX_CHUNKS, math.ceil(n_chunks / 4)))


def plan_spans(chunks: list[Chunk], n_chunks: int) -> list[list[Chunk]]:
    """Group `chunks` (those still to do, of a stream of `n_chunks`) into spans for
    `analyze_span`: consecutive chunks within fixed blocks of `span_size(n_chunks)`."""
    size = span_size(n_chunks)
    spans: list[list[Chunk]] = []
    for chunk in chunks:
        last = spans[-1][-1] if spans else None
        if last and last.index == chunk.index - 1 and last.index // size == chunk.index // size:
            spans[-1].append(chunk)
        else:
            spans.append([chunk])
    return spans


class ChunkStore(Protocol):
    """Where finished chunks are kept between runs (`feature_cache.CachedStream`)."""

    def load(self) -> dict[int, ChunkFeatures]: ...

    def store(self, part: ChunkFeatures) -> None: ...


class AnalysisURL(Protocol):
    """The URL chunks are read from, renewed when a signed one expires (`sources.StreamURLs`)."""

    analysis: str

    def renew_if_expired(self, error: MediaError) -> bool: ...


@dataclass(frozen=True)
class Walk:
    """What a walk hands back: the stream's features, the chunks given up on (start, end,
    reason; by start) and how many of `chunks` came from the store."""

    features: StreamFeatures
    skipped: list[dict[str, Any]]
    reused: int
    chunks: int


class StreamProcessor:
    """Probes a source, plans its chunks and walks them: decoding, retries, merging."""

    def __init__(self, config: Config):
        self.config = config
        self._ffmpeg: str | None = None

    @property
    def ffmpeg(self) -> str:
        if self._ffmpeg is None:
            self._ffmpeg = media.find_ffmpeg(self.config.ffmpeg_binary)
        return self._ffmpeg

    def probe(self, url: str) -> media.MediaInfo:
        return media.probe_media(self.ffmpeg, url, timeout_s=self.config.request_timeout_s * 2,
                                 attempts=self.config.probe_attempts,
                                 backoff_base_s=self.config.backoff_base_s)

    def analyze(self, url: str, info: media.MediaInfo, chunks: list[Chunk],
                emit: Callable[[ChunkFeatures], None],
                cancel: threading.Event | None = None, strict: bool = True) -> SpanResult:
        return analyze_span(self.ffmpeg, url, info, chunks, self.config, emit, cancel, strict)

    def walk(self, urls: AnalysisURL, info: media.MediaInfo, progress: Callable[[float, str],
             None], cancel: threading.Event, store: ChunkStore | None = None,
             on_merge: Callable[[StreamFeatures], None] | None = None) -> Walk:
        """Walk the stream: runs of consecutive chunks ("spans"), `workers` at a time, each
        decoded by one ffmpeg; chunks `store` holds are reused and new ones stored. When a
        span fails, the rest of it is tried again from the chunk it stopped at; a chunk that
        stops it `chunk_attempts` times is recorded and skipped. `progress` gets the share of
        chunks settled (0-1); `on_merge`, if given, the stream's features each time chunks
        land in them (the sampled chat fetch watches the top moments so far)."""
        config = self.config
        duration = float(info.duration_s or 0.0)
        chunks = plan_chunks(duration, config)
        features = StreamFeatures.empty(duration, config.window_s, info.has_audio,
                                        info.has_video)
        edge = np.full(len(features.valid), -1.0)
        done: dict[int, ChunkFeatures] = {}
        if store is not None:
            done = {i: p for i, p in store.load().items() if i < len(chunks)}
        for part in done.values():
            features.merge(part, edge)
        if on_merge is not None:
            on_merge(features)
        settled = set(done)  # chunk indices merged or given up on
        skipped: list[dict[str, Any]] = []
        attempts: Counter[int] = Counter()
        arrived: queue.Queue[ChunkFeatures] = queue.Queue()
        todo = [c for c in chunks if c.index not in done]
        workers = min(config.workers or os.cpu_count() or 1, max(len(todo), 1))

        def report() -> None:
            progress(len(settled) / len(chunks),
                     f"chunk {min(len(settled) + 1, len(chunks))}/{len(chunks)}")

        def take(part: ChunkFeatures) -> None:
            if part.chunk.index in settled:
                return
            settled.add(part.chunk.index)
            features.merge(part, edge)
            if store is not None:
                store.store(part)
            if on_merge is not None:
                on_merge(features)
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
            return pool.submit(self.analyze, urls.analysis, info, span, arrived.put,
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
        return Walk(features, skipped, len(done), len(chunks))


def _single_threaded_libraries() -> contextlib.ExitStack:
    """BLAS and OpenCV at one thread each from now until the returned stack is closed: while
    chunks are analysed the chunk workers are the parallelism, and the libraries' threads on
    tiny arrays cost more than they save."""
    stack = contextlib.ExitStack()
    stack.enter_context(threadpool_limits(1))
    stack.enter_context(opencv_threads(1))
    return stack


def _executor(config: Config, workers: int) -> tuple[Any, Callable[[], None]]:
    """(executor, close) for the span tasks: a local thread pool of `workers`, or a
    dask.distributed cluster when `dask_scheduler` is set (`dask_cluster.py`)."""
    if not config.dask_scheduler:
        pool = ThreadPoolExecutor(workers, thread_name_prefix="chunk")
        return pool, lambda: pool.shutdown(wait=True, cancel_futures=True)
    import dask_cluster

    return dask_cluster.open_executor(config)


# --- the stream's feature matrix ---------------------------------------------------------------

@dataclass
class StreamFeatures:
    """All windows of a stream on one grid. Rows that no chunk delivered are invalid."""

    window_s: float
    duration_s: float
    audio: np.ndarray | None  # float32 (n_windows, len(AUDIO_FEATURES))
    video: np.ndarray | None  # float32 (n_windows, len(VIDEO_FEATURES))
    valid: np.ndarray  # bool (n_windows,)

    @classmethod
    def empty(cls, duration_s: float, window_s: float, has_audio: bool, has_video: bool
              ) -> StreamFeatures:
        n = max(1, int(math.ceil(duration_s / window_s - 1e-9)))
        return cls(window_s, duration_s,
                   np.zeros((n, len(AUDIO_FEATURES)), np.float32) if has_audio else None,
                   np.zeros((n, len(VIDEO_FEATURES)), np.float32) if has_video else None,
                   np.zeros(n, bool))

    def merge(self, part: ChunkFeatures, edge_distance: np.ndarray) -> None:
        """Take `part`'s rows where they sit farther from their chunk's edges than what is
        already there (`edge_distance` (n_windows,) float64 is updated in place)."""
        n_part = len(part.audio if part.audio is not None else part.video)
        rows = np.arange(n_part)
        target = part.first_window + rows
        keep = target < len(self.valid)
        rows, target = rows[keep], target[keep]
        # Ties (the middle of an overlap) go to the earlier chunk, whatever order chunks
        # arrive in, so parallel and distributed runs merge identically.
        dist = np.minimum(rows + 0.5, n_part - rows - 0.5) - 1e-6 * part.chunk.index
        better = dist > edge_distance[target]
        rows, target = rows[better], target[better]
        if self.audio is not None and part.audio is not None:
            self.audio[target] = part.audio[rows]
        if self.video is not None and part.video is not None:
            self.video[target] = part.video[rows]
        edge_distance[target] = dist[better]
        self.valid[target] = True

    def save(self, path: Path) -> None:
        arrays = {"valid": self.valid, "meta": np.array([self.window_s, self.duration_s])}
        if self.audio is not None:
            arrays["audio"] = self.audio
        if self.video is not None:
            arrays["video"] = self.video
        np.savez_compressed(path, **arrays)

    @classmethod
    def load(cls, path: Path) -> StreamFeatures:
        with np.load(path) as data:
            window_s, duration_s = (float(v) for v in data["meta"])
            return cls(window_s, duration_s, data["audio"] if "audio" in data else None,
                       data["video"] if "video" in data else None, data["valid"])
