"""Audio features on a fixed time grid: samples in, one row of numbers per window out.

Pure functions on numpy arrays (no ffmpeg, no files), so they are tested on synthetic signals.
One STFT per chunk serves every spectral feature.
"""

from __future__ import annotations

import numpy as np

N_FFT = 1024
HOP = 512
HIGH_FREQ_HZ = 4000.0
N_MFCC = 13

AUDIO_FEATURES: tuple[str, ...] = (
    "rms_mean", "rms_std", "rms_max", "loudness_variance",
    "spectral_centroid", "spectral_rolloff", "spectral_flux", "zcr_mean",
    "tempo", "beat_strength", "high_freq_energy",
    *(f"mfcc_{i + 1}" for i in range(N_MFCC)),
)


def window_stats(values: np.ndarray, window_of: np.ndarray, n_windows: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, std and max of `values` (n,) grouped by `window_of` (n,) int in [0, n_windows).

    Windows with no values get 0. Returns three float64 arrays of shape (n_windows,).
    """
    keep = (window_of >= 0) & (window_of < n_windows) & np.isfinite(values)
    values, window_of = values[keep].astype(np.float64), window_of[keep]
    count = np.bincount(window_of, minlength=n_windows)
    total = np.bincount(window_of, values, minlength=n_windows)
    sq = np.bincount(window_of, values * values, minlength=n_windows)
    safe = np.maximum(count, 1)
    mean = total / safe
    std = np.sqrt(np.maximum(sq / safe - mean * mean, 0.0))
    peak = np.full(n_windows, -np.inf)
    np.maximum.at(peak, window_of, values)
    peak[count == 0] = 0.0
    return mean, std, peak


def n_windows_in(duration_s: float, window_s: float) -> int:
    """Whole windows in a stretch; a last partial window counts if at least half full."""
    return int(np.floor(duration_s / window_s + 0.5)) if duration_s > 0 else 0


def extract_audio_features(samples: np.ndarray, sr: int, window_s: float) -> np.ndarray:
    """Features of mono `samples` (float32, (n,)) at `sr` Hz, one row per `window_s` window.

    Returns float32 (n_windows, len(AUDIO_FEATURES)).
    """
    import librosa

    n_windows = n_windows_in(len(samples) / sr, window_s)
    out = np.zeros((n_windows, len(AUDIO_FEATURES)), np.float32)
    if n_windows == 0 or len(samples) < N_FFT:
        return out
    y = np.ascontiguousarray(samples, dtype=np.float32)
    spec = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP))  # (1 + N_FFT/2, frames)
    power = spec * spec
    n_frames = spec.shape[1]
    frame_t = librosa.frames_to_time(np.arange(n_frames), sr=sr, hop_length=HOP)
    window_of = np.minimum((frame_t / window_s).astype(np.int64), n_windows - 1)

    rms = librosa.feature.rms(S=spec, frame_length=N_FFT)[0]
    db = 20.0 * np.log10(rms + 1e-5)
    centroid = librosa.feature.spectral_centroid(S=spec, sr=sr)[0]
    rolloff = librosa.feature.spectral_rolloff(S=spec, sr=sr)[0]
    zcr = librosa.feature.zero_crossing_rate(y, frame_length=N_FFT, hop_length=HOP)[0][:n_frames]
    freqs = librosa.fft_frequencies(sr=sr, n_fft=N_FFT)
    high = power[freqs >= HIGH_FREQ_HZ].sum(axis=0) / (power.sum(axis=0) + 1e-10)
    mel_db = librosa.power_to_db(librosa.feature.melspectrogram(S=power, sr=sr, n_mels=64))
    mfcc = librosa.feature.mfcc(S=mel_db, n_mfcc=N_MFCC)
    flux = librosa.onset.onset_strength(S=mel_db, sr=sr)
    # A 3-second tempogram (librosa's default is 8.9 s): local enough for 1 s windows and a
    # third of the autocorrelation work, which was the biggest cost of the audio features.
    tempo = librosa.feature.tempo(onset_envelope=flux, sr=sr, hop_length=HOP, aggregate=None,
                                  ac_size=3.0)
    peaks = librosa.util.peak_pick(flux, pre_max=3, post_max=3, pre_avg=10, post_avg=10,
                                   delta=0.5, wait=5)
    beat = np.zeros(n_frames)
    beat[peaks] = flux[peaks]

    columns = {}
    columns["rms_mean"], columns["rms_std"], columns["rms_max"] = window_stats(
        rms, window_of, n_windows)
    columns["loudness_variance"] = window_stats(db, window_of, n_windows)[1] ** 2
    columns["spectral_centroid"] = window_stats(centroid, window_of, n_windows)[0]
    columns["spectral_rolloff"] = window_stats(rolloff, window_of, n_windows)[0]
    columns["spectral_flux"] = window_stats(flux, window_of, n_windows)[0]
    columns["zcr_mean"] = window_stats(zcr, window_of, n_windows)[0]
    columns["tempo"] = window_stats(tempo[:n_frames], window_of, n_windows)[0]
    columns["beat_strength"] = window_stats(beat, window_of, n_windows)[2]
    columns["high_freq_energy"] = window_stats(high, window_of, n_windows)[0]
    for i in range(N_MFCC):
        columns[f"mfcc_{i + 1}"] = window_stats(mfcc[i], window_of, n_windows)[0]
    for j, name in enumerate(AUDIO_FEATURES):
        out[:, j] = columns[name]
    return out
