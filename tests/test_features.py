"""Pure feature code on synthetic arrays: no ffmpeg, no files."""

import numpy as np
import pytest

from audio_analyzer import AUDIO_FEATURES, extract_audio_features, n_windows_in, window_stats
from video_analyzer import VIDEO_FEATURES, extract_video_features, frame_signals

SR = 22050


def col(matrix, names, name):
    return matrix[:, names.index(name)]


def test_window_stats_groups_values():
    values = np.array([1.0, 3.0, 10.0, 10.0, 5.0])
    window_of = np.array([0, 0, 1, 1, 2])
    mean, std, peak = window_stats(values, window_of, 4)
    assert mean.tolist() == [2.0, 10.0, 5.0, 0.0]
    assert std.tolist() == [1.0, 0.0, 0.0, 0.0]
    assert peak.tolist() == [3.0, 10.0, 5.0, 0.0]


def test_partial_last_window_counts_only_when_half_full():
    assert n_windows_in(10.4, 1.0) == 10
    assert n_windows_in(10.6, 1.0) == 11
    assert n_windows_in(0.0, 1.0) == 0


def test_audio_features_have_the_promised_columns_and_shape():
    assert len(AUDIO_FEATURES) >= 13
    for name in ("rms_mean", "rms_std", "rms_max", "loudness_variance", "spectral_centroid",
                 "spectral_rolloff", "spectral_flux", "zcr_mean", "tempo", "beat_strength",
                 "high_freq_energy", "mfcc_1", "mfcc_13"):
        assert name in AUDIO_FEATURES
    out = extract_audio_features(np.zeros(SR * 5, np.float32), SR, 1.0)
    assert out.shape == (5, len(AUDIO_FEATURES)) and out.dtype == np.float32


def test_loud_noise_burst_raises_loudness_and_brightness_in_its_windows():
    rng = np.random.default_rng(1)
    t = np.arange(SR * 10) / SR
    y = 0.02 * np.sin(2 * np.pi * 220 * t)
    burst = (t >= 4) & (t < 6)
    y[burst] += 0.5 * rng.standard_normal(burst.sum())
    out = extract_audio_features(y.astype(np.float32), SR, 1.0)
    rms = col(out, AUDIO_FEATURES, "rms_mean")
    assert rms[4] > 10 * rms[1] and rms[5] > 10 * rms[8]
    hf = col(out, AUDIO_FEATURES, "high_freq_energy")
    assert hf[4] > hf[1] + 0.2
    zcr = col(out, AUDIO_FEATURES, "zcr_mean")
    assert zcr[5] > 3 * zcr[1]


def test_video_features_see_motion_flashes_and_cuts():
    assert len(VIDEO_FEATURES) >= 8
    fps = 6.0
    frames = np.full((60, 36, 64, 3), 80, np.uint8)  # 10 s of a still grey picture
    rng = np.random.default_rng(0)
    frames[24:36] = rng.integers(0, 256, (12, 36, 64, 3), dtype=np.uint8)  # 4-6 s: chaos
    frames[48:] = 200  # a cut to a bright still at 8 s
    out = extract_video_features(frames, fps, 1.0)
    assert out.shape == (10, len(VIDEO_FEATURES))
    motion = col(out, VIDEO_FEATURES, "motion_mean")
    assert motion[4] > 0.2 and motion[5] > 0.2
    assert motion[1] == 0.0 and motion[9] == 0.0
    edges = col(out, VIDEO_FEATURES, "edge_density_mean")
    assert edges[5] > edges[1] + 0.1
    cuts = col(out, VIDEO_FEATURES, "scene_cuts")
    assert cuts[8] == 1 and cuts[1] == 0
    bright = col(out, VIDEO_FEATURES, "brightness_mean")
    assert bright[9] > bright[1] + 0.3


def test_frame_signals_first_frame_has_no_motion():
    frames = np.zeros((3, 8, 8, 3), np.uint8)
    frames[2] = 255
    sig = frame_signals(frames)
    assert np.isnan(sig["motion"][0])
    assert sig["motion"][1] == 0 and sig["motion"][2] == pytest.approx(1.0)


def test_video_rows_follow_given_duration():
    frames = np.zeros((12, 8, 8, 3), np.uint8)
    assert extract_video_features(frames, 6.0, 1.0, duration_s=5.0).shape[0] == 5
