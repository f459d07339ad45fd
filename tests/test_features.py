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
    frames = np.zeros((4, 8, 8, 3), np.uint8)
    frames[:, :, :4] = 255
    frames[2, :, :4], frames[2, :, 4:] = 0, 255  # the same picture, mirrored, and back
    sig = frame_signals(frames)
    assert np.isnan(sig["motion"][0])
    assert sig["motion"][1] == 0 and sig["motion"][2:].tolist() == pytest.approx([1.0, 1.0])
    assert sig["cut"].tolist() == [0, 0, 0, 0]


def test_a_cut_is_one_frame_of_change_not_motion():
    # issue 14: a hard cut (or a one-frame change of alike colours) scored as fast action
    rng = np.random.default_rng(0)
    calm = np.repeat(rng.integers(0, 255, (1, 36, 64, 3), np.uint8), 12, axis=0)
    other = np.repeat(rng.integers(0, 255, (1, 36, 64, 3), np.uint8), 12, axis=0)
    cut = frame_signals(np.concatenate([calm, other]))  # same histogram, all pixels change
    assert cut["cut"][12] == 1 and cut["cut"].sum() == 1
    assert np.nanmax(cut["motion"]) == 0  # the only change was the cut
    strobe = frame_signals(np.stack([calm[0] // 4 if i % 3 == 2 else calm[0] for i in range(25)]))
    assert strobe["cut"].sum() == 0 and np.nanmax(strobe["motion"]) > 0.2  # flashes: action
    shake = np.stack([np.roll(calm[0], 3 * (i % 2), axis=1) for i in range(24)])
    moving = frame_signals(shake)
    assert moving["cut"].sum() == 0 and np.nanmin(moving["motion"][1:]) > 0.1


def test_video_rows_follow_given_duration():
    frames = np.zeros((12, 8, 8, 3), np.uint8)
    assert extract_video_features(frames, 6.0, 1.0, duration_s=5.0).shape[0] == 5


# --- the audio features are librosa's: checked against librosa itself ------------------------

def librosa_features(y: np.ndarray, sr: int, window_s: float) -> np.ndarray:
    """The audio features computed with librosa, as the project did before it computed them
    with numpy (librosa's numba start-up costs 3.5 s and ~215 MB per process)."""
    import librosa

    import audio_analyzer as A

    n_windows = n_windows_in(len(y) / sr, window_s)
    spec = np.abs(librosa.stft(y, n_fft=A.N_FFT, hop_length=A.HOP))
    power = spec * spec
    n_frames = spec.shape[1]
    frame_t = librosa.frames_to_time(np.arange(n_frames), sr=sr, hop_length=A.HOP)
    window_of = np.minimum((frame_t / window_s).astype(np.int64), n_windows - 1)
    rms = librosa.feature.rms(S=spec, frame_length=A.N_FFT)[0]
    freqs = librosa.fft_frequencies(sr=sr, n_fft=A.N_FFT)
    mel_db = librosa.power_to_db(librosa.feature.melspectrogram(S=power, sr=sr, n_mels=64))
    flux = librosa.onset.onset_strength(S=mel_db, sr=sr)
    peaks = librosa.util.peak_pick(flux, pre_max=3, post_max=3, pre_avg=10, post_avg=10,
                                   delta=0.5, wait=5)
    beat = np.zeros(n_frames)
    beat[peaks] = flux[peaks]
    per_frame = {
        "rms": rms, "db": 20.0 * np.log10(rms + 1e-5),
        "spectral_centroid": librosa.feature.spectral_centroid(S=spec, sr=sr)[0],
        "spectral_rolloff": librosa.feature.spectral_rolloff(S=spec, sr=sr)[0],
        "spectral_flux": flux,
        "zcr_mean": librosa.feature.zero_crossing_rate(y, frame_length=A.N_FFT,
                                                       hop_length=A.HOP)[0][:n_frames],
        "tempo": librosa.feature.tempo(onset_envelope=flux, sr=sr, hop_length=A.HOP,
                                       aggregate=None, ac_size=3.0)[:n_frames],
        "high_freq_energy": power[freqs >= A.HIGH_FREQ_HZ].sum(axis=0)
        / (power.sum(axis=0) + 1e-10),
    }
    mfcc = librosa.feature.mfcc(S=mel_db, n_mfcc=A.N_MFCC)
    out = np.zeros((n_windows, len(AUDIO_FEATURES)))
    for j, name in enumerate(AUDIO_FEATURES):
        if name in ("rms_mean", "rms_std", "rms_max"):
            out[:, j] = window_stats(rms, window_of, n_windows)[("mean", "std", "max").index(
                name[4:])]
        elif name == "loudness_variance":
            out[:, j] = window_stats(per_frame["db"], window_of, n_windows)[1] ** 2
        elif name == "beat_strength":
            out[:, j] = window_stats(beat, window_of, n_windows)[2]
        elif name.startswith("mfcc_"):
            out[:, j] = window_stats(mfcc[int(name[5:]) - 1], window_of, n_windows)[0]
        else:
            out[:, j] = window_stats(per_frame[name], window_of, n_windows)[0]
    return out


def _signals():
    rng = np.random.default_rng(7)
    t = np.arange(SR * 20) / SR
    clicks = np.where(np.arange(len(t)) % (SR // 2) < 200, 0.8, 0.0)  # 120 BPM
    return {
        "noise": 0.1 * rng.standard_normal(len(t)),
        "tone and burst": 0.05 * np.sin(2 * np.pi * 440 * t)
        + ((t > 8) & (t < 10)) * 0.6 * rng.standard_normal(len(t)),
        "clicks at 120 BPM": clicks * rng.standard_normal(len(t)) + 0.01 * np.sin(t * 1257),
        "silence, then a tone": np.r_[np.zeros(SR * 5), 0.2 * np.sin(t[: SR * 15] * 6283)],
        "a partial last window": 0.1 * rng.standard_normal(SR * 3 + 700),
    }


@pytest.mark.parametrize("name", list(_signals()))
def test_audio_features_equal_librosa(name):
    y = _signals()[name].astype(np.float32)
    ours = extract_audio_features(y, SR, 1.0)
    reference = librosa_features(y, SR, 1.0)
    assert ours.shape == reference.shape
    scale = np.maximum(np.abs(reference).max(axis=0), 1e-3)
    worst = (np.abs(ours - reference).max(axis=0) / scale).max()
    assert worst < 1e-4, dict(zip(AUDIO_FEATURES, np.abs(ours - reference).max(axis=0)))


def test_tempo_of_a_click_track_is_its_tempo():
    y = _signals()["clicks at 120 BPM"].astype(np.float32)
    tempo = col(extract_audio_features(y, SR, 1.0), AUDIO_FEATURES, "tempo")
    assert np.median(tempo[3:-3]) == pytest.approx(120, rel=0.03)
