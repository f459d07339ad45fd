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
