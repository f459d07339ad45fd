"""Fetching a Kick VOD's chat replay, paced and resumable, and the SQLite cache it fills.

* Fetching (`fetch_replay`): Kick's chat history (docs/KICK_API.md §3.8, E13)
  `GET {kick_base_url}/api/v2/channels/{channel_id}/messages?cursor={epoch_us}` pages
  *backwards*: newest first, ~25 messages a page, `data.cursor` = the µs time of the page's
  oldest message. Paging starts at the VOD's end + 1 s and stops once messages are older than
  the VOD's start, on an empty page or when the cursor stops moving back. Requests go through
  `kick_api.KickSession` one per `chat_request_interval_s` (bursts get Kick's WAF block).
  `chat_mode` "sampled" spends a request budget on a coarse rate curve and pages around the
  top audio/video moments instead of paging through it all.
* The cache (`ChatCache`): every page is stored in SQLite as it comes, with the span of time
  it covers, so a cancelled or blocked fetch resumes where it stopped and a finished one is
  never fetched again.

What a fetch got is a `ChatReplay`; `kick_chat.ChatJob` runs the fetch in a background thread
and `kick_chat.assemble` turns the replay into chat features.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import storage
from chat_features import MIN_BASELINE_PER_S, counts_as_chat, sender_id
from config import Config
from errors import BlockedByKick, KickAPIError
from jsonpick import as_int, pick
from timecode import kick_epoch_s

logger = logging.getLogger(__name__)

Progress = Callable[[float, str], None]

DB_NAME = "chat_cache.sqlite3"


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
CREATE TABLE IF NOT EXISTS chat_spans (
    channel_id INTEGER NOT NULL,
    vod_id TEXT NOT NULL,
    lo_us INTEGER NOT NULL,      -- one fetched page: every message in [lo_us, hi_us) is stored
    hi_us INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS chat_spans_vod ON chat_spans (channel_id, vod_id);
"""


@dataclass(frozen=True)
class FetchState:
    cursor_us: int  # the lower end of the stretch fetched back from the VOD's end
    pages: int
    complete: bool


