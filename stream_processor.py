"""Walking a stream: chunk planning, decoding each chunk through ffmpeg pipes, and the
stream-wide feature matrix the chunks are merged into.

`analyze_chunk` is a plain function of picklable arguments, so the same chunk task runs in a
local thread pool or on a Dask worker.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import media
from audio_analyzer import AUDIO_FEATURES, extract_audio_features
from config import Config
from errors import MediaError
from video_analyzer import VIDEO_FEATURES, extract_video_features

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


def analyze_chunk(ffmpeg: str, url: str, info: media.MediaInfo, chunk: Chunk, config: Config,
                  cancel: threading.Event | None = None) -> ChunkFeatures:
    """Decode one chunk through ffmpeg pipes and compute its feature rows."""
    width, height = analysis_frame_size(info, config.analysis_width_px)
    video_fps = (info.fps or 30.0) / config.frame_skip
    req = media.ChunkRequest(url, chunk.start_s, chunk.duration_s, config.sample_rate_hz,
                             info.has_audio, info.has_video, video_fps, width, height)
    samples, frames = media.stream_chunk(ffmpeg, req, config.ffmpeg_timeout_s, cancel)
    audio = video = None
    if info.has_audio:
        audio = extract_audio_features(samples, config.sample_rate_hz, config.window_s)
    if info.has_video:
        video = extract_video_features(frames, video_fps, config.window_s, chunk.duration_s)
    n = min(len(m) for m in (audio, video) if m is not None)
    if n == 0:
        raise MediaError(f"nothing decoded between {chunk.start_s:.0f} s and {chunk.end_s:.0f} s")
    first = int(round(chunk.start_s / config.window_s))
    return ChunkFeatures(chunk, first, None if audio is None else audio[:n],
                         None if video is None else video[:n])


def analyze_chunk_with_retry(url: str, info: media.MediaInfo, chunk: Chunk, config: Config,
                             cancel: threading.Event | None = None, ffmpeg: str | None = None
                             ) -> ChunkFeatures:
    """`analyze_chunk`, tried `config.chunk_attempts` times. Resolves ffmpeg itself when not
    given, so it can run on a Dask worker with its own binary."""
    ffmpeg = ffmpeg or media.find_ffmpeg(config.ffmpeg_binary)
    for attempt in range(1, config.chunk_attempts + 1):
        try:
            return analyze_chunk(ffmpeg, url, info, chunk, config, cancel)
        except MediaError as err:
            if attempt == config.chunk_attempts or (cancel is not None and cancel.is_set()):
                raise
            logger.warning("chunk %d failed (%s); trying again", chunk.index + 1, err)
    raise AssertionError("unreachable")


class StreamProcessor:
    """Probes a source, plans its chunks and decodes them one at a time."""

    def __init__(self, config: Config):
        self.config = config
        self._ffmpeg: str | None = None

    @property
    def ffmpeg(self) -> str:
        if self._ffmpeg is None:
            self._ffmpeg = media.find_ffmpeg(self.config.ffmpeg_binary)
        return self._ffmpeg

    def probe(self, url: str) -> media.MediaInfo:
        return media.probe_media(self.ffmpeg, url, timeout_s=self.config.request_timeout_s * 2)

    def analyze(self, url: str, info: media.MediaInfo, chunk: Chunk,
                cancel: threading.Event | None = None) -> ChunkFeatures:
        return analyze_chunk_with_retry(url, info, chunk, self.config, cancel, self.ffmpeg)


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
        dist = np.minimum(rows + 0.5, n_part - rows - 0.5)
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
