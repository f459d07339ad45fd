"""From a stream's feature matrix to ranked, padded, non-overlapping highlights.

Every function here is pure (arrays and numbers in, arrays and numbers out), which is what
lets a finished run be re-ranked with other weights, top N or gaps without decoding anything.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
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
    row here (and its features on the stream's window grid). Built on first use: `chat_features`
    imports this module."""
    from audio_analyzer import AUDIO_FEATURES
    from chat_features import CHAT_FEATURES
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
    `combined` their fusion in each window (NaN where `valid` is not), with `peak_share` of
    it the strongest signal's (`Fusion`); `ml` the mean of the models' scores, or None
    without a model."""

    combined: np.ndarray
    parts: dict[str, np.ndarray]
    z: dict[str, np.ndarray]
    ml: np.ndarray | None = None
    peak_share: float = 0.0

    @property
    def audio(self) -> np.ndarray | None:
        return self.parts.get("audio")

    @property
    def video(self) -> np.ndarray | None:
        return self.parts.get("video")

    @property
    def chat(self) -> np.ndarray | None:
        return self.parts.get("chat")


@dataclass(frozen=True)
class Fusion:
    """How the signals of a window become one score. `peak_share` of it is the best signal's
    score and the rest their weighted mean, so a moment strong on one signal (fast action,
    ordinary audio) beats one mild on all. `context_s` > 0 measures each signal against its
    own neighbourhood: the median of `context_s` seconds before and after the window, `guard_s`
    away from it, the higher of the two subtracted. A moment is an onset that stands out
    against both sides; a plateau (steady music, a long static card, a whole scene of moving
    scenery) does not, and a quiet stretch makes what happens in it stand out more."""

    peak_share: float = 0.0
    context_s: float = 0.0
    guard_s: float = 0.0
    window_s: float = 1.0

    @classmethod
    def of(cls, config: Any, window_s: float) -> Fusion:
        return cls(config.fusion_peak_share, config.context_s, config.context_guard_s,
                   window_s)


def against_context(score: np.ndarray, context: int, guard: int) -> np.ndarray:
    """`score` (n,) minus the higher of the medians of the `context` windows before and after
    each window, `guard` windows away (NaN windows are ignored; where neither side has any,
    nothing is subtracted). float32 (n,)."""
    n = len(score)
    if n == 0 or context <= 0:
        return np.asarray(score, np.float32)
    x = np.asarray(score, np.float64)
    padded = np.pad(x, guard + context, constant_values=np.nan)
    views = np.lib.stride_tricks.sliding_window_view(padded, context)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN sides at the edges
        before = np.nanmedian(views[:n], axis=1)
        after = np.nanmedian(views[2 * guard + context + 1:][:n], axis=1)
    background = np.fmax(before, after)
    return (x - np.nan_to_num(background, nan=0.0)).astype(np.float32)


def blend(inputs: Sequence[ModalityInput], valid: np.ndarray, ml_share: float,
          fusion: Fusion = Fusion()) -> Scores:
    """Each signal's heuristic blended with its model (`ml_share` of it, at most all), measured
    against its context (`Fusion`), then fused per window: `peak_share` of the best signal,
    the rest the signals' weighted mean. A signal that does not cover a window is left out of
    that window: missing chat is absent, never zero."""
    share = min(ml_share, 1.0)
    n = len(valid)
    context = int(round(fusion.context_s / fusion.window_s))
    guard = int(round(fusion.guard_s / fusion.window_s))
    parts: dict[str, np.ndarray] = {}
    combined, total = np.zeros(n), np.zeros(n)
    best = np.full(n, -np.inf)
    for m in inputs:
        if m.ml is None:
            mixed = m.heuristic
        else:
            mixed = ((1 - share) * m.heuristic + share * m.ml).astype(np.float32)
        covered = np.ones(n, bool) if m.covered is None else np.asarray(m.covered, bool)
        mixed = np.where(covered, mixed, np.nan)
        if context:
            mixed = against_context(mixed, context, guard)
        parts[m.name] = mixed.astype(np.float32)
        if m.weight <= 0:
            continue
        combined = combined + m.weight * np.where(covered, mixed, 0.0)
        total = total + m.weight * covered
        best = np.where(covered, np.fmax(best, mixed), best)
    mean = combined / np.where(total > 0, total, 1.0)
    if fusion.peak_share > 0:
        mean = np.where(np.isfinite(best),
                        (1 - fusion.peak_share) * mean + fusion.peak_share * best, mean)
    combined = np.where(valid, mean, np.nan).astype(np.float32)
    models = [m.ml for m in inputs if m.ml is not None]
    return Scores(combined, parts, {m.name: m.z for m in inputs},
                  np.mean(models, axis=0).astype(np.float32) if models else None,
                  fusion.peak_share)


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
    weights: dict[str, float] | None = None  # each signal's share of the score (`explain`)
    vertical_path: str | None = None  # the 9:16 version (shorts.py)
    transcript: str | None = None  # what was said (captions.py), None: not transcribed
    words: list | None = None  # [[start_s, end_s, word], ...] from the clip's start

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Highlight:
        """A highlight as `highlights.json` holds it (a field it lacks is None)."""
        return cls(**{k: data.get(k) for k in cls.__dataclass_fields__})


def explain(rank: int, span: Span, scores: Scores, config: Any,
            kind_hint: str | None) -> Highlight:
    """A chosen span as a highlight: each signal's best score over the event, its kind
    (the signal that dominates, or `kind_hint` for a per-signal list), each signal's share of
    the peak window's score as the fusion weighed it (`weights`) and the three largest
    contributions, weighed so, as words."""
    i = span.index
    lo, hi = int(span.event_start / config.window_s), int(span.event_end / config.window_s)
    region = slice(lo, max(hi, lo + 1))

    def best(values: np.ndarray | None) -> float | None:
        if values is None:
            return None
        known = values[region][np.isfinite(values[region])]
        return round(float(known.max()), 3) if len(known) else None

    peaks = {m.name: best(scores.parts.get(m.name)) for m in modalities()}
    weights = fused_weights(scores, i, config)
    reasons = []
    for m in modalities():
        z, w = scores.z.get(m.name), weights.get(m.name, 0.0)
        if z is not None and w > 0 and kind_hint in (None, m.name):
            reasons += [(f, w * c) for f, c in contributions(z[i], m.features,
                                                              m.feature_weights(config))]
    reasons.sort(key=lambda r: -r[1])
    words = [f"{REASON_WORDS.get(f, f)} (+{c:.1f})" for f, c in reasons[:3] if c > 0]
    kind = kind_hint or _kind(peaks, config)
    return Highlight(rank, span.start, span.end, span.peak, span.score, peaks["audio"],
                     peaks["video"], peaks["chat"], best(scores.ml), kind, words,
                     weights={k: round(v, 2) for k, v in weights.items()})


def fused_weights(scores: Scores, i: int, config: Any) -> dict[str, float]:
    """Each signal's share of window `i`'s combined score (they sum to 1): its share of the
    weighted mean, plus the fusion's `peak_share` for the strongest signal there (as `blend`
    fused them: a live run fuses with no peak share). Signals absent from the window (chat
    where there is none) have none."""
    present = {m.name: m.share(config) for m in modalities()
               if m.name in scores.parts and np.isfinite(scores.parts[m.name][i])
               and m.share(config) > 0}
    total = sum(present.values())
    if not total:
        return {}
    peak = scores.peak_share
    best = max(present, key=lambda name: scores.parts[name][i])
    return {name: (1 - peak) * w / total + (peak if name == best else 0.0)
            for name, w in present.items()}


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


def smooth(score: np.ndarray, width: int, valid: np.ndarray | None = None) -> np.ndarray:
    """Centred moving average over `width` windows of the `valid` ones (default all; edges and
    gaps use what exists, a window with no valid neighbour keeps its value)."""
    if width <= 1 or len(score) == 0:
        return score.astype(np.float32)
    kernel = np.ones(width)
    weight = np.ones(len(score)) if valid is None else np.asarray(valid, np.float64)
    num = np.convolve(np.where(weight > 0, score, 0.0), kernel, mode="same")
    den = np.convolve(weight, kernel, mode="same")
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), score).astype(np.float32)


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
    half-way between the stream's median and the peak) and a padded clip. A peak inside a
    chosen event is that moment again. A moment within `min_gap_s` of a chosen one is a streak
    (the fight, then the chase): both become one clip when it fits `max_clip_length_s`, else
    clips that touch. Padding never costs a moment: where two clips' padding would overlap,
    the lower-ranked clip gives way, down to its own moment (`_make_room`).
    """
    n = len(score)
    if n == 0:
        return []
    smoothed = smooth(score, max(1, int(round(smooth_s / window_s))), valid)
    if valid is not None:
        smoothed = np.where(valid, smoothed, -np.inf)
    left = np.r_[-np.inf, smoothed[:-1]]
    right = np.r_[smoothed[1:], -np.inf]
    peaks = np.flatnonzero((smoothed >= left) & (smoothed >= right) & np.isfinite(smoothed))
    peaks = peaks[np.argsort(-smoothed[peaks], kind="stable")]
    baseline = float(np.median(score))
    floor = float(np.median(smoothed[np.isfinite(smoothed)]))

    def padded(ev_start: float, ev_end: float) -> tuple[float, float]:
        return clip_span(ev_start, ev_end, duration_s, clip_length_s=clip_length_s,
                         pre_roll_s=pre_roll_s, post_roll_s=post_roll_s,
                         max_clip_length_s=max_clip_length_s)

    chosen: list[Span] = []
    for p in peaks:
        p = int(p)
        at = (p + 0.5) * window_s
        if any(c.event_start <= at < c.event_end for c in chosen):
            continue  # the same moment again
        threshold = baseline + 0.5 * (float(score[p]) - baseline)
        lo, hi = event_bounds(score, p, threshold)
        ev_start, ev_end = lo * window_s, min((hi + 1) * window_s, duration_s)
        streak = _streak(chosen, ev_start, ev_end, min_gap_s)
        if streak and smoothed[p] - floor < 0.5 * (streak[0].score - floor):
            continue  # a ripple beside a bigger moment, not a moment of its own
        if streak:
            merged = _merge(streak, ev_start, ev_end, padded)
            if merged.end >= merged.event_end:  # the clip holds the whole streak
                slot = chosen.index(streak[0])
                rest = [c for c in chosen if c not in streak]
                chosen = _make_room(rest, merged, slot)
                continue  # one clip for the streak: no new highlight
            if any(ev_start <= c.peak < ev_end for c in streak):
                continue  # the shoulder of a bigger moment, too long to join it
        start, end = padded(ev_start, ev_end)
        if at >= end:  # a moment longer than a clip holds: the clip keeps its peak
            length = end - start
            end = round(min(at + post_roll_s, duration_s), 3)
            start = round(max(0.0, end - length), 3)
        span = Span(round(at, 3), round(ev_start, 3), round(ev_end, 3), start, end, p,
                    round(float(smoothed[p]), 3))
        chosen = _make_room(chosen, span)
        if len(chosen) >= top_n:
            break
    return chosen


