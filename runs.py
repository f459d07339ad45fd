"""Run folders: the one owner of their names, files and lookups.

A run folder under `output_dir` holds `highlights.json` (the `RunResult`), `features.npz`
(the stream's feature matrix), `chat.npz` (the chat rows, when there was chat), the clips
`clip_NN_HH-MM-SS.mp4|.m4a` with their `.jpg` thumbnails, `exports/` (the files for editors,
written and named by `exports.py`) and, once asked for, `clips.zip` / `exports.zip`.
Everything that reads or writes those names goes through here.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import kick_chat
from chat_features import CHAT_NAME, ChatFeatures
from config import VERSION, Config
from errors import InputError
from scoring import Highlight, Scores
from storage import write_json
from stream_processor import FEATURES_NAME, StreamFeatures
from timecode import file_stamp

JSON_NAME = "highlights.json"
ZIP_NAME = "clips.zip"


@dataclass(frozen=True)
class RunResult:
    """One run, as `highlights.json` holds it. Built once, when its parts are known."""

    source: str
    title: str
    duration_s: float
    config: Config
    media: dict[str, Any]
    highlights: list[Highlight]
    audio_highlights: list[Highlight]
    video_highlights: list[Highlight]
    chat_highlights: list[Highlight] = field(default_factory=list)
    chat: dict[str, Any] = field(default_factory=lambda: kick_chat.unavailable("not scored"))
    run_dir: str | None = None
    kick: dict[str, Any] | None = None
    skipped_chunks: list[dict[str, Any]] = field(default_factory=list)
    failed_clips: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    model: dict[str, Any] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)
    created_at: str = field(default_factory=lambda: datetime.now().astimezone().isoformat(
        timespec="seconds"))
    live: dict[str, Any] | None = None  # live runs only (live.py): started_at, covered_s, state
    facecam: dict[str, Any] | None = None  # the webcam box (shorts.py), source pixels

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "source": self.source,
            "title": self.title,
            "duration_s": round(self.duration_s, 3),
            "created_at": self.created_at,
            "config": self.config.to_dict(),
            "media": self.media,
            "kick": self.kick,
            "highlights": [h.to_dict() for h in self.highlights],
            "audio_highlights": [h.to_dict() for h in self.audio_highlights],
            "video_highlights": [h.to_dict() for h in self.video_highlights],
            "chat_highlights": [h.to_dict() for h in self.chat_highlights],
            "chat": self.chat,
            "skipped_chunks": self.skipped_chunks,
            "failed_clips": self.failed_clips,
            "notes": self.notes,
            "model": self.model,
            "timings_s": {k: round(v, 3) for k, v in self.timings_s.items()},
            "run_dir": self.run_dir,
            "facecam": self.facecam,
            **({"live": self.live} if self.live is not None else {}),
        }


@dataclass(frozen=True)
class RunView:
    """A finished run for display: its JSON, its per-window scores (for a timeline) on the
    grid of `window_s`, and the zip of its clips (None without clips)."""

    data: dict[str, Any]
    scores: Scores
    window_s: float
    archive: Path | None


@dataclass(frozen=True)
class ClipView:
    highlight: dict[str, Any]
    rating: float | None


# --- names ------------------------------------------------------------------------------------

def clip_stem(rank: int, start_s: float) -> str:
    """A clip's file name without extension: `clip_03_00-01-27`."""
    return f"clip_{rank:02d}_{file_stamp(start_s)}"


def clip_ext(has_video: bool) -> str:
    return ".mp4" if has_video else ".m4a"


# --- folders ----------------------------------------------------------------------------------

def check_writable(folder: Path) -> Path:
    """Make `folder` if needed and prove a file can be written in it; InputError if not."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise InputError(f"cannot write to {folder}: {err.strerror} - choose another output "
                         "folder", setting="output_dir") from err
    return folder


def new_run_dir(output_dir: Path, name: str) -> Path:
    """A fresh folder `<name>_<YYYYmmdd-HHMMSS>[_N]` under `output_dir`."""
    base = check_writable(Path(output_dir))
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = base / f"{name}_{stamp}"
    suffix = 1
    while run_dir.exists():
        suffix += 1
        run_dir = base / f"{name}_{stamp}_{suffix}"
    try:
        run_dir.mkdir()
    except OSError as err:
        raise InputError(f"cannot write to {base}: {err.strerror} - choose another output "
                         "folder", setting="output_dir") from err
    return run_dir


def list_runs(output_dir: Path) -> list[dict[str, Any]]:
    """Past runs under `output_dir`, newest first: run_dir, title, created_at, counts."""
    runs = []
    for json_path in Path(output_dir).glob(f"*/{JSON_NAME}"):
        try:
            data = json.loads(json_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        runs.append({"run_dir": str(json_path.parent), "title": data.get("title", ""),
                     "created_at": data.get("created_at", ""),
                     "duration_s": data.get("duration_s", 0.0),
                     "highlights": len(data.get("highlights", []))})
    return sorted(runs, key=lambda r: r["created_at"], reverse=True)


# --- files ------------------------------------------------------------------------------------

def load(run_dir: str | Path) -> dict[str, Any]:
    """The `highlights.json` of a run folder."""
    path = Path(run_dir) / JSON_NAME
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise InputError(f"{run_dir} is not a run folder (no {JSON_NAME})") from err
    except (OSError, ValueError) as err:
        raise InputError(f"{path} cannot be read: {err}") from err


def save(run_dir: Path, result: RunResult) -> None:
    write_json(run_dir / JSON_NAME, result.to_dict())


def save_signals(run_dir: Path, features: StreamFeatures, chat: ChatFeatures | None) -> None:
    """What re-ranking needs without decoding or network: the features and the chat rows."""
    features.save(run_dir / FEATURES_NAME)
    if chat is not None:
        chat.save(run_dir / CHAT_NAME)


def load_signals(run_dir: str | Path) -> tuple[StreamFeatures, ChatFeatures | None]:
    return (StreamFeatures.load(Path(run_dir) / FEATURES_NAME),
            ChatFeatures.load(Path(run_dir) / CHAT_NAME))


def find_rank(data: dict[str, Any], rank: int) -> dict[str, Any]:
    """The highlight of rank `rank` in a loaded run; InputError if there is none."""
    for h in data.get("highlights", []):
        if h["rank"] == rank:
            return h
    raise InputError(f"this run has no clip {rank} (it has {len(data.get('highlights', []))})")


def rank_of(data: dict[str, Any], clip_path: str) -> int:
    """The rank the clip in file `clip_path` has now; InputError if the run has no such clip."""
    for h in data.get("highlights", []):
        if h.get("clip_path") and Path(h["clip_path"]).resolve() == Path(clip_path).resolve():
            return int(h["rank"])
    raise InputError(f"this run has no clip {Path(clip_path).name} - pick one of its clips")


def zip_clips(run_dir: str | Path, data: dict[str, Any]) -> Path | None:
    """`clips.zip` of the run's clips (stored, not compressed: they are video), or None."""
    clips = [Path(h["clip_path"]) for h in data["highlights"] if h.get("clip_path")]
    if not clips:
        return None
    target = Path(run_dir) / ZIP_NAME
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as archive:
        for clip in clips:
            archive.write(clip, clip.name)
    return target
