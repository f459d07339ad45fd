"""Cutting clips and thumbnails: the whole-clip re-encode or stream copy, and the smart cut
(a packet scan for the keyframes near the start, only the frames before the first keyframe
re-encoded, the rest copied untouched, the pieces joined and checked).

Argument lists are built by pure functions (`*_argv`) so tests can check them without running
anything; every ffmpeg process is run by `media.run_ffmpeg`, outputs land through
`media.write_atomically`.
"""

from __future__ import annotations

import logging
import math
import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

import media
from errors import MediaError

logger = logging.getLogger(__name__)
CLIP_CRF = 20  # whole-clip re-encodes
HEAD_CRF = 18  # a smart cut's head: a second or two that should not look worse than the source
AUDIO_BITRATE = "160k"
KEYFRAME_SEARCH_S = 10.0  # a smart cut looks this far past the start for a keyframe
CLIP_TOLERANCE_S = 0.5  # a cut clip may be this much longer or shorter than asked
MAX_REORDER_FRAMES = 2  # the head's x264 can delay decoding by at most 2 frames (B-pyramid)
THUMBNAIL_WIDTH_PX = 640
# Errors that a whole-clip re-encode would hit just the same (no access, disk full, too slow).
_NO_RETRY = re.compile(r"not on whitelist|No such file|Connection refused|Server returned|"
                       r"timed out|took longer|Permission denied|File too large|No space left|"
                       r"\b40[13]\b|Forbidden|Unauthorized", re.I)


def clip_argv(ffmpeg: str, source: str, start_s: float, duration_s: float, out_path: str,
              *, fast: bool = False, has_video: bool = True, preset: str = "superfast",
              span: ClipSpan | None = None, has_audio: bool = True) -> list[str]:
    """Cut [start, start+duration) from `source`. Default re-encodes for a frame-accurate start
    (input-side seek is exact when decoding); `fast` copies streams and snaps to keyframes.
    With the clip's `span` (from a packet scan) the re-encode picks frames and samples by
    their own timestamps instead: exact also where the input's seek lands after its target
    (MPEG-TS), and the audio starts exactly with the first frame."""
    if span is not None and has_video and not fast:
        argv = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
                *_span_input(source, span), "-map", "0:v:0",
                "-vf", _video_trim(span, span.end_at_s), "-c:v", "libx264", "-preset", preset,
                "-crf", str(CLIP_CRF), "-pix_fmt", "yuv420p"]
        if has_audio:
            argv += ["-map", "0:a:0", "-af", _audio_trim(span), "-c:a", "aac",
                     "-b:a", AUDIO_BITRATE]
        return argv + ["-movflags", "+faststart", "-f", "mp4", out_path]
    argv = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
            *media.input_args(source, start_s), "-t", f"{duration_s:.3f}", "-map", "0:a:0?"]
    if has_video:
        argv += ["-map", "0:v:0"]
    if fast:
        argv += ["-c", "copy", "-avoid_negative_ts", "make_zero"]
    else:
        if has_video:
            argv += ["-c:v", "libx264", "-preset", preset, "-crf", str(CLIP_CRF),
                     "-pix_fmt", "yuv420p"]
        argv += ["-c:a", "aac", "-b:a", AUDIO_BITRATE]
    if out_path.endswith((".mp4", ".m4a")):
        argv += ["-movflags", "+faststart", "-f", "mp4"]
    return argv + [out_path]


def _thumbnail_output(out_path: str, width_px: int = THUMBNAIL_WIDTH_PX) -> list[str]:
    """One JPEG frame, `width_px` wide (0: the source's own size)."""
    scale = ["-vf", f"scale={width_px}:-2"] if width_px else []
    return ["-frames:v", "1", *scale, "-q:v", "3", "-f", "image2", out_path]


