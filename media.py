"""The one place that runs ffmpeg: finding it, probing, the chunk decode pipes, `run_ffmpeg`.

Argument lists are built by pure functions (`*_argv`, here and in `clip_cutter` for clips and
thumbnails) so tests can check them without running anything; `run_ffmpeg` and `decode`
execute them, capture stderr, enforce a stall timeout and turn failures into `MediaError`
carrying ffmpeg's last meaningful line.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
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


# --- running ffmpeg ---------------------------------------------------------------------------

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
