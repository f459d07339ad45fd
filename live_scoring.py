"""Live scoring: each new second scored against the recent past, and the trigger that turns
the growing score into clip spans. Pure: arrays in, arrays and spans out (`live.py` feeds it).

A live stream has no whole-stream statistics, so a feature's baseline is its recent past
(`scoring.robust_baseline` of the last `live_baseline_s`); past that, a second is scored as
a VOD window is (`scoring.weighted_score`, the learned model, `scoring.blend`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import scoring
from audio_analyzer import AUDIO_FEATURES
from chat_features import CHAT_FEATURES
from config import Config
from video_analyzer import VIDEO_FEATURES

MODALITIES = (("audio", AUDIO_FEATURES), ("video", VIDEO_FEATURES))
CHAT_COLUMNS = len(CHAT_FEATURES)


# --- growing per-second arrays ----------------------------------------------------------------

class Rows:
    """A float32 (n, f) array that grows by appending rows (amortised doubling): the only thing
    that grows with the broadcast's length, a few dozen bytes a second."""

    def __init__(self, columns: int, dtype: Any = np.float32, fill: Any = np.nan):
        self._data = np.full((256, columns) if columns else 256, fill, dtype)
        self._fill = fill
        self.n = 0

    def extend(self, rows: np.ndarray) -> None:
        rows = np.asarray(rows, self._data.dtype)
        need = self.n + len(rows)
        if need > len(self._data):
            bigger = np.full((max(need, 2 * len(self._data)), *self._data.shape[1:]),
                             self._fill, self._data.dtype)
            bigger[: self.n] = self._data[: self.n]
            self._data = bigger
        self._data[self.n: need] = rows
        self.n = need

    @property
    def values(self) -> np.ndarray:
        return self._data[: self.n]


# --- scoring on a rolling baseline ------------------------------------------------------------