def thumbnail_argv(ffmpeg: str, source: str, at_s: float, out_path: str,
                   width_px: int = THUMBNAIL_WIDTH_PX) -> list[str]:
    return [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
            *media.input_args(source, at_s), *_thumbnail_output(out_path, width_px)]


# Smart cut: re-encode only [start, first keyframe), copy the rest untouched, join the two.
# Every step runs with -copyts, so frames are picked by their own timestamps on the input's
# clock, whatever the demuxer's seek does (MP4 lands on the keyframe before the target, HLS on
# the segment start, MPEG-TS on a keyframe after it).

class NoSmartCut(MediaError):
    """A smart cut does not fit this clip (codec, no keyframe in reach, ...); the caller
    re-encodes the clip whole instead."""


@dataclass(frozen=True)
class VideoPacket:
    """One video packet as `keyframe_scan_argv` lists it. Seconds on the input's clock."""

    pts_s: float
    dts_s: float
    key: bool


@dataclass(frozen=True)
class PacketScan:
    """The video packets read from a seek point on (decode order), with what a smart cut
    needs to know about the input: its codec, the clock's start and whether it has audio."""

    codec: str
    start_time_s: float  # input times are this much ahead of stream times (MPEG-TS: ~1.4 s)
    has_audio: bool
    packets: tuple[VideoPacket, ...]


@dataclass(frozen=True)
class ClipSpan:
    """Where a clip lies on the input's own clock (what -copyts shows), found by a scan."""

    seek_s: float  # input-side seek (stream time) that lands at or before the first frame
    clock_s: float  # the input's clock at stream time 0 (PacketScan.start_time_s)
    first_at_s: float  # the clip's first frame: the first at or after the requested start
    end_at_s: float
    frame_s: float  # the frame interval

    @property
    def duration_s(self) -> float:
        return self.end_at_s - self.first_at_s


@dataclass(frozen=True)
class SmartCutPlan:
    """Where a smart cut splits its clip: re-encoded before `keyframe_at_s`, copied after."""

    span: ClipSpan
    keyframe_at_s: float  # the first keyframe at or after the first frame
    head_frames: int  # frames re-encoded before the keyframe (0: the start is a keyframe)
    reorder_frames: int  # how many frames the source's decoding runs ahead (B-frames)

    @property
    def head_s(self) -> float:
        return self.keyframe_at_s - self.span.first_at_s


def keyframe_scan_argv(ffmpeg: str, source: str, seek_s: float, window_s: float) -> list[str]:
    """List the video packets of [seek_s, seek_s + window_s) without decoding anything: a
    stream copy into `framecrc` prints one line per packet (dts, pts, flags). The input's
    description (codec, start time, streams) goes to stderr."""
    return [ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-copyts", "-t", f"{window_s:.3f}",
            *media.input_args(source, seek_s), "-map", "0:v:0", "-c", "copy", "-f", "framecrc", "-"]


_TIMEBASE = re.compile(r"^#tb 0: (\d+)/(\d+)", re.M)
_CODEC_ID = re.compile(r"^#codec_id 0: (\w+)", re.M)
_NOPTS = -(2**63)


def parse_keyframe_scan(stdout: str, stderr: str) -> PacketScan:
    """Read `keyframe_scan_argv`'s output. framecrc lines are `0, dts, pts, duration, size,
    crc[, F=0xflags][, side data]`; a packet with no F= field is a keyframe."""
    start = media.parse_start_time(stderr)
    codec = _CODEC_ID.search(stdout)
    tb = _TIMEBASE.search(stdout)
    num, den = (int(tb.group(1)), int(tb.group(2))) if tb else (1, 1)
    packets = []
    for line in stdout.splitlines():
        fields = [f.strip() for f in line.split(",")]
        if len(fields) < 6 or fields[0] != "0":
            continue
        dts, pts = int(fields[1]), int(fields[2])
        if pts == _NOPTS:
            continue
        flags = next((int(f[4:], 16) for f in fields[6:] if f.startswith("F=0x")), 1)
        dts = pts if dts == _NOPTS else dts
        packets.append(VideoPacket(pts * num / den, dts * num / den, bool(flags & 1)))
    described = stderr.split("Output #0", 1)[0]
    return PacketScan(codec.group(1) if codec else "", start if start is not None else 0.0,
                      ": Audio: " in described, tuple(packets))


