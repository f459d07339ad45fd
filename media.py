"""The one place that runs ffmpeg.

Argument lists are built by pure functions (`*_argv`) so tests can check them without running
anything; `run_ffmpeg` and `decode` execute them, capture stderr, enforce a stall timeout
and turn failures into `MediaError` carrying ffmpeg's last meaningful line.
"""

from __future__ import annotations

import logging
import math
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import BinaryIO

import numpy as np

import storage
from errors import Cancelled, InputError, MediaError

logger = logging.getLogger(__name__)

# Sources ffmpeg may open; a remote playlist may not point it at local files or odd protocols.
REMOTE_PROTOCOLS = "http,https,tcp,tls,crypto"
HLS_SEGMENT_RETRIES = 3  # a segment answering 5xx or hanging up is fetched again
PROBE_TIMEOUT_S = 60.0
_NOISE = re.compile(r"^(Press \[q\]|\s*$|frame=|size=|video:|\[.*\] ?(Opening|Skip))")


def find_ffmpeg(override: str = "") -> str:
    """Resolve the ffmpeg binary: explicit override, then PATH, then imageio-ffmpeg's."""
    if override:
        found = shutil.which(override) or (override if Path(override).is_file() else None)
        if not found:
            raise MediaError(f"ffmpeg not found at {override!r} - fix FFMPEG_BINARY or unset it")
        return found
    on_path = shutil.which("ffmpeg")
    if on_path:
        return on_path
    try:
        import imageio_ffmpeg
    except ImportError as err:  # pragma: no cover - it is in requirements.txt
        raise MediaError("ffmpeg not found - pip install imageio-ffmpeg or install ffmpeg") from err
    return imageio_ffmpeg.get_ffmpeg_exe()


def is_remote(source: str) -> bool:
    return bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", source)) and not source.startswith(
        "file:"
    )


def input_args(source: str, start_s: float | None = None, timeout_s: float = 30.0) -> list[str]:
    """Input options for `source`: fast input-side seek, and for URLs a protocol whitelist,
    a network timeout and reconnects."""
    args: list[str] = []
    if start_s is not None and start_s > 0:
        args += ["-ss", f"{start_s:.3f}"]
    if is_remote(source):
        args += [
            "-protocol_whitelist", REMOTE_PROTOCOLS,
            "-rw_timeout", str(int(timeout_s * 1_000_000)),
            "-reconnect", "1", "-reconnect_on_network_error", "1",
            "-reconnect_delay_max", "4",
        ]
        if is_hls(source):
            args += ["-seg_max_retry", str(HLS_SEGMENT_RETRIES)]
    return args + ["-i", source]


@dataclass(frozen=True)
class MediaInfo:
    """What `probe_media` learns about a source. Times in seconds."""

    source: str
    duration_s: float | None
    has_video: bool
    has_audio: bool
    width: int = 0
    height: int = 0
    fps: float = 0.0  # the average rate (ffmpeg's "fps")
    fps_nominal: float = 0.0  # the rate its timestamps are based on (ffmpeg's "tbr")

    def to_dict(self) -> dict:
        return asdict(self)


_DURATION = re.compile(r"Duration:\s*(\d+):(\d+):(\d+(?:\.\d+)?)")
_VIDEO = re.compile(r"Stream #\S+.*?: Video: .*?(\d{2,5})x(\d{2,5})")
_GENERIC = re.compile(r"^Error opening input|^Error opening input files|Invalid data found when "
                      r"processing input$|^Exiting normally|^Conversion failed")
_CAUSE = re.compile(r"not on whitelist|No such file|Connection refused|Server returned|timed out|"
                    r"Permission denied|File too large|No space left", re.I)
# ffmpeg's "[in#0 @ 0x55d0c1f0] " / "[h264 @ 0x...] [Eval @ 0x...] " context prefixes.
_CONTEXT = re.compile(r"^(\[[^\]]* @ 0x[0-9a-fA-F]+\]\s*)+")
_STILL = re.compile(r": Video: (png|mjpeg|bmp|webp|tiff|jpeg2000|gif)\b")
_FPS = re.compile(r"(\d+(?:\.\d+)?) (?:fps|tbr)")
_TBR = re.compile(r"(\d+(?:\.\d+)?)(k?) tbr")


