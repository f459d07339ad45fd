"""Kick live chat over a real websocket on 127.0.0.1: Pusher's handshake, chat events as
per-second rows counted like the VOD replay, pings both ways, reconnects, giving up cleanly,
flat memory, and the chatroom id from channel resolution."""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest

import sources
from chat_features import (
    CHAT_FEATURES,
    MIN_BASELINE_PER_S,
    ChatMessages,
    chat_features,
    local_baseline,
)
from config import Config
from errors import ConfigError
from kick_api import KickAPI
from kick_server import LIVE_SLUG, KickServer
from live_chat import (
    COUNTS,
    HISTORY_S,
    SENDERS_KEPT_S,
    ChatSeconds,
    Coverage,
    LiveChat,
    live_features,
    skip_reason,
    trailing_baseline,
)
from pusher_server import CHATROOM_ID, PusherServer, chat_event, load_frame

T0 = 1_790_000_000  # the fake wall clock's start, epoch s
MESSAGES, CHATTERS, EMOTES, SHORT = range(len(COUNTS))
SHORT_SHARE = CHAT_FEATURES.index("short_share")


class FakeClock:
    """The wall clock LiveChat stamps arrivals and coverage with; the test moves it."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def server():
    with PusherServer() as srv:
        yield srv


@pytest.fixture
def started():
    """Start LiveChats through this; every one is stopped at the end of the test."""
    chats: list[LiveChat] = []

    def start(url: str, clock=time.time, **changes) -> LiveChat:
        values = dict(live_chat_url=url, live_chat_backoff_s=0.05,
                      live_chat_connect_timeout_s=3.0, live_chat_reconnects=3)
        values.update(changes)
        chat = LiveChat(Config(**values), CHATROOM_ID, clock=clock).start()
        chats.append(chat)
        return chat

    yield start
    for chat in chats:
        chat.stop(2.0)


def connected(chat: LiveChat, connections: int = 1) -> None:
    assert chat.wait_until(lambda s: s.connected and s.connections >= connections, 5.0), \
        chat.status()


def counted(chat: LiveChat, messages: int) -> None:
    assert chat.wait_until(lambda s: s.messages >= messages, 5.0), chat.status()
    assert chat.status().messages == messages


# --- chat events -> per-second rows ----------------------------------------------------------

def test_chat_events_become_per_second_rows_counted_like_the_vod_replay(server, started):
    clock = FakeClock(T0)
    chat = started(server.url, clock)
    connected(chat)
    server.wait_subscribed(1)
    sent = server.frames[-1]
    assert sent == {"event": "pusher:subscribe",
                    "data": {"auth": "", "channel": f"chatrooms.{CHATROOM_ID}.v2"}}

    script = [  # (second after T0, user, content, type, metadata)
        (4, 1, "W", "message", None),
        (4, 1, "W", "message", None),  # the same chatter again: one chatter that second
        (4, 2, "[emote:37226:KEKW] [emote:3:]", "message", None),  # short, two emotes
        (5, 3, "I just took a dab and the dab genie told me", "message", None),
        (5, 4, "thanks for the sub", "celebration", None),  # not counted (sub trains)
        (5, 5, "!merch is up", "message", {"sender_type": "bot"}),  # a bot: not counted
        (7, 6, "no way", "reply", None),
    ] + [(s, 10 + 10 * s + k, "[emote:1:a] LETS GO", "message", None)
         for s in (9, 10, 11) for k in range(6)]  # a burst, six chatters a second
    frames = {s: [chat_event(content, user_id=user, created_at=T0 + s, type=kind, metadata=meta)
                  for t, user, content, kind, meta in script if t == s]
              for s in sorted({row[0] for row in script})}
    junk = ["not json at all", '["a", "list"]',
            {"event": "App\\Events\\ChatMessageEvent", "data": "{broken",
             "channel": f"chatrooms.{CHATROOM_ID}.v2"},
            {"event": "App\\Events\\ChatMessageEvent", "data": 17},
            chat_event("other room", user_id=99, created_at=T0 + 4, chatroom_id=5),
            {"event": "App\\Events\\MessageDeletedEvent", "data": "{}"}]
    frames[4] += junk + [frames[4][0]]  # Pusher repeating a message id: counted once
    total = 0
    for second, batch in frames.items():  # each second's messages arrive during that second
        clock.now = T0 + second + 0.6
        assert server.send(batch) == 1
        total += sum(1 for t, _, _, kind, meta in script
                     if t == second and kind in ("message", "reply") and meta is None)
        counted(chat, total)
    clock.now = T0 + 12.5
    server.send([chat_event("no time", user_id=7, created_at=None),  # timed by arrival: 12
                 chat_event("bad clock", user_id=8, created_at=T0 - 3600)])  # skewed: arrival
    counted(chat, total + 2)
    assert total + 2 == 25
    status = chat.status()
    assert (status.junk, status.skewed, status.connections) == (4, 2, 1)

    counts, covered = chat.counts(T0, 14)
    assert covered.tolist() == [True] * 12 + [False, False]  # second 12 is still running
    expect = np.zeros((14, len(COUNTS)))
    expect[4] = (3, 2, 2, 3)
    expect[5] = (1, 1, 0, 0)
    expect[7] = (1, 1, 0, 1)
    expect[9:12] = (6, 6, 6, 6)
    expect[12] = (2, 2, 0, 2)
    np.testing.assert_array_equal(counts, expect)

    # The same messages through the VOD replay's features: the live rows match where the two
    # can agree (the VOD's baseline looks ahead, the live one cannot; at the newest second both
    # see the same minute).
    matrix, covered = chat.rows(T0, 12)
    assert matrix.dtype == np.float32 and matrix.shape == (12, len(CHAT_FEATURES))
    assert covered.all()
    counted_rows = [(T0 + s, user, content) for s, user, content, kind, meta in script
                    if kind in ("message", "reply") and meta is None]
    vod = chat_features(ChatMessages.from_rows(counted_rows, T0), 12, 1.0,
                                  duration_s=12.0)
    np.testing.assert_allclose(matrix[:, SHORT_SHARE], vod.matrix[:, SHORT_SHARE], rtol=1e-6)
    np.testing.assert_allclose(matrix[-1], vod.matrix[-1], rtol=1e-6)
    rate = matrix[:, CHAT_FEATURES.index("message_rate")]
    assert rate.argmax() >= 9 and rate[0] == 0 and (rate[2:] > 0).all()  # the burst stands out

    # Rows do not depend on how they are asked for; seconds outside are uncovered zeros.
    part, part_covered = chat.rows(T0 + 9.7, 6)
    np.testing.assert_array_equal(part[:3], matrix[9:12])
    assert part_covered.tolist() == [True] * 3 + [False] * 3 and not part[3:].any()
    old, old_covered = chat.rows(T0 - HISTORY_S - 50, 10)
    assert not old_covered.any() and not old.any()


def test_pings_are_answered_and_an_idle_connection_pings_the_server(started):
    with PusherServer(activity_timeout=1) as server:
        chat = started(server.url)
        connected(chat)
        server.wait_subscribed(1)
        assert server.ping() == 1
        assert server.wait_for(lambda s: s.pongs >= 1)  # pusher:ping -> pusher:pong
        # After activity_timeout (1 s here) of silence the client pings; the server's pong
        # keeps the connection.
        assert server.wait_for(lambda s: s.client_pings >= 1)
        assert {"event": "pusher:ping", "data": {}} in server.frames
        assert chat.status().connected and server.connections == 1


def test_an_unanswered_ping_means_a_dead_connection_and_a_reconnect(started):
    with PusherServer(activity_timeout=1, answer_pings=False) as server:
        chat = started(server.url)
        connected(chat)
        assert server.wait_for(lambda s: s.subscriptions >= 2 and s.client_pings >= 1, 6.0)
        connected(chat, 2)


def test_a_dropped_connection_reconnects_and_later_messages_still_count(server, started):
    clock = FakeClock(T0)
    chat = started(server.url, clock)
    connected(chat)
    server.wait_subscribed(1)
    clock.now = T0 + 3.2
    server.send([chat_event("before", user_id=1, created_at=T0 + 2)])
    counted(chat, 1)
    clock.now = T0 + 5.5  # the network fails half-way through second 5
    assert server.drop() == 1
    assert chat.wait_until(lambda s: s.connections >= 2 or s.state == "reconnecting", 5.0)
    connected(chat, 2)
    server.wait_subscribed(2)
    assert server.connections == 2
    clock.now = T0 + 8.5
    server.send([chat_event("after", user_id=2, created_at=T0 + 7),
                 chat_event("after", user_id=3, created_at=T0 + 7)])
    counted(chat, 3)
    counts, covered = chat.counts(T0, 9)
    assert counts[:, MESSAGES].tolist() == [0, 0, 1, 0, 0, 0, 0, 2, 0]
    assert covered.tolist() == [True] * 5 + [False] + [True] * 2 + [False]


def test_an_unreachable_chat_gives_a_note_quickly_and_no_crash(started):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    began = time.monotonic()
    chat = started(f"ws://127.0.0.1:{port}/app/key?protocol=7", live_chat_reconnects=2,
                   live_chat_backoff_s=0.01)
    assert chat.wait_until(lambda s: s.state == "unavailable", 5.0)
    chat._thread.join(2.0)
    assert time.monotonic() - began < 2.0 and not chat.alive()
    status = chat.status()
    assert not status.available and status.connections == 0
    assert "could not reach Kick's chat" in status.note and "3 tries in a row" in status.note
    assert chat.note().startswith("chat: unavailable (could not reach Kick's chat")
    assert chat.note().endswith("- clips from audio and video alone")
    matrix, covered = chat.rows(time.time() - 10, 10)
    assert not covered.any() and not matrix.any()


def test_a_refused_app_key_is_not_retried(server, started):
    chat = started(server.url_for("wrongkey"))
    assert chat.wait_until(lambda s: s.state == "unavailable", 5.0)
    assert "4001" in chat.status().note
    chat.stop(2.0)
    assert server.connections == 1


def test_stop_ends_the_thread_promptly(server, started):
    chat = started(server.url)
    connected(chat)
    began = time.monotonic()
    assert chat.stop(3.0)
    assert time.monotonic() - began < 1.5 and not chat.alive()
    assert chat.status().state == "stopped" and not chat.status().connected
    assert server.wait_for(lambda s: not s._open)  # the server saw the socket close


# --- the pure parts ---------------------------------------------------------------------------

def test_memory_stays_flat_over_hours_of_chat():
    seconds = ChatSeconds()
    start = T0
    for s in range(start, start + 2 * HISTORY_S + 100):  # over an hour, 4 messages a second
        for k in range(4):
            seconds.add(s, (s * 7 + k) % 500, k % 3, k % 2 == 0)
        assert seconds.sender_sets <= SENDERS_KEPT_S + 1
    last = start + 2 * HISTORY_S + 99
    assert seconds.counts(last, 1).tolist() == [[4, 4, 3, 2]]
    assert not seconds.counts(last - HISTORY_S, 1).any()  # fell out of the ring
    assert not seconds.add(last - HISTORY_S, 1, 0, True)  # too old to count
    assert seconds._sums.shape == (HISTORY_S, len(COUNTS))

    coverage = Coverage()
    for k in range(5000):
        coverage.open(T0 + 10.0 * k)
        coverage.close(T0 + 10.0 * k + 9)
    assert len(coverage._spans) <= HISTORY_S // 10 + 2


def test_trailing_baseline_never_looks_ahead():
    rng = np.random.default_rng(3)
    rate = rng.gamma(2.0, 1.0, 1500)
    covered = np.ones(1500, bool)
    base = trailing_baseline(rate, covered, 1.0)
    louder = rate.copy()
    louder[900:] *= 20
    np.testing.assert_array_equal(trailing_baseline(louder, covered, 1.0)[:900], base[:900])
    flat = np.full(1500, 2.0)
    np.testing.assert_allclose(trailing_baseline(flat, covered, 1.0),
                               local_baseline(flat, covered, 1.0))
    assert (trailing_baseline(rate, np.zeros(1500, bool), 1.0)
            == MIN_BASELINE_PER_S).all()
    counts = np.zeros((10, len(COUNTS)))
    assert (live_features(counts, np.zeros(10, bool)) == 0).all()


# --- wiring: config, chatroom id, when there is no live chat ---------------------------------

def test_live_chat_settings_are_validated_and_read_from_the_environment():
    assert Config().live_chat_url.startswith("wss://ws-us2.pusher.com/app/32cbd69e4b950bf97679"
                                             "?protocol=7")
    with pytest.raises(ConfigError, match="live_chat_url must be a ws:// or wss:// URL"):
        Config(live_chat_url="https://ws-us2.pusher.com/app/x")
    with pytest.raises(ConfigError, match="live_chat_reconnects"):
        Config(live_chat_reconnects=-1)
    config = Config.from_env({"KCG_LIVE_CHAT_URL": "ws://127.0.0.1:9/app/k",
                              "KCG_LIVE_CHAT_BACKOFF_S": "0.5"})
    assert (config.live_chat_url, config.live_chat_backoff_s) == ("ws://127.0.0.1:9/app/k", 0.5)


def test_live_channel_resolution_carries_the_chatroom_id(tmp_path):
    frame = load_frame()
    assert frame["channel"] == f"chatrooms.{CHATROOM_ID}.v2"  # the recorded frame's room
    with KickServer() as kick:
        config = Config(kick_base_url=kick.base_url, kick_web_base_url=kick.base_url,
                        kick_mobile_base_url=kick.base_url, retry_attempts=1,
                        models_dir=tmp_path / "models")
        with KickAPI(config) as api:
            stream = api.resolve(f"https://kick.com/{LIVE_SLUG}")
        assert (stream.channel_id, stream.chatroom_id) == (32807, 32805)  # chatroom.id
        source = sources.resolve_source(f"https://kick.com/{LIVE_SLUG}", config)
    assert source.kick["chatroom_id"] == 32805
    assert skip_reason(source.kick, config) is None
    assert skip_reason(source.kick, config.replace(use_chat=False)) == "turned off"
    assert "live Kick channels only" in skip_reason({**source.kick, "kind": "vod"}, config)
    assert "no chatroom id" in skip_reason({**source.kick, "chatroom_id": None}, config)