class RollingScorer:
    """Scores each new second as the VOD path scores a stream, but against the recent past.

    A live stream has no whole-stream statistics, so each feature's median and scale
    (`scoring.robust_baseline`) come from the last `live_baseline_s` of valid rows, recomputed
    once per batch of new rows (every few seconds), never per row. The heuristic weights, the
    learned model (`predict(modality, names, z, channel)` or None) and the blend are the VOD
    path's (`scoring.blend`). Until `live_warmup_s` of valid rows exist the
    scores are computed but `warm` is False, and the trigger does not fire.

    Chat is a seam: `add` takes optional per-second chat rows (float32 (n, 4), the columns of
    CHAT_FEATURES) with a covered mask (bool (n,)); chat joins the combined score as
    the VOD path joins it, where covered, and is left out (never counted as zero) elsewhere.
    """

    def __init__(self, config: Config, has_audio: bool, has_video: bool,
                 predict: Callable[..., np.ndarray | None] | None = None,
                 channel: str | None = None, model_share: float = 0.0):
        self.config = config
        self.window_s = config.window_s
        self.modalities = [(m, names) for m, names in MODALITIES
                           if (has_audio if m == "audio" else has_video)]
        self.features = {m: Rows(len(names)) for m, names in self.modalities}
        self.z = {m: Rows(len(names)) for m, names in self.modalities}
        self.parts = {m: Rows(0) for m, _ in self.modalities}  # blended per-modality scores
        self.valid = Rows(0, bool, False)
        self.combined = Rows(0)
        self.ml = Rows(0)
        self.chat = Rows(CHAT_COLUMNS)
        self.chat_covered = Rows(0, bool, False)
        self.chat_z = Rows(CHAT_COLUMNS)
        self.chat_score = Rows(0)
        self.predict, self.channel, self.share = predict, channel, model_share
        self.weights = {"audio": config.audio_weight, "video": config.video_weight}
        self.names = dict(self.modalities)
        self.heuristic_weights = {"audio": config.audio_weights, "video": config.video_weights}
        self.baseline_rows = max(1, int(round(config.live_baseline_s / self.window_s)))
        self.warmup_rows = max(1, int(round(config.live_warmup_s / self.window_s)))
        self.model_used = False

    @property
    def n(self) -> int:
        return self.valid.n

    @property
    def warm(self) -> bool:
        return int(self.valid.values[-self.baseline_rows:].sum()) >= self.warmup_rows

    def add(self, rows: dict[str, np.ndarray], valid: np.ndarray,
            chat: np.ndarray | None = None, chat_covered: np.ndarray | None = None) -> slice:
        """Append the next seconds: `rows[modality]` float32 (k, f), `valid` bool (k,) (False
        for seconds lost to a gap). Returns the slice of the new seconds in the score arrays."""
        k = len(valid)
        first = self.n
        past = self.valid.values[-self.baseline_rows:]
        start = first - len(past)
        inputs = []
        for m, names in self.modalities:
            new = np.asarray(rows[m], np.float32).reshape(k, len(names))
            z = _z_against_past(self.features[m].values[start:first][past], new, valid)
            heuristic = scoring.weighted_score(z, names, self.heuristic_weights[m])
            learned = self.predict(m, names, z, self.channel) if self.predict and k else None
            ml = None if learned is None else heuristic + learned  # the heuristic, corrected
            self.model_used |= ml is not None
            inputs.append(scoring.ModalityInput(m, z, heuristic, ml, self.weights[m]))
            self.features[m].extend(new)
            self.z[m].extend(z)
        use = np.zeros(k, bool)
        if chat is not None and chat_covered is not None:
            chat = np.asarray(chat, np.float32).reshape(k, CHAT_COLUMNS)
            use = np.asarray(chat_covered, bool) & valid
            old_use = self.chat_covered.values[start:first] & past
            chat_z = _z_against_past(self.chat.values[start:first][old_use], chat, use)
            heuristic = scoring.weighted_score(chat_z, CHAT_FEATURES,
                                               self.config.chat_weights)
            inputs.append(scoring.ModalityInput("chat", chat_z, heuristic, None,
                                                self.config.chat_weight, covered=use))
            self.chat.extend(chat)
            self.chat_z.extend(chat_z)
        else:
            self.chat.extend(np.full((k, CHAT_COLUMNS), np.nan, np.float32))
            self.chat_z.extend(np.zeros((k, CHAT_COLUMNS), np.float32))
        scores = scoring.blend(inputs, valid, self.share)  # the VOD path's blend, as it is
        for m, _ in self.modalities:
            self.parts[m].extend(np.where(valid, scores.parts[m], np.nan))
        self.chat_covered.extend(use)
        self.chat_score.extend(scores.parts.get("chat", np.full(k, np.nan, np.float32)))
        self.combined.extend(scores.combined)
        self.ml.extend(scores.ml if scores.ml is not None else np.full(k, np.nan))
        self.valid.extend(valid)
        return slice(first, first + k)

    def scores(self) -> scoring.Scores:
        """Every second so far as the VOD path's `Scores` (for `scoring.explain`)."""
        parts = {m: self.parts[m].values for m, _ in self.modalities}
        z = {m: self.z[m].values for m, _ in self.modalities}
        if self.chat_covered.values.any():
            parts["chat"], z["chat"] = self.chat_score.values, self.chat_z.values
        ml = self.ml.values
        return scoring.Scores(self.combined.values, parts, z,
                              ml if np.isfinite(ml).any() else None)


def _z_against_past(history: np.ndarray, new: np.ndarray, use: np.ndarray) -> np.ndarray:
    """`new` (k, f) as robust z against `history` (the recent valid rows) where `use`;
    zeros elsewhere, and everywhere until there is a history to speak of."""
    z = np.zeros(new.shape, np.float32)
    if len(history) >= 2 and use.any():
        med, scale = scoring.robust_baseline(history)
        z[use] = scoring.z_against(new[use], med, scale)
    return z


# --- the trigger ------------------------------------------------------------------------------

