"""Hand-off to editors: a run's highlights in the files editing programs and YouTube open.

Every run writes `exports/` in its run folder (the kinds `Config.exports` names):

    highlights.otio    OpenTimelineIO: the highlights as clips of the source, in rank order,
                       each with a marker at its peak (Resolve, Premiere 2025.6+, Kdenlive 25.04+)
    markers.otio       the whole source as one clip with a marker over every highlight
    highlights.fcpxml  the same timeline for Final Cut Pro (and Resolve), FCPXML 1.9
    highlights.edl     CMX3600 EDL of the highlights, with a reel name column
    markers.edl        Resolve's marker EDL: the moments as markers on the full VOD
    chapters.txt       YouTube chapters for the VOD's description
    highlights.csv     start,end,label in seconds (LosslessCut's CSV import; any spreadsheet)
    scores.csv         the score curve, one row per scoring window
    README.txt         which rate the timecodes use, where the media is, what to open where

Times are frame-exact at the source's frame rate (`timecode.FrameRate`); timelines start at
01:00:00:00 as editors' timelines do. Everything is built from the run's `highlights.json`
data, so an old run can be exported again (`KickClipGenerator.export`). One file that fails is
logged and left out; it never fails the run.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import re
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from config import EXPORT_KINDS
from errors import ConfigError
from storage import write_atomically
from timecode import FrameRate, frame_rate, hms

logger = logging.getLogger(__name__)

EXPORTS_DIR = "exports"
TIMELINE_START = "01:00:00:00"  # where editors' timelines start (Resolve's and Premiere's default)
FCPXML_VERSION = "1.9"  # Final Cut Pro 10.5+ and Resolve 17+ import it
CHAPTER_MIN_S = 10  # YouTube: every chapter at least 10 s long
CHAPTERS_MIN = 3  # YouTube: at least three chapters, the first at 0:00
CHAPTER_TITLE_CHARS = 60
PROGRAM = "kick_clip_generator"

# Marker colour by highlight kind: OTIO's names, Resolve's and FCPXML's nearest.
COLOURS = {"audio": "GREEN", "video": "BLUE", "both": "PURPLE", "chat": "YELLOW"}
OTHER_COLOUR = "RED"
RESOLVE_COLOURS = {"GREEN": "Green", "BLUE": "Blue", "PURPLE": "Purple", "YELLOW": "Yellow",
                   "RED": "Red"}

README_NAME = "README.txt"
ZIP_NAME = "exports.zip"

_SCORE_SUFFIX = re.compile(r"\s*\([+-]?[\d.]+\)$")


def parse_kinds(text: str | Iterable[str]) -> tuple[str, ...]:
    """"otio,edl" -> ("otio", "edl"); "all" or "" -> every kind; "none" -> (). ConfigError
    naming the unknown kind otherwise."""
    words = ([w.strip().lower() for w in text.split(",")] if isinstance(text, str)
             else [str(w).strip().lower() for w in text])
    words = [w for w in words if w]
    if not words or words == ["all"]:
        return EXPORT_KINDS
    if words == ["none"]:
        return ()
    unknown = [w for w in words if w not in EXPORT_KINDS]
    if unknown:
        raise ConfigError(f"exports: unknown kind {unknown[0]!r} - use a comma list of "
                          f"{', '.join(EXPORT_KINDS)}, or none", field="exports")
    return tuple(k for k in EXPORT_KINDS if k in words)


@dataclass(frozen=True)
class Moment:
    """One highlight on the source's frame grid: frames `start` (first) to `end` (after the
    last), `peak` the frame of the moment itself."""

    rank: int
    start: int
    end: int
    peak: int
    start_s: float
    end_s: float
    score: float
    kind: str
    reasons: tuple[str, ...]
    transcript: str = ""

    @property
    def label(self) -> str:
        """"#1 audio: loud audio, fast motion": rank, kind and reasons, for markers."""
        return f"#{self.rank} {self.kind}: {', '.join(self.reasons) or 'high score'}"

    @property
    def colour(self) -> str:
        return COLOURS.get(self.kind, OTHER_COLOUR)


@dataclass(frozen=True)
class SourceMedia:
    """The media the timelines reference: `url` (a file:// URL or the stream's), `path` when it
    is a local file, `name` for clip names, `frames` its length on the frame grid."""

    url: str
    path: Path | None
    name: str
    frames: int
    has_video: bool
    has_audio: bool
    width: int
    height: int


@dataclass(frozen=True)
class Exported:
    """What `write_exports` wrote: the folder, the files, the rate used, notes for the run."""

    folder: Path
    files: list[Path] = field(default_factory=list)
    rate: str = ""
    notes: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


# --- the run's highlights on the frame grid -----------------------------------------------------

def rate_of(data: dict[str, Any]) -> FrameRate:
    """The rate a run's source is counted at, from the probe stored in its `media`."""
    info = data.get("media") or {}
    if not info.get("has_video", True):
        return frame_rate(0.0)
    return frame_rate(float(info.get("fps") or 0.0), float(info.get("fps_nominal") or 0.0))


def moments(data: dict[str, Any], rate: FrameRate) -> list[Moment]:
    """The run's highlights in rank order, each at least one frame long."""
    out = []
    for h in sorted(data.get("highlights", []), key=lambda h: h["rank"]):
        start = rate.frames(float(h["start"]))
        end = max(start + 1, rate.frames(float(h["end"])))
        peak = min(max(rate.frames(float(h.get("peak", h["start"]))), start), end - 1)
        reasons = tuple(_SCORE_SUFFIX.sub("", r) for r in h.get("reasons") or [])
        out.append(Moment(int(h["rank"]), start, end, peak, float(h["start"]), float(h["end"]),
                          float(h.get("score") or 0.0), str(h.get("kind") or ""), reasons,
                          str(h.get("transcript") or "").strip()))
    return out


def source_media(data: dict[str, Any], rate: FrameRate) -> SourceMedia:
    """The source as editors reach it: a local file as a file:// URL, else the link given."""
    source = str(data.get("source") or "")
    info = data.get("media") or {}
    path = Path(source).expanduser() if source and "://" not in source else None
    if path is not None and path.is_file():
        path = path.resolve()
        url, name = path.as_uri(), path.name
    else:
        path = None
        url = source
        name = (Path(urlparse(source).path).name or data.get("title") or "source")
    duration = float(data.get("duration_s") or info.get("duration_s") or 0.0)
    return SourceMedia(url, path, name, max(1, rate.frames(duration)),
                       bool(info.get("has_video", True)), bool(info.get("has_audio", True)),
                       int(info.get("width") or 0),
                       int(info.get("height") or 0))


# --- OpenTimelineIO -----------------------------------------------------------------------------

def otio_timelines(data: dict[str, Any], rate: FrameRate) -> tuple[Any, Any]:
    """(highlights, markers): the highlights as clips in rank order, each with a marker at its
    peak; and the whole source as one clip with a marker over every highlight."""
    import opentimelineio as otio

    fps = rate.fps
    src = source_media(data, rate)
    title = str(data.get("title") or src.name)

    def t(frames: int) -> Any:
        return otio.opentime.RationalTime(frames, fps)

    def span(start: int, end: int) -> Any:
        return otio.opentime.TimeRange(t(start), t(end - start))

    def reference() -> Any:
        return otio.schema.ExternalReference(target_url=src.url,
                                             available_range=span(0, src.frames))

    def marker(m: Moment, start: int, end: int) -> Any:
        return otio.schema.Marker(name=m.label, marked_range=span(start, end),
                                  color=m.colour, metadata={PROGRAM: _moment_meta(m)})

    meta = {PROGRAM: {"frame_rate": rate.label, "source": data.get("source"),
                      "run_dir": data.get("run_dir")}}
    kind = (otio.schema.TrackKind.Video if src.has_video else otio.schema.TrackKind.Audio)
    start_time = t(rate.parse(TIMELINE_START))

    highlights = otio.schema.Timeline(name=f"{title} - highlights", global_start_time=start_time,
                                      metadata=meta)
    track = otio.schema.Track(name="Highlights", kind=kind)
    for m in moments(data, rate):
        clip = otio.schema.Clip(name=f"{m.rank:02d} {src.name}", media_reference=reference(),
                                source_range=span(m.start, m.end),
                                metadata={PROGRAM: _moment_meta(m)})
        clip.markers.append(marker(m, m.peak, m.peak + 1))
        track.append(clip)
    highlights.tracks.append(track)

    markers = otio.schema.Timeline(name=f"{title} - moments", global_start_time=start_time,
                                   metadata=meta)
    whole = otio.schema.Clip(name=src.name, media_reference=reference(),
                             source_range=span(0, src.frames))
    for m in sorted(moments(data, rate), key=lambda m: m.start):
        whole.markers.append(marker(m, m.start, m.end))
    vod = otio.schema.Track(name="Source", kind=kind)
    vod.append(whole)
    markers.tracks.append(vod)
    return highlights, markers


def _moment_meta(m: Moment) -> dict[str, Any]:
    meta = {"rank": m.rank, "kind": m.kind, "score": round(m.score, 4),
            "reasons": list(m.reasons), "start_s": m.start_s, "end_s": m.end_s}
    if m.transcript:
        meta["transcript"] = m.transcript
    return meta


def _write_otio(timeline: Any, target: Path) -> None:
    import opentimelineio as otio

    text = otio.adapters.write_to_string(timeline, "otio_json")
    write_atomically(target, lambda tmp: tmp.write_text(text, encoding="utf-8"))


# --- FCPXML -------------------------------------------------------------------------------------

def fcpxml(data: dict[str, Any], rate: FrameRate) -> str:
    """The highlights timeline as FCPXML 1.9: one format and one asset (the source), a
    library > event > project > sequence > spine of asset-clips in rank order, each with a
    marker at its peak. Every time is a whole number of frames in rational seconds."""
    src = source_media(data, rate)
    title = str(data.get("title") or src.name)
    root = ET.Element("fcpxml", version=FCPXML_VERSION)
    resources = ET.SubElement(root, "resources")
    frame = rate.rational(1)
    ET.SubElement(resources, "format", id="r1", frameDuration=frame,
                  width=str(src.width or 1920), height=str(src.height or 1080))
    ET.SubElement(resources, "asset", id="r2", name=src.name, start="0s",
                  duration=rate.rational(src.frames), hasVideo="1" if src.has_video else "0",
                  hasAudio="1" if src.has_audio else "0", format="r1", src=src.url,
                  **({"audioSources": "1", "audioChannels": "2"} if src.has_audio else {}))
    tc_format = "DF" if rate.drop_frame else "NDF"
    library = ET.SubElement(root, "library")
    event = ET.SubElement(library, "event", name="Kick Clip Generator")
    project = ET.SubElement(event, "project", name=f"{title} - highlights")
    found = moments(data, rate)
    first = rate.parse(TIMELINE_START)
    total = sum(m.end - m.start for m in found)
    sequence = ET.SubElement(project, "sequence", format="r1", duration=rate.rational(total),
                             tcStart=rate.rational(first), tcFormat=tc_format,
                             audioLayout="stereo", audioRate="48k")
    spine = ET.SubElement(sequence, "spine")
    offset = first
    for m in found:
        clip = ET.SubElement(spine, "asset-clip", ref="r2", name=f"#{m.rank} {src.name}",
                             offset=rate.rational(offset), start=rate.rational(m.start),
                             duration=rate.rational(m.end - m.start), tcFormat=tc_format)
        ET.SubElement(clip, "marker", start=rate.rational(m.peak), duration=frame,
                      value=m.label)
        offset += m.end - m.start
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    comment = f"<!-- {PROGRAM}: frame rate {rate.label.replace('--', '-')} -->"
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE fcpxml>\n{comment}\n{body}\n'


# --- CMX3600 EDLs -------------------------------------------------------------------------------

def reel_name(src: SourceMedia) -> str:
    """The reel column: the file's name without extension, in the characters an EDL column
    can hold (Resolve matches it with "reel names from source clip filename")."""
    stem = Path(src.name).stem
    reel = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_")[:32]
    return reel or "AX"


def _event_line(number: int, reel: str, track: str, tc: tuple[str, str, str, str]) -> str:
    return f"{number:03d}  {reel:<8} {track:<5} C        {' '.join(tc)}"


def edl(data: dict[str, Any], rate: FrameRate) -> str:
    """The highlights as a CMX3600 EDL, in rank order, one after another from 01:00:00:00."""
    src = source_media(data, rate)
    reel = reel_name(src)
    track = ("AA/V" if src.has_audio else "V") if src.has_video else "AA"
    lines = [f"TITLE: {_edl_text(str(data.get('title') or src.name))[:60]}",
             f"FCM: {'DROP FRAME' if rate.drop_frame else 'NON-DROP FRAME'}", ""]
    record = rate.parse(TIMELINE_START)
    for number, m in enumerate(moments(data, rate), 1):
        length = m.end - m.start
        tc = (rate.timecode(m.start), rate.timecode(m.end), rate.timecode(record),
              rate.timecode(record + length))
        lines += [_event_line(number, reel, track, tc),
                  f"* FROM CLIP NAME: {_edl_text(src.name)}",
                  f"* FROM CLIP: {src.path if src.path else src.url}",
                  f"* COMMENT: {_edl_text(m.label)}"]
        record += length
    return "\n".join(lines) + "\n"


def marker_edl(data: dict[str, Any], rate: FrameRate) -> str:
    """Resolve's marker EDL: one event a highlight in time order, on a timeline of the whole
    VOD starting at 01:00:00:00, with `|C:colour |M:name |D:duration in frames`."""
    src = source_media(data, rate)
    lines = [f"TITLE: {_edl_text(str(data.get('title') or src.name))[:52]} - moments",
             f"FCM: {'DROP FRAME' if rate.drop_frame else 'NON-DROP FRAME'}", ""]
    first = rate.parse(TIMELINE_START)
    for number, m in enumerate(sorted(moments(data, rate), key=lambda m: m.start), 1):
        at = rate.timecode(first + m.start)
        after = rate.timecode(first + m.start + 1)
        name = _edl_text(m.label).replace("|", "/")
        lines += [_event_line(number, "001", "V", (at, after, at, after)),
                  f" |C:ResolveColor{RESOLVE_COLOURS[m.colour]} |M:{name} "
                  f"|D:{m.end - m.start}"]
    return "\n".join(lines) + "\n"


def _edl_text(text: str) -> str:
    """One line of plain text: EDL readers take no line breaks and often no non-ASCII."""
    return " ".join(text.encode("ascii", "replace").decode("ascii").split())


# --- YouTube chapters ---------------------------------------------------------------------------

def chapter_title(m: Moment) -> str:
    """A short title: the first reasons (with a few words of the transcript, if any)."""
    title = " & ".join(m.reasons[:2]) or {"audio": "Loud moment", "video": "Action",
                                          "chat": "Chat goes wild"}.get(m.kind, "Highlight")
    title = title[:1].upper() + title[1:]
    if m.transcript:
        words = m.transcript.split()
        quote = " ".join(words[:8]) + (" ..." if len(words) > 8 else "")
        title = f'{title}: "{quote}"'
    title = re.sub(r"[<>]", "", " ".join(title.split()))  # YouTube refuses angle brackets
    return title if len(title) <= CHAPTER_TITLE_CHARS else title[:CHAPTER_TITLE_CHARS - 3] + "..."


def chapters(data: dict[str, Any], rate: FrameRate) -> tuple[str, list[str]]:
    """(chapters.txt, notes): `0:00 Start` and one line per highlight in time order, kept to
    YouTube's rules: the first at 0:00, each at least 10 s long (a highlight starting within
    10 s of the chapter before, or of the end, is left out). Notes say when the rules cannot
    be met (fewer than 3 chapters: YouTube will not show them)."""
    duration = float(data.get("duration_s") or 0.0)
    long_form = duration >= 3600
    kept: list[tuple[int, str]] = [(0, "Start")]
    dropped = 0
    for m in sorted(moments(data, rate), key=lambda m: m.start_s):
        at = int(m.start_s)  # YouTube reads whole seconds
        if at - kept[-1][0] < CHAPTER_MIN_S or duration - at < CHAPTER_MIN_S:
            dropped += 1
            continue
        kept.append((at, chapter_title(m)))
    notes = []
    if dropped:
        notes.append(f"chapters: {dropped} highlight(s) left out of chapters.txt (YouTube "
                     f"chapters must be at least {CHAPTER_MIN_S} s long)")
    if len(kept) < CHAPTERS_MIN:
        notes.append(f"chapters: only {len(kept)} chapter(s); YouTube shows chapters only "
                     f"with at least {CHAPTERS_MIN} of {CHAPTER_MIN_S} s or more - keep more "
                     "highlights (top N) or paste the lines as plain timestamps")
    text = "\n".join(f"{_chapter_time(at, long_form)} {title}" for at, title in kept) + "\n"
    return text, notes


def _chapter_time(seconds: int, long_form: bool) -> str:
    """YouTube's chapter time: H:MM:SS once the video is an hour long, else M:SS."""
    return hms(seconds) if long_form else f"{seconds // 60}:{seconds % 60:02d}"


# --- CSV ----------------------------------------------------------------------------------------

def highlights_csv(data: dict[str, Any], rate: FrameRate) -> str:
    """LosslessCut's CSV: `start,end,label` in seconds, no header, one highlight a row in time
    order (LosslessCut: File > Import project > CSV; a spreadsheet opens it as it is)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for m in sorted(moments(data, rate), key=lambda m: m.start):
        writer.writerow([_seconds(rate.seconds(m.start)), _seconds(rate.seconds(m.end)),
                         f"{m.label} (score {m.score:.2f})"])
    return out.getvalue()


def scores_csv(scores: Any, window_s: float) -> str:
    """The score curve: `time_s` (the window's start) and each score, one row per window;
    empty where a signal has no value."""
    columns = {"combined": scores.combined, **{k: v for k, v in scores.parts.items()}}
    if scores.ml is not None:
        columns["ml"] = scores.ml
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["time_s", *columns])
    for i in range(len(scores.combined)):
        row = [_seconds(i * window_s)]
        for values in columns.values():
            v = float(values[i])
            row.append(f"{v:.4f}" if math.isfinite(v) else "")
        writer.writerow(row)
    return out.getvalue()


def _seconds(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".") if value else "0"


# --- all of it ----------------------------------------------------------------------------------

def write_exports(run_dir: str | Path, data: dict[str, Any], kinds: Sequence[str] | str,
                  scores: Any = None, window_s: float = 1.0) -> Exported:
    """Write the `kinds` of export files for the run in `run_dir` (its `highlights.json` data)
    into `run_dir/exports/`, each atomically. A file that cannot be written is logged (what
    to do) and listed in `failed`; it never raises. `scores` (`scoring.Scores`) feeds
    scores.csv; without it scores.csv is left out."""
    kinds = parse_kinds(kinds) if isinstance(kinds, str) else tuple(kinds)
    try:
        return _write_exports(Path(run_dir), data, kinds, scores, window_s)
    except Exception as err:  # an export never costs the run
        logger.warning("exports not written (%s: %s) - the run is kept; export it again later",
                       type(err).__name__, err)
        return Exported(Path(run_dir) / EXPORTS_DIR, failed=list(kinds))


def _write_exports(run_dir: Path, data: dict[str, Any], kinds: tuple[str, ...], scores: Any,
                   window_s: float) -> Exported:
    folder = Path(run_dir) / EXPORTS_DIR
    rate = rate_of(data)
    result = Exported(folder, rate=rate.label)
    if not kinds:
        return result
    try:
        folder.mkdir(exist_ok=True)
    except OSError as err:
        logger.warning("exports not written: cannot make %s (%s) - free the disk or fix its "
                       "permissions, then export the run again", folder, err.strerror)
        return Exported(folder, rate=rate.label, failed=list(kinds))
    texts: dict[str, Any] = {}
    for kind in kinds:
        try:
            texts.update(_build(kind, data, rate, scores, window_s, result.notes))
        except Exception as err:  # a bug in one format must not cost the run or the others
            _failed(result, kind, err)
    for name, content in texts.items():
        target = folder / name
        try:
            if isinstance(content, str):
                write_atomically(target, lambda tmp, c=content: tmp.write_text(
                    c, encoding="utf-8", newline="\n"))
            else:
                _write_otio(content, target)
            result.files.append(target)
        except Exception as err:
            _failed(result, name, err)
    readme = _readme(data, rate, result)
    write_atomically(folder / README_NAME, lambda tmp: tmp.write_text(readme, encoding="utf-8"))
    result.files.append(folder / README_NAME)
    logger.info("exports: %d file(s) in %s (%s)", len(result.files), folder, rate.label)
    return result


def _build(kind: str, data: dict[str, Any], rate: FrameRate, scores: Any, window_s: float,
           notes: list[str]) -> dict[str, Any]:
    if kind == "otio":
        highlights, markers = otio_timelines(data, rate)
        return {"highlights.otio": highlights, "markers.otio": markers}
    if kind == "fcpxml":
        return {"highlights.fcpxml": fcpxml(data, rate)}
    if kind == "edl":
        return {"highlights.edl": edl(data, rate), "markers.edl": marker_edl(data, rate)}
    if kind == "chapters":
        text, chapter_notes = chapters(data, rate)
        for note in chapter_notes:
            logger.info(note)
        notes += chapter_notes
        return {"chapters.txt": text}
    if kind == "csv":
        out = {"highlights.csv": highlights_csv(data, rate)}
        if scores is not None:
            out["scores.csv"] = scores_csv(scores, window_s)
        return out
    raise ValueError(f"unknown export kind {kind!r}")


def _failed(result: Exported, what: str, err: Exception) -> None:
    logger.warning("exports: %s not written (%s: %s) - the run is kept; export it again "
                   "later", what, type(err).__name__, err)
    result.failed.append(what)


def _readme(data: dict[str, Any], rate: FrameRate, result: Exported) -> str:
    src = source_media(data, rate)
    where = (str(src.path) if src.path else
             f"{src.url} (not a local file: download the video and relink it in your editor)")
    lines = [f"Exports of: {data.get('title') or src.name}",
             f"Source media: {where}",
             f"Frame rate used for every timecode and frame: {rate.label}",
             f"Timelines start at {TIMELINE_START}; the source's own timecode is taken to "
             "start at 00:00:00:00.",
             "",
             "highlights.otio   DaVinci Resolve: File > Import > Timeline; Premiere Pro 2025.6+ "
             "and Kdenlive 25.04+: import the .otio",
             "markers.otio      the whole source as one clip with a marker on every highlight",
             "highlights.fcpxml Final Cut Pro: File > Import > XML (Resolve reads it too)",
             "highlights.edl    any editor: CMX3600 EDL (Resolve: File > Import > Timeline; "
             "reel names from the source clip's file name)",
             "markers.edl       Resolve: put the whole VOD on a timeline starting at "
             f"{TIMELINE_START}, then Timeline > Import > Timeline Markers from EDL",
             "chapters.txt      YouTube: paste into the VOD's description",
             "highlights.csv    LosslessCut: File > Import project > CSV; or a spreadsheet",
             "scores.csv        the score curve (one row per scoring window) to plot"]
    if result.notes or result.failed:
        lines.append("")
    lines += [f"Note: {n}" for n in result.notes]
    lines += [f"Not written: {f} (see the log)" for f in result.failed]
    return "\n".join(lines) + "\n"


def listed(run_dir: str | Path) -> list[Path]:
    """The files in a run's `exports/` folder now (none when it has none)."""
    folder = Path(run_dir) / EXPORTS_DIR
    return sorted(p for p in folder.glob("*") if p.is_file() and not p.name.startswith("."))


def zip_exports(run_dir: str | Path) -> Path:
    """`exports.zip` (beside `exports/` in the run folder) of every file in `exports/`."""
    target = Path(run_dir) / ZIP_NAME

    def write(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in listed(run_dir):
                archive.write(path, f"{EXPORTS_DIR}/{path.name}")

    return write_atomically(target, write)