def merge_spans(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping or touching (lo, hi) spans merged, in order."""
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(spans):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def descend(cursor_us: int, spans: list[tuple[int, int]]) -> int:
    """Where paging back from `cursor_us` must next ask: below every fetched span it is in."""
    for lo, hi in reversed(spans):
        if lo < cursor_us <= hi:
            cursor_us = lo
    return cursor_us


class ChatCache:
    """Chat replays in `models_dir/chat_cache.sqlite3`, one per (channel id, VOD id): every
    page fetched (sampled or paged through, any run) is kept as its messages and the span of
    time it covers, so a later run asks only for what no span covers. `complete` is set only
    when the spans cover the whole VOD."""

    def __init__(self, models_dir: Path):
        self.path = Path(models_dir) / DB_NAME
        storage.prepare(self.path, _SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return storage.connect(self.path)

    def begin(self, channel_id: int, vod_id: str, start_us: int, end_us: int) -> FetchState:
        """The stored state of this VOD's chat; a fetch of another time window (the VOD grew
        or was re-timed) is thrown away and started afresh."""
        with closing(self._connect()) as db, db:
            row = db.execute("SELECT start_us, end_us, cursor_us, pages, complete FROM "
                             "chat_fetches WHERE channel_id=? AND vod_id=?",
                             (channel_id, vod_id)).fetchone()
            if row and (row[0], row[1]) == (start_us, end_us):
                has_spans = db.execute("SELECT 1 FROM chat_spans WHERE channel_id=? AND "
                                       "vod_id=? LIMIT 1", (channel_id, vod_id)).fetchone()
                if not has_spans and row[2] < end_us:  # a cache from before spans were kept
                    db.execute("INSERT INTO chat_spans VALUES (?,?,?,?)",
                               (channel_id, vod_id, start_us - 1 if row[4] else row[2], end_us))
                return FetchState(int(row[2]), int(row[3]), bool(row[4]))
            for table in ("chat_messages", "chat_spans"):
                db.execute(f"DELETE FROM {table} WHERE channel_id=? AND vod_id=?",  # noqa: S608
                           (channel_id, vod_id))
            db.execute("INSERT OR REPLACE INTO chat_fetches VALUES (?,?,?,?,?,?,?,?)",
                       (channel_id, vod_id, start_us, end_us, end_us, 0, 0, time.time()))
        return FetchState(end_us, 0, False)

    def add_page(self, channel_id: int, vod_id: str,
                 rows: list[tuple[str, float, int | None, str]], lo_us: int,
                 hi_us: int) -> FetchState:
        """One page's (id, created epoch s, user id, content) rows and the span [lo_us, hi_us)
        it covers, in one transaction; the state after it."""
        with closing(self._connect()) as db, db:
            db.executemany("INSERT OR IGNORE INTO chat_messages VALUES (?,?,?,?,?,?)",
                           [(channel_id, vod_id, *row) for row in rows])
            db.execute("INSERT INTO chat_spans VALUES (?,?,?,?)",
                       (channel_id, vod_id, lo_us, hi_us))
            start_us, end_us = db.execute("SELECT start_us, end_us FROM chat_fetches WHERE "
                                          "channel_id=? AND vod_id=?",
                                          (channel_id, vod_id)).fetchone()
            spans = merge_spans(db.execute("SELECT lo_us, hi_us FROM chat_spans WHERE "
                                           "channel_id=? AND vod_id=?", (channel_id, vod_id)))
            cursor = descend(end_us, spans)
            complete = cursor <= start_us
            db.execute("UPDATE chat_fetches SET cursor_us=?, pages=pages+1, complete=?, "
                       "updated_at=? WHERE channel_id=? AND vod_id=?",
                       (cursor, int(complete), time.time(), channel_id, vod_id))
            pages = db.execute("SELECT pages FROM chat_fetches WHERE channel_id=? AND "
                               "vod_id=?", (channel_id, vod_id)).fetchone()[0]
        return FetchState(cursor, int(pages), complete)

    def spans(self, channel_id: int, vod_id: str) -> list[tuple[int, int]]:
        """The fetched spans (lo_us, hi_us), merged."""
        with closing(self._connect()) as db:
            return merge_spans(db.execute("SELECT lo_us, hi_us FROM chat_spans WHERE "
                                          "channel_id=? AND vod_id=?", (channel_id, vod_id)))

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

KICK_PAGE_S = 1.0  # Kick's pace, one page a second: what `chat_budget_s` is counted in
PACE_JITTER = 0.3  # each pause is chat_request_interval_s times 1..1.3, at random
NEW_PER_PAGE = 22  # a full page brings ~25 messages, ~3 of them repeated from the page before
COARSE_SPACING_S = 90.0  # the coarse pass: a page every this many seconds ...
COARSE_MIN = 4  # ... at least this many pages, at most a third of the budget
COARSE_FIRST = 3  # the first coarse pages (spread by _van_der_corput) go before any target:
#                   they give the baseline a page's rate is measured against
FULL_SHARE = 0.8  # a chat that fits in this share of the budget is fetched whole
CANDIDATE_MIN = 1.5  # an audio/video moment worth a look: its score (z) at least this
CANDIDATE_GAP_S = 30.0  # candidates at least this far apart
# A probe is one page whose cursor sits just after the moment's expected reaction: paging
# back from there, one page (~25 messages: a couple of seconds of a burst, several of a calm
# chat) already tells a burst by its rate. Only a probe that finds the chat hot gets more.
PROBE_AFTER_S = 2.0  # the probe's cursor: moment + reaction lag + this ...
PROBE_BEFORE_S = 2.0  # ... and its pages go back at most to just before the moment
HOT_PAGES = 2  # a hot probe or coarse page: this many more pages back, and one ahead
HOT_AHEAD_S = 10.0  # the page ahead pages back from this far past the hot page
HOT_RATIO = 2.0  # a page whose rate is this many times the coarse baseline is a hot spot
# Which page goes next (the most valuable): the first coarse pages, then one probe per
# candidate (strongest first), then the rest of the coarse curve, then more pages where a
# page found the chat hot (its shape, chatters and emotes: every feature, not just the rate).
COARSE_FIRST_VALUE = 30.0
PROBE_VALUE = 20.0  # plus the candidate's strength, at most PROBE_STRENGTH_CAP
PROBE_STRENGTH_CAP = 5.0
COARSE_VALUE = 10.0
HOT_VALUE = 5.0  # plus the page's ratio to the baseline, at most HOT_RATIO_CAP
HOT_RATIO_CAP = 4.0


@dataclass
class ChatReplay:
    """What a fetch got: the messages of the fetched `spans` ((from_s, to_s) seconds into the
    VOD; None: [covered_from_s, end]), all of the VOD when `complete`; `reason` says why it
    stopped early (or why there is none)."""

    rows: list[tuple[float, int | None, str]]
    start_epoch_s: float
    covered_from_s: float
    complete: bool
    reason: str | None = None
    requests: int = 0
    pages: int = 0
    spans: list[tuple[float, float]] | None = None
    mode: str = "full"
    blocks: int = 0  # 403 burst blocks met (the first is waited out)


class _Stop(Exception):
    """Ends a fetch early; its message is the reason (None: the plan is done)."""


@dataclass
class _Target:
    """Page back from `hi_us` towards `lo_us`, `pages` pages at most, in order of `value`."""

    hi_us: int
    lo_us: int
    pages: int
    value: float
    kind: str  # "coarse" | "probe" | "hot" | "full"
    moment_s: float | None = None


class _Fetcher:
    """Requests chat pages one at a time at Kick's pace (with jitter), stores each page, and
    handles Kick's burst block: waited out once, the second ends the fetch."""

    def __init__(self, config: Config, channel_id: int, vod_id: str, start_us: int,
                 end_us: int, cache: ChatCache, stop: threading.Event, session: Any,
                 deadline: Callable[[], float | None]):
        from kick_api import bearer_header

        self.config, self.channel_id, self.vod_id = config, channel_id, vod_id
        self.start_us, self.end_us, self.cache, self.stop = start_us, end_us, cache, stop
        self.session, self.deadline = session, deadline
        self.url = f"{config.kick_base_url.rstrip('/')}/api/v2/channels/{channel_id}/messages"
        self.headers = bearer_header(config.kick_token)
        # begin() first: it throws away the pages of another time window (the VOD grew),
        # and what was seen and covered must be read after that, not before
        self.state = cache.begin(channel_id, vod_id, start_us, end_us)
        self.seen = cache.ids(channel_id, vod_id)
        self.spans = cache.spans(channel_id, vod_id)
        self.requests = self.pages = self.blocks = 0
        self._last: float | None = None
        self._rng = random.Random(f"{channel_id}/{vod_id}")  # jitter: random, yet repeatable
        self.page_size = 0  # the most messages one page brought
        self.budget = config.chat_max_pages  # requests

    def _pause(self, seconds: float) -> None:
        """Wait `seconds` unless stopped or past the deadline (then `_Stop`)."""
        end = time.monotonic() + seconds
        while True:
            if self.stop.is_set():
                raise _Stop("cancelled")
            left = end - time.monotonic()
            deadline = self.deadline()
            if deadline is not None and time.monotonic() + max(left, 0.0) > deadline:
                raise _Stop(None)
            if left <= 0:
                return
            if self.stop.wait(min(left, 0.25)):
                raise _Stop("cancelled")

    def get(self, cursor_us: int) -> tuple[list[dict[str, Any]], int | None]:
        """(messages, next cursor) of the page at `cursor_us`, paced."""
        from kick_api import is_block_response

        while True:
            if self.requests >= self.budget:
                raise _Stop(None)
            if self._last is not None:
                interval = self.config.chat_request_interval_s
                self._pause(interval * (1 + PACE_JITTER * self._rng.random())
                            - (time.monotonic() - self._last))
            elif self.stop.is_set():
                raise _Stop("cancelled")
            else:
                self._pause(0.0)  # past the deadline already: no request
            self._last = time.monotonic()
            response = self.session.get(f"{self.url}?cursor={cursor_us}", headers=self.headers)
            self.requests += 1
            if is_block_response(response.status, response.headers, response.content):
                self.blocks += 1
                if self.blocks > 1:
                    raise _Stop("Kick refused the request")
                logger.warning("chat of %s: Kick blocked the chat requests (HTTP %d); waiting "
                               "%.0f s once", self.vod_id, response.status,
                               self.config.chat_block_wait_s)
                try:
                    self._pause(self.config.chat_block_wait_s)
                except _Stop as stopped:
                    raise _Stop(stopped.args[0] or "Kick refused the request") from None
                continue
            if response.status == 404:
                raise _Stop("Kick has no chat replay for this video")
            if not response.ok:
                raise _Stop(f"Kick answered HTTP {response.status}")
            return _page(response)

    def page(self, cursor_us: int) -> tuple[int, int, int]:
        """Fetch and store the page at `cursor_us`: (lo_us, its messages newer than lo_us,
        messages on it). lo_us <= start_us when the page reached the VOD's start."""
        messages, next_cursor = self.get(cursor_us)
        rows, oldest_us, older = [], None, 0
        for message in messages:
            created = kick_epoch_s(message.get("created_at"))
            if created is None:
                continue
            created_us = int(round(created * 1e6))
            oldest_us = created_us if oldest_us is None else min(oldest_us, created_us)
            older += created_us < cursor_us
            mid = str(message.get("id") or "")
            if not mid or mid in self.seen or not self.start_us <= created_us < self.end_us:
                continue
            self.seen.add(mid)
            if counts_as_chat(message):
                rows.append((mid, created, sender_id(message),
                             str(message.get("content") or "")))
        if next_cursor is None:
            next_cursor = oldest_us
        moved = next_cursor is not None and next_cursor < cursor_us
        if messages and not moved:
            logger.warning("chat of %s: the cursor did not move back (%s); taking it as the "
                           "start of the chat", self.vod_id, next_cursor)
        lo = next_cursor if messages and moved else min(self.start_us - 1, cursor_us - 1)
        self.state = self.cache.add_page(self.channel_id, self.vod_id, rows, lo, cursor_us)
        self.spans = merge_spans([*self.spans, (lo, cursor_us)])
        self.pages += 1
        self.page_size = max(self.page_size, len(messages))
        return lo, older, len(messages)


