"""Kick live chat: Kick's Pusher websocket -> per-second chat feature rows, while it broadcasts.

Kick's chat reaches its web player over Pusher (docs/KICK_API.md §2 E16, §3.8, §3.9): a websocket
to `config.live_chat_url`, protocol 7. `LiveChat` follows it in a background thread with the
`websockets` library's synchronous client:

* open the socket, wait for `pusher:connection_established` (its `data` is a JSON string with
  `socket_id` and `activity_timeout`), send `pusher:subscribe` for `chatrooms.{chatroom_id}.v2`
  (the chatroom id is E1's `chatroom.id`, not the channel id), wait for
  `pusher_internal:subscription_succeeded`;
* answer `pusher:ping` with `pusher:pong`; after `activity_timeout` seconds without a frame send
  a `pusher:ping` and reconnect when nothing answers within PONG_TIMEOUT_S (or the activity
  timeout when that is shorter);
* `App\\Events\\ChatMessageEvent` frames carry the message as a JSON string in `data`; a frame
  that cannot be read is counted as junk and skipped;
* on a disconnect, reconnect after `live_chat_backoff_s * 2**n` s (at most 60 s, immediately
  for Pusher's 4200-4299 close codes); after `live_chat_reconnects` failures in a row, or at
  once for Pusher's "do not reconnect" codes (4000-4099, e.g. a wrong app key), give up: the
  status says why and the live run goes on with audio and video alone. Nothing here raises
  into the run.

Messages are classified exactly as the VOD replay's (`chat_features.counts_as_chat`, `sender_id`,
`count_emotes`, `is_short`) and counted per whole second of wall-clock time in a ring of the
last HISTORY_S seconds, so memory stays flat however long the stream runs. `LiveChat.rows`
turns those counts into the VOD replay's CHAT_FEATURES with the very same code
(`chat_features.chat_matrix`); only the baseline is causal (`trailing_baseline`: the previous ten
minutes, where the VOD uses the ten minutes around a moment).
"""

from __future__ import annotations

import collections
import json
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from chat_features import (
    BASELINE_BLOCK_S,
    BASELINE_SPAN_S,
    CHAT_FEATURES,
    MIN_BASELINE_PER_S,
    chat_matrix,
    count_emotes,
    counts_as_chat,
    is_short,
    sender_id,
)
from config import Config
from jsonpick import as_int, json_object, pick
from timecode import kick_epoch_s

logger = logging.getLogger(__name__)

CHAT_EVENT = "App\\Events\\ChatMessageEvent"
COUNTS = ("messages", "chatters", "emotes", "short")  # the raw per-second sums behind the rows
HISTORY_S = 1800  # seconds of per-second counters kept (the baseline needs BASELINE_SPAN_S)
RING_SLACK_S = 16  # ... plus room for the running second and messages stamped a little ahead
SENDERS_KEPT_S = 30  # seconds back from the newest for which sender sets are kept (dedupe)
CLOCK_SKEW_MAX_S = 5.0  # a created_at further than this from the arrival time is not trusted
PONG_TIMEOUT_S = 30.0  # pusher-js's pong timeout
DEFAULT_ACTIVITY_TIMEOUT_S = 120.0  # Pusher's, when connection_established does not say
MAX_BACKOFF_S = 60.0
MAX_FRAME_BYTES = 1 << 20
RECENT_IDS = 4096  # message ids remembered to drop duplicates
TICK_S = 1.0  # the longest the thread blocks without looking at stop()


# --- per-second counts (pure, not thread-safe) -------------------------------------------------

