"""Kick links -> playable HLS URLs and metadata, over an HTTP layer that survives Kick's WAF.

Three parts, in the order a link flows through them:

* `parse_kick_url` turns any Kick link form (docs/KICK_API.md §1) into a `KickURL`, and refuses
  list pages, reserved pages and other sites with a message that says what to paste instead.
* `KickAPI.resolve` asks Kick's web API for the stream behind a `KickURL` (live: E1, fallback
  E2; VOD: E4 for old ids, E1 -> E7 -> E8 for the 2026 ids; clip: E10, E10b, fallback E11) and
  reads the HLS master to pick the lowest variant for analysis and the highest for cutting.
* `KickSession` is `http_client.RetrySession` (timeouts, backoff, Retry-After, user-agent
  rotation, browser TLS impersonation) with Kick on top: Kick's API hosts get the
  impersonating client, since Kick's bot protection keys on the TLS fingerprint, and Kick's
  block pages are retried and reported as `BlockedByKick`.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, urljoin, urlsplit

import m3u8

from config import Config
from errors import (
    BlockedByKick,
    ChannelNotFound,
    HostNotResolved,
    InvalidKickURL,
    KickAPIError,
    KickClipError,
    NotLive,
)
from http_client import HTTPResponse, RetrySession, host_of, redact_url
from jsonpick import as_float, as_int, pick
from timecode import kick_iso

logger = logging.getLogger(__name__)

__all__ = [
    "BLOCKED_MESSAGE",
    "KickAPI",
    "KickSession",
    "KickURL",
    "ResolvedStream",
    "bearer_header",
    "is_block_response",
    "is_kick_url",
    "parse_kick_url",
    "pick_variants",
]

KICK_SITE = "https://kick.com"
KICK_HOSTS = frozenset({"kick.com", "www.kick.com", "player.kick.com"})
# Hosts behind Kick's Cloudflare rules: these get the impersonating client.
KICK_API_HOSTS = frozenset({"kick.com", "www.kick.com", "web.kick.com", "mobile.kick.com"})

# First path segments that are site pages, never channels (docs/KICK_API.md §1).
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

# Body of E8 as yt-dlp PR #17322 sends it (the minimal form; docs/KICK_API.md §3.6).
PLAYBACK_REQUEST_BODY: dict[str, Any] = {
    "video_player": {"player": {}},
    "video_session": {},
    "user_session": {"non_personalised_ads": True},
}

BLOCKED_MESSAGE = ("Kick refused the request (bot protection). Try again later, from another "
                   "network, or pass a Kick session token / the .m3u8 URL directly.")

# What a browser sends with a fetch() from a kick.com page (streamlink's set, docs/KICK_API.md §5).
API_HEADERS = {
    "Accept": "application/json, text/plain, */*",
    "Accept-Language": "en-US,en;q=0.9",
    "Origin": KICK_SITE,
    "Referer": KICK_SITE + "/",
    "Sec-Fetch-Dest": "empty",
    "Sec-Fetch-Mode": "cors",
    "Sec-Fetch-Site": "same-origin",
}

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
    (docs/KICK_API.md §1). Anything else (`videos/1`, a cut-off id) is refused here, offline."""
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
# HTTP: the generic layer (http_client) with Kick's knowledge on top


def is_block_response(status: int, headers: Mapping[str, str], body: bytes) -> bool:
    """True for Kick's WAF refusal (403 security-policy JSON) or a Cloudflare challenge page."""
    head = body[:65536].lower()
    if status == 403 and b"security policy" in head:
        return True
    if headers.get("cf-mitigated", "").lower() == "challenge":
        return True
    looks_html = "html" in headers.get("content-type", "").lower() or head.lstrip()[:1] == b"<"
    return looks_html and any(marker in head for marker in _CHALLENGE_MARKERS)


def bearer_header(token: str) -> dict[str, str]:
    """The Authorization header that carries a Kick session token (none for an empty one)."""
    token = token.strip()
    return {"Authorization": f"Bearer {token}"} if token else {}