def seek_landed_late(scan: PacketScan, start_s: float) -> bool:
    """True when the scan's first keyframe comes after `start_s`: the demuxer seeked past the
    target (MPEG-TS does), so decoding from there would lose the clip's first frames."""
    keys = [p.pts_s for p in scan.packets if p.key]
    return not keys or min(keys) > scan.start_time_s + start_s + 0.001


def locate_clip(scan: PacketScan, start_s: float, duration_s: float,
                seek_s: float) -> ClipSpan:
    """The clip [start, start+duration) on the input's clock: its first frame is the first at
    or after the start (as ffmpeg's exact seek picks it). Raises NoSmartCut when the scan
    does not reach back to that frame."""
    if seek_landed_late(scan, start_s):
        raise NoSmartCut("no keyframe found before the start")
    pts = sorted({p.pts_s for p in scan.packets})
    steps = np.diff(pts)
    steps = steps[steps > 1e-6]
    frame_s = float(np.median(steps)) if len(steps) else 1 / 30
    start_at = scan.start_time_s + start_s
    first = next((t for t in pts if t >= start_at - 0.001), None)
    if first is None:
        raise NoSmartCut("no frame at the start")
    # ffmpeg's exact seek drops what comes before the seek point: keep that clear of the
    # first frame (a start given to the millisecond may lie just after it).
    seek_s = max(0.0, min(seek_s, first - scan.start_time_s - frame_s / 2))
    # The end, likewise, is the first frame time at or after the requested one.
    frames = max(1, math.ceil((start_at + duration_s - 0.001 - first) / frame_s - 1e-6))
    return ClipSpan(seek_s, scan.start_time_s, first, first + frames * frame_s, frame_s)


def plan_smart_cut(scan: PacketScan, span: ClipSpan) -> SmartCutPlan:
    """Split the clip at the first keyframe at or after its first frame. Raises NoSmartCut
    when the source does not allow it."""
    if scan.codec != "h264":
        raise NoSmartCut(f"{scan.codec or 'unknown'} video is re-encoded whole")
    key = min((p for p in scan.packets if p.key and p.pts_s >= span.first_at_s - 1e-6),
              key=lambda p: p.pts_s, default=None)
    if key is None or key.pts_s >= span.end_at_s - span.frame_s / 2:
        raise NoSmartCut(f"no keyframe within {KEYFRAME_SEARCH_S:.0f} s of the start")
    reorder = round((key.pts_s - key.dts_s) / span.frame_s)
    if not 0 <= reorder <= MAX_REORDER_FRAMES:
        raise NoSmartCut(f"the source reorders {reorder} frames (at most "
                         f"{MAX_REORDER_FRAMES} can be joined)")
    head = len({p.pts_s for p in scan.packets
                if span.first_at_s <= p.pts_s < key.pts_s - 1e-6})
    return SmartCutPlan(span, key.pts_s, head, reorder)


def _span_input(source: str, span: ClipSpan) -> list[str]:
    """The input, on its own clock (-copyts), read from the span's seek to its end only."""
    seek = ["-ss", f"{span.seek_s:.6f}"] if span.seek_s > 0 else []
    return ["-copyts", "-t", f"{span.end_at_s - span.clock_s - span.seek_s:.6f}", *seek,
            *media.input_args(source)]


def _video_trim(span: ClipSpan, until_at_s: float) -> str:
    """Frames from the span's first to `until_at_s` (cut midway between frames, so no
    rounding moves one across), restamped from 0."""
    half = span.frame_s / 2
    return (f"trim=start={span.first_at_s - half:.6f}:end={until_at_s - half:.6f},"
            "setpts=PTS-STARTPTS")