class ChatSeconds:
    """Per-second chat counters of the last `history_s` seconds in a ring: messages, distinct
    senders, emotes, short messages. Sender sets are kept only for the newest SENDERS_KEPT_S
    seconds (later messages never land further back: see CLOCK_SKEW_MAX_S), so memory is
    bounded by `history_s`, not by how long the stream runs."""

    def __init__(self, history_s: int = HISTORY_S) -> None:
        self.history_s = int(history_s)
        self._second = np.full(self.history_s, -1, np.int64)  # the epoch second a slot holds
        self._sums = np.zeros((self.history_s, len(COUNTS)), np.float64)
        self._senders: dict[int, set[int]] = {}  # second -> senders, recent seconds only
        self.newest = -1

    def add(self, second: int, user: int, emotes: int, short: bool) -> bool:
        """Count one message in `second` (epoch s); False when it is older than the ring."""
        if self.newest >= 0 and second <= self.newest - self.history_s:
            return False
        slot = second % self.history_s
        if self._second[slot] != second:
            self._second[slot] = second
            self._sums[slot] = 0.0
            self._senders.pop(second - self.history_s, None)
        senders = self._senders.setdefault(second, set())
        new_sender = user not in senders
        senders.add(user)
        self._sums[slot] += (1.0, float(new_sender), float(emotes), float(short))
        if second > self.newest:
            self.newest = second
            for old in [s for s in self._senders if s < second - SENDERS_KEPT_S]:
                del self._senders[old]
        return True

    def counts(self, first_s: int, n: int) -> np.ndarray:
        """Sums (n, len(COUNTS)) float64 of the seconds first_s .. first_s + n - 1 (0 where the
        ring holds nothing for a second)."""
        seconds = first_s + np.arange(max(n, 0), dtype=np.int64)
        slots = seconds % self.history_s
        held = self._second[slots] == seconds
        return np.where(held[:, None], self._sums[slots], 0.0)

    @property
    def sender_sets(self) -> int:
        return len(self._senders)


class Coverage:
    """When the chat was subscribed: wall-clock intervals [start, end), the open one ending
    now. Intervals older than `history_s` are forgotten."""

    def __init__(self, history_s: int = HISTORY_S) -> None:
        self.history_s = history_s
        self._spans: list[list[float | None]] = []

    def open(self, now: float) -> None:
        if not self._spans or self._spans[-1][1] is not None:
            self._spans.append([now, None])
        self._spans = [s for s in self._spans
                       if s[1] is None or s[1] > now - self.history_s - 1]

    def close(self, now: float) -> None:
        if self._spans and self._spans[-1][1] is None:
            self._spans[-1][1] = now

    def covered(self, first_s: int, n: int, now: float) -> np.ndarray:
        """bool (n,): whole seconds first_s .. that lie inside one subscribed interval (so the
        second still running is never covered)."""
        out = np.zeros(max(n, 0), bool)
        for start, end in self._spans:
            end = now if end is None else min(end, now)
            lo = max(math.ceil(start) - first_s, 0)
            hi = min(math.floor(end) - first_s, n)  # seconds s with s + 1 <= end
            if hi > lo:
                out[lo:hi] = True
        return out


def trailing_baseline(rate: np.ndarray, covered: np.ndarray, window_s: float) -> np.ndarray:
    """The causal twin of `chat_features.local_baseline` (n,) float64: for each window, the median
    of the 1-minute means over the ten minutes *up to* it (live chat cannot look ahead), over
    covered windows only, floored the same way."""
    n = len(rate)
    if not covered.any():
        return np.full(n, MIN_BASELINE_PER_S)
    block = max(1, int(round(BASELINE_BLOCK_S / window_s)))
    blocks = max(1, int(round(BASELINE_SPAN_S / BASELINE_BLOCK_S)))
    value = np.concatenate([[0.0], np.cumsum(np.where(covered, rate, 0.0))])
    count = np.concatenate([[0], np.cumsum(covered)])
    ends = np.arange(1, n + 1)[:, None] - block * np.arange(blocks)[None, :]
    hi = np.clip(ends, 0, n)
    lo = np.clip(ends - block, 0, n)
    have = count[hi] - count[lo]
    means = np.where(have > 0, (value[hi] - value[lo]) / np.maximum(have, 1), np.nan)
    floor = max(0.1 * float(rate[covered].mean()), MIN_BASELINE_PER_S)
    base = np.full(n, floor)
    rows = np.isfinite(means).any(axis=1)
    if rows.any():
        base[rows] = np.nanmedian(means[rows], axis=1)
    return np.maximum(base, floor)