def parse_probe_output(source: str, stderr: str) -> MediaInfo:
    """Read duration and streams from `ffmpeg -i` output (the bundled ffmpeg has no ffprobe)."""
    duration = None
    m = _DURATION.search(stderr)
    if m:
        h, mi, s = m.groups()
        duration = int(h) * 3600 + int(mi) * 60 + float(s)
    width = height = 0
    fps = fps_nominal = 0.0
    has_video = False
    for line in stderr.splitlines():
        if ": Video: " in line and "attached pic" not in line:
            has_video = True
            vm = _VIDEO.search(line)
            if vm:
                width, height = int(vm.group(1)), int(vm.group(2))
            fm = _FPS.search(line)
            if fm:
                fps = float(fm.group(1))
            tm = _TBR.search(line)
            if tm:
                fps_nominal = float(tm.group(1)) * (1000 if tm.group(2) else 1)
            break
    has_audio = ": Audio: " in stderr
    return MediaInfo(source, duration, has_video, has_audio, width, height, fps, fps_nominal)


# A probe that failed this way may well work a moment later: a server error, a connection
# that hung up or timed out. (A 404, a refused connection or data that is not media will not.)
_PROBE_TRANSIENT = re.compile(r"Server returned 5\w\w|timed out|Connection reset|"
                              r"Broken pipe|Input/output error", re.I)


def probe_media(ffmpeg: str, source: str, timeout_s: float = PROBE_TIMEOUT_S, *,
                attempts: int = 1, backoff_base_s: float = 1.0,
                sleep: Callable[[float], None] = time.sleep) -> MediaInfo:
    """Probe `source` with `ffmpeg -i`; raise `InputError` when it is not playable media.

    A remote source's probe that gets no answer within `timeout_s` (its playlist or first
    segment stalled) or fails in a way that may pass (5xx, a dropped or timed-out
    connection) is tried again, `attempts` times in all, waiting `backoff_base_s * 2**n`
    before retry n, as the HTTP layer does for a request."""
    attempts = attempts if is_remote(source) else 1
    for attempt in range(attempts):
        try:
            return _probe_once(ffmpeg, source, timeout_s, attempts)
        except _ProbeTransient as err:
            if attempt + 1 == attempts:
                raise err.final from err.__cause__
            wait = backoff_base_s * 2 ** attempt
            logger.warning("probing %s: %s; trying again (%d/%d) in %g s", source, err,
                           attempt + 2, attempts, wait)
            sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover


class _ProbeTransient(Exception):
    """A probe attempt that may work when tried again; `final` is the error to raise if it
    was the last."""

    def __init__(self, reason: str, final: Exception):
        super().__init__(reason)
        self.final = final


def _probe_once(ffmpeg: str, source: str, timeout_s: float, attempts: int) -> MediaInfo:
    argv = [ffmpeg, "-hide_banner", "-nostdin", *input_args(source, timeout_s=timeout_s)]
    logger.debug("probe: %s", argv)
    tries = f" ({attempts} attempts)" if attempts > 1 else ""
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as err:
        final = MediaError(f"{source}: no answer within {timeout_s:.0f} s{tries} - check the "
                           "link")
        raise _ProbeTransient(f"no answer within {timeout_s:.0f} s", final) from err
    stderr = proc.stderr.decode("utf-8", "replace")
    info = parse_probe_output(source, stderr)
    if not (info.has_video or info.has_audio):
        reason = last_error_line(stderr) or "no audio or video stream"
        hint = ("paste a direct .m3u8/.mp4 link or a Kick link (other sites' pages are not "
                "supported)" if is_remote(source) else "give a video or audio recording")
        error = InputError(f"cannot read {source}: {reason}{tries} - {hint}")
        if is_remote(source) and _PROBE_TRANSIENT.search(reason):
            raise _ProbeTransient(reason, error)
        raise error
    if (info.has_video and not info.has_audio and _STILL.search(stderr)
            and (info.duration_s or 0.0) < 1.0):
        raise InputError(f"{source} is a still image - give a video or audio recording")
    return info


