"""A fake Kick live chat on 127.0.0.1 (port 0): a websocket server speaking Pusher's frames.

    with PusherServer(activity_timeout=120) as server:
        config = Config(live_chat_url=server.url)
        chat = LiveChat(config, CHATROOM_ID).start()
        server.wait_subscribed(1)
        server.send_chat([chat_event("W", user_id=1, created_at=t)])   # to every subscriber
        server.ping(); server.wait_for(lambda s: s.pongs >= 1)          # pusher:ping -> pong?
        server.drop()                                                  # cut the TCP connection

It answers as Pusher does (protocol 7): `pusher:connection_established` (data a JSON string
with socket_id and activity_timeout) on connect, `pusher_internal:subscription_succeeded` to a
`pusher:subscribe`, `pusher:pong` to a client's `pusher:ping` (unless `answer_pings` is off);
a path with another app key gets `pusher:error` 4001 and close code 4001, as Pusher answers an
unknown key. Chat events are built from the recorded frame `pusher_chat_message_event.json`
(`chat_event`): `data` a JSON string, the inner message shaped like Kick's.

Counters (`connections`, `subscriptions`, `client_pings`, `pongs`) and `frames` (everything the
clients sent, parsed) are read under `lock`; `wait_for` blocks on a condition over them.
"""

from __future__ import annotations

import copy
import json
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve

DATA_DIR = Path(__file__).resolve().parent / "data" / "kick"
APP_KEY = "32cbd69e4b950bf97679"  # docs/KICK_API.md §2, E16
CHATROOM_ID = 1221707  # the recorded frame's chatroom
QUERY = "?protocol=7&client=js&version=8.4.0&flash=false"


def load_frame() -> dict[str, Any]:
    """The recorded Pusher ChatMessageEvent frame (its `data` still a JSON string)."""
    return json.loads((DATA_DIR / "pusher_chat_message_event.json").read_text(encoding="utf-8"))


def chat_event(content: str, *, user_id: int, created_at: float | None,
               chatroom_id: int = CHATROOM_ID, type: str = "message",
               metadata: dict[str, Any] | None = None, message_id: str | None = None
               ) -> dict[str, Any]:
    """A ChatMessageEvent frame like Kick's: the recorded one with this content, sender, time
    (epoch s, written as Kick does: "2025-07-17T08:44:56+00:00"; None leaves it out) and type."""
    frame = load_frame()
    inner = json.loads(frame["data"])
    inner = copy.deepcopy(inner)
    inner["id"] = message_id or str(uuid.uuid4())
    inner["chatroom_id"] = chatroom_id
    inner["content"] = content
    inner["type"] = type
    if created_at is None:
        inner.pop("created_at", None)
    else:
        inner["created_at"] = datetime.fromtimestamp(int(created_at), timezone.utc).isoformat()
    inner["sender"]["id"] = user_id
    inner["sender"]["username"] = inner["sender"]["slug"] = f"viewer{user_id}"
    inner["metadata"] = metadata if metadata is not None else {"message_ref": "1752741896375"}
    frame["data"] = json.dumps(inner)
    frame["channel"] = f"chatrooms.{chatroom_id}.v2"
    return frame


