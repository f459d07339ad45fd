"""Kick links -> playable HLS URLs and metadata, over an HTTP layer that survives Kick's WAF.

Three parts, in the order a link flows through them:

* `parse_kick_url` turns any Kick link form (KICK_API.md section 1) into a `KickURL`, and refuses
  list pages, reserved pages and other sites with a message that says what to paste instead.
* `KickAPI.resolve` asks Kick's web API for the stream behind a `KickURL` (live: E1, fallback
  E2; VOD: E4 for old ids, E1 -> E7 -> E8 for the 2026 ids; clip: E10, E10b, fallback E11) and
  reads the HLS master to pick the lowest variant for analysis and the highest for cutting.
* `RetrySession` is the HTTP layer: timeouts, exponential backoff, Retry-After, user-agent
  rotation, and browser TLS impersonation (curl_cffi) for Kick's API hosts, whose bot protection
  keys on the TLS fingerprint. The engine may reuse it for plain media-host GETs.
"""

from __future__ import annotations

import base64
import dataclasses
import email.utils
import itertools
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs, quote, urljoin, urlsplit

import m3u8
import requests

from config import Config
from errors import (
    BlockedByKick,
    ChannelNotFound,
    HostNotResolved,
    InvalidKickURL,
    KickAPIError,
    NotLive,
)

try:  # Kick's WAF refuses most non-browser TLS handshakes; curl_cffi looks like a browser.
    from curl_cffi import requests as curl_requests
except ImportError:  # pragma: no cover - exercised by monkeypatching in the tests
    curl_requests = None

logger = logging.getLogger(__name__)

__all__ = [
    "BLOCKED_MESSAGE",
    "HTTPResponse",
    "KickAPI",
    "KickURL",
    "ResolvedStream",
    "RetrySession",
    "is_block_response",
    "is_kick_url",
    "parse_kick_url",
    "pick_variants",
    "playback_token_expiry",
]

KICK_SITE = "https://kick.com"
KICK_HOSTS = frozenset({"kick.com", "www.kick.com", "player.kick.com"})
# Hosts behind Kick's Cloudflare rules: these get the impersonating client.
KICK_API_HOSTS = frozenset({"kick.com", "www.kick.com", "web.kick.com", "mobile.kick.com"})

# First path segments that are site pages, never channels (KICK_API.md section 1).
RESERVED_SEGMENTS = frozenset({
    "about", "auth", "browse", "categories", "category", "clips", "community-guidelines",
    "dashboard", "dmca-policy", "following", "help", "legal", "messages", "notifications",
    "popout", "privacy", "privacy-policy", "search", "settings", "subscriptions", "support",
    "terms", "terms-of-service", "video", "videos",
})

_SLUG_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_ITEM_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
_UUID_RE = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-([0-9a-f])[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")

# Body of E8 as yt-dlp PR #17322 sends it (the minimal form; KICK_API.md section 3.6).
PLAYBACK_REQUEST_BODY: dict[str, Any] = {
    "video_player": {"player": {}},
    "video_session": {},
    "user_session": {"non_personalised_ads": True},
}

BLOCKED_MESSAGE = ("Kick refused the request (bot protection). Try again later, from another "
                   "network, or pass --kick-token / the .m3u8 URL directly.")

# curl_cffi impersonation targets tried in turn; each brings its own matching User-Agent and
# sec-ch-ua headers, so rotating the target is how the impersonating client rotates its UA.
IMPERSONATE_TARGETS = ("chrome", "firefox")
# Current desktop browsers, rotated per attempt by the plain-requests client.
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/142.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:145.0) Gecko/20100101 Firefox/145.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/142.0.0.0 Safari/537.36 Edg/142.0.0.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/142.0.0.0 Safari/537.36",
)
# What a browser sends with a fetch() from a kick.com page (streamlink's set, KICK_API.md s. 5).
API_HEADERS = {
    "Accept": "application/json, text/plain, */*",
    "Accept-Language": "en-US,en;q=0.9",
    "Origin": KICK_SITE,
    "Referer": KICK_SITE + "/",
    "Sec-Fetch-Dest": "empty",
    "Sec-Fetch-Mode": "cors",
    "Sec-Fetch-Site": "same-origin",
}
MEDIA_HEADERS = {"Accept": "*/*", "Accept-Language": "en-US,en;q=0.9"}

RETRY_AFTER_MAX_S = 60.0  # a longer Retry-After is not worth waiting for inside one request
_CHALLENGE_MARKERS = (b"just a moment...", b"/cdn-cgi/challenge-platform", b"cf_chl_opt",
                      b"cf-challenge")
_ERROR_TEXT_MAX_CHARS = 200


# --------------------------------------------------------------------------------------------
# Links