def _streak(chosen: list[Span], ev_start: float, ev_end: float, min_gap_s: float
            ) -> list[Span]:
    """The chosen spans (best first) whose moments lie within `min_gap_s` of [ev_start,
    ev_end), growing the stretch as they join."""
    streak: list[Span] = []
    lo, hi = ev_start, ev_end
    grew = True
    while grew:
        grew = False
        for c in chosen:
            if c not in streak and _gap(lo, hi, c.event_start, c.event_end) < min_gap_s:
                streak.append(c)
                lo, hi = min(lo, c.event_start), max(hi, c.event_end)
                grew = True
    return [c for c in chosen if c in streak]


def _merge(streak: list[Span], ev_start: float, ev_end: float, padded) -> Span:
    """One span for a streak: its best moment's peak and score, every moment's stretch."""
    best = streak[0]
    lo = min(ev_start, *(c.event_start for c in streak))
    hi = max(ev_end, *(c.event_end for c in streak))
    start, end = padded(lo, hi)
    return Span(best.peak, round(lo, 3), round(hi, 3), start, end, best.index, best.score)


def _make_room(chosen: list[Span], span: Span, at: int | None = None) -> list[Span]:
    """`chosen` with `span` inserted at `at` (default: last). Where `span`'s padding would
    overlap a chosen clip, `span` gives way (the chosen one ranks higher), down to its own
    moment; a chosen clip whose padding reaches into `span`'s moment ends (or starts) there."""
    out = []
    for c in chosen:
        if _gap(span.start, span.end, c.start, c.end) < 0:
            if c.peak < span.peak:
                span = replace(span, start=max(span.start, min(c.end, span.event_start)))
                c = replace(c, end=min(c.end, span.start))
            else:
                span = replace(span, end=min(span.end, max(c.start, span.event_end)))
                c = replace(c, start=max(c.start, span.end))
        out.append(c)
    out.insert(len(out) if at is None else at, span)
    return out


def _gap(a0: float, a1: float, b0: float, b1: float) -> float:
    """Seconds between two intervals (negative when they overlap)."""
    return max(a0, b0) - min(a1, b1)
