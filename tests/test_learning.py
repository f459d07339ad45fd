"""Ratings are the real labels: they outweigh pseudo-labels, grow the model's share, and give a
channel its own model."""

import numpy as np
import pytest

from audio_analyzer import AUDIO_FEATURES
from highlight_model import CHANNEL_MIN_RATINGS, MLHighlightModel, rating_share
from video_analyzer import VIDEO_FEATURES


def fill(model: MLHighlightModel, channel: str | None, n_rated: int, rng) -> None:
    """Pseudo-labelled samples that say 'loud = good', and ratings that say the opposite."""
    for modality, names in (("audio", AUDIO_FEATURES), ("video", VIDEO_FEATURES)):
        z = rng.normal(size=(300, len(names))).astype(np.float32)
        model.add_samples(modality, f"src-{channel}", channel, np.arange(300.0), z,
                          z[:, 0] * 2)
    for i in range(n_rated):
        rows = {m: rng.normal(size=(3, len(n))).astype(np.float32)
                for m, n in (("audio", AUDIO_FEATURES), ("video", VIDEO_FEATURES))}
        loud = i % 2 == 0
        rows["audio"][:, 0] = 3.0 if loud else -1.0
        model.store.add_rating(f"{channel}-run{i}", 1, 0.0 if loud else 1.0, channel, 0, 30,
                               f"rated-{i}", np.arange(3.0), rows,
                               {m: np.zeros(3) for m in rows})


def test_ratings_outweigh_pseudo_labels(tmp_path):
    model = MLHighlightModel(tmp_path, min_samples=10)
    fill(model, None, 40, np.random.default_rng(0))
    model.train("audio", AUDIO_FEATURES)
    loud = np.zeros((1, len(AUDIO_FEATURES)), np.float32)
    loud[0, 0] = 3.0
    quiet = loud.copy()
    quiet[0, 0] = -1.0
    # the user skipped loud moments and kept quiet ones: the model follows the user
    assert model.predict("audio", AUDIO_FEATURES, loud)[0] < \
        model.predict("audio", AUDIO_FEATURES, quiet)[0]


def test_the_models_share_grows_with_ratings():
    assert rating_share(0) == 0
    assert rating_share(25) == pytest.approx(0.5)
    assert rating_share(10) < rating_share(100) < 1


def test_a_channel_with_enough_ratings_gets_its_own_model(tmp_path):
    from config import Config
    from kick_clip_generator import KickClipGenerator

    config = Config(models_dir=tmp_path / "models")
    generator = KickClipGenerator(config)
    model = generator.model_for(config)
    rng = np.random.default_rng(1)
    fill(model, "xqc", CHANNEL_MIN_RATINGS, rng)
    fill(model, "other", CHANNEL_MIN_RATINGS - 1, rng)
    trained = generator.retrain(config)
    assert trained["audio@xqc"] > 0 and "audio@other" not in trained
    assert (tmp_path / "models" / "channels" / "xqc" / "audio_model.joblib").exists()
    assert model.model("audio", AUDIO_FEATURES, "xqc") is not \
        model.model("audio", AUDIO_FEATURES, "other")  # "other" falls back to the global one
    assert model.model("audio", AUDIO_FEATURES, "other") is model.model("audio", AUDIO_FEATURES)


def test_numpy_trees_predict_exactly_what_scikit_learn_predicts(tmp_path):
    import joblib

    model = MLHighlightModel(tmp_path, min_samples=10)
    fill(model, None, 12, np.random.default_rng(2))
    model.train("audio", AUDIO_FEATURES)
    pipeline = joblib.load(tmp_path / "audio_model.joblib")["pipeline"]
    z = np.random.default_rng(3).normal(scale=2.0, size=(5000, len(AUDIO_FEATURES)))
    z = z.astype(np.float32)
    fresh = MLHighlightModel(tmp_path)  # from the .npz on disk, not the object in memory
    ours = fresh.predict("audio", AUDIO_FEATURES, z)
    np.testing.assert_allclose(ours, pipeline.predict(z), rtol=1e-5, atol=1e-5)
    assert np.ptp(ours) > 1.0  # a model that learnt something, not a constant


def test_scoring_with_a_saved_model_does_not_import_scikit_learn(tmp_path):
    """Runs load the .npz trees: no scikit-learn import (1.5 s) just to predict."""
    import subprocess
    import sys
    from pathlib import Path

    model = MLHighlightModel(tmp_path, min_samples=10)
    fill(model, None, 0, np.random.default_rng(4))
    model.train("audio", AUDIO_FEATURES)
    code = ("import sys, numpy as np\n"
            "from highlight_model import MLHighlightModel\n"
            "from audio_analyzer import AUDIO_FEATURES\n"
            f"m = MLHighlightModel({str(tmp_path)!r})\n"
            "p = m.predict('audio', AUDIO_FEATURES, np.ones((4, len(AUDIO_FEATURES)), "
            "np.float32))\n"
            "print(p is not None, 'sklearn' in sys.modules)")
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                         text=True, check=True).stdout.split()
    assert out == ["True", "False"]