@dataclass(frozen=True)
class KickURL:
    """What a Kick link points at: a live `channel`, a `vod` or a `clip`.

    `channel` is the lower-case slug (None for the slug-less legacy `/video/{id}` form); `id` is
    the VOD id (lower-cased when it is a UUID) or the clip id (case kept); None for channels.
    """

    kind: str
    channel: str | None
    id: str | None

    @property
    def page_url(self) -> str:
        """The canonical kick.com page of this item."""
        return _page_url(self.kind, self.channel, self.id)


def _page_url(kind: str, channel: str | None, item_id: str | None) -> str:
    if kind == "channel":
        return f"{KICK_SITE}/{channel}"
    if kind == "vod":
        return f"{KICK_SITE}/{channel}/videos/{item_id}" if channel else \
            f"{KICK_SITE}/video/{item_id}"
    return f"{KICK_SITE}/{channel}/clips/{item_id}" if channel else \
        f"{KICK_SITE}/?clip={item_id}"


def _split(text: str) -> Any:
    text = text.strip()
    if not _SCHEME_RE.match(text):
        text = "https://" + text.lstrip("/")
    return urlsplit(text)


def is_kick_url(text: str) -> bool:
    """True when `text` is a link on kick.com, www.kick.com or player.kick.com (scheme optional)."""
    try:
        parts = _split(text)
        host = (parts.hostname or "").lower()
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and host in KICK_HOSTS


def parse_kick_url(url: str) -> KickURL:
    """Classify a Kick link; raise `InvalidKickURL` (saying what to paste) for anything else."""
    shown = url.strip()
    if not shown:
        raise InvalidKickURL("no link given - paste a Kick channel, video or clip link")
    if not is_kick_url(shown):
        raise InvalidKickURL(f"{shown} is not a Kick link - paste a kick.com channel, video "
                             "or clip link")
    parts = _split(shown)
    host = (parts.hostname or "").lower()
    segments = [s for s in parts.path.split("/") if s]
    clip_query = next((v for v in parse_qs(parts.query).get("clip", []) if v), None)

    if host == "player.kick.com":
        if segments and _SLUG_RE.match(segments[0]):
            return KickURL("channel", segments[0].lower(), None)
        raise InvalidKickURL(f"{shown} names no channel - paste a link like "
                             "https://kick.com/<channel>")
    if not segments:
        if clip_query:
            return KickURL("clip", None, _clip_id(clip_query, shown))
        raise InvalidKickURL(f"{shown} is Kick's front page, not a stream - open a channel, "
                             "video or clip and paste its link")

    first = segments[0].lower()
    if first == "video" and len(segments) >= 2:
        return KickURL("vod", None, _vod_id(segments[1], shown))
    if first in RESERVED_SEGMENTS:
        raise InvalidKickURL(f"{shown} is Kick's '{first}' page, not a channel, video or clip - "
                             "paste a link like https://kick.com/<channel> or a video or clip "
                             "link")
    if not _SLUG_RE.match(first):
        raise InvalidKickURL(f"{shown}: '{segments[0]}' is not a Kick channel name")

    slug = first
    if len(segments) == 1:
        if clip_query:
            return KickURL("clip", slug, _clip_id(clip_query, shown))
        return KickURL("channel", slug, None)
    section = segments[1].lower()
    if section == "videos":
        if len(segments) >= 3:
            return KickURL("vod", slug, _vod_id(segments[2], shown))
        raise InvalidKickURL(f"{shown} is the list of {slug}'s videos, not one video - open a "
                             "video and paste its link")
    if section == "clips":
        if len(segments) >= 3:  # a path id wins over a ?clip= next to it
            return KickURL("clip", slug, _clip_id(segments[2], shown))
        if clip_query:
            return KickURL("clip", slug, _clip_id(clip_query, shown))
        raise InvalidKickURL(f"{shown} is the list of {slug}'s clips, not one clip - open a "
                             "clip and paste its link")
    if clip_query:
        return KickURL("clip", slug, _clip_id(clip_query, shown))
    raise InvalidKickURL(f"{shown} is a page of {slug}'s channel, not a stream - paste "
                         f"https://kick.com/{slug} for the live stream, or a video or clip link")


def _vod_id(raw: str, shown: str) -> str:
    """A VOD id is a UUID: old random ones and, since 2026-07, UUIDv7-like `019f...` ones
    (KICK_API.md section 1). Anything else (`videos/1`, a cut-off id) is refused here, offline."""
    if not _UUID_RE.match(raw):
        raise InvalidKickURL(f"{shown}: '{raw}' is not a Kick video id - open the video on "
                             "kick.com and paste the link from the address bar (it ends in an "
                             "id like 5c697a87-afce-4256-b01f-3c8fe71ef5cb)")
    return raw.lower()