def fetch_replay(config: Config, channel_id: int, vod_id: str, start_epoch_s: float,
                 duration_s: float, *, progress: Progress | None = None,
                 stop: threading.Event | None = None, session: Any = None,
                 candidates: Callable[[], tuple[list[tuple[float, float]], float]] | None = None,
                 deadline: Callable[[], float | None] | None = None) -> ChatReplay:
    """A VOD's chat, `config.chat_mode`: "full" pages backwards from its end to its start
    (see the module docstring); "sampled" spends at most `chat_budget_s` of requests on a
    coarse rate curve, one page just after the expected reaction to each moment
    `candidates()` names ((moment s, strength) pairs and the analysis' progress 0..1), and
    more pages where a page found the chat hot (see the *_VALUE constants for the order), until
    `deadline()` (a time.monotonic() value, None while the analysis runs). Pages already in
    the cache are never asked for again. Never raises for what Kick does: a block, an HTTP
    error or `stop` ends the fetch with `reason` set and what was stored so far."""
    stop = stop or threading.Event()
    progress = progress or (lambda fraction, message: None)
    start_us = int(round(start_epoch_s * 1e6))
    end_us = int(round((start_epoch_s + duration_s + 1.0) * 1e6))
    cache = ChatCache(config.models_dir)
    sampled = config.chat_mode == "sampled"
    own = session is None
    if own:
        # a sampled fetch must not hang on one request past its deadline, and a block is
        # waited out here (once), not retried at once by the session
        session_config = config if not sampled else config.replace(
            request_timeout_s=min(config.request_timeout_s, 10.0),
            retry_attempts=min(config.retry_attempts, 2))
        session = _chat_session(session_config, stop.wait)
    fetcher = _Fetcher(config, channel_id, vod_id, start_us, end_us, cache, stop, session,
                       deadline or (lambda: None))
    reason = None
    try:
        if fetcher.state.complete:
            logger.info("chat of %s: from the cache (%d pages)", vod_id, fetcher.state.pages)
            progress(1.0, "chat from the cache")
        elif sampled:
            fetcher.budget = max(1, int(round(config.chat_budget_s / KICK_PAGE_S)))
            _sample(fetcher, duration_s, config, progress, candidates or (lambda: ([], 1.0)))
        else:
            fetcher.budget = config.chat_max_pages
            if fetcher.state.pages:
                logger.info("chat of %s: resuming at page %d", vod_id, fetcher.state.pages + 1)
            _page_back(fetcher, _Target(end_us, start_us, config.chat_max_pages, 0.0, "full"),
                       progress)
            if not fetcher.state.complete:
                reason = (f"stopped at the page limit (chat_max_pages={config.chat_max_pages})")
    except _Stop as stopped:
        reason = stopped.args[0] if stopped.args else None
    except KickAPIError as err:
        reason = "Kick refused the request" if isinstance(err, BlockedByKick) else str(err)
    finally:
        if own:
            session.close()
    complete = fetcher.state.complete
    if reason and not complete:
        logger.warning("chat of %s stopped after %d requests: %s", vod_id, fetcher.requests,
                       reason)
    elif sampled and not complete:
        logger.info("chat of %s: sampled with %d requests", vod_id, fetcher.requests)
    spans = [(max(0.0, (lo - start_us) / 1e6), min(duration_s + 1.0, (hi - start_us) / 1e6))
             for lo, hi in fetcher.spans if hi > start_us and lo < end_us]
    covered_from = 0.0 if complete else max(0.0, (fetcher.state.cursor_us - start_us) / 1e6)
    return ChatReplay(cache.messages(channel_id, vod_id), start_epoch_s, covered_from,
                      complete, reason if not complete else None, fetcher.requests,
                      fetcher.state.pages, spans, config.chat_mode, fetcher.blocks)


