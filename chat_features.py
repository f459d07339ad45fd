"""Kick chat's pure maths: chat messages -> per-window chat features, and the reaction lag.

Shared by the VOD replay (`kick_chat.assemble`, on what `chat_replay.fetch_replay` stored) and
live chat (`live_chat.py`), so both count and compute the same thing. No I/O:

* Messages (`counts_as_chat`, `sender_id`, `ChatMessages`): which Kick messages are viewers
  talking, who wrote them, their emotes (`[emote:id:name]`) and whether they are short
  reactions ("W", "KEKW LUL").
* Features (`chat_features`, `chat_matrix`): messages -> rows on the stream's window grid:
  message rate and distinct chatters relative to the stream's own local baseline, emotes
  likewise, and the share of short messages. `ChatFeatures` is the result, saved beside a
  run's features as `chat.npz`.
* Reaction lag (`estimate_lag`): chat reacts seconds after the moment. The lag is estimated per
  VOD by cross-correlating the chat rate with the audio score over 0..`chat_max_lag_s`, and
  chat is shifted back by it so a burst lines up with what caused it.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import scoring
from jsonpick import as_int, json_object, pick

logger = logging.getLogger(__name__)

CHAT_FEATURES = ("message_rate", "chatters", "emotes", "short_share")
CHAT_NAME = "chat.npz"  # the run folder's chat feature matrix, beside features.npz

EMOTE_RE = re.compile(r"\[emote:(\d+):([^\]]*)\]")
SHORT_MAX_WORDS = 3  # "W", "no way", "KEKW KEKW" - a reaction, not a conversation
COUNTED_TYPES = frozenset({"message", "reply"})  # not subs/celebrations, which come in trains
CHAT_SMOOTH_S = 5.0  # reactions spread over a few seconds; counts are summed over this span
BASELINE_BLOCK_S = 60.0  # the local baseline is the median of 1-minute means ...
BASELINE_SPAN_S = 600.0  # ... over the 10 minutes around a window (viewers come and go)
MIN_BASELINE_PER_S = 1 / 60  # a quiet chat's baseline is at least one message a minute
SHARE_PRIOR_MESSAGES = 3.0  # short share of a window with few messages leans to the stream's
LAG_MIN_CORR = 0.15  # the best lag must correlate at least this well ...
LAG_MIN_MARGIN = 0.05  # ... and stand this far above the median of all lags
LAG_MIN_PAIRS = 30
DENSE_MIN_S = 15.0  # a fetched stretch this long has every feature; a shorter one, its rate
PAGE_STANDS_S = CHAT_SMOOTH_S  # a lone page's rate stands for this long around it ...
RATE_BASE_PAGES = 9  # ... relative to the median rate of this many stretches nearest to it


# --- messages ---------------------------------------------------------------------------------

def count_emotes(content: str) -> int:
    """Emotes in a message (`[emote:37226:KEKW]`; the name may be empty)."""
    return len(EMOTE_RE.findall(content or ""))


def is_short(content: str) -> bool:
    """At most SHORT_MAX_WORDS words once emotes are taken out (emote-only counts as short)."""
    return len(EMOTE_RE.sub(" ", content or "").split()) <= SHORT_MAX_WORDS


def _is_bot(message: dict[str, Any]) -> bool:
    meta = json_object(message.get("metadata"))  # a JSON string in 2026, an object in Pusher
    return meta is not None and str(meta.get("sender_type", "")).lower() == "bot"


def counts_as_chat(message: dict[str, Any]) -> bool:
    """Viewers talking: messages and replies, not bots, sub celebrations or system lines."""
    return message.get("type", "message") in COUNTED_TYPES and not _is_bot(message)


def sender_id(message: dict[str, Any]) -> int | None:
    """Who wrote a message: `user_id` (chat history), else `sender.id` (Pusher events carry
    only that); None when neither is a number."""
    user = as_int(message.get("user_id"))
    return as_int(pick(message, "sender", "id")) if user is None else user


@dataclass(frozen=True)
class ChatMessages:
    """A VOD's chat as arrays, one entry per message (any order)."""

    time_s: np.ndarray  # float64 (n,): seconds since the VOD start (middle of Kick's second)
    user_id: np.ndarray  # int64 (n,): sender, -1 unknown
    emotes: np.ndarray  # int32 (n,): emotes in the message
    short: np.ndarray  # bool (n,): a short reaction (is_short)

    def __len__(self) -> int:
        return len(self.time_s)

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[float, int | None, str]], start_epoch_s: float
                  ) -> ChatMessages:
        """From (created epoch s, user id, content) rows, e.g. `ChatCache.messages`."""
        rows = list(rows)
        created = np.array([r[0] for r in rows], np.float64)
        return cls(created - start_epoch_s + 0.5,
                   np.array([-1 if r[1] is None else r[1] for r in rows], np.int64),
                   np.array([count_emotes(r[2]) for r in rows], np.int32),
                   np.array([is_short(r[2]) for r in rows], bool))


