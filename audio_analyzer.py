"""Audio features on a fixed time grid: samples in, one row of numbers per window out.

Pure functions on numpy arrays (no ffmpeg, no files), so they are tested on synthetic signals.
One STFT per chunk serves every spectral feature.

The definitions are librosa's (STFT, RMS, spectral centroid and rolloff, zero-crossing rate,
Slaney mel filterbank, MFCC, onset strength, tempogram tempo, peak picking), and
tests/test_features.py checks every column against librosa itself. They are computed here
with numpy alone because any use of `librosa.feature` imports numba and compiles its kernels:
measured 3.5 s and ~215 MB per process before the first chunk, more than half of the whole
analysis budget in memory. What is left is a few matrix products and FFTs per chunk.
"""

from __future__ import annotations

import functools

import numpy as np

N_FFT = 1024
HOP = 512
HIGH_FREQ_HZ = 4000.0
N_MFCC = 13
N_MELS = 64
ROLL_PERCENT = 0.85
TOP_DB = 80.0
# Tempo: a 3-second tempogram (librosa's default is 8.9 s): local enough for 1 s windows.
TEMPO_AC_S = 3.0
TEMPO_START_BPM, TEMPO_STD_OCTAVES, TEMPO_MAX_BPM = 120.0, 1.0, 320.0
# Onsets counted as beats (librosa.util.peak_pick parameters, in frames).
PEAK_PRE_MAX = PEAK_POST_MAX = 3
PEAK_PRE_AVG = PEAK_POST_AVG = 10
PEAK_DELTA, PEAK_WAIT = 0.5, 5

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


# --- the building blocks (librosa's definitions) -----------------------------------------------

def _hann(n: int) -> np.ndarray:
    """Periodic Hann window (scipy's `get_window('hann', n)`), float64 (n,)."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)


def _frames(x: np.ndarray, length: int, hop: int) -> np.ndarray:
    """Strided view of `x` (n,) as (n_frames, length) frames, `hop` apart."""
    return np.lib.stride_tricks.sliding_window_view(x, length)[::hop]


def stft_magnitude(y: np.ndarray) -> np.ndarray:
    """|STFT| of `y` (float32 (n,)): centred frames, zero padding, periodic Hann window.
    Returns float32 (1 + N_FFT // 2, 1 + n // HOP)."""
    padded = np.pad(y, N_FFT // 2)
    frames = _frames(padded, N_FFT, HOP) * _window_f32(N_FFT)
    return np.abs(np.fft.rfft(frames, axis=1)).astype(np.float32).T


@functools.cache
def _window_f32(n: int) -> np.ndarray:
    return _hann(n).astype(np.float32)


@functools.cache
def fft_frequencies(sr: int) -> np.ndarray:
    return np.fft.rfftfreq(N_FFT, 1.0 / sr)


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(hz >= min_log_hz,
                    min_log_mel + np.log(np.maximum(hz, 1e-10) / min_log_hz) / logstep,
                    hz / f_sp)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(mel >= min_log_mel, min_log_hz * np.exp(logstep * (mel - min_log_mel)),
                    f_sp * mel)


@functools.cache
def mel_filterbank(sr: int, n_mels: int = N_MELS) -> np.ndarray:
    """Slaney-normalised triangular mel filters from 0 Hz to sr/2: float32 (n_mels, bins)."""
    fft_hz = fft_frequencies(sr)
    mel_hz = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(sr / 2.0), n_mels + 2))
    width = np.diff(mel_hz)
    ramps = mel_hz[:, None] - fft_hz[None, :]
    lower = -ramps[:-2] / width[:-1, None]
    upper = ramps[2:] / width[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_hz[2:] - mel_hz[:-2]))[:, None]
    return weights.astype(np.float32)