def _audio_trim(span: ClipSpan) -> str:
    """Samples from the first frame's time to the end, restamped from 0: in step with it."""
    return (f"atrim=start={span.first_at_s:.6f}:end={span.end_at_s:.6f},"
            "asetpts=PTS-STARTPTS")


def smart_pieces_argv(ffmpeg: str, source: str, plan: SmartCutPlan, *, head: str, tail: str,
                      audio: str | None, thumbnail: tuple[float, str] | None = None,
                      preset: str = "superfast") -> list[str]:
    """One ffmpeg writing every piece of a smart cut from one read of the source: the head
    [first, keyframe) re-encoded with x264 (skipped when the start is a keyframe), the tail
    [keyframe, end) copied packet for packet, the audio [first, end) as AAC and, when asked,
    the thumbnail at `thumbnail[0]`. Head and tail are MPEG-TS, so each keeps its own
    SPS/PPS in-band and the two join without touching the tail."""
    span = plan.span
    argv = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
            *_span_input(source, span)]
    if thumbnail is not None:
        argv += media.input_args(source, thumbnail[0])
    if plan.head_frames:
        # The head's decoding runs ahead by as many frames as the source's (x264's B-frames),
        # so the tail's first decode time never falls before the head's last.
        argv += ["-map", "0:v:0", "-an", "-sn", "-dn",
                 "-vf", _video_trim(span, plan.keyframe_at_s),
                 "-c:v", "libx264", "-preset", preset, "-crf", str(HEAD_CRF),
                 "-bf", str(plan.reorder_frames), "-f", "mpegts", head]
    # Packets before the keyframe (the GOP the seek landed in) are dropped by their pts.
    argv += ["-map", "0:v:0", "-an", "-sn", "-dn", "-c:v", "copy",
             "-bsf:v", f"noise=drop=lt(pts*tb\\,{plan.keyframe_at_s - span.frame_s / 2:.6f})",
             "-f", "mpegts", tail]
    if audio is not None:
        argv += ["-map", "0:a:0", "-vn", "-sn", "-dn", "-af", _audio_trim(span),
                 "-c:a", "aac", "-b:a", AUDIO_BITRATE, "-f", "mp4", audio]
    if thumbnail is not None:
        argv += ["-map", "1:v:0", *_thumbnail_output(thumbnail[1])]
    return argv


def concat_list_text(head: str, head_s: float, tail: str) -> str:
    """An ffconcat list of the head and tail (names relative to the list's folder). The
    head's length is stated, not measured, so the tail's keyframe lands exactly `head_s`
    after the clip's first frame."""
    for name in (head, tail):
        if "'" in name or "\n" in name:
            raise ValueError(f"unquotable piece name {name!r}")
    return f"ffconcat version 1.0\nfile '{head}'\nduration {head_s:.6f}\nfile '{tail}'\n"


def join_argv(ffmpeg: str, video: str, audio: str | None, out_path: str, *,
              concat: bool) -> list[str]:
    """Mux the smart cut's video (an ffconcat list of head + tail, or the tail alone) with its
    audio, copying both, into an MP4 that starts playing before it is fully downloaded.
    Progress (frames written) goes to stdout and warnings (a join out of decode order) to
    stderr, for the checks of the result."""
    argv = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "warning", "-y", "-nostats",
            "-progress", "pipe:1"]
    if concat:
        argv += ["-f", "concat", "-safe", "0"]
    argv += ["-i", video]
    if audio is not None:
        argv += ["-i", audio]
    argv += ["-map", "0:v:0", *(["-map", "1:a:0"] if audio is not None else []),
             "-c", "copy", "-movflags", "+faststart", "-f", "mp4", out_path]
    return argv


_PROGRESS_FRAME = re.compile(r"^frame=(\d+)", re.M)