# --- features (pure) --------------------------------------------------------------------------

@dataclass(frozen=True)
class ChatFeatures:
    """Chat rows on the stream's window grid, already shifted back by the reaction lag.

    Rows of windows chat does not cover (`covered` False: before a partial fetch reached, or
    the last `lag_s` of the stream) are 0 and must be left out, not read as a quiet chat."""

    matrix: np.ndarray  # float32 (n_windows, len(CHAT_FEATURES))
    covered: np.ndarray  # bool (n_windows,)
    messages: int
    lag_s: float
    lag_estimated: bool
    # bool (n_windows,) or None: covered rows that only a lone sampled page covers - their
    # message_rate is that page's rate (the coarse curve) and the other features are unknown
    rate_only: np.ndarray | None = None

    def save(self, path: Path) -> None:
        extra = {} if self.rate_only is None else {"rate_only": self.rate_only}
        np.savez_compressed(path, matrix=self.matrix, covered=self.covered,
                            meta=np.array([self.messages, self.lag_s, self.lag_estimated],
                                          np.float64), **extra)

    @classmethod
    def load(cls, path: Path) -> ChatFeatures | None:
        """The saved chat of a run folder's `chat.npz`; None when the run had no chat."""
        if not Path(path).exists():
            return None
        with np.load(path) as data:
            messages, lag_s, estimated = data["meta"]
            rate_only = data["rate_only"].astype(bool) if "rate_only" in data else None
            return cls(data["matrix"].astype(np.float32), data["covered"].astype(bool),
                       int(messages), float(lag_s), bool(estimated), rate_only)


def _bin(time_s: np.ndarray, n_windows: int, window_s: float, weights: np.ndarray | None = None
         ) -> np.ndarray:
    """Per-window sums (n_windows,) float64 of messages at `time_s` (optionally weighted)."""
    win = np.floor(time_s / window_s).astype(np.int64)
    keep = (win >= 0) & (win < n_windows)
    w = None if weights is None else np.asarray(weights, np.float64)[keep]
    return np.bincount(win[keep], weights=w, minlength=n_windows)[:n_windows].astype(np.float64)


def _chatter_counts(messages: ChatMessages, n_windows: int, window_s: float,
                    shift_s: float) -> np.ndarray:
    """Distinct senders per window (n_windows,) float64; a spammer counts once per window."""
    win = np.floor((messages.time_s - shift_s) / window_s).astype(np.int64)
    keep = (win >= 0) & (win < n_windows)
    if not keep.any():
        return np.zeros(n_windows)
    pairs = np.unique(np.c_[win[keep], messages.user_id[keep]], axis=0)
    return np.bincount(pairs[:, 0], minlength=n_windows)[:n_windows].astype(np.float64)