def _clip_id(raw: str, shown: str) -> str:
    if not _ITEM_ID_RE.match(raw):
        raise InvalidKickURL(f"{shown}: '{raw}' is not a Kick clip id")
    return raw


def _is_new_vod_id(video_id: str) -> bool:
    """True for the 2026 UUIDv7-looking ids (E4 answers 404 for those) and unknown id shapes."""
    match = _UUID_RE.match(video_id)
    return match is None or match.group(1) == "7"


# --------------------------------------------------------------------------------------------
# HTTP


@dataclass(frozen=True)
class HTTPResponse:
    """One HTTP answer, whichever client fetched it. `headers` keys are lower-case."""

    url: str
    status: int
    headers: Mapping[str, str]
    content: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON; raises ValueError when it is not."""
        return json.loads(self.content)


def is_block_response(status: int, headers: Mapping[str, str], body: bytes) -> bool:
    """True for Kick's WAF refusal (403 security-policy JSON) or a Cloudflare challenge page."""
    head = body[:65536].lower()
    if status == 403 and b"security policy" in head:
        return True
    if headers.get("cf-mitigated", "").lower() == "challenge":
        return True
    looks_html = "html" in headers.get("content-type", "").lower() or head.lstrip()[:1] == b"<"
    return looks_html and any(marker in head for marker in _CHALLENGE_MARKERS)


def _retry_after_s(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or HTTP date), capped; None if absent."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = when.timestamp() - time.time()
    return min(max(seconds, 0.0), RETRY_AFTER_MAX_S)


