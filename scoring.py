"""From a stream's feature matrix to ranked, padded, non-overlapping highlights.

Every function here is pure (arrays and numbers in, arrays and numbers out), which is what
lets a finished run be re-ranked with other weights, top N or gaps without decoding anything.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Z_LIMIT = 6.0  # z-scores are squashed softly towards +-Z_LIMIT so one feature cannot drown all
MAD_TO_SIGMA = 1.4826

REASON_WORDS = {
    "rms_mean": "loud audio", "rms_std": "volume swings", "rms_max": "loud peaks",
    "zcr_mean": "noisy / shouting", "spectral_centroid": "bright sound",
    "loudness_variance": "dynamic audio", "high_freq_energy": "high-pitched energy",
    "spectral_flux": "sudden sounds", "beat_strength": "strong beats",
    "motion_mean": "fast motion", "motion_std": "jerky motion", "motion_max": "sudden movement",
    "edge_density_mean": "busy picture", "edge_density_std": "changing detail",
    "color_variance": "colourful picture", "brightness_std": "flashes",
    "scene_cuts": "scene cuts",
    "message_rate": "chat burst", "chatters": "many chatters", "emotes": "emote spam",
    "short_share": "short reactions",
}


def robust_baseline(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column (median, scale) of `matrix` (n, f) as `robust_z` uses them: scale is
    1.4826 * MAD, at least a tenth of the standard deviation and a small absolute floor.
    Both float64 (f,). A live stream computes this on its recent past (`live.py`)."""
    x = np.asarray(matrix, np.float64)
    med = np.median(x, axis=0)
    mad = np.median(np.abs(x - med), axis=0) * MAD_TO_SIGMA
    scale = np.maximum(mad, 0.1 * x.std(axis=0))
    scale = np.maximum(scale, 1e-3 * np.maximum(np.abs(med), 1.0) + 1e-9)
    return med, scale