def local_baseline(rate: np.ndarray, covered: np.ndarray, window_s: float) -> np.ndarray:
    """The stream's own usual level around each window (n,) float64: the median of the
    1-minute means over the surrounding 10 minutes (a burst is one minute among ten, so it
    hardly moves it), floored so a near-silent stretch does not divide by ~0."""
    n = len(rate)
    if not covered.any():
        return np.full(n, MIN_BASELINE_PER_S)
    block = max(1, int(round(BASELINE_BLOCK_S / window_s)))
    ids = np.arange(n) // block
    n_blocks = int(ids[-1]) + 1
    sums = np.bincount(ids[covered], weights=rate[covered], minlength=n_blocks)
    counts = np.bincount(ids[covered], minlength=n_blocks)
    means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    half = max(1, int(round(BASELINE_SPAN_S / BASELINE_BLOCK_S / 2)))
    medians = np.full(n_blocks, np.nan)
    for j in range(n_blocks):
        near = means[max(0, j - half):j + half + 1]
        near = near[np.isfinite(near)]
        if len(near):
            medians[j] = np.median(near)
    have = np.isfinite(medians)
    centres = (np.arange(n_blocks) + 0.5) * block
    base = np.interp(np.arange(n) + 0.5, centres[have], medians[have])
    floor = max(0.1 * float(rate[covered].mean()), MIN_BASELINE_PER_S)
    return np.maximum(base, floor)


def chat_rate(messages: ChatMessages, n_windows: int, window_s: float,
              covered: np.ndarray | None = None, shift_s: float = 0.0) -> np.ndarray:
    """Messages per second relative to the stream's local baseline (n_windows,) float64,
    smoothed over CHAT_SMOOTH_S; 1.0 is a usual moment, 5.0 five times the usual chat."""
    covered = np.ones(n_windows, bool) if covered is None else covered
    width = max(1, int(round(CHAT_SMOOTH_S / window_s)))
    rate = scoring.smooth(_bin(messages.time_s - shift_s, n_windows, window_s),
                          width).astype(np.float64) / window_s
    return rate / local_baseline(rate, covered, window_s)


def coverage(n_windows: int, window_s: float, duration_s: float, covered_from_s: float,
             lag_s: float) -> np.ndarray:
    """bool (n_windows,): windows whose chat (seen `lag_s` later) lies inside the fetched
    stretch [covered_from_s, duration_s]."""
    return span_coverage(n_windows, window_s, [(covered_from_s, duration_s + 1.0)], lag_s)[0]


def span_coverage(n_windows: int, window_s: float, spans: Iterable[tuple[float, float]],
                  lag_s: float) -> tuple[np.ndarray, np.ndarray]:
    """(covered bool (n,), stretch float64 (n,)): windows whose chat (seen `lag_s` later) lies
    inside one of the fetched `spans` ((from_s, to_s) seconds into the VOD, merged), and the
    length of the span that holds each (0 where none does)."""
    covered = np.zeros(n_windows, bool)
    stretch = np.zeros(n_windows)
    start = np.arange(n_windows) * window_s + lag_s
    for lo, hi in spans:
        inside = (start >= lo - 1e-9) & (start + window_s <= hi + 1e-9)
        covered |= inside
        stretch[inside] = hi - lo
    return covered, stretch


def chat_features(messages: ChatMessages, n_windows: int, window_s: float, *,
                  duration_s: float, lag_s: float = 0.0, covered_from_s: float = 0.0,
                  lag_estimated: bool = False,
                  spans: list[tuple[float, float]] | None = None) -> ChatFeatures:
    """The chat feature matrix (n_windows, 4) of a VOD, chat shifted back by `lag_s`
    (`chat_matrix` on the VOD's per-window counts, with the centred `local_baseline`).

    `spans` are the stretches fetched (seconds into the VOD; default: [covered_from_s, end]).
    Inside a stretch of at least DENSE_MIN_S every feature is computed as for a whole chat
    (smoothing and baseline over the covered windows only); a shorter stretch (one sampled
    page) gives its mean rate alone, marked in `rate_only`."""
    if spans is None:
        spans = [(covered_from_s, duration_s + 1.0)]
    covered, stretch = span_coverage(n_windows, window_s, spans, lag_s)
    t = messages.time_s - lag_s
    in_covered = covered[np.clip(np.floor(t / window_s).astype(np.int64), 0, n_windows - 1)]
    overall = float(messages.short[in_covered].mean()) if in_covered.any() else 0.5
    count = _bin(t, n_windows, window_s)
    observed = None if covered.all() else covered.astype(np.float64)
    matrix = chat_matrix(count, _chatter_counts(messages, n_windows, window_s, lag_s),
                         _bin(t, n_windows, window_s, messages.emotes),
                         _bin(t, n_windows, window_s, messages.short),
                         covered, window_s, overall, observed=observed)
    # a stretch as long as the VOD is the whole chat, however short the VOD
    dense_min = min(DENSE_MIN_S, duration_s)
    rate_only = covered & (stretch < dense_min)
    if any(hi - lo < dense_min for lo, hi in spans):
        covered = covered.copy()
        dense = covered & ~rate_only
        for rows, value in _page_rates(messages, spans, dense_min, n_windows, window_s, lag_s,
                                       duration_s):
            rows &= ~dense
            matrix[rows, 0] = value
            rate_only |= rows
            covered |= rows
        matrix[rate_only, 1:] = 0.0
    matrix[~covered] = 0.0
    return ChatFeatures(matrix, covered, len(messages), float(lag_s), lag_estimated,
                        rate_only if rate_only.any() else None)