_START = re.compile(r"Duration: .*?, start: (-?\d+(?:\.\d+)?)")


def parse_start_time(stderr: str) -> float | None:
    """The input's start time (the earliest stream's first timestamp) from `ffmpeg -i` output:
    an MPEG-TS segment of a live stream starts where the broadcast's clock stood."""
    m = _START.search(stderr)
    return float(m.group(1)) if m else None


def probe_start_time(ffmpeg: str, source: str, timeout_s: float = PROBE_TIMEOUT_S
                     ) -> float | None:
    """`parse_start_time` of `ffmpeg -i source` (a local file: live.py's stretches)."""
    argv = [ffmpeg, "-hide_banner", "-nostdin", *input_args(source, timeout_s=timeout_s)]
    logger.debug("probe start: %s", argv)
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as err:
        raise MediaError(f"{source}: no answer within {timeout_s:.0f} s") from err
    return parse_start_time(proc.stderr.decode("utf-8", "replace"))


def last_error_line(stderr: str) -> str:
    """The last line of ffmpeg output that says something: not progress or banners, and not
    the generic summary ffmpeg prints after the specific reason."""
    lines = [_CONTEXT.sub("", ln.strip()) for ln in stderr.strip().splitlines()]
    lines = [ln for ln in lines if ln and not _NOISE.match(ln)]
    specific = [ln for ln in lines if not _GENERIC.search(ln)]
    causes = [ln for ln in specific if _CAUSE.search(ln)]
    return (causes or specific or lines or [""])[-1][:300]


# --- chunk extraction -------------------------------------------------------------------------

@dataclass(frozen=True)
class ChunkRequest:
    """One stretch of a source to decode for analysis."""

    source: str
    start_s: float
    duration_s: float
    sample_rate_hz: int
    want_audio: bool
    want_video: bool
    video_fps: float
    width_px: int
    height_px: int
    network_timeout_s: float = 30.0
    fast_decode: bool = False  # decoder shortcuts (FAST_DECODE_ARGS), see Config.fast_decode


# H.264 decoder shortcuts for the analysis (Config.fast_decode): skip the non-reference frames
# (B-frames nothing else is predicted from), which the analysis mostly drops anyway: it keeps
# one frame in `frame_skip` (FAST_DECODE_MIN_FRAME_SKIP), and an x264 stream has at most 3
# B-frames in a row. The fps filter then takes the nearest decoded frame, up to ~0.1 s from
# the one a full decode gives. Input options, so they reach the decoder; `:v` keeps them off
# the audio. (Skipping the loop filter and `-flags2 +fast` were measured too: no gain above
# the noise on 160p, see bench/decode_options.py.)
FAST_DECODE_ARGS = ("-skip_frame:v", "noref")
FAST_DECODE_MIN_FRAME_SKIP = 4


def chunk_argv(ffmpeg: str, req: ChunkRequest, video_fd: int | None) -> list[str]:
    """One ffmpeg call for a chunk: mono 16-bit PCM audio (s16le, `pcm_to_float` reads it) on
    stdout and tiny RGB frames on `video_fd` (pipe:N). Decoding once serves both; nothing
    touches the disk."""
    # Input-side -t bounds both outputs (an output-side -t would bind only the first).
    # Warnings are read: they are how the HLS demuxer says it gave up on a segment.
    argv = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "warning", "-threads", "1",
            "-t", f"{req.duration_s:.3f}",
            *(FAST_DECODE_ARGS if req.fast_decode and req.want_video else ()),
            *input_args(req.source, req.start_s, req.network_timeout_s)]
    if req.want_audio:
        # async=1 fills holes in the timestamps with silence, as the fps filter does for
        # video, so what follows a hole keeps its true time.
        argv += ["-map", "0:a:0", "-vn", "-af", "aresample=async=1:first_pts=0", "-ac", "1",
                 "-ar", str(req.sample_rate_hz), "-f", "s16le", "pipe:1"]
    if req.want_video:
        vf = (f"fps={req.video_fps:.6f},"
              f"scale={req.width_px}:{req.height_px}:flags=fast_bilinear,format=rgb24")
        target = f"pipe:{video_fd}" if video_fd is not None else "pipe:1"
        argv += ["-map", "0:v:0", "-an", "-vf", vf, "-f", "rawvideo", target]
    return argv