def z_against(matrix: np.ndarray, med: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """(matrix - med) / scale, squashed softly towards +-Z_LIMIT: float32 (n, f)."""
    z = (np.asarray(matrix, np.float64) - med) / scale
    return (Z_LIMIT * np.tanh(z / Z_LIMIT)).astype(np.float32)


def robust_z(matrix: np.ndarray) -> np.ndarray:
    """Per-column robust z-score of `matrix` (n, f): (x - median) / (1.4826 * MAD), squashed.

    A column that barely varies (MAD ~ 0, e.g. motion in a static scene) falls back to a
    tenth of its standard deviation, then to a small absolute floor, so a rare event in an
    otherwise flat signal stands out without dividing by zero. Returns float32 (n, f).
    """
    x = np.asarray(matrix, np.float64)
    if x.size == 0:
        return x.astype(np.float32)
    med, scale = robust_baseline(x)
    return z_against(x, med, scale)


def weighted_score(z: np.ndarray, names: tuple[str, ...], weights: dict[str, float]
                   ) -> np.ndarray:
    """The seed's heuristic as a weighted mean of z-scored features: (n, f) -> (n,)."""
    cols = [names.index(k) for k in weights if k in names]
    w = np.array([weights[names[c]] for c in cols], np.float64)
    if not cols or w.sum() <= 0:
        return np.zeros(len(z), np.float32)
    return (z[:, cols] @ w / w.sum()).astype(np.float32)


def contributions(z_row: np.ndarray, names: tuple[str, ...], weights: dict[str, float]
                  ) -> list[tuple[str, float]]:
    """(feature, weight * z) for one window, largest first."""
    pairs = [(k, float(weights[k] * z_row[names.index(k)])) for k in weights if k in names]
    return sorted(pairs, key=lambda p: -p[1])


def model_share(heuristic_weight: float, rated_share: float) -> float:
    """The learned model's share of a modality's score: 1 - heuristic_weight, growing towards
    twice that as ratings accumulate (`rated_share` 0..1), at most 1."""
    return min((1 - heuristic_weight) * (1 + rated_share), 1.0)


def blend(heuristic: np.ndarray, ml: np.ndarray | None, share: float) -> np.ndarray:
    """A modality's score: the heuristic, blended with the model's prediction when one exists."""
    if ml is None:
        return heuristic
    return ((1 - share) * heuristic + share * ml).astype(np.float32)


def combine(blended: dict[str, np.ndarray], weights: dict[str, float], n: int,
            chat: np.ndarray | None = None, chat_weight: float = 0.0,
            chat_use: np.ndarray | None = None) -> np.ndarray:
    """The combined score (n,) float64: the weighted mean of the modality scores present, and
    of the chat score where `chat_use` (bool (n,)) says chat covers the window. Missing chat
    is left out of the mean, never counted as a silent chat."""
    total = np.full(n, float(sum(weights[m] for m in blended)))
    combined = sum((weights[m] * s.astype(np.float64) for m, s in blended.items()),
                   np.zeros(n))
    if chat is not None and chat_use is not None:
        combined = combined + chat_weight * np.where(chat_use, chat, 0.0)
        total = total + chat_weight * chat_use
    return combined / np.where(total > 0, total, 1.0)


def smooth(score: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average over `width` windows (edges use what exists)."""
    if width <= 1 or len(score) == 0:
        return score.astype(np.float32)
    kernel = np.ones(width)
    num = np.convolve(score, kernel, mode="same")
    den = np.convolve(np.ones(len(score)), kernel, mode="same")
    return (num / den).astype(np.float32)


@dataclass(frozen=True)
class Span:
    """A chosen moment: `peak` is the best window's time, [event_start, event_end) the stretch
    around it that stays high, [start, end) the clip. Seconds from stream start."""

    peak: float
    event_start: float
    event_end: float
    start: float
    end: float
    index: int  # window index of the peak
    score: float  # the smoothed score the ranking used


def event_bounds(score: np.ndarray, peak: int, threshold: float) -> tuple[int, int]:
    """Grow from `peak` while the score stays >= `threshold` (one low window is tolerated).
    Returns [first, last] window indices."""
    n = len(score)
    lo = peak
    while lo > 0 and (score[lo - 1] >= threshold or (lo > 1 and score[lo - 2] >= threshold)):
        lo -= 1
    hi = peak
    while hi < n - 1 and (score[hi + 1] >= threshold or
                          (hi < n - 2 and score[hi + 2] >= threshold)):
        hi += 1
    return lo, hi


def clip_span(event_start: float, event_end: float, duration_s: float, *, clip_length_s: float,
              pre_roll_s: float, post_roll_s: float, max_clip_length_s: float
              ) -> tuple[float, float]:
    """Clip bounds: start `pre_roll_s` before the moment, at least `clip_length_s` long, longer
    (up to `max_clip_length_s`) when the moment itself runs on; clamped to the stream."""
    length = min(clip_length_s, duration_s)
    start = max(0.0, event_start - pre_roll_s)
    end = max(start + length, min(event_end + post_roll_s, start + max_clip_length_s))
    if end > duration_s:
        end = duration_s
        start = max(0.0, min(start, end - length))
    return round(start, 3), round(end, 3)


def select_spans(score: np.ndarray, window_s: float, duration_s: float, *, top_n: int,
                 min_gap_s: float, smooth_s: float, clip_length_s: float, pre_roll_s: float,
                 post_roll_s: float, max_clip_length_s: float,
                 valid: np.ndarray | None = None) -> list[Span]:
    """Pick up to `top_n` highlights from a per-window `score` (n,), best first.

    Peaks are local maxima of the smoothed score; each grows into its event (the stretch above
    half-way between the stream's median and the peak) and a padded clip; a candidate whose
    clip comes within `min_gap_s` of an accepted clip is dropped.
    """
    n = len(score)
    if n == 0:
        return []
    smoothed = smooth(score, max(1, int(round(smooth_s / window_s))))
    if valid is not None:
        smoothed = np.where(valid, smoothed, -np.inf)
    left = np.r_[-np.inf, smoothed[:-1]]
    right = np.r_[smoothed[1:], -np.inf]
    peaks = np.flatnonzero((smoothed >= left) & (smoothed >= right) & np.isfinite(smoothed))
    peaks = peaks[np.argsort(-smoothed[peaks], kind="stable")]
    baseline = float(np.median(score))
    chosen: list[Span] = []
    for p in peaks:
        p = int(p)
        threshold = baseline + 0.5 * (float(score[p]) - baseline)
        lo, hi = event_bounds(score, p, threshold)
        ev_start, ev_end = lo * window_s, min((hi + 1) * window_s, duration_s)
        start, end = clip_span(ev_start, ev_end, duration_s, clip_length_s=clip_length_s,
                               pre_roll_s=pre_roll_s, post_roll_s=post_roll_s,
                               max_clip_length_s=max_clip_length_s)
        if any(_gap(start, end, c.start, c.end) < min_gap_s for c in chosen):
            continue
        chosen.append(Span(round((p + 0.5) * window_s, 3), round(ev_start, 3),
                           round(ev_end, 3), start, end, p, round(float(smoothed[p]), 3)))
        if len(chosen) >= top_n:
            break
    return chosen


def _gap(a0: float, a1: float, b0: float, b1: float) -> float:
    """Seconds between two intervals (negative when they overlap)."""
    return max(a0, b0) - min(a1, b1)
