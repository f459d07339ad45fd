"""Where a run reads from: what the user pasted, turned into a `Source` (analysis and cut
URLs, a display name, Kick metadata), and the URLs kept fresh while a run goes on."""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kick_api
from config import Config
from errors import InputError, KickAPIError
from storage import safe_name

logger = logging.getLogger(__name__)

# What highlights.json keeps of a resolved Kick link (no playback URLs: they carry tokens).
KICK_FIELDS = ("kind", "channel", "id", "title", "created_at", "duration_s", "thumbnail",
               "is_live", "channel_id", "chatroom_id")

# Sites people paste by habit whose pages ffmpeg cannot read: refused at once, offline.
OTHER_SITES = {"twitch.tv": "Twitch", "youtube.com": "YouTube", "youtu.be": "YouTube",
               "tiktok.com": "TikTok", "twitter.com": "X", "x.com": "X",
               "facebook.com": "Facebook", "instagram.com": "Instagram", "rumble.com": "Rumble"}


@dataclass(frozen=True)
class Source:
    """What to read: `analysis_url` for features, `cut_url` for clips (the same for files)."""

    original: str
    analysis_url: str
    cut_url: str
    name: str
    title: str
    kick: dict[str, Any] | None = None
    is_live: bool = False
    identity: str = ""  # what makes two runs "the same stream" for the feature cache


def resolve_source(source: str, config: Config) -> Source:
    """Turn what the user pasted into a `Source`, or raise `InputError` saying what to do."""
    text = (source or "").strip()
    if not text:
        raise InputError("no source given - pass a video file, an HLS/MP4 URL or a Kick link")
    if "kick.com" in text.lower() and kick_api.is_kick_url(text):
        with kick_api.KickAPI(config) as api:
            resolved = api.resolve(text)
        name = "_".join(p for p in (resolved.channel, resolved.title) if p) or resolved.kind
        kick = {key: getattr(resolved, key) for key in KICK_FIELDS}
        kick["url"] = resolved.page_url
        return Source(text, resolved.analysis_url, resolved.cut_url, safe_name(name),
                      resolved.title or text, kick=kick, is_live=resolved.is_live,
                      identity=f"kick:{resolved.kind}:{resolved.id or resolved.channel}")
    if re.match(r"^https?://", text, re.I):
        host = re.sub(r"^(www|m)\.", "", re.split(r"[/?#:]", text.split("://", 1)[1])[0].lower())
        if host in OTHER_SITES:
            raise InputError(f"{text}: {OTHER_SITES[host]} links are not supported - paste a "
                             "Kick link, a direct .m3u8/.mp4 URL or a recording")
        path = text.split("?")[0].rstrip("/")
        stem = Path(path).stem
        if stem in ("master", "playlist", "index", ""):
            stem = Path(path).parent.name or "stream"
        analysis = cut = text
        live = False
        if path.lower().endswith(".m3u8"):
            analysis, cut, live = hls_renditions_live(text, config)
        return Source(text, analysis, cut, safe_name(stem), text, identity=path, is_live=live)
    if re.match(r"^[a-z][a-z0-9+.-]*://", text, re.I):
        raise InputError(f"{text}: only http(s) URLs, Kick links and local files are "
                         "supported - paste one of those")
    path = Path(text).expanduser()
    if not path.exists():
        shown = str(path) if text.startswith("~") else text
        raise InputError(f"{shown}: no such file - {_missing_hint(text)}")
    if path.is_dir():
        raise InputError(f"{text} is a folder - give one video file inside it")
    if path.stat().st_size == 0:
        raise InputError(f"{text} is empty (0 bytes) - give a video or audio recording")
    resolved_path = str(path.resolve())
    stat = path.stat()
    return Source(resolved_path, resolved_path, resolved_path, safe_name(path.stem), path.name,
                  identity=f"file:{resolved_path}:{stat.st_size}:{stat.st_mtime_ns}")


# "host.tld/..." typed without a scheme: a dotted first segment of host-name characters.
_BARE_HOST_RE = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}(:\d+)?/", re.IGNORECASE)


def _missing_hint(text: str) -> str:
    """What to do about a source that is no file: a path (`~/x.mp4`, `./x.mp4`, `C:/x.mp4`,
    `clips/x.mp4`) is told to check it; only `host.tld/...` may be a URL without its scheme."""
    if _BARE_HOST_RE.match(text):
        return "check the path; if it is a web address, add https://"
    if "/" in text or "\\" in text:
        return "check the path"
    return "give a video file, an HLS/MP4 URL or a Kick link"


class StreamURLs:
    """The URLs a run reads, renewed when a signed Kick URL has expired (HTTP 401/403).

    Kick's playback URLs carry tokens that live minutes; a long analysis outlives them."""

    def __init__(self, src: Source, config: Config):
        self.src, self.config = src, config
        self.analysis, self.cut = src.analysis_url, src.cut_url
        self._lock = threading.Lock()
        self._renewed_at = 0.0

    def renew_if_expired(self, err: Exception) -> bool:
        """True when `err` looks like an expired URL and fresh URLs were fetched."""
        if not self.src.kick or not _EXPIRED.search(str(err)):
            return False
        with self._lock:
            if time.monotonic() - self._renewed_at > 10.0:
                logger.info("playback URL refused (%s); asking Kick for a fresh one", err)
                fresh = resolve_source(self.src.original, self.config)
                self.analysis, self.cut = fresh.analysis_url, fresh.cut_url
                self._renewed_at = time.monotonic()
        return True


_EXPIRED = re.compile(r"\b40[13]\b|Forbidden|Unauthorized")


def hls_renditions(url: str, config: Config) -> tuple[str, str]:
    """(lowest, highest) rendition of an HLS master: analysis reads the small one, clips come
    from the best one. A media playlist is both."""
    return hls_renditions_live(url, config)[:2]


def hls_renditions_live(url: str, config: Config) -> tuple[str, str, bool]:
    """`hls_renditions` and whether the stream is live: its (lowest) media playlist has no
    EXT-X-ENDLIST and is not a VOD playlist (a live one is followed by live.py)."""
    with kick_api.KickSession(config) as session:
        response = session.get(url)
        if not response.ok:
            raise InputError(f"{url}: HTTP {response.status} - check the link")
        try:
            low, high = kick_api.pick_variants(response.text, url)
        except KickAPIError as err:
            raise InputError(f"{err} - give an HLS (.m3u8) or MP4 link") from err
        text = response.text
        if low != url:
            media_answer = session.get(low)
            if not media_answer.ok:
                raise InputError(f"{low}: HTTP {media_answer.status} - check the link")
            text = media_answer.text
    return low, high, is_live_playlist(text)


def is_live_playlist(text: str) -> bool:
    """A media playlist that is still growing: no EXT-X-ENDLIST, not of type VOD."""
    return (text.lstrip().startswith("#EXTM3U") and "#EXT-X-ENDLIST" not in text
            and "#EXT-X-PLAYLIST-TYPE:VOD" not in text)