@dataclass(frozen=True)
class CutResult:
    """A clip written by `cut_clip`, how it was made and, when the cut made one on the way,
    its thumbnail."""

    path: Path
    method: str  # "smart" (head re-encoded, rest copied), "re-encode" or "copy" (--fast)
    thumbnail: Path | None = None
    note: str = ""  # why a smart cut was not used


def scan_keyframes(ffmpeg: str, source: str, start_s: float, duration_s: float, *,
                   timeout_s: float = 120.0, cancel: threading.Event | None = None
                   ) -> tuple[PacketScan, float]:
    """The video packets from the start to the first keyframe within reach, and the input
    seek they were read from. Where the demuxer's seek lands after the start (MPEG-TS), the
    scan starts again earlier: two GOPs back, then four."""
    window = min(duration_s, KEYFRAME_SEARCH_S)

    def scan(seek: float) -> PacketScan:
        done = media.run_ffmpeg(keyframe_scan_argv(ffmpeg, source, seek, start_s - seek + window),
                          timeout_s, cancel)
        return parse_keyframe_scan(done.stdout.decode("utf-8", "replace"),
                                   done.stderr.decode("utf-8", "replace"))

    seek, found = start_s, scan(start_s)
    keys = sorted(p.pts_s for p in found.packets if p.key)
    lookback = 2 * (keys[1] - keys[0]) if len(keys) > 1 else window
    for _ in range(2):
        if seek <= 0 or not seek_landed_late(found, start_s):
            break
        seek = max(0.0, start_s - lookback)
        found = scan(seek)
        lookback *= 2
    return found, seek


def cut_clip(ffmpeg: str, source: str, start_s: float, duration_s: float, target: Path, *,
             fast: bool = False, smart: bool = True, has_video: bool = True,
             preset: str = "superfast", thumbnail: tuple[float, Path] | None = None,
             work_dir: Path | None = None, available_s: float | None = None,
             timeout_s: float = 600.0, cancel: threading.Event | None = None) -> CutResult:
    """Cut [start, start+duration) from `source` into `target`, frame-accurate.

    A packet scan near the start (no decoding) places the clip's frames on the input's own
    clock. H.264 video is then smart-cut: only the frames before the first keyframe are
    re-encoded, the rest is copied untouched (pieces in a private folder under `work_dir`,
    deleted afterwards, also on error or cancel), and the smart cut writes the thumbnail at
    `thumbnail[0]` s to `thumbnail[1]` on the way (the result says whether it did). When a
    smart cut does not fit the source or fails, or its result is not as long as asked, the
    clip is re-encoded whole; `smart=False` always does that. `available_s` is how much of
    the source there is from `start_s` (the end of the stream). `fast` copies streams:
    starts snap to keyframes."""
    def whole(span: ClipSpan | None = None, has_audio: bool = True) -> Path:
        return media.write_atomically(target, lambda tmp: media.run_ffmpeg(
            clip_argv(ffmpeg, source, start_s, duration_s, str(tmp), fast=fast,
                      has_video=has_video, preset=preset, span=span, has_audio=has_audio),
            timeout_s, cancel))

    if fast or not has_video:
        return CutResult(whole(), "copy" if fast else "re-encode")
    span, has_audio, note = None, True, ""
    try:
        # Cheap (no decoding) and worth it even for a whole re-encode: it finds the clip's
        # frames on the input's own clock, also where the input's seek lands late (MPEG-TS).
        scan, seek = scan_keyframes(ffmpeg, source, start_s, duration_s,
                                    timeout_s=timeout_s, cancel=cancel)
        has_audio = scan.has_audio
        span = locate_clip(scan, start_s, duration_s, seek)
        if available_s is not None:
            span = replace(span, end_at_s=min(
                span.end_at_s, scan.start_time_s + start_s + available_s))
        if smart:
            made = _smart_cut(ffmpeg, source, plan_smart_cut(scan, span), has_audio, target,
                              work_dir if work_dir is not None else target.parent,
                              thumbnail=thumbnail, preset=preset, timeout_s=timeout_s,
                              cancel=cancel)
            return CutResult(target, "smart", made)
    except MediaError as err:
        if _NO_RETRY.search(str(err)) and not isinstance(err, NoSmartCut):
            raise
        logger.info("%s: %s; re-encoding it whole", target.name, err)
        note = str(err)
    return CutResult(whole(span, has_audio), "re-encode", note=note)


