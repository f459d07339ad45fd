"""Synthetic streams with planted events at known times.

Used by `main.py --demo`, the tests, the benchmark and the quality evaluation, so none of them
needs downloaded media. Audio is made with numpy (a calm speech-like bed, loud shouting-like
bursts), video with ffmpeg lavfi sources (a slowly drifting scene; noise, flashes and fast
boxes during video events).
"""

from __future__ import annotations

import wave
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

import media

AUDIO_RATE_HZ = 44100
_BLOCK_S = 10.0


@dataclass(frozen=True)
class PlantedEvent:
    """A moment a viewer would clip: `kind` is "audio", "video" or "both". Decoys, which fool
    naive scoring but are no highlight, are "music" (steady loud music), "brb" (a static
    "be right back" card) and "cut" (the scene changes once at start_s and stays)."""

    start_s: float
    end_s: float
    kind: str = "both"

    def to_dict(self) -> dict:
        return asdict(self)



def place(kinds: list[str], lengths: list[float], rng: np.random.Generator, *,
          start_s: float, end_s: float, gap_s: float) -> list[PlantedEvent]:
    """Items of these kinds and lengths, in this order, at random times between `start_s`
    and `end_s` with at least `gap_s` of calm stream before, between and after them."""
    spare = end_s - start_s - sum(lengths) - gap_s * (len(kinds) + 1)
    if spare < 0:
        raise ValueError(f"{(end_s - start_s) / 60:g} minutes is too short for {len(kinds)} "
                         "planted items")
    offsets = np.sort(rng.uniform(0, spare, len(kinds)))
    items, t, used = [], start_s + gap_s, 0.0
    for kind, length, offset in zip(kinds, lengths, offsets):
        start = t + (offset - used)
        used = offset
        items.append(PlantedEvent(round(float(start), 1), round(float(start + length), 1),
                                  kind))
        t = start + length + gap_s
    return items


DEMO_EVENTS = (
    PlantedEvent(40.0, 52.0, "both"),
    PlantedEvent(95.0, 105.0, "audio"),
    PlantedEvent(140.0, 150.0, "video"),
)


def _audio_block(t: np.ndarray, events: list[PlantedEvent], rng: np.random.Generator) -> np.ndarray:
    """Samples for times `t` (float64 s): a quiet talking bed plus loud bursts in audio events."""
    syllables = 0.5 + 0.5 * np.sin(2 * np.pi * 3.7 * t) * np.sin(2 * np.pi * 0.31 * t)
    pitch = 140 + 25 * np.sin(2 * np.pi * 0.5 * t)
    bed = 0.05 * np.clip(syllables, 0, 1) * np.sin(2 * np.pi * np.cumsum(pitch) / AUDIO_RATE_HZ)
    bed += 0.004 * rng.standard_normal(t.size)
    out = bed
    for ev in events:
        if ev.kind == "music":
            inside = (t >= ev.start_s) & (t < ev.end_s)
            ti = t[inside]
            chord = sum(np.sin(2 * np.pi * f * ti) for f in (220.0, 277.2, 329.6, 440.0)) / 4
            beat = np.exp(-12 * np.mod(ti, 0.5)) * np.sin(2 * np.pi * 60 * ti)
            out[inside] = 0.45 * chord + 0.3 * beat
            continue
        if ev.kind not in ("audio", "both"):
            continue
        inside = (t >= ev.start_s) & (t < ev.end_s)
        if not inside.any():
            continue
        ti = t[inside]
        shout = np.sin(2 * np.pi * (380 + 120 * np.sin(2 * np.pi * 5 * ti)) * ti)
        crowd = rng.standard_normal(ti.size)
        env = 0.6 + 0.4 * np.abs(np.sin(2 * np.pi * 2.3 * ti))
        out[inside] += env * (0.35 * shout + 0.3 * crowd)
    return np.clip(out, -1, 1)


