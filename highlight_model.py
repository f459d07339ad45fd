"""The learning part: stored samples (SQLite) and one GradientBoosting model per modality.

Samples are feature vectors (per-stream z-scores, so they compare across streams) with a
target: the heuristic score as a cold-start pseudo-label, or a user's rating when there is one.
Models are refit from the store when something new can be learnt (ratings, or a quarter more
samples) and saved under `models/` twice: the scikit-learn pipeline with joblib (feature
importances, and what a later version can refit from) and its trees as plain arrays in an
`.npz`, which runs score with numpy alone: no scikit-learn import (1.5 s) on every run, and
nothing unpickled. Models are only ever loaded from `models/`.
"""

from __future__ import annotations

import json
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
# Newest samples a fit uses (rated ones first). Pseudo-labels only teach the heuristic back,
# so more of them buys nothing; measured fit: 1 000 samples 0.7 s, 20 000 samples 21 s.
MAX_TRAINING_SAMPLES = 5000
REFIT_GROWTH = 1.25  # without new ratings, refit once the store has grown by a quarter
RATED_SAMPLE_WEIGHT = 10.0
# A rating r in [0, 1] becomes a target on the heuristic's scale: skip ~ a dull window,
# keep ~ a clear highlight.
RATING_TARGET_LOW, RATING_TARGET_HIGH = -1.0, 5.0
# A correction must rest on at least this many windows (six rated clips' worth): with
# smaller leaves 20 ratings taught the trees one stream's quirks, and the next stream's calm
# stretches rose into its top N (measured on eval/real_media.py's tune streams).
MIN_WINDOWS_PER_LEAF = 30
RATINGS_FOR_HALF = 25  # ratings at which the model's extra share is half-way grown
CHANNEL_MIN_RATINGS = 20  # a channel gets its own model from this many ratings on