Consumer = Callable[[BinaryIO], None]


class _Counting:
    """A pipe reader that counts reads, so the watchdog can tell a stalled decoder."""

    def __init__(self, raw: BinaryIO, activity: list[int]):
        self.raw, self.activity = raw, activity

    def read(self, n: int = -1) -> bytes:
        block = self.raw.read(n)
        self.activity[0] += 1
        return block


AUDIO_SAMPLE_BYTES = 2  # audio crosses the pipe as s16le: half of float32, precision to spare


def pcm_to_float(data: bytes) -> np.ndarray:
    """s16le bytes -> float32 samples in [-1, 1)."""
    usable = len(data) // AUDIO_SAMPLE_BYTES * AUDIO_SAMPLE_BYTES
    return np.frombuffer(data[:usable], "<i2").astype(np.float32) / 32768.0


def read_exactly(pipe: BinaryIO, n_bytes: int) -> bytes:
    """Up to `n_bytes` from `pipe` (fewer only at end of stream)."""
    parts, got = [], 0
    while got < n_bytes:
        block = pipe.read(min(n_bytes - got, 1 << 20))
        if not block:
            break
        parts.append(block)
        got += len(block)
    return b"".join(parts)


# ffmpeg's HLS demuxer drops a segment it cannot fetch and closes the gap in the timestamps,
# which would shift everything after it; a lost segment therefore stops the decoder.
_SEGMENT_LOST = re.compile(r"Segment (\d+) of playlist \d+ failed too many times")
# A segment whose connection dropped half-way is not fetched again: the demuxer decodes the
# half it has, and the only trace is damaged packets. Clean HLS never prints these.
_SEGMENT_DAMAGED = re.compile(r"Packet corrupt \(stream|PES packet size mismatch|"
                              r"corrupt input packet|Stream ends prematurely")


def is_hls(source: str) -> bool:
    return source.split("?")[0].lower().endswith(".m3u8")