def _smart_cut(ffmpeg: str, source: str, plan: SmartCutPlan, has_audio: bool, target: Path,
               work_dir: Path, *, thumbnail: tuple[float, Path] | None, preset: str,
               timeout_s: float, cancel: threading.Event | None) -> Path | None:
    """Write the pieces into a private folder under `work_dir`, join them into `target`,
    check the result and delete the pieces (also on error or cancel). Returns the thumbnail
    when one was asked for."""
    Path(work_dir).mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.stem}.", dir=work_dir))
    try:
        return _smart_cut_in(ffmpeg, source, plan, has_audio, target, work,
                             thumbnail=thumbnail, preset=preset, timeout_s=timeout_s,
                             cancel=cancel)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _smart_cut_in(ffmpeg: str, source: str, plan: SmartCutPlan, has_audio: bool,
                  target: Path, work: Path, *, thumbnail: tuple[float, Path] | None,
                  preset: str, timeout_s: float, cancel: threading.Event | None
                  ) -> Path | None:
    head, tail, audio, thumb = (work / "head.ts", work / "tail.ts", work / "audio.m4a",
                                work / "thumb.jpg")
    started = time.perf_counter()
    media.run_ffmpeg(smart_pieces_argv(
        ffmpeg, source, plan, head=str(head), tail=str(tail),
        audio=str(audio) if has_audio else None,
        thumbnail=(thumbnail[0], str(thumb)) if thumbnail else None, preset=preset),
        timeout_s, cancel)
    pieces_s = time.perf_counter() - started
    if plan.head_frames:
        video, concat = work / "join.ffconcat", True
        video.write_text(concat_list_text(head.name, plan.head_s, tail.name), encoding="utf-8")
    else:
        video, concat = tail, False
    expected = plan.span.duration_s

    def join(tmp: Path) -> None:
        done = media.run_ffmpeg(join_argv(ffmpeg, str(video), str(audio) if has_audio else None,
                                    str(tmp), concat=concat), timeout_s, cancel)
        if "Non-monotonic DTS" in done.stderr.decode("utf-8", "replace"):
            raise MediaError("head and tail do not join in decode order")
        frames = _PROGRESS_FRAME.findall(done.stdout.decode("utf-8", "replace"))
        got = int(frames[-1]) * plan.span.frame_s if frames else 0.0
        if abs(got - expected) > CLIP_TOLERANCE_S:
            raise MediaError(f"the smart cut holds {got:.2f} s of video instead of "
                             f"{expected:.2f} s")

    media.write_atomically(target, join)
    logger.debug("%s: smart cut, %d frames re-encoded (%.2f s), pieces %.2f s, join %.2f s",
                 target.name, plan.head_frames, plan.head_s, pieces_s,
                 time.perf_counter() - started - pieces_s)
    if thumbnail is None or not thumb.exists() or thumb.stat().st_size == 0:
        return None
    return media.write_atomically(thumbnail[1], lambda tmp: shutil.copyfile(thumb, tmp))


def make_thumbnail(ffmpeg: str, source: str, at_s: float, target: Path,
                   timeout_s: float = 120.0, cancel: threading.Event | None = None,
                   width_px: int = THUMBNAIL_WIDTH_PX) -> Path:
    return media.write_atomically(target, lambda tmp: media.run_ffmpeg(
        thumbnail_argv(ffmpeg, source, at_s, str(tmp), width_px), timeout_s, cancel))