_SCHEMA = """
CREATE TABLE IF NOT EXISTS samples (
    id INTEGER PRIMARY KEY,
    modality TEXT NOT NULL,
    source TEXT NOT NULL,  -- the stream's identity (sources.Source.identity)
    channel TEXT,
    time_s REAL NOT NULL,  -- the window's middle; one row per (source, modality, window)
    features BLOB NOT NULL,
    n_features INTEGER NOT NULL,
    heuristic REAL NOT NULL,
    rating REAL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS samples_modality ON samples (modality, id);
CREATE UNIQUE INDEX IF NOT EXISTS samples_window ON samples (source, modality, time_s);
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
        storage.prepare(path, _SCHEMA, _one_row_per_window)

    def _connect(self) -> sqlite3.Connection:
        return storage.connect(self.path)

    def add(self, modality: str, source: str, channel: str | None, times_s: np.ndarray,
            features: np.ndarray, heuristic: np.ndarray) -> int:
        """Store the windows at `times_s` (n,) of stream `source`: features (n, f) float32
        with their heuristic scores (n,). A window stored before is updated in place and keeps
        its rating: running a stream again teaches the model nothing twice. Returns how many
        windows were new."""
        rows = [(modality, source, channel, float(t), np.asarray(f, np.float32).tobytes(),
                 features.shape[1], float(h), None, time.time())
                for t, f, h in zip(times_s, features, heuristic)]
        with closing(self._connect()) as db, db:
            before = _count(db)
            db.executemany(_UPSERT + _REFRESH, rows)
            return _count(db) - before

    def add_rating(self, run_dir: str, rank: int, rating: float, channel: str | None,
                   start_s: float, end_s: float, source: str, times_s: np.ndarray,
                   rows: dict[str, np.ndarray], heuristic: dict[str, np.ndarray],
                   rated: dict[str, bool] | None = None) -> None:
        """Store a user's rating (0 = skip .. 1 = keep) of one clip of stream `source`: its
        windows at `times_s` (n,) get the rating, with `rows[modality]` (n, f) their z-scores
        and `heuristic[modality]` (n,) their heuristic scores - in the signals `rated` names
        (default: all); the others keep their windows unrated. Windows already stored (by the
        run, or an earlier rating) are updated, not added again; re-rating replaces."""
        now = time.time()
        with closing(self._connect()) as db, db:
            db.execute("INSERT OR REPLACE INTO ratings VALUES (?,?,?,?,?,?,?)",
                       (run_dir, rank, rating, channel, start_s, end_s, now))
            # what an older version stored for this clip, under a key of its own
            db.execute("DELETE FROM samples WHERE source=?", (f"rating:{run_dir}#{rank}",))
            for modality, matrix in rows.items():
                value = rating if rated is None or rated.get(modality) else None
                db.executemany(_UPSERT + _REFRESH + ", rating=excluded.rating", [
                    (modality, source, channel, float(t), np.asarray(r, np.float32).tobytes(),
                     matrix.shape[1], float(h), value, now)
                    for t, r, h in zip(times_s, matrix, heuristic[modality])])

    def ratings(self, run_dir: str) -> dict[int, float]:
        with closing(self._connect()) as db:
            rows = db.execute("SELECT rank, rating FROM ratings WHERE run_dir=?",
                              (run_dir,)).fetchall()
        return {int(r): float(v) for r, v in rows}

    def load(self, modality: str, n_features: int, limit: int = MAX_TRAINING_SAMPLES,
             channel: str | None = None, rated_only: bool = False
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Newest samples of one modality (of one channel, if given; only the rated ones, if
        `rated_only`): features (n, f), heuristic (n,), rating (n,) NaN where unrated. Rated
        samples always come first."""
        where = ("modality=? AND n_features=?" + (" AND channel=?" if channel else "")
                 + (" AND rating IS NOT NULL" if rated_only else ""))
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

    def fit_counts(self, modality: str, channel: str | None = None) -> tuple[int, str]:
        """What a fit of `modality` (of `channel`, if given) would learn from: the samples
        stored, and a signature of the ratings that changes when one is added or replaced."""
        scope, args = (" AND channel=?", (channel,)) if channel else ("", ())
        with closing(self._connect()) as db:
            samples = db.execute(f"SELECT COUNT(*) FROM samples WHERE modality=?{scope}",
                                 (modality, *args)).fetchone()[0]
            count, newest = db.execute(
                f"SELECT COUNT(*), MAX(created_at) FROM ratings WHERE 1=1{scope}",
                args).fetchone()
        return int(samples), f"{count}@{newest or 0}"

    def set_meta(self, key: str, value: str) -> None:
        with closing(self._connect()) as db, db:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def get_meta(self, key: str) -> str | None:
        with closing(self._connect()) as db:
            row = db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None


_UPSERT = ("INSERT INTO samples (modality, source, channel, time_s, features, n_features,"
           " heuristic, rating, created_at) VALUES (?,?,?,?,?,?,?,?,?)"
           " ON CONFLICT (source, modality, time_s) DO UPDATE SET")
_REFRESH = (" channel=coalesce(excluded.channel, channel), features=excluded.features,"
            " n_features=excluded.n_features, heuristic=excluded.heuristic")


def _count(db: sqlite3.Connection) -> int:
    return int(db.execute("SELECT COUNT(*) FROM samples").fetchone()[0])


