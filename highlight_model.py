"""The learning part: stored samples (SQLite) and one GradientBoosting model per modality.

Samples are feature vectors (per-stream z-scores, so they compare across streams) with a
target: the heuristic score as a cold-start pseudo-label, or a user's rating when there is one.
Models are refit from the store and saved with joblib under `models/`; they are only ever
loaded from there.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import storage

logger = logging.getLogger(__name__)

DB_NAME = "samples.sqlite3"
MAX_TRAINING_SAMPLES = 20000
RATED_SAMPLE_WEIGHT = 10.0
# A rating r in [0, 1] becomes a target on the heuristic's scale: skip ~ a dull window,
# keep ~ a clear highlight.
RATING_TARGET_LOW, RATING_TARGET_HIGH = -1.0, 5.0
RATINGS_FOR_HALF = 25  # ratings at which the model's extra share is half-way grown
CHANNEL_MIN_RATINGS = 20  # a channel gets its own model from this many ratings on
MODALITIES = ("audio", "video")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS samples (
    id INTEGER PRIMARY KEY,
    modality TEXT NOT NULL,
    source TEXT NOT NULL,
    channel TEXT,
    time_s REAL NOT NULL,
    features BLOB NOT NULL,
    n_features INTEGER NOT NULL,
    heuristic REAL NOT NULL,
    rating REAL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS samples_modality ON samples (modality, id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS ratings (
    run_dir TEXT NOT NULL,
    rank INTEGER NOT NULL,
    rating REAL NOT NULL,
    channel TEXT,
    start_s REAL,
    end_s REAL,
    created_at REAL NOT NULL,
    PRIMARY KEY (run_dir, rank)
);
"""