def _redact(url: str) -> str:
    """The URL without its query string (playback tokens live there)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}" + ("?..." if parts.query else "")


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


_INVALID_URL_ERRORS: tuple[type[Exception], ...] = (
    requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema)
_TRANSPORT_ERRORS: tuple[type[Exception], ...] = (requests.RequestException,)
_IMPERSONATE_ERRORS: tuple[type[Exception], ...] = (ValueError,)
CURLE_COULDNT_RESOLVE_HOST = 6  # libcurl's error code (curl_cffi's DNSError, where it has one)
if curl_requests is not None:
    from curl_cffi.requests import exceptions as _curl_exc

    _INVALID_URL_ERRORS += (_curl_exc.InvalidURL, _curl_exc.MissingSchema,
                            _curl_exc.InvalidSchema)
    _TRANSPORT_ERRORS += (_curl_exc.RequestException,)
    _IMPERSONATE_ERRORS += tuple(
        cls for cls in (getattr(_curl_exc, "ImpersonateError", None),) if cls is not None)


class RetrySession:
    """HTTP GET/POST with timeouts, backoff, Retry-After, UA rotation and WAF detection.

    Requests to Kick's API hosts (kick.com, web.kick.com, mobile.kick.com and the configured
    base URLs) go through curl_cffi with browser impersonation when it is installed; everything
    else (media hosts) goes through plain `requests`. 404 and other client errors come back as
    responses for the caller to judge; 429, 5xx, timeouts, connection errors and WAF blocks are
    retried `config.retry_attempts` times in all, waiting `backoff_base_s * 2**n` before retry n
    (n from 0) or what Retry-After asks. A host name that does not resolve is not retried:
    `HostNotResolved` at once (offline, or no such host). Bodies are read whole: meant for API
    calls, playlists and segments, not for long downloads. Thread-safe: each thread gets its
    own connections.
    """

    def __init__(self, config: Config, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self._sleep = sleep
        self._api_hosts = KICK_API_HOSTS | {
            _host(url) for url in (config.kick_base_url, config.kick_web_base_url,
                                   config.kick_mobile_base_url)}
        self._rotation = itertools.count()
        self._local = threading.local()
        self._opened: list[Any] = []
        self._lock = threading.Lock()

    def __enter__(self) -> RetrySession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every connection pool this session opened (in any thread)."""
        with self._lock:
            opened, self._opened = self._opened, []
        for session in opened:
            session.close()
        self._local = threading.local()

    def is_api_url(self, url: str) -> bool:
        """True when `url` is on one of Kick's API hosts (gets the impersonating client)."""
        return _host(url) in self._api_hosts

    def get(self, url: str, *, headers: Mapping[str, str] | None = None,
            impersonate: bool | None = None) -> HTTPResponse:
        """GET with retries; see the class docstring."""
        return self.request("GET", url, headers=headers, impersonate=impersonate)

    def post(self, url: str, *, json_body: Any = None, headers: Mapping[str, str] | None = None,
             impersonate: bool | None = None) -> HTTPResponse:
        """POST a JSON body with retries; see the class docstring."""
        return self.request("POST", url, json_body=json_body, headers=headers,
                            impersonate=impersonate)

    def request(self, method: str, url: str, *, headers: Mapping[str, str] | None = None,
                json_body: Any = None, impersonate: bool | None = None) -> HTTPResponse:
        """Send one request, retrying what is worth retrying.

        `impersonate` None picks by host (Kick API hosts: yes). Raises `BlockedByKick` when
        Kick's bot protection refused every attempt, `KickAPIError` when 429/5xx/network
        failures outlast the attempts or on 423 (country block).
        """
        api = self.is_api_url(url) if impersonate is None else impersonate
        attempts = self.config.retry_attempts
        for attempt in range(attempts):
            response: HTTPResponse | None = None
            failure: Exception | None = None
            retry_after: float | None = None
            try:
                response = self._send(method, url, headers, json_body, api, attempt)
            except _INVALID_URL_ERRORS as err:
                raise KickAPIError(f"cannot fetch {_redact(url)}: {err}") from err
            except _TRANSPORT_ERRORS as err:
                if _is_name_resolution_failure(err):
                    raise _unresolved(url, self.is_api_url(url)) from err
                failure, reason = err, _transport_reason(err)
            else:
                logger.debug("%s %s -> HTTP %d", method, _redact(url), response.status)
                if is_block_response(response.status, response.headers, response.content):
                    reason = f"blocked by Kick's bot protection (HTTP {response.status})"
                elif response.status == 429:
                    reason = "HTTP 429 (rate limited)"
                    retry_after = _retry_after_s(response.headers.get("retry-after"))
                elif response.status >= 500:
                    reason = f"HTTP {response.status}"
                elif response.status == 423:
                    raise KickAPIError("Kick does not offer this in your country (HTTP 423) - "
                                       "it is blocked by region")
                else:
                    return response
            if attempt + 1 == attempts:
                raise _final_error(url, reason, attempts, response) from failure
            wait = retry_after if retry_after is not None else \
                self.config.backoff_base_s * 2 ** attempt
            logger.warning("%s %s: retrying (%d/%d) in %g s: %s", method, _redact(url),
                           attempt + 2, attempts, wait, reason)
            self._sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(self, method: str, url: str, headers: Mapping[str, str] | None, json_body: Any,
              api: bool, attempt: int) -> HTTPResponse:
        turn = next(self._rotation)
        sent = dict(API_HEADERS if api else MEDIA_HEADERS)
        sent.update(headers or {})
        timeout = self.config.request_timeout_s
        if api and curl_requests is not None:
            # Chrome first; a retry shows another browser's fingerprint (and its User-Agent).
            target = IMPERSONATE_TARGETS[attempt % len(IMPERSONATE_TARGETS)]
            session = self._session("curl")
            try:
                raw = session.request(method, url, headers=sent, json=json_body,
                                      timeout=timeout, impersonate=target)
            except _IMPERSONATE_ERRORS:
                if target == IMPERSONATE_TARGETS[0]:
                    raise
                # an older curl_cffi without this target: stay with the first one
                raw = session.request(method, url, headers=sent, json=json_body,
                                      timeout=timeout, impersonate=IMPERSONATE_TARGETS[0])
        else:
            sent.setdefault("User-Agent", USER_AGENTS[turn % len(USER_AGENTS)])
            if api:  # no impersonation available: at least send the whole browser header set
                sent.setdefault("Sec-Fetch-User", "?1")
            raw = self._session("requests").request(method, url, headers=sent, json=json_body,
                                                    timeout=timeout)
        return HTTPResponse(url=str(raw.url), status=int(raw.status_code),
                            headers={k.lower(): v for k, v in raw.headers.items()},
                            content=bytes(raw.content))

    def _session(self, kind: str) -> Any:
        session = getattr(self._local, kind, None)
        if session is None:
            session = curl_requests.Session() if kind == "curl" else requests.Session()
            setattr(self._local, kind, session)
            with self._lock:
                self._opened.append(session)
        return session


def _is_name_resolution_failure(err: BaseException) -> bool:
    """Whether a transport error is a failed DNS lookup: curl's "could not resolve host"
    (code 6), or for `requests` a `socket.gaierror` somewhere down the chain of causes
    (ConnectionError -> MaxRetryError -> NameResolutionError -> gaierror)."""
    seen: set[int] = set()
    todo: list[BaseException] = [err]
    while todo:
        cause = todo.pop()
        if id(cause) in seen:
            continue
        seen.add(id(cause))
        if isinstance(cause, socket.gaierror) or (
                getattr(cause, "code", None) == CURLE_COULDNT_RESOLVE_HOST
                and type(cause).__module__.startswith("curl_cffi")):
            return True
        linked = [cause.__cause__, cause.__context__, getattr(cause, "reason", None),
                  *(cause.args if isinstance(cause.args, tuple) else ())]
        todo += [c for c in linked if isinstance(c, BaseException)]
    return False


