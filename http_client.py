"""The HTTP layer: GET/POST with timeouts, exponential backoff, Retry-After, user-agent
rotation and, for hosts behind bot protection, browser TLS impersonation (curl_cffi).

It knows nothing of any site. `kick_api.KickSession` layers Kick on top: which hosts get the
impersonating client, which answers are Kick's bot protection (retried, then `BlockedByKick`)
and Kick's country block. The project's requests all go through that: Kick's API, HLS master
playlists (`sources.hls_renditions`) and VOD chat pages (`chat_replay`).
"""

from __future__ import annotations

import email.utils
import itertools
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import timezone
from typing import Any
from urllib.parse import urlsplit

import requests

from config import Config
from errors import HostNotResolved, KickAPIError, KickClipError

try:  # bot protection refuses most non-browser TLS handshakes; curl_cffi looks like a browser
    from curl_cffi import requests as curl_requests
except ImportError:  # pragma: no cover - exercised by monkeypatching in the tests
    curl_requests = None

logger = logging.getLogger(__name__)

__all__ = ["HTTPResponse", "RetrySession", "host_of", "redact_url"]

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
MEDIA_HEADERS = {"Accept": "*/*", "Accept-Language": "en-US,en;q=0.9"}

RETRY_AFTER_MAX_S = 60.0  # a longer Retry-After is not worth waiting for inside one request


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


def redact_url(url: str) -> str:
    """The URL without its query string (playback tokens live there)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}" + ("?..." if parts.query else "")


def host_of(url: str) -> str:
    """The lower-case host name of `url` ('' when it has none)."""
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
    """HTTP GET/POST with timeouts, backoff, Retry-After and UA rotation.

    Requests to `impersonate_hosts` go through curl_cffi with browser impersonation (when it is
    installed) and carry `impersonate_headers` (what a browser's fetch() sends there);
    everything else goes through plain `requests`. 404 and other client errors come back as
    responses for the caller to judge; 429, 5xx, timeouts, connection errors and what
    `refusal` names are retried `config.retry_attempts` times in all, waiting
    `backoff_base_s * 2**n` before retry n (n from 0) or what Retry-After asks. A host name
    that does not resolve is not retried: `HostNotResolved` at once (offline, or no such host).
    A request that fails on every attempt raises `KickAPIError` (see `give_up`). Bodies are
    read whole: meant for API calls, playlists and segments, not for long downloads.
    Thread-safe: each thread gets its own connections.
    """

    def __init__(self, config: Config, *, sleep: Callable[[float], None] = time.sleep,
                 impersonate_hosts: Iterable[str] = (),
                 impersonate_headers: Mapping[str, str] | None = None) -> None:
        self.config = config
        self._sleep = sleep
        self._impersonate_hosts = frozenset(h.lower() for h in impersonate_hosts)
        self._impersonate_headers = dict(impersonate_headers or MEDIA_HEADERS)
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

    def impersonates(self, url: str) -> bool:
        """True when `url` is on one of `impersonate_hosts` (gets the impersonating client)."""
        return host_of(url) in self._impersonate_hosts

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

        `impersonate` None picks by host (`impersonate_hosts`: yes). Raises `HostNotResolved`
        at once for a host name that does not resolve, and what `give_up` makes when
        429/5xx/network failures/refusals outlast the attempts.
        """
        api = self.impersonates(url) if impersonate is None else impersonate
        attempts = self.config.retry_attempts
        for attempt in range(attempts):
            response: HTTPResponse | None = None
            failure: Exception | None = None
            retry_after: float | None = None
            try:
                response = self._send(method, url, headers, json_body, api, attempt)
            except _INVALID_URL_ERRORS as err:
                raise KickAPIError(f"cannot fetch {redact_url(url)}: {err}") from err
            except _TRANSPORT_ERRORS as err:
                if _is_name_resolution_failure(err):
                    raise _unresolved(url, self.impersonates(url)) from err
                failure, reason = err, _transport_reason(err)
            else:
                logger.debug("%s %s -> HTTP %d", method, redact_url(url), response.status)
                refused = self.refusal(response)
                if refused:
                    reason = refused
                elif response.status == 429:
                    reason = "HTTP 429 (rate limited)"
                    retry_after = _retry_after_s(response.headers.get("retry-after"))
                elif response.status >= 500:
                    reason = f"HTTP {response.status}"
                else:
                    return response
            if attempt + 1 == attempts:
                raise self.give_up(url, reason, attempts, response) from failure
            wait = retry_after if retry_after is not None else \
                self.config.backoff_base_s * 2 ** attempt
            logger.warning("%s %s: retrying (%d/%d) in %g s: %s", method, redact_url(url),
                           attempt + 2, attempts, wait, reason)
            self._sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def refusal(self, response: HTTPResponse) -> str | None:
        """Why an answer that is neither 429 nor 5xx is still worth another attempt (a site's
        bot-protection page, say), or None. Sites layer their knowledge on top here."""
        return None

    def give_up(self, url: str, reason: str, attempts: int,
                response: HTTPResponse | None) -> KickClipError:
        """The error for a request that failed on every attempt; `response` is the last answer
        (None when the last attempt got no answer at all)."""
        host = host_of(url)
        if response is not None and response.status == 429:
            return KickAPIError(f"{host} kept rate-limiting us (HTTP 429) through {attempts} "
                                "attempts - wait a minute and try again")
        if response is not None:
            return KickAPIError(f"{host} kept failing ({reason}) through {attempts} attempts - "
                                "try again later")
        return KickAPIError(f"could not reach {host}: {reason} on all {attempts} attempts - "
                            "check the connection and try again")

    def _send(self, method: str, url: str, headers: Mapping[str, str] | None, json_body: Any,
              api: bool, attempt: int) -> HTTPResponse:
        turn = next(self._rotation)
        sent = dict(self._impersonate_headers if api else MEDIA_HEADERS)
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


def _unresolved(url: str, known_host: bool) -> HostNotResolved:
    """The hosts the session was set up for are right, so the connection is at fault; any
    other may be a typo."""
    hint = "check your internet connection" if known_host else \
        "check the link and your internet connection"
    return HostNotResolved(f"cannot resolve {host_of(url)} - {hint}")


def _transport_reason(err: Exception) -> str:
    name = "timeout" if "timeout" in type(err).__name__.lower() else "connection error"
    return f"{name} ({type(err).__name__})"