def _page_back(fetcher: _Fetcher, target: _Target, progress: Progress) -> list[tuple[int, int]]:
    """Page back from target.hi_us to target.lo_us (skipping what is stored), at most
    target.pages pages: [(messages per second, messages)] of each page fetched."""
    got = []
    while target.pages > 0:
        cursor = descend(target.hi_us, fetcher.spans)
        if cursor <= max(target.lo_us, fetcher.start_us):
            break
        lo, newer, n = fetcher.page(cursor)
        target.pages -= 1
        target.hi_us = lo
        got.append((newer / max((cursor - lo) / 1e6, 1.0), n))
        if target.kind == "full":
            fraction = 1.0 if fetcher.state.complete else _fraction(
                fetcher.state.cursor_us, fetcher.start_us, fetcher.end_us, False)
            progress(fraction, f"chat {100 * fraction:.0f}% (page {fetcher.state.pages})")
        else:
            fraction = min(fetcher.requests / fetcher.budget, 0.999)
            progress(fraction, f"chat sampled: {fetcher.requests} requests")
    return got


def _sample(fetcher: _Fetcher, duration_s: float, config: Config, progress: Progress,
            candidates: Callable[[], tuple[list[tuple[float, float]], float]]) -> None:
    """The sampled fetch: see `fetch_replay`. Each step takes the most valuable target."""
    start_us, end_us, budget = fetcher.start_us, fetcher.end_us, fetcher.budget
    us = 1_000_000

    def at(t_s: float) -> int:
        return start_us + int(round(t_s * us))

    # first page at the end: its rate says whether the whole chat fits in the budget
    first = _page_back(fetcher, _Target(end_us, end_us - 1, 1, 0.0, "coarse"), progress)
    per_page = max(fetcher.page_size - 3, 1) if fetcher.page_size else NEW_PER_PAGE
    if first:
        rate = first[0][0]
    else:  # the end is cached: its rate from the stored messages
        lo, hi = next(((a, b) for a, b in fetcher.spans if a < end_us <= b), (end_us - us, end_us))
        stored = np.array([r[0] for r in fetcher.cache.messages(fetcher.channel_id,
                                                                  fetcher.vod_id)])
        inside = int(((stored * us >= lo) & (stored * us < hi)).sum()) if len(stored) else 0
        rate = inside / max((hi - lo) / us, 1.0)
    missing_s = sum(max(0, hi - lo) for lo, hi in _gaps(fetcher.spans, start_us, end_us)) / us
    if rate * missing_s / per_page <= FULL_SHARE * (budget - fetcher.requests):
        _page_back(fetcher, _Target(end_us, start_us, budget, 0.0, "full"), progress)
        return
    n_coarse = int(min(max(COARSE_MIN, round(duration_s / COARSE_SPACING_S)), budget // 3))
    step = duration_s / n_coarse
    order = sorted(range(n_coarse - 1), key=_van_der_corput)
    targets = [_Target(at((i + 1) * step), at((i + 1) * step) - 1, 1,
                       COARSE_FIRST_VALUE if k < COARSE_FIRST else COARSE_VALUE, "coarse")
               for k, i in enumerate(order)]
    coarse_rates = [rate]
    probed: list[float] = []  # moments probed so far (s)
    probe_budget = budget - n_coarse
    probe_pages = 0
    lag = config.chat_lag_s
    while fetcher.requests < budget:
        moments, analysed = candidates()
        for moment, strength in moments:
            if strength < CANDIDATE_MIN or any(abs(moment - p) < CANDIDATE_GAP_S
                                               for p in probed):
                continue
            probed.append(moment)
            hi = at(min(moment + lag + PROBE_AFTER_S, duration_s + 1.0))
            targets.append(_Target(hi, at(max(moment - PROBE_BEFORE_S, 0.0)), 1,
                                   PROBE_VALUE + min(strength, PROBE_STRENGTH_CAP), "probe",
                                   moment))
        live = [t for t in targets if t.pages > 0
                and descend(t.hi_us, fetcher.spans) > max(t.lo_us, start_us)]
        if analysed < 1.0:  # spend on targets in step with the analysis, keep the rest
            allowed = probe_budget * analysed - probe_pages
            live = [t for t in live if t.kind == "coarse" or allowed >= 1]
        if not live:
            if analysed >= 1.0:
                return
            fetcher._pause(max(config.chat_request_interval_s, 0.05))  # wait for candidates
            continue
        target = max(live, key=lambda t: t.value)
        kind = target.kind
        pages = _page_back(fetcher, _Target(target.hi_us, target.lo_us, 1, 0.0, kind),
                           progress)
        target.pages -= 1
        if not pages:
            target.pages = 0
            continue
        page_rate = pages[0][0]
        hi_us, target.hi_us = target.hi_us, descend(target.hi_us, fetcher.spans)
        if kind == "coarse":
            coarse_rates.append(page_rate)
        else:
            probe_pages += 1
        baseline = max(float(np.median(coarse_rates)), MIN_BASELINE_PER_S)
        ratio = page_rate / baseline
        if kind in ("coarse", "probe") and ratio >= HOT_RATIO and len(coarse_rates) >= 2:
            # a hot spot: its shape - back to where it began, and on past where it ended
            logger.debug("chat hot spot at %.0f s (x%.1f)", (hi_us - start_us) / us, ratio)
            value = HOT_VALUE + min(ratio, HOT_RATIO_CAP)
            lo_us = target.lo_us if kind == "probe" else target.hi_us - 30 * us
            targets.append(_Target(target.hi_us, lo_us, HOT_PAGES, value, "hot"))
            targets.append(_Target(min(hi_us + int(HOT_AHEAD_S * us), end_us), hi_us, 1,
                                   value, "hot"))


def _gaps(spans: list[tuple[int, int]], lo: int, hi: int) -> list[tuple[int, int]]:
    """The parts of [lo, hi) no span covers."""
    out, at = [], lo
    for a, b in spans:
        if b <= at or a >= hi:
            continue
        if a > at:
            out.append((at, a))
        at = max(at, b)
    if at < hi:
        out.append((at, hi))
    return out


def _van_der_corput(i: int) -> float:
    """0, 1/2, 1/4, 3/4, ...: coarse points in an order that spreads any prefix evenly."""
    x, denom, i = 0.0, 1.0, i + 1
    while i:
        denom *= 2
        x += (i % 2) / denom
        i //= 2
    return x


def _chat_session(config: Config, sleep: Callable[[float], None]) -> Any:
    """Kick's session, except that a bot-protection answer comes back at once: the chat fetch
    waits out a burst block itself (retrying at once only makes a block longer)."""
    from kick_api import KickSession

    class ChatSession(KickSession):
        def refusal(self, response: Any) -> str | None:
            return None

    return ChatSession(config, sleep=sleep)


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


__all__ = ["DB_NAME", "ChatCache", "ChatReplay", "FetchState", "descend", "fetch_replay",
           "merge_spans"]