def test_a_refit_happens_only_when_there_is_something_new_to_learn(tmp_path):
    model = MLHighlightModel(tmp_path, min_samples=10)
    rng = np.random.default_rng(5)
    z = rng.normal(size=(100, len(AUDIO_FEATURES))).astype(np.float32)
    model.add_samples("audio", "s", None, np.arange(100.0), z, z[:, 0])
    assert model.is_stale("audio")  # no model yet
    model.train("audio", AUDIO_FEATURES)
    assert not model.is_stale("audio")
    model.add_samples("audio", "s", None, np.arange(100.0, 120.0), z[:20], z[:20, 0])
    assert not model.is_stale("audio")  # 20% more pseudo-labels: the heuristic again
    model.add_samples("audio", "s", None, np.arange(120.0, 130.0), z[:10], z[:10, 0])
    assert model.is_stale("audio")  # a quarter more
    model.train("audio", AUDIO_FEATURES)
    rows, heuristic = {"audio": z[:3]}, {"audio": z[:3, 0]}
    model.store.add_rating("run", 1, 1.0, None, 0, 30, "s", np.arange(3.0), rows, heuristic)
    assert model.is_stale("audio")  # a new rating
    model.train("audio", AUDIO_FEATURES)
    assert not model.is_stale("audio")
    import time

    time.sleep(0.01)
    model.store.add_rating("run", 1, 0.0, None, 0, 30, "s", np.arange(3.0), rows,
                           heuristic)  # the user changed their mind
    assert model.is_stale("audio")


def stored(models_dir) -> tuple[int, int]:
    """(samples, rated samples) in the store, read straight from SQLite."""
    import sqlite3
    from contextlib import closing

    with closing(sqlite3.connect(models_dir / "samples.sqlite3")) as db:
        return db.execute("SELECT COUNT(*), COUNT(rating) FROM samples").fetchone()


def test_running_a_stream_again_or_rating_it_stores_no_window_twice(short_stream, config):
    """Issue 11, item 2: every re-run stored the stream's windows again (124 per run), so
    the model drifted towards whatever was run most."""
    from kick_clip_generator import KickClipGenerator

    config = config.replace(make_clips=False, use_cache=False)
    generator = KickClipGenerator(config)
    first = generator.run(str(short_stream), config)
    samples, rated = stored(config.models_dir)
    assert samples > 0 and rated == 0
    second = KickClipGenerator(config).run(str(short_stream), config)
    assert stored(config.models_dir) == (samples, 0)
    assert first.model["sample_source"].startswith("file:")  # the stream's identity
    assert second.model["samples"] == samples
    assert second.model["trained_on"] == {}  # nothing new: no refit either

    # the short stream's every window is stored: rating a clip updates its windows
    counts = generator.rate(second.run_dir, 1, 1.0, config)
    assert (counts.samples, counts.ratings) == (samples, 1)
    rated_windows = stored(config.models_dir)[1]
    assert 0 < rated_windows <= 2 * 5  # the peak's +-2 windows, audio and video
    generator.rate(second.run_dir, 1, 0.0, config)  # the user changed their mind
    generator.rate(first.run_dir, 1, 0.0, config)  # the same clip, in the earlier run
    assert stored(config.models_dir) == (samples, rated_windows)
    KickClipGenerator(config).run(str(short_stream), config)  # a re-run keeps the ratings
    assert stored(config.models_dir) == (samples, rated_windows)


OLD_SCHEMA = """
CREATE TABLE samples (
    id INTEGER PRIMARY KEY, modality TEXT NOT NULL, source TEXT NOT NULL, channel TEXT,
    time_s REAL NOT NULL, features BLOB NOT NULL, n_features INTEGER NOT NULL,
    heuristic REAL NOT NULL, rating REAL, created_at REAL NOT NULL);
CREATE INDEX samples_modality ON samples (modality, id);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE ratings (
    run_dir TEXT NOT NULL, rank INTEGER NOT NULL, rating REAL NOT NULL, channel TEXT,
    start_s REAL, end_s REAL, created_at REAL NOT NULL, PRIMARY KEY (run_dir, rank));
"""


def test_a_store_with_windows_stored_again_is_migrated(tmp_path):
    """A store written before windows were unique: the duplicates merge (a rating is kept),
    clips rated back then keep every one of their windows, and it happens once."""
    import sqlite3
    from contextlib import closing

    f = len(AUDIO_FEATURES)
    row = np.ones(f, np.float32).tobytes()
    with closing(sqlite3.connect(tmp_path / "samples.sqlite3")) as db, db:
        db.executescript(OLD_SCHEMA)
        for run in range(3):  # one stream run three times, two windows each time
            for t in (0.5, 1.5):
                rating = 0.75 if (run, t) == (1, 1.5) else None
                db.execute("INSERT INTO samples VALUES (NULL,'audio','/a.mp4',NULL,?,?,?,?,?,?)",
                           (t, row, f, 1.0, rating, run))
        for _ in range(3):  # a clip rated by the old version: its windows at the clip's start
            db.execute("INSERT INTO samples VALUES (NULL,'audio','rating:/out/run#1','xqc',"
                       "10.0,?,?,0.0,1.0,5)", (row, f))
        db.execute("INSERT INTO ratings VALUES ('/out/run',1,1.0,'xqc',10.0,40.0,5)")
        db.execute("INSERT INTO meta VALUES ('audio_trained_at','2026-01-01T00:00:00')")

    model = MLHighlightModel(tmp_path)
    assert model.store.counts() == {"samples": 2 + 3, "ratings": 1}
    assert stored(tmp_path) == (5, 1 + 3)
    assert model.store.get_meta("audio_trained_at") == "2026-01-01T00:00:00"
    assert [p.name for p in tmp_path.iterdir()] == ["samples.sqlite3"]  # nothing set aside
    x, _, rating = model.store.load("audio", f)
    assert len(x) == 5 and sorted(rating[np.isfinite(rating)]) == [0.75, 1.0, 1.0, 1.0]
    model.add_samples("audio", "/a.mp4", None, np.array([0.5, 1.5]),
                      np.zeros((2, f), np.float32), np.zeros(2))
    assert stored(tmp_path) == (5, 4)  # the rating of 1.5 stays
    assert stored(MLHighlightModel(tmp_path).store.path.parent) == (5, 4)  # opened again