@dataclass
class LiveTrigger:
    """Turns the growing combined score into clip spans, one second at a time.

    Fires when the trailing `live_smooth_s` mean of the score stays >= `threshold` for `hold_s`
    (only once the scorer is warm); the event then grows as VOD selection grows it
    (`scoring.event_bounds` around the peak, at half-way between the recent median and the
    peak) and ends when the score has fallen below that level for two seconds (or after
    `max_event_s`). The clip is `scoring.clip_span` of the event. A clip that would start within
    `min_gap_s` of the previous one's end starts that much after it instead (less pre-roll),
    or is dropped when the moment itself began before then; a clip beyond
    `live_max_clips_per_hour` in the last hour is dropped."""

    config: Config
    window_s: float = 1.0
    _run: int = 0
    _active_from: int | None = None
    _peak: int = 0
    _last: list[scoring.Span] = field(default_factory=list)
    dropped: list[dict[str, Any]] = field(default_factory=list)

    def feed(self, score: np.ndarray, i: int, warm: bool) -> scoring.Span | None:
        """Second `i` of `score` (the whole combined score so far, NaN where invalid) is new.
        Returns a finished event's clip span, or None."""
        c = self.config
        w = self.window_s
        smooth_n = max(1, int(round(c.live_smooth_s / w)))
        recent = score[max(0, i - smooth_n + 1): i + 1]
        smoothed = float(np.mean(recent)) if np.isfinite(recent).all() else -math.inf
        if self._active_from is None:
            self._run = self._run + 1 if warm and smoothed >= c.live_threshold else 0
            if self._run >= max(1, int(round(c.live_trigger_s / w))):
                self._active_from = i - self._run + 1
                seg = score[self._active_from: i + 1]
                self._peak = self._active_from + int(np.nanargmax(seg))
            return None
        if np.isfinite(score[i]) and score[i] > score[self._peak]:
            self._peak = i
        level = self._level(score, i)
        below = not (np.isfinite(score[i]) and score[i] >= level)
        below_before = i > 0 and not (np.isfinite(score[i - 1]) and score[i - 1] >= level)
        too_long = (i - self._active_from + 1) * w >= c.live_max_event_s
        if not ((below and below_before) or too_long or not np.isfinite(score[i])):
            return None
        return self._finish(score, i, level)

    def flush(self, score: np.ndarray) -> scoring.Span | None:
        """The broadcast ended: an event still running ends where the stream does."""
        if self._active_from is None or len(score) == 0:
            return None
        i = len(score) - 1
        return self._finish(score, i, self._level(score, i))

    def _level(self, score: np.ndarray, i: int) -> float:
        past = score[max(0, i - int(self.config.live_baseline_s / self.window_s)): i + 1]
        base = float(np.nanmedian(past)) if np.isfinite(past).any() else 0.0
        return base + 0.5 * (float(score[self._peak]) - base)

    def _finish(self, score: np.ndarray, i: int, level: float) -> scoring.Span | None:
        c, w = self.config, self.window_s
        first = max(0, self._active_from - int(c.live_max_event_s / w))
        seg = np.nan_to_num(score[first: i + 1], nan=-np.inf)
        lo, hi = scoring.event_bounds(seg, self._peak - first, level)
        lo, hi = lo + first, min(hi + first, i)
        self._active_from, self._run = None, 0
        ev_start, ev_end = lo * w, (hi + 1) * w
        start, end = scoring.clip_span(ev_start, ev_end, math.inf, clip_length_s=c.clip_length_s,
                                       pre_roll_s=c.pre_roll_s, post_roll_s=c.post_roll_s,
                                       max_clip_length_s=c.max_clip_length_s)
        span = scoring.Span(round((self._peak + 0.5) * w, 3), round(ev_start, 3),
                            round(ev_end, 3), start, end, self._peak,
                            round(float(score[self._peak]), 3))
        if self._last and start < self._last[-1].end + c.min_gap_s:
            # Too close to the clip before: start min_gap_s after it, with less pre-roll; a
            # moment that began before then is (the tail of) what that clip already holds.
            later = self._last[-1].end + c.min_gap_s
            if later > ev_start:
                self.dropped.append({"peak": span.peak, "reason": "within min_gap_s of a clip"})
                return None
            start, end = scoring.clip_span(ev_start, ev_end, math.inf,
                                           clip_length_s=c.clip_length_s,
                                           pre_roll_s=ev_start - later,
                                           post_roll_s=c.post_roll_s,
                                           max_clip_length_s=c.max_clip_length_s)
            span = scoring.Span(span.peak, span.event_start, span.event_end, start, end,
                                span.index, span.score)
        hour = [s for s in self._last if s.peak > span.peak - 3600.0]
        if c.live_max_clips_per_hour and len(hour) >= c.live_max_clips_per_hour:
            self.dropped.append({"peak": span.peak, "reason": "live_max_clips_per_hour reached"})
            return None
        self._last = [*hour, span]
        return span


