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
        model.add_samples(modality, "src", channel, np.arange(300.0), z, z[:, 0] * 2)
    for i in range(n_rated):
        rows = {m: rng.normal(size=(3, len(n))).astype(np.float32)
                for m, n in (("audio", AUDIO_FEATURES), ("video", VIDEO_FEATURES))}
        loud = i % 2 == 0
        rows["audio"][:, 0] = 3.0 if loud else -1.0
        model.store.add_rating(f"{channel}-run{i}", 1, 0.0 if loud else 1.0, channel, 0, 30,
                               rows)


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
    model.add_samples("audio", "s", None, np.arange(20.0), z[:20], z[:20, 0])
    assert not model.is_stale("audio")  # 20% more pseudo-labels: the heuristic again
    model.add_samples("audio", "s", None, np.arange(10.0), z[:10], z[:10, 0])
    assert model.is_stale("audio")  # a quarter more
    model.train("audio", AUDIO_FEATURES)
    rows = {"audio": z[:3]}
    model.store.add_rating("run", 1, 1.0, None, 0, 30, rows)
    assert model.is_stale("audio")  # a new rating
    model.train("audio", AUDIO_FEATURES)
    assert not model.is_stale("audio")
    import time

    time.sleep(0.01)
    model.store.add_rating("run", 1, 0.0, None, 0, 30, rows)  # the user changed their mind
    assert model.is_stale("audio")