def _one_row_per_window(db: sqlite3.Connection) -> None:
    """Bring a store from before `samples_window` (one row per source, modality and window)
    up to it. Older versions stored a stream's windows again on every run, so a stream run
    15 times counted 15 times in every fit. Duplicates are merged into their newest row,
    which keeps a rating any of them had. Clips rated by those versions were stored under a
    key of their own ("rating:<run>#<rank>"), every window of a clip at the clip's start:
    they are kept, each a millisecond apart so that each is a window of its own."""
    if not db.execute("SELECT 1 FROM sqlite_master WHERE name='samples'").fetchone():
        return  # a new store
    if db.execute("SELECT 1 FROM sqlite_master WHERE name='samples_window'").fetchone():
        return  # done
    db.execute("BEGIN IMMEDIATE")  # another process may be opening the store just now
    try:
        if db.execute("SELECT 1 FROM sqlite_master WHERE name='samples_window'").fetchone():
            db.rollback()
            return
        rated = db.execute("SELECT id, source, modality FROM samples WHERE source LIKE "
                           "'rating:%' ORDER BY source, modality, id").fetchall()
        group, position = None, 0
        for row_id, source, modality in rated:
            position = position + 1 if (source, modality) == group else 0
            group = (source, modality)
            if position:
                db.execute("UPDATE samples SET time_s = time_s + ? WHERE id=?",
                           (position * 0.001, row_id))
        before = _count(db)
        db.execute("""
            UPDATE samples SET rating = (
                SELECT other.rating FROM samples AS other
                WHERE other.source = samples.source AND other.modality = samples.modality
                  AND other.time_s = samples.time_s AND other.rating IS NOT NULL
                ORDER BY other.id DESC LIMIT 1)
            WHERE rating IS NULL AND id IN (
                SELECT MAX(id) FROM samples GROUP BY source, modality, time_s
                HAVING COUNT(*) > 1)""")
        db.execute("DELETE FROM samples WHERE id NOT IN ("
                   "SELECT MAX(id) FROM samples GROUP BY source, modality, time_s)")
        db.execute("CREATE UNIQUE INDEX samples_window ON samples (source, modality, time_s)")
        db.commit()
    except BaseException:
        db.rollback()
        raise
    logger.info("sample store: %d stored again by re-runs merged, %d samples left",
                before - _count(db), _count(db))


def rating_share(n_ratings: int) -> float:
    """How much the model's share of the score grows with the user's ratings: 0 without
    any, half-way to the maximum at RATINGS_FOR_HALF."""
    return n_ratings / (n_ratings + RATINGS_FOR_HALF)