def live_features(counts: np.ndarray, covered: np.ndarray) -> np.ndarray:
    """Per-second sums (n, len(COUNTS)) -> CHAT_FEATURES (n, 4) float32, computed as the VOD
    replay does (`chat_features.chat_matrix`) with the trailing baseline; uncovered rows are 0."""
    short_total = counts[covered, 0].sum()
    overall = float(counts[covered, 3].sum() / short_total) if short_total > 0 else 0.5
    matrix = chat_matrix(counts[:, 0], counts[:, 1], counts[:, 2], counts[:, 3], covered, 1.0,
                         overall, baseline=trailing_baseline)
    matrix[~covered] = 0.0
    return matrix


# --- the client ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class LiveChatStatus:
    """What the live chat is doing. `state`: "idle" (not started), "connecting", "connected",
    "reconnecting", "unavailable" (given up: `note` says why) or "stopped"."""

    state: str = "idle"
    connected: bool = False
    messages: int = 0  # counted messages (viewers' messages and replies)
    events: int = 0  # chat events received (bots and celebrations too)
    junk: int = 0  # frames that could not be read
    connections: int = 0  # successful subscriptions (1 + reconnects that worked)
    skewed: int = 0  # messages timed by arrival because their created_at was off
    note: str | None = None  # why chat is unavailable, or why the last connection ended

    @property
    def available(self) -> bool:
        return self.state not in ("unavailable",)


class _GiveUp(Exception):
    """Reconnecting cannot help (a wrong key, a refused subscription)."""


class _Reconnect(Exception):
    def __init__(self, reason: str, immediately: bool = False) -> None:
        super().__init__(reason)
        self.immediately = immediately


def skip_reason(kick: dict[str, Any] | None, config: Config) -> str | None:
    """Why a source gets no live chat (None: follow it)."""
    if not config.use_chat:
        return "turned off"
    if not kick or kick.get("kind") != "channel":
        return "live chat is followed for live Kick channels only"
    if kick.get("chatroom_id") is None:
        return "Kick gave no chatroom id for this channel"
    return None


def unavailable_note(reason: str) -> str:
    """The run's note when live chat is missing."""
    return f"chat: unavailable ({reason}) - clips from audio and video alone"