def _page_rates(messages: ChatMessages, spans: list[tuple[float, float]], dense_min: float,
                n_windows: int, window_s: float, lag_s: float, duration_s: float
                ) -> list[tuple[np.ndarray, float]]:
    """(rows bool (n,), relative rate) of each fetched stretch shorter than
    `dense_min` (a lone sampled page): its messages over its own span, relative to the median
    rate of the RATE_BASE_PAGES stretches nearest to it (each page one sample, so a few
    pages inside bursts cannot lift the baseline as their many windows would). A page stands
    for PAGE_STANDS_S around its middle (a dense window's rate is a mean over as long), up
    to the next stretch: even a page a burst packs into one second covers a few windows."""
    spans = sorted(spans)
    mids = np.array([(lo + hi) / 2 for lo, hi in spans])
    # Kick's created_at is whole seconds (time_s is the middle of the second) while a page's
    # span is the µs cursors: a page inside a burst spans a second or two, so its messages
    # are those of the seconds it overlaps (only its own are stored there)
    created = messages.time_s - 0.5
    rates = np.array([((created >= np.floor(lo)) & (created < hi)).sum()
                      / max(hi - lo, window_s) for lo, hi in spans])
    out = []
    for k, (lo, hi) in enumerate(spans):
        if hi - lo >= dense_min:
            continue
        near = np.argsort(np.abs(mids - mids[k]), kind="stable")[:RATE_BASE_PAGES]
        base = max(float(np.median(rates[near])), MIN_BASELINE_PER_S)
        half = max(hi - lo, PAGE_STANDS_S) / 2
        wlo = max(mids[k] - half, spans[k - 1][1] if k else 0.0, 0.0)
        whi = min(mids[k] + half, spans[k + 1][0] if k + 1 < len(spans) else duration_s + 1.0)
        start = np.arange(n_windows) * window_s + lag_s
        rows = (start >= wlo - 1e-9) & (start + window_s <= whi + 1e-9)
        if not rows.any():
            i = int(np.floor((mids[k] - lag_s) / window_s))
            if 0 <= i < n_windows:
                rows[i] = True
        out.append((rows, float(rates[k]) / base))
    return out


Baseline = Callable[[np.ndarray, np.ndarray, float], np.ndarray]