def decode(ffmpeg: str, req: ChunkRequest, on_audio: Consumer | None,
           on_video: Consumer | None, timeout_s: float = 300.0,
           cancel: threading.Event | None = None,
           lost: threading.Event | None = None, strict: bool = False) -> None:
    """Decode `req` and hand the raw pipes to consumers running in their own threads:
    `on_audio` reads mono s16le samples (`pcm_to_float`), `on_video` packed RGB frames, each
    at its own pace (so neither waits for the other). One ffmpeg process feeds both where the
    OS can pass an extra pipe (POSIX), else two. A decoder that produces nothing for
    `timeout_s` is killed; `cancel` kills it at once. When an HLS segment is lost (or, with
    `strict`, arrives damaged, which is how a connection dropped half-way shows), `lost` is
    set (consumers must not trust data from then on) and MediaError says so. Raises
    MediaError / Cancelled; a consumer's error propagates."""
    on_audio = on_audio if req.want_audio else None
    on_video = on_video if req.want_video else None
    if on_audio and on_video and os.name != "posix":
        errors: list[BaseException] = []

        def one(r: ChunkRequest, a: Consumer | None, v: Consumer | None) -> None:
            try:
                decode(ffmpeg, r, a, v, timeout_s, cancel, lost, strict)
            except BaseException as err:  # noqa: BLE001 - re-raised below
                errors.append(err)

        threads = [threading.Thread(target=one, args=(_only(req, video=False), on_audio, None)),
                   threading.Thread(target=one, args=(_only(req, audio=False), None, on_video))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        return

    read_fd = write_fd = None
    if on_audio and on_video:
        read_fd, write_fd = os.pipe()
    argv = chunk_argv(ffmpeg, _only(req, audio=bool(on_audio), video=bool(on_video)), write_fd)
    logger.debug("decode: %s", argv)
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        pass_fds=(write_fd,) if write_fd is not None else (),
    )
    if write_fd is not None:
        os.close(write_fd)
    activity = [0]
    stderr_parts: list[bytes] = []
    failures: list[BaseException] = []
    video_pipe = os.fdopen(read_fd, "rb") if read_fd is not None else proc.stdout

    def run(consumer: Consumer, pipe: BinaryIO) -> None:
        try:
            consumer(_Counting(pipe, activity))
        except BaseException as err:  # noqa: BLE001 - handed to the caller
            failures.append(err)
            proc.kill()
        finally:
            while pipe.read(1 << 16):  # keep ffmpeg from blocking on a consumer that quit
                pass

    segment_lost: list[str] = []
    watch_damage = strict and is_hls(req.source)

    def drain_stderr() -> None:
        for line in iter(proc.stderr.readline, b""):
            stderr_parts.append(line)
            activity[0] += 1
            text = line.decode("utf-8", "replace")
            found = _SEGMENT_LOST.search(text)
            if segment_lost or not (found or (watch_damage and _SEGMENT_DAMAGED.search(text))):
                continue
            segment_lost.append(f"HLS segment {found.group(1)} could not be read" if found
                                else "an HLS segment arrived damaged (a dropped connection?)")
            if lost is not None:
                lost.set()
            proc.kill()

    threads = [threading.Thread(target=drain_stderr, daemon=True)]
    if on_audio:
        threads.append(threading.Thread(target=run, args=(on_audio, proc.stdout), daemon=True))
    if on_video:
        threads.append(threading.Thread(target=run, args=(on_video, video_pipe), daemon=True))
    for t in threads:
        t.start()
    try:
        _wait_with_watchdog(proc, activity, timeout_s, cancel)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for t in threads:
            t.join(timeout=30)
        if read_fd is not None:
            video_pipe.close()
    if failures:
        raise failures[0]
    stderr = b"".join(stderr_parts).decode("utf-8", "replace")
    if segment_lost:
        raise MediaError(f"{segment_lost[0]} ({last_error_line(stderr) or 'no answer'})",
                         stderr=stderr, argv=argv)
    if proc.returncode != 0:
        raise MediaError(
            f"ffmpeg failed at {req.start_s:.0f} s: {last_error_line(stderr) or proc.returncode}",
            stderr=stderr, argv=argv,
        )


def _only(req: ChunkRequest, *, audio: bool = True, video: bool = True) -> ChunkRequest:
    return ChunkRequest(**{**asdict(req), "want_audio": audio and req.want_audio,
                           "want_video": video and req.want_video})


def _wait_with_watchdog(proc: subprocess.Popen, activity: list[int], timeout_s: float,
                        cancel: threading.Event | None) -> None:
    """Wait for `proc`; kill it when it stalls (no output for `timeout_s`) or on cancel."""
    last_seen, idle = activity[0], 0.0
    while True:
        try:
            proc.wait(timeout=0.2)
            return
        except subprocess.TimeoutExpired:
            pass
        if cancel is not None and cancel.is_set():
            proc.kill()
            raise Cancelled("cancelled")
        if activity[0] != last_seen:
            last_seen, idle = activity[0], 0.0
            continue
        idle += 0.2
        if idle >= timeout_s:
            proc.kill()
            raise MediaError(f"ffmpeg stalled: no data for {timeout_s:.0f} s")


# --- clips and thumbnails ----------------------------------------------------------------------

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
            *input_args(source, start_s), "-t", f"{duration_s:.3f}", "-map", "0:a:0?"]
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
            *input_args(source, at_s), *_thumbnail_output(out_path, width_px)]


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
            *input_args(source, seek_s), "-map", "0:v:0", "-c", "copy", "-f", "framecrc", "-"]


_TIMEBASE = re.compile(r"^#tb 0: (\d+)/(\d+)", re.M)
_CODEC_ID = re.compile(r"^#codec_id 0: (\w+)", re.M)
_NOPTS = -(2**63)