class PusherServer:
    """See the module docstring."""

    def __init__(self, *, app_key: str = APP_KEY, activity_timeout: int = 120,
                 answer_pings: bool = True) -> None:
        self.app_key = app_key
        self.activity_timeout = activity_timeout
        self.answer_pings = answer_pings
        self.lock = threading.Condition()
        self.connections = 0
        self.subscriptions = 0
        self.client_pings = 0
        self.pongs = 0
        self.frames: list[dict[str, Any]] = []
        self._subscribers: dict[ServerConnection, str] = {}
        self._open: set[ServerConnection] = set()
        self._server: Any = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------

    def __enter__(self) -> PusherServer:
        self._server = serve(self._handle, "127.0.0.1", 0, ping_interval=None,
                             close_timeout=1, compression=None)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="pusher-server")
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        if self._thread is not None:
            self._thread.join(5)

    @property
    def port(self) -> int:
        return self._server.socket.getsockname()[1]

    def url_for(self, key: str) -> str:
        return f"ws://127.0.0.1:{self.port}/app/{key}{QUERY}"

    @property
    def url(self) -> str:
        return self.url_for(self.app_key)

    # -- what the test does -----------------------------------------------------------------

    def wait_for(self, condition: Callable[[PusherServer], bool], timeout_s: float = 5.0
                 ) -> bool:
        with self.lock:
            return self.lock.wait_for(lambda: condition(self), timeout_s)

    def wait_subscribed(self, count: int = 1, timeout_s: float = 5.0) -> None:
        """Block until `count` subscriptions have been answered (AssertionError after
        `timeout_s`)."""
        if not self.wait_for(lambda s: s.subscriptions >= count, timeout_s):
            raise AssertionError(f"{self.subscriptions} subscription(s), expected {count}")

    def send(self, frames: list[dict[str, Any] | str]) -> int:
        """Send frames (objects as JSON, strings as they are) to every subscribed client, in
        order; returns how many clients got them."""
        with self.lock:
            targets = list(self._subscribers)
        for conn in targets:
            for frame in frames:
                conn.send(frame if isinstance(frame, str) else json.dumps(frame))
        return len(targets)

    def send_chat(self, frames: list[dict[str, Any] | str]) -> int:
        return self.send(frames)

    def ping(self) -> int:
        """pusher:ping to every subscriber (Pusher's server pings idle clients)."""
        return self.send([{"event": "pusher:ping", "data": {}}])

    def drop(self) -> int:
        """Cut every open connection at the TCP level, as a network failure would (no close
        frame); returns how many were cut."""
        with self.lock:
            targets = list(self._open)
            self._subscribers.clear()
        for conn in targets:
            try:
                conn.socket.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        return len(targets)

    # -- the server side --------------------------------------------------------------------

    def _handle(self, conn: ServerConnection) -> None:
        path = conn.request.path if conn.request else ""
        with self.lock:
            self.connections += 1
            self._open.add(conn)
            self.lock.notify_all()
        try:
            if not path.split("?")[0] == f"/app/{self.app_key}":
                conn.send(json.dumps({"event": "pusher:error", "data": {
                    "code": 4001, "message": "App key not in this cluster. Did you forget to "
                                             "specify the cluster?"}}))
                conn.close(4001, "App key not in this cluster")
                return
            conn.send(json.dumps({"event": "pusher:connection_established", "data": json.dumps(
                {"socket_id": f"{self.connections}.4242", "activity_timeout":
                 self.activity_timeout})}))
            for raw in conn:
                try:
                    frame = json.loads(raw)
                except ValueError:
                    continue
                self._received(conn, frame)
        except ConnectionClosed:
            pass
        finally:
            with self.lock:
                self._open.discard(conn)
                self._subscribers.pop(conn, None)
                self.lock.notify_all()

    def _received(self, conn: ServerConnection, frame: dict[str, Any]) -> None:
        event = frame.get("event")
        with self.lock:
            self.frames.append(frame)
        if event == "pusher:subscribe":
            channel = (frame.get("data") or {}).get("channel")
            conn.send(json.dumps({"event": "pusher_internal:subscription_succeeded",
                                  "data": "{}", "channel": channel}))
            with self.lock:
                self._subscribers[conn] = channel
                self.subscriptions += 1
        elif event == "pusher:ping":
            with self.lock:
                self.client_pings += 1
            if self.answer_pings:
                conn.send(json.dumps({"event": "pusher:pong", "data": {}}))
        elif event == "pusher:pong":
            with self.lock:
                self.pongs += 1
        with self.lock:
            self.lock.notify_all()