class LiveChat:
    """A Kick channel's live chat, followed in a background thread (see the module docstring).

        chat = LiveChat(config, chatroom_id).start()
        matrix, covered = chat.rows(t0_epoch_s, n)   # any time, from any thread
        chat.status()                                # state, counts, why unavailable
        chat.stop()

    Message time is the message's `created_at` (second-precise, stamped by Kick's servers, so
    a local clock that is a little off or network delay do not move it); when it is missing,
    unreadable or more than CLOCK_SKEW_MAX_S from the arrival time, the arrival time
    (`clock()`, the local wall clock). `clock` is for tests."""

    def __init__(self, config: Config, chatroom_id: int, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.chatroom_id = int(chatroom_id)
        self.channel = f"chatrooms.{self.chatroom_id}.v2"
        self._clock = clock
        self._cond = threading.Condition()
        self._seconds = ChatSeconds(HISTORY_S + RING_SLACK_S)
        self._coverage = Coverage()
        self._status = LiveChatStatus()
        self._recent_ids: collections.deque[str] = collections.deque(maxlen=RECENT_IDS)
        self._recent_set: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ws: Any = None

    # -- the public side ------------------------------------------------------------------------

    def start(self) -> LiveChat:
        """Connect and follow the chat in a daemon thread; returns at once."""
        if self._thread is not None:
            raise RuntimeError("LiveChat.start() was already called")
        self._set(state="connecting")
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"kick-live-chat-{self.chatroom_id}")
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 3.0) -> bool:
        """Disconnect and end the thread; True when it ended within `timeout_s`. What was
        counted stays readable through `rows`."""
        self._stop.set()
        with self._cond:
            ws = self._ws
        if ws is not None:
            try:
                ws.close()
            except Exception:  # noqa: BLE001 - closing a dying socket; the thread ends anyway
                logger.debug("live chat: close failed", exc_info=True)
        if self._thread is not None:
            self._thread.join(timeout_s)
        with self._cond:
            self._coverage.close(self._clock())
            if self._status.state != "unavailable":
                self._status = replace(self._status, state="stopped", connected=False)
            self._cond.notify_all()
        return not self.alive()

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def status(self) -> LiveChatStatus:
        with self._cond:
            return self._status

    def wait_until(self, condition: Callable[[LiveChatStatus], bool], timeout_s: float) -> bool:
        """Block until `condition(status)` holds (True) or `timeout_s` passes (False)."""
        with self._cond:
            return self._cond.wait_for(lambda: condition(self._status), timeout_s)

    def counts(self, t0_epoch_s: float, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Raw per-second sums of the whole seconds floor(t0_epoch_s) + 0 .. n - 1: float32
        (n, len(COUNTS)) = messages, distinct senders, emotes, short messages; and `covered`
        bool (n,) (see `rows`)."""
        first = math.floor(t0_epoch_s)
        with self._cond:
            now = self._clock()
            counts = self._seconds.counts(first, n)
            covered = self._coverage.covered(first, n, now)
        covered &= first + np.arange(max(n, 0)) >= math.floor(now) - HISTORY_S
        return counts.astype(np.float32), covered

    def rows(self, t0_epoch_s: float, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Chat features of the whole seconds floor(t0_epoch_s) + 0 .. n - 1 of wall-clock time:
        float32 (n, len(CHAT_FEATURES)) - the VOD replay's CHAT_FEATURES, counted and
        normalised the same way, on a trailing baseline - and `covered` bool (n,).

        A second is covered when the chat was subscribed for all of it and it lies in the
        last HISTORY_S seconds; the second still running and seconds ahead are not. Uncovered
        rows are 0 and mean "no chat known", never a quiet chat. Rows are computed over the
        whole kept history up to now, so a row does not depend on how it is asked for, but
        the newest few seconds still move: smoothing looks CHAT_SMOOTH_S / 2 ahead and
        messages may be stamped up to CLOCK_SKEW_MAX_S late. Chat trails the moment it reacts
        to (`config.chat_lag_s`): ask for t0 + lag to line it up."""
        first = math.floor(t0_epoch_s)
        with self._cond:
            now = self._clock()
            grid0 = math.floor(now) - HISTORY_S
            counts = self._seconds.counts(grid0, HISTORY_S)
            covered = self._coverage.covered(grid0, HISTORY_S, now)
        features = live_features(counts, covered)
        n = max(n, 0)
        matrix = np.zeros((n, len(CHAT_FEATURES)), np.float32)
        out_covered = np.zeros(n, bool)
        lo, hi = max(first, grid0), min(first + n, grid0 + HISTORY_S)
        if hi > lo:
            matrix[lo - first:hi - first] = features[lo - grid0:hi - grid0]
            out_covered[lo - first:hi - first] = covered[lo - grid0:hi - grid0]
        return matrix, out_covered

    def note(self) -> str | None:
        """The run's note when live chat is (or became) unavailable, else None."""
        status = self.status()
        return unavailable_note(status.note or "unknown") if not status.available else None

    # -- the thread -----------------------------------------------------------------------------

    def _set(self, **changes: Any) -> None:
        with self._cond:
            self._status = replace(self._status, **changes)
            self._cond.notify_all()

    def _run(self) -> None:
        try:
            self._follow()
        except Exception as err:  # noqa: BLE001 - a bug here must not end the live run
            logger.exception("live chat broke")
            self._give_up(f"live chat broke: {err}")

    def _follow(self) -> None:
        from websockets.exceptions import InvalidURI, WebSocketException

        failures = 0
        while not self._stop.is_set():
            before = self.status().connections
            immediately = False
            try:
                self._session()
                reason = "Kick's chat closed the connection"
            except _GiveUp as err:
                self._give_up(str(err))
                return
            except _Reconnect as err:
                reason, immediately = str(err), err.immediately
            except InvalidURI as err:
                self._give_up(f"live_chat_url is not a websocket URL ({err})")
                return
            except (OSError, TimeoutError, WebSocketException) as err:
                reason = _describe(err)
                code = _close_code(err)
                if code is not None and 4000 <= code < 4100:
                    self._give_up(f"Kick's chat refused the connection ({reason})")
                    return
                immediately = code is not None and 4200 <= code < 4300
            finally:
                with self._cond:
                    self._ws = None
                    self._coverage.close(self._clock())
            if self._stop.is_set():
                return
            failures = 1 if self.status().connections > before else failures + 1
            if failures > self.config.live_chat_reconnects:
                tries = "try" if failures == 1 else f"{failures} tries in a row"
                self._give_up(f"could not reach Kick's chat ({reason}; gave up after {tries})")
                return
            delay = 0.0 if immediately else min(
                self.config.live_chat_backoff_s * 2 ** (failures - 1), MAX_BACKOFF_S)
            logger.warning("live chat: %s; reconnecting in %.1f s", reason, delay)
            self._set(state="reconnecting", connected=False, note=reason)
            self._stop.wait(delay)

    def _give_up(self, reason: str) -> None:
        logger.warning("live chat unavailable: %s", reason)
        with self._cond:
            self._coverage.close(self._clock())
            self._status = replace(self._status, state="unavailable", connected=False,
                                   note=reason)
            self._cond.notify_all()

    def _session(self) -> None:
        """One connection, from opening to its end (returns on stop or a clean close)."""
        from websockets.sync.client import connect

        from kick_api import KICK_SITE

        timeout = self.config.live_chat_connect_timeout_s
        with connect(self.config.live_chat_url, open_timeout=timeout, ping_interval=None,
                     close_timeout=1.0, max_size=MAX_FRAME_BYTES, origin=KICK_SITE) as ws:
            with self._cond:
                self._ws = ws
            if self._stop.is_set():
                return
            deadline = time.monotonic() + timeout
            hello = self._expect(ws, deadline, "pusher:connection_established")
            info = json_object(hello.get("data")) or {}
            activity_s = _activity_timeout(info.get("activity_timeout"))
            logger.info("live chat: connected (socket %s, activity timeout %.0f s)",
                        info.get("socket_id"), activity_s)
            ws.send(json.dumps({"event": "pusher:subscribe",
                                "data": {"auth": "", "channel": self.channel}}))
            self._expect(ws, deadline, "pusher_internal:subscription_succeeded")
            if self._stop.is_set():
                return
            with self._cond:
                self._coverage.open(self._clock())
                self._status = replace(self._status, state="connected", connected=True,
                                       connections=self._status.connections + 1, note=None)
                self._cond.notify_all()
            logger.info("live chat: following %s", self.channel)
            self._listen(ws, activity_s)

    def _expect(self, ws: Any, deadline: float, event: str) -> dict[str, Any]:
        """Frames until `event` (for our channel); others are handled as usual on the way."""
        while True:
            left = deadline - time.monotonic()
            if self._stop.is_set():
                raise _Reconnect("stopped")
            if left <= 0:
                raise _Reconnect(f"Kick's chat sent no {event} in "
                                 f"{self.config.live_chat_connect_timeout_s:g} s")
            try:
                raw = ws.recv(timeout=min(left, TICK_S))
            except TimeoutError:
                continue
            frame = self._frame(raw)
            if frame is None:
                continue
            name = frame.get("event")
            if name == event and (event.startswith("pusher:")
                                  or frame.get("channel") in (None, self.channel)):
                return frame
            self._dispatch(ws, frame)

    def _listen(self, ws: Any, activity_s: float) -> None:
        pong_timeout_s = min(PONG_TIMEOUT_S, activity_s)
        last_frame = time.monotonic()
        ping_sent: float | None = None
        while not self._stop.is_set():
            due = (last_frame + activity_s) if ping_sent is None else (ping_sent + pong_timeout_s)
            try:
                raw = ws.recv(timeout=max(0.0, min(due - time.monotonic(), TICK_S)))
            except TimeoutError:
                now = time.monotonic()
                if ping_sent is None and now - last_frame >= activity_s:
                    ws.send(json.dumps({"event": "pusher:ping", "data": {}}))
                    ping_sent = now
                elif ping_sent is not None and now - ping_sent >= pong_timeout_s:
                    raise _Reconnect(f"no answer to a ping in {pong_timeout_s:g} s") from None
                continue
            last_frame, ping_sent = time.monotonic(), None
            frame = self._frame(raw)
            if frame is not None:
                self._dispatch(ws, frame)

    def _frame(self, raw: Any) -> dict[str, Any] | None:
        frame = json_object(raw)
        if frame is None:
            self._junk("a frame that is not a JSON object")
            return None
        return frame

    def _junk(self, what: str) -> None:
        logger.debug("live chat: skipped %s", what)
        with self._cond:
            self._status = replace(self._status, junk=self._status.junk + 1)
            self._cond.notify_all()

    def _dispatch(self, ws: Any, frame: dict[str, Any]) -> None:
        event = frame.get("event")
        if event == "pusher:ping":
            ws.send(json.dumps({"event": "pusher:pong", "data": {}}))
        elif event == "pusher:error":
            _pusher_error(json_object(frame.get("data")) or {})
        elif event == "pusher:subscription_error":
            raise _GiveUp(f"Kick's chat refused the subscription to {self.channel}")
        elif event == CHAT_EVENT and frame.get("channel") in (None, self.channel):
            self._chat(frame.get("data"))

    def _chat(self, data: Any) -> None:
        """One ChatMessageEvent's `data` (a JSON string; an object tolerated) -> counted."""
        message = json_object(data)
        if message is None:
            self._junk("a chat event without a message")
            return
        arrived = self._clock()
        mid = str(message.get("id") or "")
        with self._cond:
            self._status = replace(self._status, events=self._status.events + 1)
            if mid and mid in self._recent_set:
                return
            if mid:
                if len(self._recent_ids) == self._recent_ids.maxlen:
                    self._recent_set.discard(self._recent_ids[0])
                self._recent_ids.append(mid)
                self._recent_set.add(mid)
        if not counts_as_chat(message):
            return
        content = pick(message, "content", type=str) or ""
        created = kick_epoch_s(message.get("created_at"))
        skewed = created is None or abs(created - arrived) > CLOCK_SKEW_MAX_S
        when = arrived if skewed else created
        user = sender_id(message)
        with self._cond:
            self._seconds.add(math.floor(when), -1 if user is None else user,
                              count_emotes(content), is_short(content))
            self._status = replace(self._status, messages=self._status.messages + 1,
                                   skewed=self._status.skewed + int(skewed))
            self._cond.notify_all()


def _activity_timeout(value: Any) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return DEFAULT_ACTIVITY_TIMEOUT_S
    return min(max(seconds, 0.5), DEFAULT_ACTIVITY_TIMEOUT_S) if math.isfinite(seconds) else (
        DEFAULT_ACTIVITY_TIMEOUT_S)


def _pusher_error(data: dict[str, Any]) -> None:
    """pusher:error -> what Pusher's protocol asks: 4000-4099 do not reconnect, 4100-4199
    reconnect after a pause, 4200-4299 reconnect at once."""
    code = as_int(data.get("code"))
    text = f"Pusher error {code}: {data.get('message') or 'no message'}"
    if code is not None and 4000 <= code < 4100:
        raise _GiveUp(f"Kick's chat refused the connection ({text})")
    if code is not None and 4200 <= code < 4300:
        raise _Reconnect(text, immediately=True)
    if code is not None and 4100 <= code < 4200:
        raise _Reconnect(text)
    logger.warning("live chat: %s", text)


def _close_code(err: BaseException) -> int | None:
    received = getattr(err, "rcvd", None)
    return getattr(received, "code", None)


def _describe(err: BaseException) -> str:
    from websockets.exceptions import ConnectionClosed, InvalidStatus

    if isinstance(err, ConnectionClosed):
        received = err.rcvd
        if received is None:
            return "the connection dropped"
        return f"closed with code {received.code}" + (f" ({received.reason})"
                                                      if received.reason else "")
    if isinstance(err, InvalidStatus):
        return f"the websocket handshake got HTTP {err.response.status_code}"
    if isinstance(err, TimeoutError):
        return "timed out opening the websocket"
    return str(err) or type(err).__name__


__all__ = ["CHAT_EVENT", "CHAT_FEATURES", "COUNTS", "HISTORY_S", "ChatSeconds", "Coverage",
           "LiveChat", "LiveChatStatus", "live_features", "skip_reason", "trailing_baseline",
           "unavailable_note"]
