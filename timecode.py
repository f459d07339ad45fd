"""Times as people, Kick and editors write them: H:MM:SS for display and file names, Kick's
timestamps ("2025-08-25 00:40:42", "...Z", "...+00:00") read as UTC, and SMPTE timecode at a
source's real frame rate (`FrameRate`: 29.97 and 59.94 drop-frame, 25, 30, 60, ...) for the
files editors import (`exports.py`)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from fractions import Fraction
from typing import Any

__all__ = ["FrameRate", "file_stamp", "frame_rate", "hms", "kick_datetime", "kick_epoch_s",
           "kick_iso"]


def hms(seconds: float) -> str:
    """`3725.4` -> "1:02:05": rounded to the second, hours not padded (for people)."""
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def file_stamp(seconds: float) -> str:
    """`3725.9` -> "01-02-05": cut to the second, every part two digits, no colons (for file
    names, which sort by it)."""
    s = int(seconds)
    return f"{s // 3600:02d}-{s % 3600 // 60:02d}-{s % 60:02d}"


def kick_datetime(value: Any) -> datetime | None:
    """A Kick timestamp as an aware UTC datetime; None when absent, Kick's zero time
    ("0001-01-01...") or unreadable. A time without a zone is UTC ("2025-08-25 00:40:42")."""
    if not isinstance(value, str) or not value.strip() or value.startswith("0001-"):
        return None
    text = value.strip().replace(" ", "T", 1)
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc)


def kick_epoch_s(value: Any) -> float | None:
    """A Kick timestamp as epoch seconds; None as for `kick_datetime`."""
    when = kick_datetime(value)
    return None if when is None else when.timestamp()


def kick_iso(value: Any) -> str | None:
    """A Kick timestamp as ISO-8601 UTC ending in "Z"; a form that does not parse is returned
    as Kick sent it (still worth showing), None when absent or Kick's zero time."""
    when = kick_datetime(value)
    if when is not None:
        return when.isoformat().replace("+00:00", "Z")
    if not isinstance(value, str) or not value.strip() or value.startswith("0001-"):
        return None
    return value


# --- frame-exact timecode ---------------------------------------------------------------------

# Rates an editor's project can have: the NTSC family (N * 1000/1001) and whole numbers.
NTSC_BASES = (24, 30, 48, 60, 120)
RATE_TOLERANCE_FPS = 0.005  # ffmpeg prints rates with two decimals: "29.97", "23.98", "119.88"
FRAME_NOISE = Fraction(1, 10**6)  # of a frame: float error in seconds, not a later frame
NO_VIDEO_FPS = 30  # an audio-only source still needs a rate for timecode