@dataclass(frozen=True)
class TreeEnsemble:
    """A fitted StandardScaler + GradientBoostingRegressor as plain arrays, predicting with
    numpy exactly as scikit-learn does (features as float32, `x <= threshold` goes left).

    Trees are stacked and padded to one node count: `feature` (t, nodes) int32, -1 at leaves;
    `threshold` (t, nodes) float64; `left` / `right` (t, nodes) int32; `value` (t, nodes)."""

    feature_names: tuple[str, ...]
    mean: np.ndarray  # (f,) float64
    scale: np.ndarray  # (f,) float64
    init: float
    learning_rate: float
    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray
    residual: bool = True  # predicts a correction to the heuristic (False: models before that)

    @classmethod
    def from_pipeline(cls, pipeline, feature_names: tuple[str, ...]) -> TreeEnsemble:
        scaler, gbr = pipeline[0], pipeline[-1]
        trees = [stage[0].tree_ for stage in gbr.estimators_]
        nodes = max(t.node_count for t in trees)

        def stack(get, fill, dtype) -> np.ndarray:
            out = np.full((len(trees), nodes), fill, dtype)
            for i, tree in enumerate(trees):
                out[i, : tree.node_count] = get(tree)
            return out

        return cls(tuple(feature_names), np.asarray(scaler.mean_, np.float64),
                   np.asarray(scaler.scale_, np.float64),
                   float(np.ravel(gbr.init_.constant_)[0]), float(gbr.learning_rate),
                   stack(lambda t: np.where(t.children_left < 0, -1, t.feature), -1, np.int32),
                   stack(lambda t: t.threshold, 0.0, np.float64),
                   stack(lambda t: t.children_left, -1, np.int32),
                   stack(lambda t: t.children_right, -1, np.int32),
                   stack(lambda t: t.value[:, 0, 0], 0.0, np.float64))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Scores (n,) float64 for features `x` (n, f)."""
        # StandardScaler works in place on float32 input: each step rounds back to float32.
        xs = (np.asarray(x, np.float32) - self.mean).astype(np.float32)
        xs = (xs / self.scale).astype(np.float32)
        n_trees = len(self.feature)
        tree = np.arange(n_trees)[:, None]
        node = np.zeros((n_trees, len(xs)), np.int64)
        rows = np.arange(len(xs))[None, :]
        for _ in range(self.feature.shape[1]):
            feature = self.feature[tree, node]
            inner = feature >= 0
            if not inner.any():
                break
            go_left = xs[rows, np.maximum(feature, 0)] <= self.threshold[tree, node]
            node = np.where(inner, np.where(go_left, self.left[tree, node],
                                            self.right[tree, node]), node)
        return self.init + self.learning_rate * self.value[tree, node].sum(axis=0)

    def save(self, path: Path) -> None:
        arrays = {k: getattr(self, k) for k in ("mean", "scale", "feature", "threshold", "left",
                                                 "right", "value")}
        with open(path, "wb") as out:
            np.savez(out, feature_names=np.array(self.feature_names), **arrays,
                     scalars=np.array([self.init, self.learning_rate, float(self.residual)]))

    @classmethod
    def load(cls, path: Path) -> TreeEnsemble:
        with np.load(path, allow_pickle=False) as data:
            init, rate, *residual = (float(v) for v in data["scalars"])
            return cls(tuple(str(n) for n in data["feature_names"]), data["mean"],
                       data["scale"], init, rate, data["feature"], data["threshold"],
                       data["left"], data["right"], data["value"], bool(residual and residual[0]))


class MLHighlightModel:
    """Per-modality StandardScaler + GradientBoostingRegressor(n_estimators=100)."""

    def __init__(self, models_dir: Path, min_samples: int = 10):
        self.models_dir = Path(models_dir)
        self.min_samples = min_samples
        self.store = SampleStore(self.models_dir / DB_NAME)
        self._fitted: dict[str, TreeEnsemble | None] = {}

    def _path(self, modality: str, channel: str | None = None, suffix: str = ".npz") -> Path:
        folder = self.models_dir / "channels" / storage.safe_name(channel) if channel else \
            self.models_dir
        return folder / f"{modality}_model{suffix}"

    @staticmethod
    def _key(modality: str, channel: str | None) -> str:
        return f"{modality}@{channel}" if channel else modality

    def model(self, modality: str, feature_names: tuple[str, ...],
              channel: str | None = None) -> TreeEnsemble | None:
        """The saved model of `modality` for these features: the channel's own when it has
        one, else the global one."""
        if not (channel and self._path(modality, channel).exists()):
            channel = None
        fitted = self._cached(modality, channel)
        if fitted is not None and fitted.feature_names != tuple(feature_names):
            logger.warning("%s model was trained on other features; ignoring it", modality)
            return None
        if fitted is not None and not fitted.residual:
            logger.info("%s model predates learning corrections; it is refit", modality)
            return None
        return fitted

    def _cached(self, modality: str, channel: str | None) -> TreeEnsemble | None:
        """The saved model of `modality` (a channel's own, if given), loaded once."""
        key = self._key(modality, channel)
        if key not in self._fitted:
            self._fitted[key] = self._load(self._path(modality, channel))
        return self._fitted[key]

    def _load(self, path: Path) -> TreeEnsemble | None:
        if not path.exists():
            return None
        try:
            return TreeEnsemble.load(path)
        except Exception as err:  # noqa: BLE001 - any unreadable model is set aside, not fatal
            aside = storage.set_aside(path)
            logger.warning("model %s unreadable (%s); moved to %s, using the heuristic",
                           path.name, err, aside.name)
            return None

    def predict(self, modality: str, feature_names: tuple[str, ...], z: np.ndarray,
                channel: str | None = None) -> np.ndarray | None:
        """The model's correction to the heuristic (n,) for z-scored features (n, f), or None
        without a model: what the ratings taught, about zero where they said nothing."""
        fitted = self.model(modality, feature_names, channel)
        if fitted is None or len(z) == 0:
            return None
        return fitted.predict(z).astype(np.float32)

    def add_samples(self, modality: str, source: str, channel: str | None, times_s: np.ndarray,
                    z: np.ndarray, heuristic: np.ndarray) -> int:
        return self.store.add(modality, source, channel, times_s, z, heuristic)

    def is_stale(self, modality: str, channel: str | None = None) -> bool:
        """Whether a refit could learn something: no model yet, ratings added or changed since
        the last fit, or a quarter more samples stored."""
        fitted = self._cached(modality, channel)
        if fitted is None or not fitted.residual:  # none yet, or one of the old kind
            return True
        last = json.loads(self.store.get_meta(f"fit:{self._key(modality, channel)}") or "{}")
        samples, ratings = self.store.fit_counts(modality, channel)
        return (ratings != last.get("ratings")
                or samples >= REFIT_GROWTH * max(1, last.get("samples", 0)))

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

        # The model learns a correction to the heuristic: what a rating says minus what the
        # heuristic said, zero for a window nobody rated. Learning the heuristic back (the
        # seed's cold start) only added noise: a model fitted on one stream's pseudo-labels
        # cost the next stream a moment in its top 12.
        rated = np.isfinite(rating)
        target = np.where(rated, RATING_TARGET_LOW + rating * (RATING_TARGET_HIGH -
                                                               RATING_TARGET_LOW) - heuristic,
                          0.0)
        weight = np.where(rated, RATED_SAMPLE_WEIGHT, 1.0)
        pipeline = make_pipeline(StandardScaler(),
                                 GradientBoostingRegressor(n_estimators=100, random_state=0,
                                                           min_samples_leaf=MIN_WINDOWS_PER_LEAF))
        pipeline.fit(x, target, gradientboostingregressor__sample_weight=weight)
        import joblib

        ensemble = TreeEnsemble.from_pipeline(pipeline, tuple(feature_names))
        joblib_path = self._path(modality, channel, ".joblib")
        joblib_path.parent.mkdir(parents=True, exist_ok=True)
        storage.write_atomically(joblib_path, lambda out: joblib.dump(
            {"pipeline": pipeline, "feature_names": list(feature_names)}, out))
        storage.write_atomically(self._path(modality, channel), ensemble.save)
        key = self._key(modality, channel)
        self._fitted[key] = ensemble
        samples, ratings = self.store.fit_counts(modality, channel)
        self.store.set_meta(f"fit:{key}", json.dumps({"samples": samples, "ratings": ratings}))
        if not channel:
            self.store.set_meta(f"{modality}_trained_at", time.strftime("%Y-%m-%dT%H:%M:%S"))
        logger.info("%s model%s trained on %d samples (%d rated)", modality,
                    f" for {channel}" if channel else "", len(x), int(rated.sum()))
        return len(x)

    def feature_importances(self, modality: str, feature_names: tuple[str, ...]
                            ) -> dict[str, float]:
        """Each feature's share of the global model's splits (from the joblib pipeline)."""
        path = self._path(modality, None, ".joblib")
        if self.model(modality, feature_names) is None or not path.exists():
            return {}
        import joblib

        try:
            gbr = joblib.load(path)["pipeline"][-1]
        except Exception as err:  # noqa: BLE001 - importances are a display nicety
            logger.warning("cannot read %s for feature importances: %s", path.name, err)
            return {}
        return dict(zip(feature_names, (float(v) for v in gbr.feature_importances_)))


@dataclass(frozen=True)
class Rated:
    """What rating a clip did: the samples and ratings now stored, and the models it refit
    (name -> samples used; empty when none could learn anything new)."""

    samples: int
    ratings: int
    trained: dict[str, int]


@dataclass(frozen=True)
class TrainedModel:
    """One modality's global model as the user sees it: when it was fitted (None: never) and
    each feature's share of its splits."""

    modality: str
    trained_at: str | None
    importances: dict[str, float]


@dataclass(frozen=True)
class ModelStatus:
    samples: int
    ratings: int
    models: tuple[TrainedModel, ...]

    def model(self, modality: str) -> TrainedModel:
        return next(m for m in self.models if m.modality == modality)


def model_status(model: MLHighlightModel, modalities: dict[str, tuple[str, ...]]
                 ) -> ModelStatus:
    """Samples and ratings stored, and each modality's (name -> feature names) model."""
    counts = model.store.counts()
    return ModelStatus(counts["samples"], counts["ratings"], tuple(
        TrainedModel(name, model.store.get_meta(f"{name}_trained_at"),
                     model.feature_importances(name, names))
        for name, names in modalities.items()))

