"""Kick chat as a third signal: a VOD's chat replay -> per-window chat features.

Three parts, in the order the data flows:

* Fetching (`fetch_replay`): Kick's chat history (docs/KICK_API.md §3.8, E13)
  `GET {kick_base_url}/api/v2/channels/{channel_id}/messages?cursor={epoch_us}` pages
  *backwards*: newest first, ~25 messages a page, `data.cursor` = the µs time of the page's
  oldest message. Paging starts at the VOD's end + 1 s and stops once messages are older than
  the VOD's start, on an empty page or when the cursor stops moving back. Requests go through
  `kick_api.KickSession` one per `chat_request_interval_s` (bursts get Kick's WAF block), and
  every page is stored in SQLite (`ChatCache`) as it comes, so a cancelled or blocked fetch
  resumes where it stopped and a finished one is never fetched again. `ChatJob` runs it in a
  background thread while the stream is analysed.
* Features (pure numpy, `chat_features`): messages -> rows on the stream's window grid:
  message rate and distinct chatters relative to the stream's own local baseline, emotes
  (`[emote:id:name]`) likewise, and the share of short messages ("W", "KEKW LUL").
* Reaction lag (`estimate_lag`): chat reacts seconds after the moment. The lag is estimated per
  VOD by cross-correlating the chat rate with the audio score over 0..`chat_max_lag_s`, and
  chat is shifted back by it so a burst lines up with what caused it.

Chat that cannot be had (not a Kick VOD, blocked, empty) is *absent*, never zeros: `assemble`
returns no features and a note, and the engine leaves the term out of the weighted mean.
"""

from __future__ import annotations

import logging
import math
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import scoring
import storage
from config import Config
from errors import BlockedByKick, KickAPIError
from jsonpick import as_int, json_object, pick
from timecode import hms, kick_epoch_s

logger = logging.getLogger(__name__)

Progress = Callable[[float, str], None]

CHAT_FEATURES = ("message_rate", "chatters", "emotes", "short_share")
CHAT_NAME = "chat.npz"  # the run folder's chat feature matrix, beside features.npz
DB_NAME = "chat_cache.sqlite3"

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
MIN_MESSAGES = 20  # fewer messages than this over a VOD is no signal
MIN_COVERAGE_S = 600.0  # a partial fetch must cover this much (or half the stream) to be used


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

    def save(self, path: Path) -> None:
        np.savez_compressed(path, matrix=self.matrix, covered=self.covered,
                            meta=np.array([self.messages, self.lag_s, self.lag_estimated],
                                          np.float64))

    @classmethod
    def load(cls, path: Path) -> ChatFeatures | None:
        """The saved chat of a run folder's `chat.npz`; None when the run had no chat."""
        if not Path(path).exists():
            return None
        with np.load(path) as data:
            messages, lag_s, estimated = data["meta"]
            return cls(data["matrix"].astype(np.float32), data["covered"].astype(bool),
                       int(messages), float(lag_s), bool(estimated))


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
    start = np.arange(n_windows) * window_s + lag_s
    return (start >= covered_from_s - 1e-9) & (start + window_s <= duration_s + 1.0 + 1e-9)


def chat_features(messages: ChatMessages, n_windows: int, window_s: float, *,
                  duration_s: float, lag_s: float = 0.0, covered_from_s: float = 0.0,
                  lag_estimated: bool = False) -> ChatFeatures:
    """The chat feature matrix (n_windows, 4) of a VOD, chat shifted back by `lag_s`
    (`chat_matrix` on the VOD's per-window counts, with the centred `local_baseline`)."""
    covered = coverage(n_windows, window_s, duration_s, covered_from_s, lag_s)
    t = messages.time_s - lag_s
    in_covered = covered[np.clip(np.floor(t / window_s).astype(np.int64), 0, n_windows - 1)]
    overall = float(messages.short[in_covered].mean()) if in_covered.any() else 0.5
    matrix = chat_matrix(_bin(t, n_windows, window_s),
                         _chatter_counts(messages, n_windows, window_s, lag_s),
                         _bin(t, n_windows, window_s, messages.emotes),
                         _bin(t, n_windows, window_s, messages.short),
                         covered, window_s, overall)
    matrix[~covered] = 0.0
    return ChatFeatures(matrix, covered, len(messages), float(lag_s), lag_estimated)


