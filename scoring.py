"""From a stream's feature matrix to ranked, padded, non-overlapping highlights.

Every function here is pure (arrays and numbers in, arrays and numbers out), which is what
lets a finished run be re-ranked with other weights, top N or gaps without decoding anything.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

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


@dataclass(frozen=True)
class Modality:
    """One signal of a stream: its feature columns, the `Config` field with the heuristic's
    per-feature weights, the field with its share of the combined score, and whether a model
    learns it (chat is heuristic only)."""

    name: str
    features: tuple[str, ...]
    weights_field: str
    share_field: str
    learned: bool

    def feature_weights(self, config: Any) -> dict[str, float]:
        return getattr(config, self.weights_field)

    def share(self, config: Any) -> float:
        return float(getattr(config, self.share_field))


@functools.cache
def modalities() -> tuple[Modality, ...]:
    """The table of signals, in the order they are blended and explained. A new signal is a
    row here (and its features on the stream's window grid). Built on first use: `kick_chat`
    imports this module."""
    from audio_analyzer import AUDIO_FEATURES
    from kick_chat import CHAT_FEATURES
    from video_analyzer import VIDEO_FEATURES

    return (Modality("audio", AUDIO_FEATURES, "audio_weights", "audio_weight", True),
            Modality("video", VIDEO_FEATURES, "video_weights", "video_weight", True),
            Modality("chat", CHAT_FEATURES, "chat_weights", "chat_weight", False))


def modality(name: str) -> Modality:
    return next(m for m in modalities() if m.name == name)


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


def model_share(heuristic_weight: float, rated_share: float) -> float:
    """The learned model's share of a signal's score: 1 - heuristic_weight, growing towards
    twice that as ratings accumulate (`rated_share` 0..1); `blend` caps it at 1."""
    return (1 - heuristic_weight) * (1 + rated_share)


def weighted_score(z: np.ndarray, names: tuple[str, ...], weights: dict[str, float]
                   ) -> np.ndarray:
    """The seed's heuristic as a weighted mean of z-scored features: (n, f) -> (n,)."""
    cols = [names.index(k) for k in weights if k in names]
    w = np.array([weights[names[c]] for c in cols], np.float64)
    if not cols or w.sum() <= 0:
        return np.zeros(len(z), np.float32)
    return (z[:, cols] @ w / w.sum()).astype(np.float32)


def z_rows(matrix: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """`robust_z` over the rows where `rows` (bool (n,)) holds, zeros elsewhere: the stream's
    own baseline, from the windows that exist."""
    z = np.zeros_like(matrix)
    z[rows] = robust_z(matrix[rows])
    return z


@dataclass(frozen=True)
class ModalityInput:
    """What one signal brings to the blend: z-scores (n, f), the heuristic (n,), the model's
    score (n,) or None, its share of the combined score, and `covered` (bool (n,)) where it
    exists at all, or None where it covers every window (audio and video)."""

    name: str
    z: np.ndarray
    heuristic: np.ndarray
    ml: np.ndarray | None
    weight: float
    covered: np.ndarray | None = None


@dataclass(frozen=True)
class Scores:
    """Per-window scores of a stream. `parts` (name -> float32 (n,)) are each signal's
    heuristic/model blend, NaN where a signal does not cover a window; `z` its z-scores;
    `combined` the weighted mean of the signals present in each window (NaN where `valid`
    is not); `ml` the mean of the models' scores, or None without a model."""

    combined: np.ndarray
    parts: dict[str, np.ndarray]
    z: dict[str, np.ndarray]
    ml: np.ndarray | None = None

    @property
    def audio(self) -> np.ndarray | None:
        return self.parts.get("audio")

    @property
    def video(self) -> np.ndarray | None:
        return self.parts.get("video")

    @property
    def chat(self) -> np.ndarray | None:
        return self.parts.get("chat")


def blend(inputs: Sequence[ModalityInput], valid: np.ndarray, ml_share: float) -> Scores:
    """Each signal's heuristic blended with its model (`ml_share` of it, at most all), then
    the signals' weighted mean per window. A signal that does not cover a window is left out
    of that window's mean: missing chat is absent, never zero."""
    share = min(ml_share, 1.0)
    n = len(valid)
    parts: dict[str, np.ndarray] = {}
    combined, total = np.zeros(n), np.zeros(n)
    for m in inputs:
        if m.ml is None:
            mixed = m.heuristic
        else:
            mixed = ((1 - share) * m.heuristic + share * m.ml).astype(np.float32)
        if m.covered is None:
            parts[m.name] = mixed
            combined = combined + m.weight * mixed.astype(np.float64)
            total = total + m.weight
        else:
            parts[m.name] = np.where(m.covered, mixed, np.nan).astype(np.float32)
            combined = combined + m.weight * np.where(m.covered, mixed, 0.0)
            total = total + m.weight * m.covered
    combined = combined / np.where(total > 0, total, 1.0)
    combined = np.where(valid, combined, np.nan).astype(np.float32)
    models = [m.ml for m in inputs if m.ml is not None]
    return Scores(combined, parts, {m.name: m.z for m in inputs},
                  np.mean(models, axis=0).astype(np.float32) if models else None)


def contributions(z_row: np.ndarray, names: tuple[str, ...], weights: dict[str, float]
                  ) -> list[tuple[str, float]]:
    """(feature, weight * z) for one window, largest first."""
    pairs = [(k, float(weights[k] * z_row[names.index(k)])) for k in weights if k in names]
    return sorted(pairs, key=lambda p: -p[1])


@dataclass(frozen=True)
class Highlight:
    rank: int
    start: float
    end: float
    peak: float
    score: float
    audio_score: float | None
    video_score: float | None
    chat_score: float | None
    ml_score: float | None
    kind: str
    reasons: list[str]
    clip_path: str | None = None
    thumbnail_path: str | None = None
    vertical_path: str | None = None  # the 9:16 version (shorts.py)
    transcript: str | None = None  # what was said (captions.py), None: not transcribed
    words: list | None = None  # [[start_s, end_s, word], ...] from the clip's start

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def explain(rank: int, span: Span, scores: Scores, config: Any,
            kind_hint: str | None) -> Highlight:
    """A chosen span as a highlight: each signal's best score over the event, its kind
    (the signal that dominates, or `kind_hint` for a per-signal list) and the three largest
    weighted contributions as words."""
    i = span.index
    lo, hi = int(span.event_start / config.window_s), int(span.event_end / config.window_s)
    region = slice(lo, max(hi, lo + 1))

    def best(values: np.ndarray | None) -> float | None:
        if values is None:
            return None
        known = values[region][np.isfinite(values[region])]
        return round(float(known.max()), 3) if len(known) else None

    peaks = {m.name: best(scores.parts.get(m.name)) for m in modalities()}
    reasons = []
    for m in modalities():
        z, part, w = scores.z.get(m.name), scores.parts.get(m.name), m.share(config)
        here = z is not None and bool(np.isfinite(part[i]))  # chat covers only part
        if here and w > 0 and kind_hint in (None, m.name):
            reasons += [(f, w * c) for f, c in contributions(z[i], m.features,
                                                              m.feature_weights(config))]
    reasons.sort(key=lambda r: -r[1])
    words = [f"{REASON_WORDS.get(f, f)} (+{c:.1f})" for f, c in reasons[:3] if c > 0]
    kind = kind_hint or _kind(peaks, config)
    return Highlight(rank, span.start, span.end, span.peak, span.score, peaks["audio"],
                     peaks["video"], peaks["chat"], best(scores.ml), kind, words)


def _kind(peaks: dict[str, float | None], config: Any) -> str:
    a = config.audio_weight * max(peaks["audio"] or 0.0, 0.0)
    v = config.video_weight * max(peaks["video"] or 0.0, 0.0)
    kind = "audio" if a > 2 * v else "video" if v > 2 * a else "both"
    if config.chat_weight * max(peaks["chat"] or 0.0, 0.0) > 2 * max(a, v):
        kind = "chat"
    return kind


@dataclass(frozen=True)
class Ranking:
    """The ranked lists of one stream: combined and per signal, with what to note."""

    highlights: list[Highlight]
    audio_highlights: list[Highlight]
    video_highlights: list[Highlight]
    chat_highlights: list[Highlight]
    notes: list[str]


def rank(scores: Scores, valid: np.ndarray, window_s: float, duration_s: float,
         config: Any) -> Ranking:
    """Select the ranked lists (combined, then each signal's). Pure: no decoding, so
    re-ranking a finished run is instant."""
    def pick(score: np.ndarray | None, kind_hint: str | None) -> list[Highlight]:
        if score is None:
            return []
        usable = valid & np.isfinite(score)  # chat covers only part, maybe
        if not usable.any():
            return []
        filled = np.where(usable, score, np.nanmin(score[usable]))
        spans = select_spans(
            filled, window_s, duration_s, top_n=config.top_n, min_gap_s=config.min_gap_s,
            smooth_s=config.smooth_s, clip_length_s=config.clip_length_s,
            pre_roll_s=config.pre_roll_s, post_roll_s=config.post_roll_s,
            max_clip_length_s=config.max_clip_length_s, valid=usable)
        return [explain(rank, span, scores, config, kind_hint)
                for rank, span in enumerate(spans, 1)]

    lists = {m.name: pick(scores.parts.get(m.name), m.name) for m in modalities()}
    notes = [] if scores.ml is not None else [
        "ranked by the heuristic alone (no trained model yet)"]
    return Ranking(pick(scores.combined, None), lists["audio"], lists["video"], lists["chat"],
                   notes)


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
