"""Cutting a run's clips: each highlight and its thumbnail, a few at a time, one failure
recorded without stopping the rest. The ffmpeg work itself is `clip_cutter.cut_clip`."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Protocol

import clip_cutter
import media
import runs
from config import Config
from errors import Cancelled, MediaError
from scoring import Highlight

logger = logging.getLogger(__name__)

CLIPS_AT_ONCE = 3  # smart cuts are mostly reading, copying and starting ffmpeg: overlap them


class CutURL(Protocol):
    """The URL clips are cut from, renewed when a signed one expires (`sources.StreamURLs`)."""

    cut: str

    def renew_if_expired(self, error: Exception) -> bool: ...


def cut_all(ffmpeg: str, urls: CutURL, info: media.MediaInfo, highlights: list[Highlight],
            run_dir: Path, config: Config, progress: Callable[[float, str], None],
            cancel: threading.Event
            ) -> tuple[list[Highlight], list[dict[str, Any]], list[str]]:
    """Cut each highlight and its thumbnail, CLIPS_AT_ONCE at a time. Returns the
    highlights with their files, the clips that failed (one failure does not stop the
    rest) and what to note. `progress` gets the share of clips done."""
    ext = runs.clip_ext(info.has_video)
    n = len(highlights)
    whole: list[str] = []  # why clips a smart cut would have sped up were re-encoded whole
    failed: list[dict[str, Any]] = []

    def cut(h: Highlight) -> Highlight:
        if cancel.is_set():
            raise Cancelled("cancelled")
        stem = runs.clip_stem(h.rank, h.start)
        clip = thumb = None
        try:
            for last_try in (False, True):
                try:
                    made = cut_one(ffmpeg, urls.cut, h.start, h.end, run_dir / f"{stem}{ext}",
                                   info.has_video, info.duration_s, config, cancel,
                                   thumbnail=(h.peak, run_dir / f"{stem}.jpg"))
                    break
                except MediaError as err:
                    if last_try or not urls.renew_if_expired(err):
                        raise
            clip, thumb = made.path, made.thumbnail
            if made.note:
                whole.append(made.note)
            if info.has_video and thumb is None:
                thumb = clip_cutter.make_thumbnail(
                    ffmpeg, urls.cut, h.peak, run_dir / f"{stem}.jpg",
                    timeout_s=config.ffmpeg_timeout_s, cancel=cancel)
        except MediaError as err:
            logger.warning("clip %d failed: %s", h.rank, err)
            failed.append({"rank": h.rank, "start": h.start, "end": h.end, "reason": str(err)})
        return dataclasses.replace(h, clip_path=str(clip) if clip else None,
                                   thumbnail_path=str(thumb) if thumb else None)

    progress(0.0, f"cutting clip 1/{n}")
    done: dict[int, Highlight] = {}
    with ThreadPoolExecutor(CLIPS_AT_ONCE, thread_name_prefix="clip") as pool:
        futures = {pool.submit(cut, h): h.rank for h in highlights}
        try:
            for future in as_completed(futures):
                done[futures[future]] = future.result()
                progress(len(done) / n, f"cutting clip {min(len(done) + 1, n)}/{n}")
        except BaseException:
            cancel.set()
            raise
    notes = []
    if config.fast_cut:
        notes.append("--fast: clips are stream copies; starts snap to keyframes")
    if whole:
        reasons = "; ".join(f"{reason} ({count}x)" if count > 1 else reason
                            for reason, count in Counter(whole).most_common(3))
        notes.append(f"{len(whole)} clip(s) re-encoded whole instead of smart-cut: {reasons}")
    return [done[h.rank] for h in highlights], sorted(failed, key=lambda f: f["rank"]), notes


def cut_one(ffmpeg: str, url: str, start_s: float, end_s: float, target: Path,
            has_video: bool, duration_s: float | None, config: Config,
            cancel: threading.Event | None,
            thumbnail: tuple[float, Path] | None = None) -> clip_cutter.CutResult:
    """One clip as the config says: smart cut (default), whole re-encode or fast copy."""
    return clip_cutter.cut_clip(
        ffmpeg, url, start_s, end_s - start_s, target, fast=config.fast_cut,
        smart=config.smart_cut, has_video=has_video, preset=config.clip_preset,
        thumbnail=thumbnail if has_video else None, work_dir=config.temp_dir,
        available_s=None if not duration_s else duration_s - start_s,
        timeout_s=config.ffmpeg_timeout_s, cancel=cancel)