def chat_matrix(count: np.ndarray, chatters: np.ndarray, emotes: np.ndarray, short: np.ndarray,
                covered: np.ndarray, window_s: float, overall_short: float, *,
                baseline: Baseline = local_baseline,
                observed: np.ndarray | None = None) -> np.ndarray:
    """Per-window sums (each (n,) float64: messages, distinct senders, emotes, short messages)
    -> the chat features (n, len(CHAT_FEATURES)) float32. Shared by the VOD replay and live
    chat (`live_chat.py`, which passes a trailing baseline), so both compute the same thing.

    message_rate and chatters (distinct senders) are relative to the stream's own local
    baseline (1.0 = usual), emotes likewise; short_share is the share of short messages among
    the window's (smoothed, leaning to the stream's share `overall_short` where there are few).
    Rows outside `covered` are computed too; callers zero them. `observed` (float (n,), 1
    where chat was fetched) makes the smoothing average over fetched windows only, so the
    edge of a sampled stretch does not read as a quiet chat."""
    width = max(1, int(round(CHAT_SMOOTH_S / window_s)))
    seen = None if observed is None else scoring.smooth(observed, width).astype(np.float64)

    def relative(per_window: np.ndarray) -> np.ndarray:
        rate = scoring.smooth(per_window, width).astype(np.float64) / window_s
        if seen is not None:
            rate = np.where(seen > 0, rate / np.maximum(seen, 1e-9), 0.0)
        return rate / baseline(rate, covered, window_s)

    share = ((scoring.smooth(short, width) * width + SHARE_PRIOR_MESSAGES * overall_short)
             / (scoring.smooth(count, width) * width + SHARE_PRIOR_MESSAGES))
    return np.column_stack([relative(count), relative(chatters), relative(emotes),
                            share]).astype(np.float32)


def estimate_lag(rate: np.ndarray, reference: np.ndarray, window_s: float, *,
                 max_lag_s: float, default_s: float, mask: np.ndarray | None = None
                 ) -> tuple[float, bool]:
    """(lag in seconds, estimated?) by which chat trails `reference` (the audio score).

    Pearson correlation of reference[t] with rate[t + lag] for lag 0..max_lag_s, both robustly
    z-scored first so one huge moment cannot decide alone; the best lag (refined between
    windows by a parabola) is used when it correlates clearly (>= LAG_MIN_CORR and
    LAG_MIN_MARGIN above the median over all lags), else `default_s`."""
    n = min(len(rate), len(reference))
    mask = np.ones(n, bool) if mask is None else np.asarray(mask[:n], bool)
    mask = mask & np.isfinite(reference[:n]) & np.isfinite(rate[:n])
    max_lag = int(math.floor(max_lag_s / window_s))
    if mask.sum() < LAG_MIN_PAIRS + max_lag:
        return default_s, False
    x = np.zeros(n)
    y = np.zeros(n)
    x[mask] = scoring.robust_z(reference[:n][mask, None])[:, 0]
    y[mask] = scoring.robust_z(np.log1p(np.maximum(rate[:n][mask], 0))[:, None])[:, 0]
    corr = np.full(max_lag + 1, np.nan)
    for lag in range(max_lag + 1):
        both = mask[:n - lag] & mask[lag:]
        if both.sum() < LAG_MIN_PAIRS:
            continue
        a, b = x[:n - lag][both], y[lag:][both]
        if a.std() < 1e-9 or b.std() < 1e-9:
            continue
        corr[lag] = float(np.corrcoef(a, b)[0, 1])
    if not np.isfinite(corr).any():
        return default_s, False
    best = int(np.nanargmax(corr))
    peak = corr[best]
    if peak < LAG_MIN_CORR or peak - np.nanmedian(corr) < LAG_MIN_MARGIN:
        logger.info("chat lag: no clear correlation with the audio (best %.2f at %d s); "
                    "using %.1f s", peak, best * window_s, default_s)
        return default_s, False
    offset = 0.0
    if 0 < best < max_lag and np.isfinite(corr[best - 1]) and np.isfinite(corr[best + 1]):
        left, right = corr[best - 1], corr[best + 1]
        curve = left - 2 * peak + right
        if curve < 0:
            offset = float(np.clip(0.5 * (left - right) / curve, -0.5, 0.5))
    lag_s = round((best + offset) * window_s, 2)
    logger.info("chat lag estimated at %.2f s (correlation %.2f)", lag_s, peak)
    return lag_s, True


__all__ = ["CHAT_FEATURES", "CHAT_NAME", "ChatFeatures", "ChatMessages", "chat_features",
           "chat_matrix", "chat_rate", "count_emotes", "counts_as_chat", "coverage",
           "estimate_lag", "is_short", "local_baseline", "sender_id", "span_coverage"]