class KickSession(RetrySession):
    """`RetrySession` that knows Kick: requests to Kick's API hosts (kick.com, web.kick.com,
    mobile.kick.com and the configured base URLs) get browser impersonation and the headers a
    kick.com page sends; Kick's bot-protection answers (on any host) are retried and, when
    every attempt is refused, raise `BlockedByKick`; HTTP 423 (country block) is an error at
    once. Master playlists on media hosts (IVS, stream.kick.com, any HLS link) go through it
    too, as plain requests."""

    def __init__(self, config: Config, *, sleep: Callable[[float], None] = time.sleep) -> None:
        hosts = KICK_API_HOSTS | {host_of(url) for url in (
            config.kick_base_url, config.kick_web_base_url, config.kick_mobile_base_url)}
        super().__init__(config, sleep=sleep, impersonate_hosts=hosts,
                         impersonate_headers=API_HEADERS)

    def __enter__(self) -> KickSession:
        return self

    def request(self, method: str, url: str, *, headers: Mapping[str, str] | None = None,
                json_body: Any = None, impersonate: bool | None = None) -> HTTPResponse:
        """`RetrySession.request`, and `KickAPIError` on 423 (Kick's country block)."""
        response = super().request(method, url, headers=headers, json_body=json_body,
                                   impersonate=impersonate)
        if response.status == 423:
            raise KickAPIError("Kick does not offer this in your country (HTTP 423) - "
                               "it is blocked by region")
        return response

    def refusal(self, response: HTTPResponse) -> str | None:
        if is_block_response(response.status, response.headers, response.content):
            return f"blocked by Kick's bot protection (HTTP {response.status})"
        return None

    def give_up(self, url: str, reason: str, attempts: int,
                response: HTTPResponse | None) -> KickClipError:
        if response is not None and is_block_response(response.status, response.headers,
                                                      response.content):
            return BlockedByKick(BLOCKED_MESSAGE, setting="kick_token")
        return super().give_up(url, reason, attempts, response)


# --------------------------------------------------------------------------------------------
# Resolution


