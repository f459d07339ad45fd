"""Per-chunk features kept in SQLite, keyed by source identity + analysis parameters.

A re-run with other selection settings decodes nothing, and a run that crashed or was
killed resumes from the chunks it had finished.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import time
from contextlib import closing
from pathlib import Path

import numpy as np

import storage
from audio_analyzer import AUDIO_FEATURES
from config import VERSION, Config
from stream_processor import Chunk, ChunkFeatures
from video_analyzer import VIDEO_FEATURES

logger = logging.getLogger(__name__)

DB_NAME = "feature_cache.sqlite3"
# Settings that change what a chunk's features are; selection settings do not.
ANALYSIS_FIELDS = ("chunk_duration_s", "chunk_overlap_s", "window_s", "frame_skip",
                   "analysis_width_px", "sample_rate_hz", "fast_decode")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS chunks (
    key TEXT NOT NULL,
    chunk_index INTEGER NOT NULL,
    start_s REAL NOT NULL,
    duration_s REAL NOT NULL,
    first_window INTEGER NOT NULL,
    n_rows INTEGER NOT NULL,
    audio BLOB,
    video BLOB,
    created_at REAL NOT NULL,
    PRIMARY KEY (key, chunk_index)
);
"""


# Bump when a feature's definition changes (not only its name): stored chunks of the old
# definition must not mix with new ones. 2-3: cuts kept out of the motion statistics (issue 14).
FEATURES_REVISION = 3


def cache_key(identity: str, config: Config, has_audio: bool, has_video: bool) -> str:
    """A stable key for one source analysed with one set of analysis parameters."""
    params = {name: getattr(config, name) for name in ANALYSIS_FIELDS}
    params.update(identity=identity, version=VERSION, revision=FEATURES_REVISION,
                  audio=has_audio and list(AUDIO_FEATURES),
                  video=has_video and list(VIDEO_FEATURES))
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()


class FeatureCache:
    def __init__(self, models_dir: Path):
        self.path = Path(models_dir) / DB_NAME
        storage.prepare(self.path, _SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return storage.connect(self.path)

    def load(self, key: str) -> dict[int, ChunkFeatures]:
        """Every stored chunk of `key`, by chunk index."""
        with closing(self._connect()) as db:
            rows = db.execute("SELECT chunk_index, start_s, duration_s, first_window, n_rows,"
                              " audio, video FROM chunks WHERE key=?", (key,)).fetchall()
        out = {}
        for index, start, duration, first, n, audio, video in rows:
            out[index] = ChunkFeatures(
                Chunk(index, start, duration), first,
                None if audio is None else np.frombuffer(audio, np.float32).reshape(n, -1),
                None if video is None else np.frombuffer(video, np.float32).reshape(n, -1))
        return out

    def stream(self, key: str) -> CachedStream:
        """The chunks of one key, as the store a stream walk reads and fills."""
        return CachedStream(self, key)

    def store(self, key: str, part: ChunkFeatures) -> None:
        n = len(part.audio if part.audio is not None else part.video)
        with closing(self._connect()) as db, db:
            db.execute(
                "INSERT OR REPLACE INTO chunks VALUES (?,?,?,?,?,?,?,?,?)",
                (key, part.chunk.index, part.chunk.start_s, part.chunk.duration_s,
                 part.first_window, n, _blob(part.audio), _blob(part.video), time.time()))


class CachedStream:
    """One source's chunks in the cache (`stream_processor.ChunkStore`)."""

    def __init__(self, cache: FeatureCache, key: str):
        self.cache, self.key = cache, key

    def load(self) -> dict[int, ChunkFeatures]:
        return self.cache.load(self.key)

    def store(self, part: ChunkFeatures) -> None:
        self.cache.store(self.key, part)


def _blob(matrix: np.ndarray | None) -> bytes | None:
    return None if matrix is None else np.ascontiguousarray(matrix, np.float32).tobytes()