def write_audio(path: Path, duration_s: float, events: list[PlantedEvent], seed: int = 0) -> None:
    """Write a 16-bit mono WAV block by block (bounded memory for long streams)."""
    rng = np.random.default_rng(seed)
    n_total = int(duration_s * AUDIO_RATE_HZ)
    block = int(_BLOCK_S * AUDIO_RATE_HZ)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(AUDIO_RATE_HZ)
        for first in range(0, n_total, block):
            t = np.arange(first, min(first + block, n_total)) / AUDIO_RATE_HZ
            wav.writeframes((_audio_block(t, events, rng) * 32767).astype("<i2").tobytes())


def video_filtergraph(duration_s: float, events: list[PlantedEvent], width: int, height: int,
                      fps: int) -> str:
    """A lavfi graph: calm drifting scene, with noise, flashes and fast boxes in video events."""
    windows = [e for e in events if e.kind in ("video", "both")]
    on = "+".join(f"between(t,{e.start_s:.2f},{e.end_s:.2f})" for e in windows) or "0"
    cuts = [f"drawbox=x=0:y=0:w=iw:h=ih:color=0x4c3b2a:t=fill:enable='gte(t,{e.start_s:.2f})'"
            for e in events if e.kind == "cut"]
    brb = [part for e in events if e.kind == "brb" for part in (
        f"drawbox=x=0:y=0:w=iw:h=ih:color=0x6a0dad:t=fill"
        f":enable='between(t,{e.start_s:.2f},{e.end_s:.2f})'",
        f"drawbox=x=iw/5:y=ih/3:w=3*iw/5:h=ih/8:color=white:t=fill"
        f":enable='between(t,{e.start_s:.2f},{e.end_s:.2f})'",
        f"drawbox=x=iw/3:y=ih/2:w=iw/3:h=ih/14:color=0xffd700:t=fill"
        f":enable='between(t,{e.start_s:.2f},{e.end_s:.2f})'")]
    graph = [
        f"color=c=0x2a3b4c:s={width}x{height}:r={fps}:d={duration_s:.3f}",
        *cuts,
        "drawbox=x='iw/2+iw/4*sin(t/6)':y='ih/3':w='iw/8':h='ih/4':color=0x9aa7b4:t=fill",
        "drawbox=x='iw/5':y='ih/2+ih/8*sin(t/9)':w='iw/6':h='ih/6':color=0x556070:t=fill",
        "noise=alls=3:allf=t",
        f"drawbox=x='mod(t*900,iw)':y='ih/5':w='iw/5':h='ih/2':color=0xff4030:t=fill"
        f":enable='{on}'",
        f"drawbox=x='iw-mod(t*700,iw)':y='ih/2':w='iw/4':h='ih/3':color=0x30ff60:t=fill"
        f":enable='{on}'",
        f"drawbox=x=0:y=0:w=iw:h=ih:color=white@0.9:t=fill"
        f":enable='({on})*lt(mod(t,0.5),0.17)'",
        f"noise=alls=20:allf=t:enable='{on}'",
        *brb,
        "format=yuv420p",
    ]
    return ",".join(graph)


def make_stream(path: Path, duration_s: float, events: list[PlantedEvent] | tuple = DEMO_EVENTS,
                *, width: int = 640, height: int = 360, fps: int = 30, seed: int = 0,
                audio: bool = True, video: bool = True, ffmpeg: str | None = None) -> Path:
    """Encode a synthetic stream to `path` (MP4, H.264/AAC) and return it."""
    ffmpeg = ffmpeg or media.find_ffmpeg()
    events = list(events)
    path.parent.mkdir(parents=True, exist_ok=True)
    wav = path.with_name(f".{path.stem}.audio.wav")
    try:
        argv = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
        if video:
            argv += ["-f", "lavfi", "-i", video_filtergraph(duration_s, events, width, height, fps)]
        if audio:
            write_audio(wav, duration_s, events, seed)
            argv += ["-i", str(wav)]
        if video:
            argv += ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "30", "-g", str(2 * fps),
                     "-pix_fmt", "yuv420p"]
        if audio:
            argv += ["-c:a", "aac", "-b:a", "96k"]
        argv += ["-t", f"{duration_s:.3f}", "-movflags", "+faststart", "-f", "mp4"]
        media.write_atomically(path, lambda tmp: media.run_ffmpeg(argv + [str(tmp)], 1800))
    finally:
        wav.unlink(missing_ok=True)
    return path