@dataclass(frozen=True)
class ResolvedStream:
    """A Kick item made playable.

    `master_url` is the HLS master (or the .mp4 of an old clip); `analysis_url` its
    lowest-bandwidth variant (Kick's 160p30) for decoding features, `cut_url` its highest for
    cutting clips. `duration_s` is None while live. `created_at` is ISO-8601 UTC (stream start
    for live/VOD, clip start for clips). Live master URLs carry a token that expires after
    5-10 minutes: resolve the link again for fresh ones.
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
        self.session = session or KickSession(config, sleep=sleep)

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

    # -- live ---------------------------------------------------------------------------------

    def _resolve_live(self, slug: str) -> ResolvedStream:
        try:
            channel = self._channel(slug)
            livestream = pick(channel, "livestream", type=dict)
            if livestream is None:
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
            created_at=kick_iso(livestream.get("start_time") or livestream.get("created_at")),
            duration_s=None, thumbnail=_thumb(livestream.get("thumbnail")), is_live=True,
            master_url=playback_url, channel_id=as_int(channel.get("id")),
            chatroom_id=_chatroom_id(channel))

    def _resolve_live_e2(self, slug: str) -> ResolvedStream:
        url = f"{self._base()}/api/v2/channels/{quote(slug)}/livestream"
        body = self._json(self._api_get(url), f"channel {slug}")
        data = pick(body, "data", type=dict)
        if data is None:
            raise NotLive(f"{slug} is offline right now - paste one of their VOD links "
                          f"(kick.com/{slug}/videos) instead")
        if not data.get("playback_url"):
            raise KickAPIError(f"Kick gave no playback URL for {slug}")
        return self._finish(
            kind="channel", channel=slug, id=_str_or_none(data.get("id")) or data.get("slug"),
            title=data.get("session_title"),
            created_at=kick_iso(data.get("start_time") or data.get("created_at")), duration_s=None,
            thumbnail=_thumb(data.get("thumbnail")), is_live=True,
            master_url=data["playback_url"], channel_id=as_int(data.get("channel_id")))

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
        live = pick(body, "livestream", type=dict) or {}
        channel = pick(live, "channel", type=dict) or {}
        slug = channel.get("slug") or slug
        if not body.get("source"):
            raise KickAPIError(_no_playback_message(video_id, body.get("status")),
                                setting="kick_token")
        duration_ms = as_float(live.get("duration"))
        return self._finish(
            kind="vod", channel=slug, id=video_id,
            title=live.get("session_title") or live.get("slug"),
            created_at=kick_iso(live.get("start_time") or live.get("created_at")
                            or body.get("created_at")),
            duration_s=duration_ms / 1000.0 if duration_ms else None,
            thumbnail=_thumb(live.get("thumbnail")), is_live=bool(live.get("is_live")),
            master_url=body["source"],
            channel_id=as_int(channel.get("id") or live.get("channel_id")))

    def _vod_from_web(self, slug: str, video_id: str) -> ResolvedStream:
        """E1 (channel id) -> E7 (metadata, seconds) -> E8 (signed master)."""
        channel_id = as_int(self._channel(slug).get("id"))
        if channel_id is None:
            raise KickAPIError(f"Kick sent no channel id for {slug}")
        web = self._web_base()
        meta: dict[str, Any] = {}
        try:  # metadata only: E8 below decides whether the video exists and plays
            body = self._json(self._api_get(
                f"{web}/api/v1/channels/{channel_id}/videos/{quote(video_id)}"),
                f"video {video_id}")
            meta = pick(body, "data", type=dict) or meta
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
        vod_url = pick(play, "playback_url", "vod")
        if not vod_url:
            raise KickAPIError(_no_playback_message(video_id, meta.get("status")),
                                setting="kick_token")
        session = pick(play, "video_session", type=dict) or {}
        duration_s = as_float(meta.get("duration")) or \
            as_float(session.get("video_duration"))
        channel = pick(meta, "channel", type=dict) or {}
        return self._finish(
            kind="vod", channel=channel.get("slug") or slug, id=video_id,
            title=meta.get("title") or session.get("video_title"),
            created_at=kick_iso(meta.get("start_time")), duration_s=duration_s or None,
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
                clip = pick(body, key, type=dict)
                if clip is not None and _clip_media_url(clip):
                    return self._clip_stream(slug, clip_id, clip)
                errors.append(KickAPIError(f"Kick sent no video URL for clip {clip_id}"))
            except BlockedByKick as err:
                blocked.add(group)
                errors.append(err)
            except (ChannelNotFound, NotLive, HostNotResolved):
                raise
            except KickAPIError as err:
                errors.append(err)
            logger.info("clip %s: %s failed (%s)", clip_id, redact_url(url), errors[-1])
        for kind in (BlockedByKick, KickAPIError):  # the most telling failure
            for err in errors:
                if type(err) is kind:
                    raise err
        raise errors[-1]

    def _clip_stream(self, slug: str | None, clip_id: str, clip: dict[str, Any]) -> ResolvedStream:
        channel = pick(clip, "channel", type=dict) or {}
        started = kick_iso(clip.get("started_at"))
        return self._finish(
            kind="clip", channel=channel.get("slug") or slug, id=clip.get("id") or clip_id,
            title=clip.get("title"), created_at=started or kick_iso(clip.get("created_at")),
            duration_s=as_float(clip.get("duration")),
            thumbnail=_thumb(clip.get("thumbnail_url")), is_live=False,
            master_url=_clip_media_url(clip) or "",
            channel_id=as_int(clip.get("channel_id") or channel.get("id")))

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
        return bearer_header(self.config.kick_token)

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
            hint = (" - for sub-only videos pass a Kick session token"
                    if response.status in (401, 403) else "")
            raise KickAPIError(f"Kick answered HTTP {response.status} for {what}: "
                               f"{_error_text(response)}{hint}", setting="kick_token")
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
        raise KickAPIError(f"{redact_url(master_url)} is not an HLS playlist")
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
        raise KickAPIError(f"{redact_url(master_url)} lists no streams")
    ranked.sort()
    return ranked[0][3], ranked[-1][3]


def _clip_media_url(clip: Mapping[str, Any]) -> str | None:
    for key in ("clip_url", "video_url", "playback_url"):
        value = pick(clip, key, type=str)
        if value:
            return value
    return None


def _no_playback_message(video_id: str, status: Any) -> str:
    if status == "sub_only":
        return (f"video {video_id} is for subscribers only - pass a Kick session token: the "
                "session_token of a subscribed account")
    if status == "private":
        return f"video {video_id} is private"
    return (f"Kick gave no playback URL for video {video_id} - it may be sub-only or private "
            "(pass a Kick session token if you are subscribed)")


def _error_text(response: HTTPResponse) -> str:
    """Kick's own error message from a failed answer, short."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:_ERROR_TEXT_MAX_CHARS] or "(empty answer)"
    for value in (pick(body, "message", type=str), pick(body, "error", type=str),
                  pick(body, "data", "details", type=str)):
        if value:
            return value[:_ERROR_TEXT_MAX_CHARS]
    return str(body)[:_ERROR_TEXT_MAX_CHARS]


def _thumb(value: Any) -> str | None:
    if isinstance(value, str):
        return value or None
    for key in ("url", "src"):
        if pick(value, key, type=str):
            return value[key]
    return None


def _chatroom_id(channel: Mapping[str, Any]) -> int | None:
    """E1's `chatroom.id`: the live chat's Pusher channel (not the channel id)."""
    return as_int(pick(channel, "chatroom", "id"))


def _str_or_none(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)