Baseline = Callable[[np.ndarray, np.ndarray, float], np.ndarray]


def chat_matrix(count: np.ndarray, chatters: np.ndarray, emotes: np.ndarray, short: np.ndarray,
                covered: np.ndarray, window_s: float, overall_short: float, *,
                baseline: Baseline = local_baseline) -> np.ndarray:
    """Per-window sums (each (n,) float64: messages, distinct senders, emotes, short messages)
    -> the chat features (n, len(CHAT_FEATURES)) float32. Shared by the VOD replay and live
    chat (`live_chat.py`, which passes a trailing baseline), so both compute the same thing.

    message_rate and chatters (distinct senders) are relative to the stream's own local
    baseline (1.0 = usual), emotes likewise; short_share is the share of short messages among
    the window's (smoothed, leaning to the stream's share `overall_short` where there are few).
    Rows outside `covered` are computed too; callers zero them."""
    width = max(1, int(round(CHAT_SMOOTH_S / window_s)))

    def relative(per_window: np.ndarray) -> np.ndarray:
        rate = scoring.smooth(per_window, width).astype(np.float64) / window_s
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


# --- the cache --------------------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS chat_fetches (
    channel_id INTEGER NOT NULL,
    vod_id TEXT NOT NULL,
    start_us INTEGER NOT NULL,   -- the VOD's start, epoch microseconds
    end_us INTEGER NOT NULL,     -- its end + 1 s: where paging began
    cursor_us INTEGER NOT NULL,  -- the next page's cursor: every message newer is stored
    pages INTEGER NOT NULL,
    complete INTEGER NOT NULL,   -- 1 only once paging reached the VOD's start
    updated_at REAL NOT NULL,
    PRIMARY KEY (channel_id, vod_id)
);
CREATE TABLE IF NOT EXISTS chat_messages (
    channel_id INTEGER NOT NULL,
    vod_id TEXT NOT NULL,
    id TEXT NOT NULL,
    created_s REAL NOT NULL,     -- epoch seconds (Kick's created_at is second-precise)
    user_id INTEGER,
    content TEXT NOT NULL,
    PRIMARY KEY (channel_id, vod_id, id)
);
"""


@dataclass(frozen=True)
class FetchState:
    cursor_us: int
    pages: int
    complete: bool


class ChatCache:
    """Chat replays in `models_dir/chat_cache.sqlite3`, one per (channel id, VOD id), stored
    page by page with the cursor to go on from; `complete` is set only when paging reached the
    VOD's start, so a cancelled or blocked fetch is resumed, never taken for the whole chat."""

    def __init__(self, models_dir: Path):
        self.path = Path(models_dir) / DB_NAME
        storage.prepare(self.path, _SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return storage.connect(self.path)

    def begin(self, channel_id: int, vod_id: str, start_us: int, end_us: int) -> FetchState:
        """The stored state of this fetch; a fetch of another time window (the VOD grew or was
        re-timed) is thrown away and started afresh."""
        with closing(self._connect()) as db, db:
            row = db.execute("SELECT start_us, end_us, cursor_us, pages, complete FROM "
                             "chat_fetches WHERE channel_id=? AND vod_id=?",
                             (channel_id, vod_id)).fetchone()
            if row and (row[0], row[1]) == (start_us, end_us):
                return FetchState(int(row[2]), int(row[3]), bool(row[4]))
            db.execute("DELETE FROM chat_messages WHERE channel_id=? AND vod_id=?",
                       (channel_id, vod_id))
            db.execute("INSERT OR REPLACE INTO chat_fetches VALUES (?,?,?,?,?,?,?,?)",
                       (channel_id, vod_id, start_us, end_us, end_us, 0, 0, time.time()))
        return FetchState(end_us, 0, False)

    def add_page(self, channel_id: int, vod_id: str,
                 rows: list[tuple[str, float, int | None, str]], cursor_us: int,
                 complete: bool) -> None:
        """One page's (id, created epoch s, user id, content) rows and the cursor after it,
        in one transaction."""
        with closing(self._connect()) as db, db:
            db.executemany("INSERT OR IGNORE INTO chat_messages VALUES (?,?,?,?,?,?)",
                           [(channel_id, vod_id, *row) for row in rows])
            db.execute("UPDATE chat_fetches SET cursor_us=?, pages=pages+1, complete=?, "
                       "updated_at=? WHERE channel_id=? AND vod_id=?",
                       (cursor_us, int(complete), time.time(), channel_id, vod_id))

    def ids(self, channel_id: int, vod_id: str) -> set[str]:
        with closing(self._connect()) as db:
            return {r[0] for r in db.execute("SELECT id FROM chat_messages WHERE channel_id=? "
                                             "AND vod_id=?", (channel_id, vod_id))}

    def messages(self, channel_id: int, vod_id: str) -> list[tuple[float, int | None, str]]:
        """(created epoch s, user id, content) of every stored message, oldest first."""
        with closing(self._connect()) as db:
            return db.execute("SELECT created_s, user_id, content FROM chat_messages WHERE "
                              "channel_id=? AND vod_id=? ORDER BY created_s, id",
                              (channel_id, vod_id)).fetchall()


# --- fetching ---------------------------------------------------------------------------------

@dataclass
class ChatReplay:
    """What a fetch got: the messages of [covered_from_s, duration] (seconds into the VOD),
    all of it when `complete`; `reason` says why it stopped early (or why there is none)."""

    rows: list[tuple[float, int | None, str]]
    start_epoch_s: float
    covered_from_s: float
    complete: bool
    reason: str | None = None
    requests: int = 0
    pages: int = 0


def fetch_replay(config: Config, channel_id: int, vod_id: str, start_epoch_s: float,
                 duration_s: float, *, progress: Progress | None = None,
                 stop: threading.Event | None = None, session: Any = None) -> ChatReplay:
    """Page a VOD's chat backwards from its end to its start (see the module docstring),
    storing each page as it comes. Never raises for what Kick does: a block, an HTTP error or
    `stop` ends the fetch with `reason` set and what was stored so far."""
    from kick_api import KickSession, bearer_header

    stop = stop or threading.Event()
    progress = progress or (lambda fraction, message: None)
    start_us = int(round(start_epoch_s * 1e6))
    end_us = int(round((start_epoch_s + duration_s + 1.0) * 1e6))
    cache = ChatCache(config.models_dir)
    state = cache.begin(channel_id, vod_id, start_us, end_us)
    cursor, pages, complete = state.cursor_us, state.pages, state.complete
    requests, reason = 0, None
    if complete:
        logger.info("chat of %s: from the cache (%d pages)", vod_id, pages)
        progress(1.0, "chat from the cache")
    else:
        if pages:
            logger.info("chat of %s: resuming at page %d", vod_id, pages + 1)
        own = session is None
        session = session or KickSession(config, sleep=stop.wait)
        url = f"{config.kick_base_url.rstrip('/')}/api/v2/channels/{channel_id}/messages"
        headers = bearer_header(config.kick_token)
        seen = cache.ids(channel_id, vod_id)
        last_request = None
        try:
            while True:
                if pages >= config.chat_max_pages:
                    reason = f"stopped at the page limit (chat_max_pages={config.chat_max_pages})"
                    break
                if last_request is not None:
                    wait = config.chat_request_interval_s - (time.monotonic() - last_request)
                    if wait > 0:
                        stop.wait(wait)
                if stop.is_set():
                    reason = "cancelled"
                    break
                last_request = time.monotonic()
                response = session.get(f"{url}?cursor={cursor}", headers=headers)
                requests += 1
                if response.status == 404:
                    reason = "Kick has no chat replay for this video"
                    break
                if not response.ok:
                    reason = f"Kick answered HTTP {response.status}"
                    break
                messages, next_cursor = _page(response)
                rows, oldest_us = [], None
                for message in messages:
                    created = kick_epoch_s(message.get("created_at"))
                    if created is None:
                        continue
                    created_us = int(round(created * 1e6))
                    oldest_us = created_us if oldest_us is None else min(oldest_us, created_us)
                    mid = str(message.get("id") or "")
                    if not mid or mid in seen or not start_us <= created_us < end_us:
                        continue
                    seen.add(mid)
                    if counts_as_chat(message):
                        rows.append((mid, created, sender_id(message),
                                     str(message.get("content") or "")))
                if next_cursor is None:
                    next_cursor = oldest_us
                moved = next_cursor is not None and next_cursor < cursor
                if messages and not moved:
                    logger.warning("chat of %s: the cursor did not move back (%s); stopping",
                                   vod_id, next_cursor)
                done = not messages or not moved or (oldest_us is not None
                                                     and oldest_us < start_us)
                cursor = next_cursor if moved else cursor
                cache.add_page(channel_id, vod_id, rows, cursor, done)
                pages += 1
                progress(_fraction(cursor, start_us, end_us, done),
                         f"chat {100 * _fraction(cursor, start_us, end_us, done):.0f}% "
                         f"(page {pages})")
                if done:
                    complete = True
                    break
        except BlockedByKick:
            reason = "Kick refused the request"
        except KickAPIError as err:
            reason = str(err)
        finally:
            if own:
                session.close()
        if reason:
            logger.warning("chat of %s stopped after %d pages: %s", vod_id, pages, reason)
    covered_from = 0.0 if complete else max(0.0, (cursor - start_us) / 1e6)
    return ChatReplay(cache.messages(channel_id, vod_id), start_epoch_s, covered_from,
                      complete, reason, requests, pages)


def _page(response: Any) -> tuple[list[dict[str, Any]], int | None]:
    """(messages, next cursor µs or None) of one answer; KickAPIError when it is not one."""
    try:
        body = response.json()
    except ValueError as err:
        raise KickAPIError("Kick sent a chat page that is not JSON") from err
    data = pick(body, "data", type=dict)
    if data is None:
        raise KickAPIError("Kick sent an unexpected chat page")
    messages = [m for m in (data.get("messages") or []) if isinstance(m, dict)]
    return messages, as_int(data.get("cursor"))


def _fraction(cursor_us: int, start_us: int, end_us: int, done: bool) -> float:
    if done:
        return 1.0
    return float(min(max((end_us - cursor_us) / max(end_us - start_us, 1), 0.0), 0.999))


# --- the background job and its result --------------------------------------------------------

def skip_reason(kick: dict[str, Any] | None, config: Config) -> str | None:
    """Why a source gets no chat (None: fetch it)."""
    if not config.use_chat:
        return "turned off"
    if not kick or kick.get("kind") != "vod":
        return "chat replay is fetched for Kick VODs only"
    if kick.get("channel_id") is None:
        return "Kick gave no channel id for this video"
    if kick_epoch_s(kick.get("created_at")) is None:
        return "Kick gave no start time for this video"
    return None


@dataclass
class ChatJob:
    """`fetch_replay` in a background thread, run while the stream is analysed. The engine
    reads `status()` for its progress line (the UI's progress only works from the run's own
    thread, so the job never reports itself) and `stop()`s it when the run ends early."""

    config: Config
    kick: dict[str, Any]
    duration_s: float
    _stop: threading.Event = field(default_factory=threading.Event)
    _status: tuple[float, str] = (0.0, "chat 0%")
    _replay: ChatReplay | None = None
    _error: BaseException | None = None
    _thread: threading.Thread | None = None

    def start(self) -> ChatJob:
        self._thread = threading.Thread(target=self._work, name="kick-chat", daemon=True)
        self._thread.start()
        return self

    def _work(self) -> None:
        try:
            self._replay = fetch_replay(
                self.config, int(self.kick["channel_id"]), str(self.kick["id"]),
                kick_epoch_s(self.kick["created_at"]) or 0.0, self.duration_s,
                progress=self._progress, stop=self._stop)
        except BaseException as err:  # noqa: BLE001 - a bug: handed to the run's thread
            self._error = err
        self._status = (1.0, "chat done")

    def _progress(self, fraction: float, message: str) -> None:
        self._status = (fraction, message)

    def status(self) -> tuple[float, str]:
        """(fraction 0..1, short text) of the fetch."""
        return self._status

    def done(self) -> bool:
        return self._thread is None or not self._thread.is_alive()

    def wait(self, timeout_s: float) -> bool:
        """True once the fetch has ended (waits up to `timeout_s`)."""
        if self._thread is not None:
            self._thread.join(timeout_s)
        return self.done()

    def stop(self, timeout_s: float = 2.0) -> None:
        """Ask the fetch to stop (what it stored is kept) and give it `timeout_s` to do so."""
        self._stop.set()
        self.wait(timeout_s)

    def result(self) -> ChatReplay:
        """The replay; re-raises what broke the thread (a bug, not something Kick did)."""
        if self._error is not None:
            raise self._error
        if self._replay is None:
            raise RuntimeError("the chat fetch has not finished")
        return self._replay


def unavailable(reason: str) -> dict[str, Any]:
    """The `chat` block of highlights.json when there is no chat."""
    return {"available": False, "messages": 0, "lag_s": None, "lag_estimated": False,
            "reason": reason}


def assemble(replay: ChatReplay, n_windows: int, window_s: float, duration_s: float,
             reference: np.ndarray | None, valid: np.ndarray, config: Config
             ) -> tuple[ChatFeatures | None, dict[str, Any], list[str]]:
    """A fetched replay -> (features or None, the `chat` block, notes): estimates the reaction
    lag against `reference` (the audio score (n_windows,), or None) and shifts chat by it. Too
    little chat is no chat: None and a note, so the term is left out rather than zeroed."""
    messages = ChatMessages.from_rows(replay.rows, replay.start_epoch_s)
    covered_span = duration_s - replay.covered_from_s
    why = None
    if replay.reason and not len(messages):
        why = replay.reason
    elif len(messages) < MIN_MESSAGES:
        why = ("the chat replay has no messages" if not len(messages) else
               f"only {len(messages)} chat messages")
    elif covered_span < min(MIN_COVERAGE_S, 0.5 * duration_s):
        why = f"only {covered_span:.0f} s of chat fetched ({replay.reason or 'stopped'})"
    if why:
        return None, unavailable(why), [f"chat: unavailable ({why}) - ranked on audio and "
                                        "video"]
    covered = coverage(n_windows, window_s, duration_s, replay.covered_from_s, 0.0)
    lag_s, estimated = config.chat_lag_s, False
    if reference is not None:
        rate = chat_rate(messages, n_windows, window_s, covered)
        lag_s, estimated = estimate_lag(rate, reference, window_s,
                                        max_lag_s=config.chat_max_lag_s,
                                        default_s=config.chat_lag_s, mask=valid & covered)
    chat = chat_features(messages, n_windows, window_s, duration_s=duration_s, lag_s=lag_s,
                         covered_from_s=replay.covered_from_s, lag_estimated=estimated)
    block: dict[str, Any] = {"available": True, "messages": chat.messages, "lag_s": lag_s,
                             "lag_estimated": estimated}
    notes = []
    if not replay.complete:
        block["covered_from_s"] = round(replay.covered_from_s, 1)
        block["reason"] = replay.reason or "stopped early"
        more = ("raise chat_max_pages to fetch more" if "page limit" in block["reason"]
                else "run again to fetch the rest")
        notes.append(f"chat: partial ({block['reason']}) - chat covers "
                     f"{hms(replay.covered_from_s)}-{hms(duration_s)}; before that ranked "
                     f"on audio and video ({more})")
    return chat, block, notes


__all__ = ["CHAT_FEATURES", "CHAT_NAME", "ChatCache", "ChatFeatures", "ChatJob",
           "ChatMessages", "ChatReplay", "assemble", "chat_features", "chat_matrix",
           "chat_rate", "count_emotes", "counts_as_chat", "estimate_lag", "fetch_replay",
           "is_short", "local_baseline", "sender_id", "skip_reason",
           "unavailable"]