def _unresolved(url: str, kick_host: bool) -> HostNotResolved:
    """Kick's own hosts are right, so the connection is at fault; any other may be a typo."""
    host = _host(url)
    hint = "check your internet connection" if kick_host else \
        "check the link and your internet connection"
    return HostNotResolved(f"cannot resolve {host} - {hint}")


def _transport_reason(err: Exception) -> str:
    name = "timeout" if "timeout" in type(err).__name__.lower() else "connection error"
    return f"{name} ({type(err).__name__})"


def _final_error(url: str, reason: str, attempts: int,
                 response: HTTPResponse | None) -> KickAPIError:
    """The error for a request that failed on every attempt; `response` is the last answer."""
    host = _host(url)
    if response is not None and is_block_response(response.status, response.headers,
                                                  response.content):
        return BlockedByKick(BLOCKED_MESSAGE)
    if response is not None and response.status == 429:
        return KickAPIError(f"{host} kept rate-limiting us (HTTP 429) through {attempts} "
                            "attempts - wait a minute and try again")
    if response is not None:
        return KickAPIError(f"{host} kept failing ({reason}) through {attempts} attempts - "
                            "try again later")
    return KickAPIError(f"could not reach {host}: {reason} on all {attempts} attempts - check "
                        "the connection and try again")


# --------------------------------------------------------------------------------------------
# Resolution