class SampleStore:
    """Training samples in one SQLite file; survives restarts, carries ratings."""

    def __init__(self, path: Path):
        self.path = path
        storage.prepare(path, _SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return storage.connect(self.path)

    def add(self, modality: str, source: str, channel: str | None, times_s: np.ndarray,
            features: np.ndarray, heuristic: np.ndarray) -> int:
        """Store rows of `features` (n, f) float32 with their heuristic scores (n,)."""
        now = time.time()
        rows = [(modality, source, channel, float(t), np.asarray(f, np.float32).tobytes(),
                 features.shape[1], float(h), None, now)
                for t, f, h in zip(times_s, features, heuristic)]
        with closing(self._connect()) as db, db:
            db.executemany(
                "INSERT INTO samples (modality, source, channel, time_s, features, n_features,"
                " heuristic, rating, created_at) VALUES (?,?,?,?,?,?,?,?,?)", rows)
        return len(rows)

    def add_rating(self, run_dir: str, rank: int, rating: float, channel: str | None,
                   start_s: float, end_s: float, rows: dict[str, np.ndarray]) -> None:
        """Store a user's rating (0 = skip .. 1 = keep) of one clip with its feature rows
        (`rows[modality]` (n, f) z-scores of the clip's windows). Re-rating replaces."""
        key = f"rating:{run_dir}#{rank}"
        now = time.time()
        with closing(self._connect()) as db, db:
            db.execute("INSERT OR REPLACE INTO ratings VALUES (?,?,?,?,?,?,?)",
                       (run_dir, rank, rating, channel, start_s, end_s, now))
            db.execute("DELETE FROM samples WHERE source=?", (key,))
            for modality, matrix in rows.items():
                db.executemany(
                    "INSERT INTO samples (modality, source, channel, time_s, features,"
                    " n_features, heuristic, rating, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
                    [(modality, key, channel, start_s, np.asarray(r, np.float32).tobytes(),
                      matrix.shape[1], 0.0, rating, now) for r in matrix])

    def ratings(self, run_dir: str) -> dict[int, float]:
        with closing(self._connect()) as db:
            rows = db.execute("SELECT rank, rating FROM ratings WHERE run_dir=?",
                              (run_dir,)).fetchall()
        return {int(r): float(v) for r, v in rows}

    def load(self, modality: str, n_features: int, limit: int = MAX_TRAINING_SAMPLES,
             channel: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Newest samples of one modality (of one channel, if given): features (n, f),
        heuristic (n,), rating (n,) NaN where unrated. Rated samples always come first."""
        where = "modality=? AND n_features=?" + (" AND channel=?" if channel else "")
        args = (modality, n_features, *([channel] if channel else []))
        with closing(self._connect()) as db:
            rows = db.execute(
                f"SELECT features, heuristic, rating FROM samples WHERE {where} "
                "ORDER BY rating IS NULL, id DESC LIMIT ?", (*args, limit)).fetchall()
        if not rows:
            return np.zeros((0, n_features), np.float32), np.zeros(0), np.zeros(0)
        x = np.stack([np.frombuffer(r[0], np.float32) for r in rows])
        heuristic = np.array([r[1] for r in rows], np.float64)
        rating = np.array([np.nan if r[2] is None else r[2] for r in rows], np.float64)
        return x, heuristic, rating

    def rating_count(self, channel: str | None = None) -> int:
        with closing(self._connect()) as db:
            if channel:
                return int(db.execute("SELECT COUNT(*) FROM ratings WHERE channel=?",
                                      (channel,)).fetchone()[0])
            return int(db.execute("SELECT COUNT(*) FROM ratings").fetchone()[0])

    def rated_channels(self) -> dict[str, int]:
        with closing(self._connect()) as db:
            rows = db.execute("SELECT channel, COUNT(*) FROM ratings WHERE channel IS NOT NULL "
                              "GROUP BY channel").fetchall()
        return {str(c): int(n) for c, n in rows}

    def counts(self) -> dict[str, int]:
        with closing(self._connect()) as db:
            total = db.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
            rated = db.execute("SELECT COUNT(*) FROM ratings").fetchone()[0]
        return {"samples": int(total), "ratings": int(rated)}

    def set_meta(self, key: str, value: str) -> None:
        with closing(self._connect()) as db, db:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def get_meta(self, key: str) -> str | None:
        with closing(self._connect()) as db:
            row = db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:60] or "_"


def rating_share(n_ratings: int) -> float:
    """How much the model's share of the score grows with the user's ratings: 0 without
    any, half-way to the maximum at RATINGS_FOR_HALF."""
    return n_ratings / (n_ratings + RATINGS_FOR_HALF)


@dataclass
class _Fitted:
    pipeline: object  # sklearn Pipeline(StandardScaler, GradientBoostingRegressor)
    feature_names: tuple[str, ...]


class MLHighlightModel:
    """Per-modality StandardScaler + GradientBoostingRegressor(n_estimators=100)."""

    def __init__(self, models_dir: Path, min_samples: int = 10):
        self.models_dir = Path(models_dir)
        self.min_samples = min_samples
        self.store = SampleStore(self.models_dir / DB_NAME)
        self._fitted: dict[str, _Fitted | None] = {}

    def _path(self, modality: str, channel: str | None = None) -> Path:
        folder = self.models_dir / "channels" / _safe(channel) if channel else self.models_dir
        return folder / f"{modality}_model.joblib"

    def model(self, modality: str, feature_names: tuple[str, ...],
              channel: str | None = None) -> _Fitted | None:
        """The saved model of `modality` for these features: the channel's own when it has
        one, else the global one."""
        if channel and self._path(modality, channel).exists():
            key = f"{modality}@{channel}"
        else:
            key, channel = modality, None
        if key not in self._fitted:
            self._fitted[key] = self._load(self._path(modality, channel))
        fitted = self._fitted[key]
        if fitted is not None and fitted.feature_names != tuple(feature_names):
            logger.warning("%s model was trained on other features; ignoring it", modality)
            return None
        return fitted

    def _load(self, path: Path) -> _Fitted | None:
        if not path.exists():
            return None
        import joblib

        try:
            data = joblib.load(path)
            return _Fitted(data["pipeline"], tuple(data["feature_names"]))
        except Exception as err:  # noqa: BLE001 - any unreadable model is set aside, not fatal
            aside = storage.set_aside(path)
            logger.warning("model %s unreadable (%s); moved to %s, using the heuristic",
                           path.name, err, aside.name)
            return None

    def predict(self, modality: str, feature_names: tuple[str, ...], z: np.ndarray,
                channel: str | None = None) -> np.ndarray | None:
        """Model scores (n,) for z-scored features (n, f), or None without a model."""
        fitted = self.model(modality, feature_names, channel)
        if fitted is None or len(z) == 0:
            return None
        return fitted.pipeline.predict(z).astype(np.float32)

    def add_samples(self, modality: str, source: str, channel: str | None, times_s: np.ndarray,
                    z: np.ndarray, heuristic: np.ndarray) -> int:
        return self.store.add(modality, source, channel, times_s, z, heuristic)

    def train(self, modality: str, feature_names: tuple[str, ...],
              channel: str | None = None) -> int:
        """Refit one modality's model (a channel's own, if given) from the store. Returns the
        samples used (0: not enough)."""
        x, heuristic, rating = self.store.load(modality, len(feature_names), channel=channel)
        if len(x) < self.min_samples:
            logger.info("%s model: %d samples stored, %d needed before training", modality,
                        len(x), self.min_samples)
            return 0
        from sklearn.ensemble import GradientBoostingRegressor
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        rated = np.isfinite(rating)
        target = np.where(rated, RATING_TARGET_LOW + rating * (RATING_TARGET_HIGH -
                                                               RATING_TARGET_LOW), heuristic)
        weight = np.where(rated, RATED_SAMPLE_WEIGHT, 1.0)
        pipeline = make_pipeline(StandardScaler(),
                                 GradientBoostingRegressor(n_estimators=100, random_state=0))
        pipeline.fit(x, target, gradientboostingregressor__sample_weight=weight)
        import joblib

        target_path = self._path(modality, channel)
        target_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = target_path.with_suffix(".part")
        joblib.dump({"pipeline": pipeline, "feature_names": list(feature_names)}, tmp)
        tmp.replace(target_path)
        self._fitted[f"{modality}@{channel}" if channel else modality] = _Fitted(
            pipeline, tuple(feature_names))
        if not channel:
            self.store.set_meta(f"{modality}_trained_at", time.strftime("%Y-%m-%dT%H:%M:%S"))
        logger.info("%s model%s trained on %d samples (%d rated)", modality,
                    f" for {channel}" if channel else "", len(x), int(rated.sum()))
        return len(x)

    def feature_importances(self, modality: str, feature_names: tuple[str, ...]
                            ) -> dict[str, float]:
        fitted = self.model(modality, feature_names)
        if fitted is None:
            return {}
        gbr = fitted.pipeline[-1]
        return dict(zip(feature_names, (float(v) for v in gbr.feature_importances_)))