@functools.cache
def dct_matrix(n_out: int, n_in: int) -> np.ndarray:
    """Orthonormal DCT-II as a float32 (n_out, n_in) matrix: `matrix @ x` = dct(x, norm='ortho')."""
    k = np.arange(n_out)[:, None]
    n = np.arange(n_in)[None, :]
    basis = np.cos(np.pi * k * (2 * n + 1) / (2 * n_in)) * np.sqrt(2.0 / n_in)
    basis[0] /= np.sqrt(2.0)
    return basis.astype(np.float32)


def power_to_db(power: np.ndarray) -> np.ndarray:
    """10 log10(power), floored at 1e-10 and at `TOP_DB` below the loudest value."""
    db = 10.0 * np.log10(np.maximum(power, 1e-10))
    return np.maximum(db, db.max() - TOP_DB) if db.size else db


def zero_crossing_rate(y: np.ndarray, n_frames: int) -> np.ndarray:
    """Share of sign changes per centred N_FFT frame (edge padding), float64 (n_frames,).
    Values within 1e-10 of zero count as positive, as in librosa."""
    padded = np.pad(y, N_FFT // 2, mode="edge")
    negative = np.signbit(np.where(np.abs(padded) <= 1e-10, 0.0, padded))
    changes = np.r_[False, negative[1:] != negative[:-1]].astype(np.int32)
    # Count the changes inside each frame: a change at i lies inside frame f when
    # f*HOP < i < f*HOP + N_FFT (the first sample of a frame has nothing before it).
    csum = np.r_[0, np.cumsum(changes)]
    starts = np.arange(n_frames) * HOP
    inside = csum[np.minimum(starts + N_FFT, len(changes))] - csum[np.minimum(starts + 1,
                                                                              len(changes))]
    return inside / N_FFT


def onset_strength(mel_db: np.ndarray) -> np.ndarray:
    """Mean positive change of the mel dB spectrum per frame, centred like librosa's
    (3 frames of lag for its default 2048-sample analysis): float32 (n_frames,)."""
    n = mel_db.shape[1]
    rise = np.maximum(0.0, mel_db[:, 1:] - mel_db[:, :-1]).mean(axis=0)
    return np.r_[np.zeros(3, np.float32), rise][:n].astype(np.float32)


def tempo_per_frame(onset: np.ndarray, sr: int) -> np.ndarray:
    """Local tempo in BPM per frame from a TEMPO_AC_S-second tempogram of `onset` (n,):
    the autocorrelation of a Hann-windowed stretch of the onset envelope, weighted by a
    log-normal prior around 120 BPM. Returns float64 (n,)."""
    n = len(onset)
    win = int(TEMPO_AC_S * sr / HOP)
    padded = np.pad(onset.astype(np.float64), win // 2, mode="linear_ramp", end_values=0)
    frames = _frames(padded, win, 1)[:n] * _hann(win)
    size = _fast_len(2 * win - 1)
    spectrum = np.fft.rfft(frames, size, axis=1)
    ac = np.fft.irfft(spectrum.real ** 2 + spectrum.imag ** 2, size, axis=1)[:, :win]
    peak = np.abs(ac).max(axis=1, keepdims=True)
    ac = np.divide(ac, peak, out=np.zeros_like(ac), where=peak > np.finfo(float).tiny)
    bpms, log_prior = _tempo_prior(win, sr)
    return bpms[np.argmax(np.log1p(1e6 * ac) + log_prior, axis=1)]


@functools.cache
def _tempo_prior(win: int, sr: int) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(divide="ignore"):
        bpms = 60.0 * sr / (HOP * np.arange(win, dtype=np.float64))
        log_prior = -0.5 * ((np.log2(bpms) - np.log2(TEMPO_START_BPM)) / TEMPO_STD_OCTAVES) ** 2
    log_prior[: int(np.argmax(bpms < TEMPO_MAX_BPM))] = -np.inf
    return bpms, log_prior


def _fast_len(n: int) -> int:
    """Smallest 2^a 3^b 5^c >= n (cheap FFT sizes)."""
    best = 1 << (n - 1).bit_length()
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


def peak_pick(x: np.ndarray) -> np.ndarray:
    """Indices of onset peaks: x[i] is the max of x[i-3 : i+3], at least 0.5 above the mean
    of x[i-10 : i+10], and more than 5 frames after the previous peak (librosa's rule)."""
    n = len(x)
    if n == 0:
        return np.zeros(0, np.int64)
    lo_pad = np.full(PEAK_PRE_MAX, -np.inf)
    hi_pad = np.full(PEAK_POST_MAX - 1, -np.inf)
    local_max = _frames(np.r_[lo_pad, x, hi_pad], PEAK_PRE_MAX + PEAK_POST_MAX, 1).max(axis=1)
    csum = np.r_[0.0, np.cumsum(x, dtype=np.float64)]
    idx = np.arange(n)
    lo, hi = np.maximum(idx - PEAK_PRE_AVG, 0), np.minimum(idx + PEAK_POST_AVG, n)
    local_mean = (csum[hi] - csum[lo]) / (hi - lo)
    candidates = np.flatnonzero((x == local_max) & (x >= local_mean + PEAK_DELTA))
    peaks, last = [], -np.inf
    for i in candidates:
        if i > last + PEAK_WAIT:
            peaks.append(i)
            last = i
    return np.asarray(peaks, np.int64)


# --- the features ------------------------------------------------------------------------------

def extract_audio_features(samples: np.ndarray, sr: int, window_s: float) -> np.ndarray:
    """Features of mono `samples` (float32, (n,)) at `sr` Hz, one row per `window_s` window.

    Returns float32 (n_windows, len(AUDIO_FEATURES)).
    """
    n_windows = n_windows_in(len(samples) / sr, window_s)
    out = np.zeros((n_windows, len(AUDIO_FEATURES)), np.float32)
    if n_windows == 0 or len(samples) < N_FFT:
        return out
    y = np.ascontiguousarray(samples, dtype=np.float32)
    spec = stft_magnitude(y)  # (bins, frames)
    power = spec * spec
    n_frames = spec.shape[1]
    frame_t = np.arange(n_frames) * HOP / sr
    window_of = np.minimum((frame_t / window_s).astype(np.int64), n_windows - 1)
    freqs = fft_frequencies(sr)

    # RMS from the spectrum (Parseval), DC and Nyquist bins counted once.
    edge_weight = np.ones(len(freqs), np.float32)
    edge_weight[[0, -1]] = 0.5
    total_power = power.sum(axis=0)
    rms = np.sqrt(2.0 * (edge_weight @ power) / N_FFT ** 2)
    db = 20.0 * np.log10(rms + 1e-5)
    magnitude_sum = spec.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        centroid = np.where(magnitude_sum > 0, (freqs @ spec) / magnitude_sum, 0.0)
    cumulative = np.cumsum(spec, axis=0)
    rolloff = freqs[np.argmax(cumulative >= ROLL_PERCENT * cumulative[-1], axis=0)]
    zcr = zero_crossing_rate(y, n_frames)
    high = power[freqs >= HIGH_FREQ_HZ].sum(axis=0) / (total_power + 1e-10)
    mel_db = power_to_db(mel_filterbank(sr) @ power)
    mfcc = dct_matrix(N_MFCC, N_MELS) @ mel_db
    flux = onset_strength(mel_db)
    tempo = tempo_per_frame(flux, sr)
    peaks = peak_pick(flux)
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
    columns["tempo"] = window_stats(tempo, window_of, n_windows)[0]
    columns["beat_strength"] = window_stats(beat, window_of, n_windows)[2]
    columns["high_freq_energy"] = window_stats(high, window_of, n_windows)[0]
    for i in range(N_MFCC):
        columns[f"mfcc_{i + 1}"] = window_stats(mfcc[i], window_of, n_windows)[0]
    for j, name in enumerate(AUDIO_FEATURES):
        out[:, j] = columns[name]
    return out