@dataclass(frozen=True)
class ResolvedStream:
    """A Kick item made playable.

    `master_url` is the HLS master (or the .mp4 of an old clip); `analysis_url` its
    lowest-bandwidth variant (Kick's 160p30) for decoding features, `cut_url` its highest for
    cutting clips. `duration_s` is None while live. `created_at` is ISO-8601 UTC (stream start
    for live/VOD, clip start for clips). Live master URLs carry a token that expires after
    5-10 minutes: call `KickAPI.refresh` for fresh ones.
    """

    kind: str
    channel: str | None
    id: str | None
    title: str | None
    created_at: str | None
    duration_s: float | None
    thumbnail: str | None
    is_live: bool
    master_url: str
    analysis_url: str
    cut_url: str
    page_url: str
    channel_id: int | None
    chatroom_id: int | None = None  # live: the Pusher chat's `chatrooms.{id}.v2` (E1 only)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class KickAPI:
    """Resolves Kick links through Kick's web API (see the module docstring for the routes)."""

    def __init__(self, config: Config, *, session: RetrySession | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self.session = session or RetrySession(config, sleep=sleep)

    def __enter__(self) -> KickAPI:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.session.close()

    def resolve(self, url: str | KickURL) -> ResolvedStream:
        """The playable stream behind a Kick link or `KickURL`."""
        target = parse_kick_url(url) if isinstance(url, str) else url
        if target.kind == "channel":
            return self._resolve_live(target.channel or "")
        if target.kind == "vod":
            return self._resolve_vod(target.channel, target.id or "")
        if target.kind == "clip":
            return self._resolve_clip(target.channel, target.id or "")
        raise ValueError(f"unknown KickURL kind {target.kind!r}")

    def refresh(self, resolved: ResolvedStream) -> ResolvedStream:
        """Resolve the same item again: fresh playback tokens for a live stream or signed VOD."""
        item_id = None if resolved.kind == "channel" else resolved.id
        return self.resolve(KickURL(resolved.kind, resolved.channel, item_id))

    # -- live ---------------------------------------------------------------------------------

    def _resolve_live(self, slug: str) -> ResolvedStream:
        try:
            channel = self._channel(slug)
            livestream = channel.get("livestream")
            if not isinstance(livestream, dict):
                raise NotLive(f"{slug} is offline right now - paste one of their VOD links "
                              f"(kick.com/{slug}/videos) instead")
            playback_url = channel.get("playback_url")
            if not playback_url:
                raise KickAPIError(f"Kick gave no playback URL for {slug}")
        except (ChannelNotFound, NotLive, BlockedByKick, HostNotResolved):
            raise
        except KickAPIError as err:
            logger.warning("channel API failed for %s (%s); trying the livestream API", slug, err)
            return self._resolve_live_e2(slug)
        return self._finish(
            kind="channel", channel=channel.get("slug") or slug,
            id=_str_or_none(livestream.get("id")) or livestream.get("slug"),
            title=livestream.get("session_title"),
            created_at=_iso(livestream.get("start_time") or livestream.get("created_at")),
            duration_s=None, thumbnail=_thumb(livestream.get("thumbnail")), is_live=True,
            master_url=playback_url, channel_id=_int_or_none(channel.get("id")),
            chatroom_id=_chatroom_id(channel))

    def _resolve_live_e2(self, slug: str) -> ResolvedStream:
        url = f"{self._base()}/api/v2/channels/{quote(slug)}/livestream"
        body = self._json(self._api_get(url), f"channel {slug}")
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            raise NotLive(f"{slug} is offline right now - paste one of their VOD links "
                          f"(kick.com/{slug}/videos) instead")
        if not data.get("playback_url"):
            raise KickAPIError(f"Kick gave no playback URL for {slug}")
        return self._finish(
            kind="channel", channel=slug, id=_str_or_none(data.get("id")) or data.get("slug"),
            title=data.get("session_title"),
            created_at=_iso(data.get("start_time") or data.get("created_at")), duration_s=None,
            thumbnail=_thumb(data.get("thumbnail")), is_live=True,
            master_url=data["playback_url"], channel_id=_int_or_none(data.get("channel_id")))

    def _channel(self, slug: str) -> dict[str, Any]:
        """E1; ChannelNotFound on 404."""
        url = f"{self._base()}/api/v2/channels/{quote(slug)}"
        response = self._api_get(url)
        if response.status == 404:
            raise ChannelNotFound(f"Kick has no channel called '{slug}' - check the link")
        body = self._json(response, f"channel {slug}")
        if not isinstance(body, dict):
            raise KickAPIError(f"Kick sent an unexpected answer for channel {slug}")
        return body

    # -- VODs ---------------------------------------------------------------------------------

    def _resolve_vod(self, slug: str | None, video_id: str) -> ResolvedStream:
        if not _is_new_vod_id(video_id):
            response = self._api_get(f"{self._base()}/api/v1/video/{quote(video_id)}")
            if response.status != 404:
                return self._vod_from_legacy(slug, video_id, self._json(response,
                                                                        f"video {video_id}"))
            if slug is None:
                raise ChannelNotFound(f"Kick has no video {video_id} - it may have expired or "
                                      "been deleted")
            logger.info("legacy video API has no %s; trying the web API", video_id)
        elif slug is None:
            raise InvalidKickURL(f"kick.com/video/{video_id} links no longer work for videos "
                                 "made since July 2026: the channel name is needed - open the "
                                 "video on the channel's page and paste that link "
                                 "(kick.com/<channel>/videos/<id>)")
        return self._vod_from_web(slug, video_id)

    def _vod_from_legacy(self, slug: str | None, video_id: str, body: Any) -> ResolvedStream:
        """E4 answer -> stream. `livestream.duration` is in milliseconds."""
        if not isinstance(body, dict):
            raise KickAPIError(f"Kick sent an unexpected answer for video {video_id}")
        live = body.get("livestream") if isinstance(body.get("livestream"), dict) else {}
        channel = live.get("channel") if isinstance(live.get("channel"), dict) else {}
        slug = channel.get("slug") or slug
        if not body.get("source"):
            raise KickAPIError(_no_playback_message(video_id, body.get("status")))
        duration_ms = _float_or_none(live.get("duration"))
        return self._finish(
            kind="vod", channel=slug, id=video_id,
            title=live.get("session_title") or live.get("slug"),
            created_at=_iso(live.get("start_time") or live.get("created_at")
                            or body.get("created_at")),
            duration_s=duration_ms / 1000.0 if duration_ms else None,
            thumbnail=_thumb(live.get("thumbnail")), is_live=bool(live.get("is_live")),
            master_url=body["source"],
            channel_id=_int_or_none(channel.get("id") or live.get("channel_id")))

    def _vod_from_web(self, slug: str, video_id: str) -> ResolvedStream:
        """E1 (channel id) -> E7 (metadata, seconds) -> E8 (signed master)."""
        channel_id = _int_or_none(self._channel(slug).get("id"))
        if channel_id is None:
            raise KickAPIError(f"Kick sent no channel id for {slug}")
        web = self._web_base()
        meta: dict[str, Any] = {}
        try:  # metadata only: E8 below decides whether the video exists and plays
            body = self._json(self._api_get(
                f"{web}/api/v1/channels/{channel_id}/videos/{quote(video_id)}"),
                f"video {video_id}")
            if isinstance(body, dict) and isinstance(body.get("data"), dict):
                meta = body["data"]
        except (BlockedByKick, HostNotResolved):
            raise
        except KickAPIError as err:
            logger.info("no metadata for video %s (%s); asking for playback anyway", video_id,
                        err)

        response = self.session.post(f"{web}/api/v1/stream/{quote(video_id)}/playback",
                                     json_body=PLAYBACK_REQUEST_BODY, headers=self._auth())
        if response.status == 404:
            raise ChannelNotFound(f"Kick has no video {video_id} on {slug} - it may have "
                                  "expired or been deleted")
        play = self._json(response, f"playback of video {video_id}")
        urls = play.get("playback_url") if isinstance(play, dict) else None
        vod_url = urls.get("vod") if isinstance(urls, dict) else None
        if not vod_url:
            raise KickAPIError(_no_playback_message(video_id, meta.get("status")))
        session = play.get("video_session") if isinstance(play.get("video_session"), dict) \
            else {}
        duration_s = _float_or_none(meta.get("duration")) or \
            _float_or_none(session.get("video_duration"))
        channel = meta.get("channel") if isinstance(meta.get("channel"), dict) else {}
        return self._finish(
            kind="vod", channel=channel.get("slug") or slug, id=video_id,
            title=meta.get("title") or session.get("video_title"),
            created_at=_iso(meta.get("start_time")), duration_s=duration_s or None,
            thumbnail=_thumb(meta.get("thumbnail")), is_live=bool(meta.get("is_live")),
            master_url=vod_url, channel_id=channel_id)

    # -- clips --------------------------------------------------------------------------------

    def _resolve_clip(self, slug: str | None, clip_id: str) -> ResolvedStream:
        """E10, then E10b (/play), then the mobile API E11; the first usable answer wins."""
        base, mobile = self._base(), self.config.kick_mobile_base_url.rstrip("/")
        routes = (  # (host group, URL, key of the clip object)
            ("kick", f"{base}/api/v2/clips/{quote(clip_id)}", "clip"),
            ("kick", f"{base}/api/v2/clips/{quote(clip_id)}/play", "clip"),
            ("mobile", f"{mobile}/api/v1/clips/{quote(clip_id)}", "data"),
        )
        errors: list[KickAPIError] = []
        blocked: set[str] = set()
        for group, url, key in routes:
            if group in blocked:
                continue  # same host, same WAF: go straight to the other host
            try:
                response = self._api_get(url)
                if response.status == 404:
                    errors.append(ChannelNotFound(f"Kick has no clip {clip_id}"))
                    continue
                body = self._json(response, f"clip {clip_id}")
                clip = body.get(key) if isinstance(body, dict) else None
                if isinstance(clip, dict) and _clip_media_url(clip):
                    return self._clip_stream(slug, clip_id, clip)
                errors.append(KickAPIError(f"Kick sent no video URL for clip {clip_id}"))
            except BlockedByKick as err:
                blocked.add(group)
                errors.append(err)
            except (ChannelNotFound, NotLive, HostNotResolved):
                raise
            except KickAPIError as err:
                errors.append(err)
            logger.info("clip %s: %s failed (%s)", clip_id, _redact(url), errors[-1])
        for kind in (BlockedByKick, KickAPIError):  # the most telling failure
            for err in errors:
                if type(err) is kind:
                    raise err
        raise errors[-1]

    def _clip_stream(self, slug: str | None, clip_id: str, clip: dict[str, Any]) -> ResolvedStream:
        channel = clip.get("channel") if isinstance(clip.get("channel"), dict) else {}
        started = _iso(clip.get("started_at"))
        return self._finish(
            kind="clip", channel=channel.get("slug") or slug, id=clip.get("id") or clip_id,
            title=clip.get("title"), created_at=started or _iso(clip.get("created_at")),
            duration_s=_float_or_none(clip.get("duration")),
            thumbnail=_thumb(clip.get("thumbnail_url")), is_live=False,
            master_url=_clip_media_url(clip) or "",
            channel_id=_int_or_none(clip.get("channel_id") or channel.get("id")))

    # -- shared -------------------------------------------------------------------------------

    def _finish(self, *, kind: str, channel: str | None, id: str | None, master_url: str,
                **fields: Any) -> ResolvedStream:
        """Read the master playlist for the variants and build the result."""
        page_url = _page_url(kind, channel, id)
        if urlsplit(master_url).path.lower().endswith(".mp4"):
            analysis_url = cut_url = master_url
        else:
            analysis_url, cut_url = self._variants(master_url, page_url)
        return ResolvedStream(kind=kind, channel=channel, id=id, master_url=master_url,
                              analysis_url=analysis_url, cut_url=cut_url, page_url=page_url,
                              **fields)

    def _variants(self, master_url: str, page_url: str) -> tuple[str, str]:
        # IVS and stream.kick.com are not behind the WAF; Origin/Referer as the web player sends.
        response = self.session.get(master_url, headers={"Origin": KICK_SITE,
                                                         "Referer": page_url})
        if response.status == 404:
            raise ChannelNotFound(f"the stream playlist is gone (HTTP 404) - the video may have "
                                  f"expired: {page_url}")
        if not response.ok:
            raise KickAPIError(f"could not read the stream playlist (HTTP {response.status}) "
                               f"for {page_url}")
        return pick_variants(response.text, response.url or master_url)

    def _api_get(self, url: str) -> HTTPResponse:
        return self.session.get(url, headers=self._auth())

    def _auth(self) -> dict[str, str]:
        token = self.config.kick_token.strip()
        return {"Authorization": f"Bearer {token}"} if token else {}

    def _base(self) -> str:
        return self.config.kick_base_url.rstrip("/")

    def _web_base(self) -> str:
        return self.config.kick_web_base_url.rstrip("/")

    @staticmethod
    def _json(response: HTTPResponse, what: str) -> Any:
        """The JSON body of a 2xx answer; other answers become a readable KickAPIError."""
        if response.status == 404:
            raise ChannelNotFound(f"Kick has no {what}")
        if not response.ok:
            hint = " - for sub-only videos pass --kick-token" if response.status in (401, 403) \
                else ""
            raise KickAPIError(f"Kick answered HTTP {response.status} for {what}: "
                               f"{_error_text(response)}{hint}")
        try:
            return response.json()
        except ValueError as err:
            raise KickAPIError(f"Kick sent something that is not JSON for {what} "
                               f"(HTTP {response.status})") from err


def pick_variants(text: str, master_url: str) -> tuple[str, str]:
    """(lowest, highest) variant URL of an HLS master, by BANDWIDTH; relative URIs made absolute.

    A media playlist (not a master) is its own only variant: (master_url, master_url).
    """
    if not text.lstrip().startswith("#EXTM3U"):
        raise KickAPIError(f"{_redact(master_url)} is not an HLS playlist")
    playlist = m3u8.loads(text)
    if not playlist.is_variant:
        return master_url, master_url
    ranked = []
    for order, variant in enumerate(playlist.playlists):
        info = variant.stream_info
        bandwidth = info.bandwidth or info.average_bandwidth or 0
        width, height = info.resolution or (0, 0)
        ranked.append((bandwidth, width * height, order, urljoin(master_url, variant.uri)))
    if not ranked:
        raise KickAPIError(f"{_redact(master_url)} lists no streams")
    ranked.sort()
    return ranked[0][3], ranked[-1][3]


def playback_token_expiry(url: str) -> float | None:
    """Epoch seconds when the JWT in a live playback URL's `token` expires (not verified)."""
    token = next(iter(parse_qs(urlsplit(url).query).get("token", [])), None)
    if not token or token.count(".") != 2:
        return None
    payload = token.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except ValueError:
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return float(exp) if isinstance(exp, (int, float)) else None


def _clip_media_url(clip: Mapping[str, Any]) -> str | None:
    for key in ("clip_url", "video_url", "playback_url"):
        value = clip.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _no_playback_message(video_id: str, status: Any) -> str:
    if status == "sub_only":
        return (f"video {video_id} is for subscribers only - pass --kick-token with the "
                "session_token of a subscribed account")
    if status == "private":
        return f"video {video_id} is private"
    return (f"Kick gave no playback URL for video {video_id} - it may be sub-only or private "
            "(pass --kick-token if you are subscribed)")


def _error_text(response: HTTPResponse) -> str:
    """Kick's own error message from a failed answer, short."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:_ERROR_TEXT_MAX_CHARS] or "(empty answer)"
    if isinstance(body, dict):
        for value in (body.get("message"), body.get("error"),
                      (body.get("data") or {}).get("details")
                      if isinstance(body.get("data"), dict) else None):
            if isinstance(value, str) and value:
                return value[:_ERROR_TEXT_MAX_CHARS]
    return str(body)[:_ERROR_TEXT_MAX_CHARS]


def _iso(value: Any) -> str | None:
    """Kick's timestamps ("2025-08-25 00:40:42" is UTC, "...Z", "+00:00") -> ISO-8601 UTC "Z"."""
    if not isinstance(value, str) or not value.strip() or value.startswith("0001-"):
        return None
    text = value.strip().replace(" ", "T", 1)
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return value  # an unknown form is still worth showing as Kick sent it
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _thumb(value: Any) -> str | None:
    if isinstance(value, str):
        return value or None
    if isinstance(value, dict):
        for key in ("url", "src"):
            if isinstance(value.get(key), str) and value[key]:
                return value[key]
    return None


def _chatroom_id(channel: Mapping[str, Any]) -> int | None:
    """E1's `chatroom.id`: the live chat's Pusher channel (not the channel id)."""
    chatroom = channel.get("chatroom")
    return _int_or_none(chatroom.get("id")) if isinstance(chatroom, Mapping) else None


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        return None


def _float_or_none(value: Any) -> float | None:
    try:
        return float(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        return None


def _str_or_none(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)
