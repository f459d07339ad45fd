"""Every default of the project, in one frozen dataclass.

Precedence, implemented once in `Config.from_env`: an explicit override (CLI flag, UI field)
beats an environment variable, which beats the default written here. Each field's
`metadata["help"]` is the help text argparse and the UI show, so the two never drift apart.
Units live in the names (`_s`, `_hz`, `_px`).
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from errors import ConfigError

VERSION = "0.1.0"

ENV_PREFIX = "KCG_"
# A few settings have well-known names of their own (the Kick issue names them).
ENV_ALIASES = {
    "kick_base_url": "KICK_BASE_URL",
    "kick_web_base_url": "KICK_WEB_BASE_URL",
    "kick_mobile_base_url": "KICK_MOBILE_BASE_URL",
    "kick_token": "KICK_TOKEN",
    "ffmpeg_binary": "FFMPEG_BINARY",
}

# The weights of the program this project grew from (its heuristic score), applied to
# per-stream robust z-scores instead of raw values. Divisors that program needed for raw units
# (centroid / 1000, energy / 1e9, edge * 100) are gone: every feature is already on one scale.
AUDIO_WEIGHTS = {
    "rms_mean": 2.0,
    "rms_std": 1.5,
    "zcr_mean": 1.0,
    "spectral_centroid": 1.0,
    "loudness_variance": 0.5,
    "high_freq_energy": 1.0,
}
VIDEO_WEIGHTS = {
    "motion_mean": 2.0,
    "motion_std": 1.5,
    "edge_density_mean": 1.0,
    "edge_density_std": 0.5,
    "color_variance": 1.0,
}
# Kick chat (chat_features.py): how far chat rises above the stream's own usual rate counts most;
# how many different people take part guards it against one spammer; emote spam and a shift to
# short messages ("W", "KEKW", "LMAO") are how a crowd reacts, but they also drift with memes.
CHAT_WEIGHTS = {
    "message_rate": 2.0,
    "chatters": 1.0,
    "emotes": 1.0,
    "short_share": 0.5,
}


# Kick's Pusher app (docs/KICK_API.md §2, E16; key seen 2026-10), protocol 7 as Kick's web
# client speaks.
LIVE_CHAT_URL = ("wss://ws-us2.pusher.com/app/32cbd69e4b950bf97679"
                 "?protocol=7&client=js&version=8.4.0&flash=false")

# Files written for editors in each run's exports/ folder (exports.py).
EXPORT_KINDS = ("otio", "fcpxml", "edl", "chapters", "csv")
CHAT_MODES = ("sampled", "full")

LAYOUTS = ("auto", "split", "fit", "crop")  # of the 9:16 clips (shorts.py)
# GPU encoders a streamer's machine often has (the one OBS streams with), fastest first.
HARDWARE_ENCODERS = ("h264_nvenc", "h264_qsv", "h264_amf", "h264_videotoolbox")
VERTICAL_ENCODERS = ("auto", "libx264") + HARDWARE_ENCODERS
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow")


def _opt(default: Any, help: str, **kw: Any) -> Any:
    return field(default=default, metadata={"help": help, **kw})


@dataclass(frozen=True)
class Config:
    # Walking the stream
    chunk_duration_s: float = _opt(30.0, "length of each analysed chunk in seconds")
    chunk_overlap_s: float = _opt(5.0, "overlap between chunks so no moment is cut in two")
    window_s: float = _opt(1.0, "scoring grid: one score per this many seconds")
    frame_skip: int = _opt(5, "analyse every Nth video frame")
    analysis_width_px: int = _opt(160, "frames are scaled to this width (inside ffmpeg)")
    sample_rate_hz: int = _opt(22050, "audio is analysed as mono at this rate")
    fast_decode: bool = _opt(True, "skip the video frames nothing refers to (B-frames) when "
                             "frame_skip >= 4 drops most of them anyway: a cheaper decode")
    workers: int = _opt(0, "chunks decoded at once (0: one per CPU core)")
    use_cache: bool = _opt(True, "reuse stored chunk features (re-runs, resuming)")
    chunk_attempts: int = _opt(2, "tries per chunk before it is skipped")
    dask_scheduler: str = _opt("", "send chunk tasks to this dask.distributed scheduler")

    # Scoring
    audio_weight: float = _opt(0.5, "share of the audio score in the combined score")
    video_weight: float = _opt(0.5, "share of the video score in the combined score")
    heuristic_weight: float = _opt(0.6, "share of the heuristic when a trained model exists")
    smooth_s: float = _opt(8.0, "scores are averaged over this many seconds before picking: a "
                           "moment is seconds of action, not one bang")
    fusion_peak_share: float = _opt(0.5, "share of the strongest signal in a window's score "
                                    "(the rest: the signals' weighted mean)")
    context_s: float = _opt(24.0, "each signal is measured against this many seconds before "
                            "and after a moment (0: the whole stream only)")
    context_guard_s: float = _opt(5.0, "the context starts this many seconds away from the "
                                  "moment")
    min_training_samples: int = _opt(10, "stored samples needed before the model trains")
    audio_weights: dict[str, float] = field(
        default_factory=lambda: dict(AUDIO_WEIGHTS),
        metadata={"help": "heuristic weight per audio feature"},
    )
    video_weights: dict[str, float] = field(
        default_factory=lambda: dict(VIDEO_WEIGHTS),
        metadata={"help": "heuristic weight per video feature"},
    )

    # Kick chat (VODs only)
    use_chat: bool = _opt(True, "fetch a Kick VOD's chat replay and score it (off: --no-chat)")
    chat_weight: float = _opt(0.4, "share of the chat score in the combined score")
    chat_lag_s: float = _opt(8.0, "chat reacts this many seconds after the moment (used when "
                                  "the lag cannot be estimated from the stream)")
    chat_max_lag_s: float = _opt(20.0, "longest reaction lag the estimate considers")
    chat_request_interval_s: float = _opt(1.0, "pause between two chat requests (Kick blocks "
                                               "bursts)")
    chat_max_pages: int = _opt(3600, "most chat pages (~25 messages each) fetched per VOD "
                                     "(--chat full)")
    chat_mode: str = _opt("sampled", "sampled: a chat-rate curve across the VOD plus dense pages "
                                     "around the top moments, within chat_budget_s; full: every "
                                     "message (minutes for a long VOD)", choices=CHAT_MODES)
    chat_budget_s: float = _opt(60.0, "sampled chat: most requests, in seconds at Kick's pace of "
                                      "one page a second, whatever the VOD's length")
    chat_tail_s: float = _opt(25.0, "sampled chat: longest the run goes on fetching chat after "
                                    "the analysis")
    chat_block_wait_s: float = _opt(65.0, "a chat request Kick blocks (403) is waited out this "
                                          "long, once; a second block ends the chat fetch")
    chat_weights: dict[str, float] = field(
        default_factory=lambda: dict(CHAT_WEIGHTS),
        metadata={"help": "heuristic weight per chat feature"},
    )

    # Kick live chat (live_chat.py): Kick's Pusher websocket (docs/KICK_API.md §2, E16)
    live_chat_url: str = _opt(LIVE_CHAT_URL, "Pusher websocket of Kick's live chat (ws:// or "
                                             "wss://)")
    live_chat_connect_timeout_s: float = _opt(10.0, "live chat: longest wait for the websocket "
                                                    "to open and the chat to be subscribed")
    live_chat_reconnects: int = _opt(5, "live chat: failed reconnects in a row before it is "
                                        "given up (the run goes on with audio and video)")
    live_chat_backoff_s: float = _opt(1.0, "live chat: reconnect n waits live_chat_backoff_s "
                                           "* 2**n seconds (at most 60)")

    # Live (live.py): a live channel or HLS stream is followed while it broadcasts
    live_for_s: float = _opt(0.0, "follow a live stream at most this long (0: until it ends)")
    live_wait: bool = _opt(False, "wait for an offline Kick channel to go live (--wait)")
    live_wait_poll_s: float = _opt(30.0, "first pause between two checks of an offline channel "
                                         "(then longer, up to twice this)")
    live_poll_s: float = _opt(1.0, "pause between two reloads of a live playlist")
    live_stall_s: float = _opt(60.0, "a live playlist without a new segment this long ends the "
                                     "run")
    live_buffer_s: float = _opt(240.0, "seconds of the full-quality stream kept on disk to cut "
                                       "clips from")
    live_baseline_s: float = _opt(600.0, "live scores are relative to this many past seconds")
    live_warmup_s: float = _opt(60.0, "no live clip before this many seconds are analysed")
    live_threshold: float = _opt(2.0, "live: the smoothed score that starts a clip")
    live_smooth_s: float = _opt(3.0, "live: the trigger averages the last this many seconds "
                                "(shorter than smooth_s: a live clip must not wait)")
    live_trigger_s: float = _opt(3.0, "live: seconds the score must stay above the threshold")
    live_max_event_s: float = _opt(50.0, "live: a moment longer than this is cut at this length")
    live_max_clips_per_hour: int = _opt(0, "live: at most this many clips per hour (0: no cap)")

    # Selection and clips
    top_n: int = _opt(10, "how many highlights to keep")
    min_gap_s: float = _opt(10.0, "moments closer than this are one streak: one clip "
                                  "(or two that touch)")
    clip_length_s: float = _opt(30.0, "length of each clip in seconds")
    pre_roll_s: float = _opt(8.0, "seconds a clip starts before the moment")
    post_roll_s: float = _opt(4.0, "seconds a clip runs on after a long moment ends")
    max_clip_length_s: float = _opt(60.0, "a long moment extends its clip up to this length")
    make_clips: bool = _opt(True, "cut clips (off: analysis and JSON only)")
    fast_cut: bool = _opt(False, "stream-copy clips: quick, but starts snap to keyframes")
    smart_cut: bool = _opt(True, "re-encode clips only up to their first keyframe and copy "
                                 "the rest (off: re-encode every clip whole)")
    clip_preset: str = _opt("superfast", "x264 preset for re-encoded clips (speed vs size)")
    exports: str = _opt(",".join(EXPORT_KINDS), "files for editors written in the run's "
                        "exports/ folder: a comma list of otio, fcpxml, edl, chapters, csv "
                        "(or none)")

    # Shorts (shorts.py, facecam.py, captions.py)
    vertical: bool = _opt(False, "also write a 1080x1920 version of every clip (_9x16.mp4)")
    layout: str = _opt("auto", "9:16 layout: split (webcam on top), fit, crop, or auto "
                               "(split when a webcam is found, else fit)")
    facecam: str = _opt("", "the webcam's box X,Y,W,H in source pixels (default: found)")
    vertical_preset: str = _opt("ultrafast", "x264 preset of the 9:16 clips")
    vertical_encoder: str = _opt("auto", "H.264 encoder of the 9:16 clips: auto (a GPU's when "
                                         "one works here: NVENC, Quick Sync, AMF, "
                                         "VideoToolbox; else libx264), or one by name")
    captions: bool = _opt(False, "transcribe the clips: .srt/.vtt, transcript, burned into "
                                 "the 9:16 clips")
    captions_model: str = _opt("base.en", "Whisper model name or folder for --captions")

    # Places and programs
    output_dir: Path = _opt(Path("output_clips"), "where run folders are written")
    models_dir: Path = _opt(Path("models"), "model files and the sample database")
    temp_dir: Path = _opt(Path("temp_chunks"), "scratch space, emptied as it goes")
    ffmpeg_binary: str = _opt("", "ffmpeg to use (default: PATH, then the bundled one)")
    ffmpeg_timeout_s: float = _opt(300.0, "an ffmpeg call producing nothing this long is killed")

    # Network / Kick
    request_timeout_s: float = _opt(30.0, "timeout of one HTTP request")
    retry_attempts: int = _opt(5, "attempts per HTTP request")
    backoff_base_s: float = _opt(1.0, "retry n waits backoff_base_s * 2**n seconds")
    probe_attempts: int = _opt(3, "tries of a stream's first read (its playlist and first "
                                  "segment; each may take 2 x request_timeout_s)")
    kick_base_url: str = _opt("https://kick.com", "Kick's classic API host")
    kick_web_base_url: str = _opt("https://web.kick.com", "Kick's web API host")
    kick_mobile_base_url: str = _opt("https://mobile.kick.com",
                                     "Kick's mobile-app API host (clip fallback)")
    kick_token: str = _opt("", "Kick session_token for sub-only VODs", secret=True)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            if f.type in ("Path",) and not isinstance(getattr(self, f.name), Path):
                object.__setattr__(self, f.name, Path(getattr(self, f.name)))
            if f.type == "float":
                value = getattr(self, f.name)
                _check(isinstance(value, (int, float)) and math.isfinite(value),
                       f"{f.name} must be a finite number (got {value!r})")
        _check(2.0 <= self.chunk_duration_s <= 600,
               "chunk_duration_s must be between 2 and 600 seconds")
        _check(
            0.0 <= self.chunk_overlap_s < self.chunk_duration_s / 2,
            "chunk_overlap_s must be >= 0 and less than half of chunk_duration_s",
        )
        _check(0.25 <= self.window_s <= self.chunk_duration_s / 2,
               "window_s must be between 0.25 s and half a chunk")
        _check(1 <= self.frame_skip <= 120, "frame_skip must be between 1 and 120")
        _check(32 <= self.analysis_width_px <= 1920, "analysis_width_px must be 32..1920")
        _check(8000 <= self.sample_rate_hz <= 48000, "sample_rate_hz must be 8000..48000")
        _check(0 <= self.workers <= 64, "workers must be between 0 (auto) and 64")
        _check(1 <= self.chunk_attempts <= 5, "chunk_attempts must be between 1 and 5")
        _check(self.live_for_s == 0 or 10 <= self.live_for_s <= 7 * 86400,
               "live_for_s must be 0 (until the broadcast ends) or 10 s .. 7 days")
        _check(0.05 <= self.live_wait_poll_s <= 3600,
               "live_wait_poll_s must be between 0.05 and 3600 seconds")
        _check(0.05 <= self.live_poll_s <= 60, "live_poll_s must be between 0.05 and 60 seconds")
        _check(1 <= self.live_stall_s <= 3600, "live_stall_s must be between 1 and 3600 seconds")
        _check(self.live_buffer_s >= self.max_clip_length_s + 30,
               "live_buffer_s must be at least max_clip_length_s + 30 seconds")
        _check(30 <= self.live_baseline_s <= 7200,
               "live_baseline_s must be between 30 and 7200 seconds")
        _check(5 <= self.live_warmup_s <= self.live_baseline_s,
               "live_warmup_s must be between 5 s and live_baseline_s")
        _check(0 < self.live_threshold <= 10, "live_threshold must be between 0 and 10")
        _check(1 <= self.live_trigger_s <= 60, "live_trigger_s must be between 1 and 60 seconds")
        _check(5 <= self.live_max_event_s <= 600,
               "live_max_event_s must be between 5 and 600 seconds")
        _check(0 <= self.live_max_clips_per_hour <= 3600,
               "live_max_clips_per_hour must be between 0 (no cap) and 3600")
        _check(0 <= self.audio_weight <= 100, "audio_weight must be between 0 and 100")
        _check(0 <= self.video_weight <= 100, "video_weight must be between 0 and 100")
        _check(self.audio_weight + self.video_weight > 0,
               "audio_weight and video_weight cannot both be 0")
        _check(0 <= self.chat_weight <= 100, "chat_weight must be between 0 and 100")
        _check(0 <= self.chat_max_lag_s <= 120, "chat_max_lag_s must be between 0 and 120 s")
        _check(0 <= self.chat_lag_s <= self.chat_max_lag_s,
               "chat_lag_s must be between 0 and chat_max_lag_s")
        _check(0 <= self.chat_request_interval_s <= 60,
               "chat_request_interval_s must be between 0 and 60 s")
        _check(self.chat_max_pages >= 1, "chat_max_pages must be at least 1")
        _check(self.chat_mode in CHAT_MODES, "chat_mode must be one of: " + ", ".join(CHAT_MODES))
        _check(1 <= self.chat_budget_s <= 3600, "chat_budget_s must be between 1 and 3600 s")
        _check(0 <= self.chat_tail_s <= 600, "chat_tail_s must be between 0 and 600 s")
        _check(0 <= self.chat_block_wait_s <= 600,
               "chat_block_wait_s must be between 0 and 600 s")
        _check(self.live_chat_url.strip().lower().startswith(("ws://", "wss://")),
               "live_chat_url must be a ws:// or wss:// URL")
        _check(0.1 <= self.live_chat_connect_timeout_s <= 120,
               "live_chat_connect_timeout_s must be between 0.1 and 120 s")
        _check(0 <= self.live_chat_reconnects <= 100,
               "live_chat_reconnects must be between 0 and 100")
        _check(0 <= self.live_chat_backoff_s <= 60,
               "live_chat_backoff_s must be between 0 and 60 s")
        _check(0.0 <= self.heuristic_weight <= 1.0, "heuristic_weight must be between 0 and 1")
        _check(self.smooth_s >= 0, "smooth_s must not be negative")
        _check(self.live_smooth_s >= 0, "live_smooth_s must not be negative")
        _check(0 <= self.fusion_peak_share <= 1, "fusion_peak_share must be between 0 and 1")
        _check(0 <= self.context_s <= 3600, "context_s must be between 0 and 3600 seconds")
        _check(0 <= self.context_guard_s <= 600,
               "context_guard_s must be between 0 and 600 seconds")
        _check(self.min_training_samples >= 2, "min_training_samples must be at least 2")
        _check(1 <= self.top_n <= 500, "top_n must be between 1 and 500")
        _check(0 <= self.min_gap_s <= 3600, "min_gap_s must be between 0 and 3600 seconds")
        _check(1.0 <= self.clip_length_s <= 600, "clip_length_s must be between 1 and 600 seconds")
        _check(0 <= self.pre_roll_s < self.clip_length_s,
               "pre_roll_s must be >= 0 and shorter than the clip")
        _check(self.post_roll_s >= 0, "post_roll_s must not be negative")
        _check(self.max_clip_length_s >= self.clip_length_s,
               "max_clip_length_s must be at least clip_length_s")
        _check(self.clip_preset in X264_PRESETS,
               f"clip_preset must be one of {', '.join(X264_PRESETS)}")
        words = [w.strip().lower() for w in self.exports.split(",") if w.strip()]
        _check(words in ([], ["all"], ["none"]) or all(w in EXPORT_KINDS for w in words),
               f"exports must be a comma list of {', '.join(EXPORT_KINDS)}, all or none "
               f"(got {self.exports!r})")
        _check(self.layout in LAYOUTS, f"layout must be one of {', '.join(LAYOUTS)}")
        box = [int(v) for v in re.findall(r"\d+", self.facecam)]
        _check(not self.facecam or (
            re.fullmatch(r"\s*\d+(\s*,\s*\d+){3}\s*", self.facecam) is not None
            and min(box[2:]) >= 16),
            "facecam must be X,Y,W,H (four whole numbers, source pixels; W and H at least 16)")
        _check(self.vertical_encoder in VERTICAL_ENCODERS,
               f"vertical_encoder must be one of {', '.join(VERTICAL_ENCODERS)}")
        _check(self.vertical_preset in X264_PRESETS,
               f"vertical_preset must be one of {', '.join(X264_PRESETS)}")
        _check(bool(self.captions_model.strip()), "captions_model must name a model or folder")
        _check(self.ffmpeg_timeout_s > 0, "ffmpeg_timeout_s must be positive")
        _check(self.request_timeout_s > 0, "request_timeout_s must be positive")
        _check(1 <= self.retry_attempts <= 20, "retry_attempts must be between 1 and 20")
        _check(self.backoff_base_s >= 0, "backoff_base_s must not be negative")
        _check(1 <= self.probe_attempts <= 10, "probe_attempts must be between 1 and 10")

    @property
    def chunk_step_s(self) -> float:
        return self.chunk_duration_s - self.chunk_overlap_s

    def replace(self, **changes: Any) -> Config:
        """A validated copy with `changes` applied; None values are ignored."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with secrets left out."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.metadata.get("secret"):
                continue
            value = getattr(self, f.name)
            out[f.name] = str(value) if isinstance(value, Path) else value
        return out

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Config:
        """Defaults < environment (`KCG_TOP_N`, `KICK_TOKEN`, ...) < `overrides` (not None)."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name in ("audio_weights", "video_weights", "chat_weights"):
                continue
            name = ENV_ALIASES.get(f.name, ENV_PREFIX + f.name.upper())
            raw = environ.get(name)
            if raw is not None and raw.strip() != "":
                values[f.name] = _parse(f, raw.strip(), name)
        values.update({k: v for k, v in overrides.items() if v is not None})
        unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        return cls(**values)


def _check(ok: bool, message: str) -> None:
    """Raise ConfigError(message) unless `ok`; a message starts with the field it is about."""
    if not ok:
        first = message.split()[0]
        names = {f.name for f in dataclasses.fields(Config)}
        raise ConfigError(message, field=first if first in names else None)


def _parse(f: dataclasses.Field, raw: str, env_name: str) -> Any:
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    try:
        if kind == "bool":
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "Path":
            return Path(raw)
        return raw
    except ValueError:
        raise ConfigError(f"{env_name}={raw!r} is not a valid {kind} - fix or unset "
                          f"{env_name}", field=f.name) from None


def field_help(name: str) -> str:
    """The help text of one `Config` field (for argparse and the UI)."""
    for f in dataclasses.fields(Config):
        if f.name == name:
            return f.metadata.get("help", "")
    raise KeyError(name)