def parse_keyframe_scan(stdout: str, stderr: str) -> PacketScan:
    """Read `keyframe_scan_argv`'s output. framecrc lines are `0, dts, pts, duration, size,
    crc[, F=0xflags][, side data]`; a packet with no F= field is a keyframe."""
    start = _START.search(stderr)
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
    return PacketScan(codec.group(1) if codec else "", float(start.group(1)) if start else 0.0,
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
            *input_args(source)]


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
        argv += input_args(source, thumbnail[0])
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


def run_ffmpeg(argv: list[str], timeout_s: float = 300.0,
               cancel: threading.Event | None = None) -> subprocess.CompletedProcess:
    """Run one ffmpeg command to completion and return it (stdout and stderr as bytes); raise
    `MediaError` on failure or timeout and `Cancelled` (after killing it) as soon as `cancel`
    is set."""
    if cancel is not None and cancel.is_set():
        raise Cancelled("cancelled")
    logger.debug("ffmpeg: %s", argv)
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                out_bytes, err_bytes = proc.communicate(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                if cancel is not None and cancel.is_set():
                    raise Cancelled("cancelled") from None
                if time.monotonic() > deadline:
                    raise MediaError(f"ffmpeg took longer than {timeout_s:.0f} s",
                                     argv=argv) from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    if proc.returncode != 0:
        stderr = err_bytes.decode("utf-8", "replace")
        raise MediaError(last_error_line(stderr) or f"ffmpeg exited with {proc.returncode}",
                         stderr=stderr, argv=argv)
    return subprocess.CompletedProcess(argv, proc.returncode, out_bytes, err_bytes)


def write_atomically(target: Path, produce: Callable[[Path], None]) -> Path:
    """`storage.write_atomically`, and a `MediaError` when `produce(tmp)` (ffmpeg) wrote
    nothing. Nothing half-written is ever left under `target`."""
    def produce_checked(tmp: Path) -> None:
        produce(tmp)
        if not tmp.exists() or tmp.stat().st_size == 0:
            raise MediaError(f"ffmpeg wrote nothing for {target.name}")

    return storage.write_atomically(target, produce_checked)


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
        done = run_ffmpeg(keyframe_scan_argv(ffmpeg, source, seek, start_s - seek + window),
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
        return write_atomically(target, lambda tmp: run_ffmpeg(
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
    run_ffmpeg(smart_pieces_argv(
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
        done = run_ffmpeg(join_argv(ffmpeg, str(video), str(audio) if has_audio else None,
                                    str(tmp), concat=concat), timeout_s, cancel)
        if "Non-monotonic DTS" in done.stderr.decode("utf-8", "replace"):
            raise MediaError("head and tail do not join in decode order")
        frames = _PROGRESS_FRAME.findall(done.stdout.decode("utf-8", "replace"))
        got = int(frames[-1]) * plan.span.frame_s if frames else 0.0
        if abs(got - expected) > CLIP_TOLERANCE_S:
            raise MediaError(f"the smart cut holds {got:.2f} s of video instead of "
                             f"{expected:.2f} s")

    write_atomically(target, join)
    logger.debug("%s: smart cut, %d frames re-encoded (%.2f s), pieces %.2f s, join %.2f s",
                 target.name, plan.head_frames, plan.head_s, pieces_s,
                 time.perf_counter() - started - pieces_s)
    if thumbnail is None or not thumb.exists() or thumb.stat().st_size == 0:
        return None
    return write_atomically(thumbnail[1], lambda tmp: shutil.copyfile(thumb, tmp))


def make_thumbnail(ffmpeg: str, source: str, at_s: float, target: Path,
                   timeout_s: float = 120.0, cancel: threading.Event | None = None,
                   width_px: int = THUMBNAIL_WIDTH_PX) -> Path:
    return write_atomically(target, lambda tmp: run_ffmpeg(
        thumbnail_argv(ffmpeg, source, at_s, str(tmp), width_px), timeout_s, cancel))