@dataclass(frozen=True)
class FrameRate:
    """A frame rate as editors count it: exactly `num/den` frames a second, timecode counted in
    `timebase` frames a second (30 for 29.97) and, at 29.97 / 59.94, drop-frame numbering
    (frame numbers 00-01 / 00-03 skipped each minute but every tenth, so timecode keeps to the
    clock). Every conversion goes through a whole frame number: nothing drifts over hours."""

    num: int
    den: int = 1
    drop_frame: bool = False
    note: str = ""  # how the rate was chosen, when it was not simply the probed one

    @property
    def fps(self) -> float:
        return self.num / self.den

    @property
    def timebase(self) -> int:
        return round(self.num / self.den)

    @property
    def name(self) -> str:
        """"29.97", "25", "59.94": the rate as editors name it."""
        return f"{self.fps:.2f}".rstrip("0").rstrip(".") if self.den != 1 else str(self.num)

    @property
    def label(self) -> str:
        """What the export files say about the rate used."""
        exact = f" ({self.num}/{self.den})" if self.den != 1 else ""
        kind = "drop-frame" if self.drop_frame else "non-drop-frame"
        text = f"{self.name} fps{exact}, {kind} timecode"
        return f"{text}; {self.note}" if self.note else text

    def frames(self, seconds: float) -> int:
        """The first frame starting at or after `seconds`: the one a clip cut at `seconds`
        begins with (ffmpeg's exact seek), so a timecode and the clip show the same frame.
        (Float noise below a millionth of a frame is not "after".)"""
        exact = Fraction(seconds) * self.num / self.den
        return max(0, math.ceil(exact - FRAME_NOISE))

    def seconds(self, frames: int) -> float:
        """When frame `frames` starts."""
        return float(Fraction(frames * self.den, self.num))

    def rational(self, frames: int) -> str:
        """`frames` as FCPXML's rational seconds, a whole number of frame durations:
        "30030/30000s" at 29.97, "750/25s" at 25, "0s"."""
        if frames == 0:
            return "0s"
        return f"{frames * self.den}/{self.num}s"

    def timecode(self, frames: int) -> str:
        """Frame number `frames` as HH:MM:SS:FF (HH:MM:SS;FF drop-frame)."""
        if frames < 0:
            raise ValueError("timecode of a negative frame number")
        base = self.timebase
        if self.drop_frame:
            drop = base // 15  # frame numbers skipped a minute: 2 at 29.97, 4 at 59.94
            per_10_min = base * 600 - drop * 9
            per_min = base * 60 - drop
            tens, rest = divmod(frames, per_10_min)
            frames += drop * 9 * tens + (drop * ((rest - drop) // per_min) if rest > drop else 0)
        ff, s = frames % base, frames // base
        sep = ";" if self.drop_frame else ":"
        return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}{sep}{ff:02d}"

    def parse(self, timecode: str) -> int:
        """The frame number of `timecode` (the inverse of `timecode`); ValueError if it is
        not one at this rate."""
        m = _TIMECODE.fullmatch(timecode.strip())
        if not m:
            raise ValueError(f"not a timecode: {timecode!r}")
        h, mi, s, ff = (int(g) for g in m.group(1, 2, 3, 5))
        base = self.timebase
        if ff >= base or mi >= 60 or s >= 60:
            raise ValueError(f"not a timecode at {self.name} fps: {timecode!r}")
        frames = ((h * 60 + mi) * 60 + s) * base + ff
        if self.drop_frame:
            drop, minutes = base // 15, h * 60 + mi
            if s == 0 and ff < drop and mi % 10:
                raise ValueError(f"{timecode!r} is a skipped drop-frame number")
            frames -= drop * (minutes - minutes // 10)
        return frames


_TIMECODE = re.compile(r"(\d{2,}):(\d{2}):(\d{2})([:;.,])(\d{2,3})")


def _whole(fps: float) -> int | None:
    n = round(fps)
    return n if n >= 1 and abs(fps - n) <= RATE_TOLERANCE_FPS else None


def _ntsc(fps: float) -> int | None:
    for base in NTSC_BASES:
        if abs(fps - base * 1000 / 1001) <= RATE_TOLERANCE_FPS:
            return base
    return None


def _standard(fps: float, drop_frame: bool | None) -> FrameRate | None:
    base = _ntsc(fps)
    if base is not None:
        drop = base in (30, 60) if drop_frame is None else drop_frame and base in (30, 60)
        return FrameRate(base * 1000, 1001, drop)
    whole = _whole(fps)
    return FrameRate(whole) if whole is not None else None


def frame_rate(average_fps: float, nominal_fps: float = 0.0,
               drop_frame: bool | None = None) -> FrameRate:
    """The rate editors will see a source at, from what the probe read: its average rate
    (ffmpeg's "fps") and its nominal one (ffmpeg's "tbr"). 29.97 / 59.94 use drop-frame
    timecode unless `drop_frame` is False (NTSC editors' default: timecode matches the clock).

    A variable frame rate (an average that is no rate a project can have, as screen
    recordings give) is conformed by editors to the stream's nominal rate: that one is used, or
    failing it the standard rate nearest the average, and the `note` says so. Without video,
    timecode is counted at 30 fps."""
    if average_fps <= 0 and nominal_fps <= 0:
        return FrameRate(NO_VIDEO_FPS, note="no video: timecode counted at 30 fps")
    exact = _standard(average_fps, drop_frame) if average_fps > 0 else None
    if exact is not None:
        return exact
    chosen = _standard(nominal_fps, drop_frame) if nominal_fps > 0 else None
    if chosen is None:
        candidates = [base * 1000 / 1001 for base in NTSC_BASES] + [
            float(n) for n in (24, 25, 30, 50, 60, 120)]
        nearest = min(candidates, key=lambda c: abs(c - average_fps))
        chosen = _standard(nearest, drop_frame)
    assert chosen is not None
    shown = average_fps if average_fps > 0 else nominal_fps
    note = (f"variable frame rate (average {shown:.3f} fps): times are counted at "
            f"{chosen.name} fps, the rate editors conform it to, and may be off by a frame "
            "where the rate varies")
    return FrameRate(chosen.num, chosen.den, chosen.drop_frame, note)
