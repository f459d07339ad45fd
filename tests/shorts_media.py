"""Streams for the shorts tests and bench: a game with a real face as a webcam overlay in a
corner, and sentences spoken by espeak-ng at known times.

The face is scikit-image's `astronaut` (a public-domain NASA portrait shipped in its wheel),
panned a little over time so the webcam is footage, not a still. The "game" is ffmpeg's
testsrc2 (moving parts over static ones, as a game with a HUD is).
"""

from __future__ import annotations

import shutil
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import media

RATE_HZ = 22050
BORDER_PX = 6


@dataclass(frozen=True)
class Speech:
    at_s: float
    text: str


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def face_available() -> bool:
    try:
        import skimage.data  # noqa: F401
    except ImportError:
        return False
    return True


def _speech_track(duration_s: float, speech: list[Speech], work: Path) -> Path:
    """A mono WAV: a quiet noise bed with each sentence spoken at its time."""
    rng = np.random.default_rng(1)
    track = rng.normal(0, 0.003, int(duration_s * RATE_HZ)).astype(np.float32)
    for i, s in enumerate(speech):
        wav = work / f"speech_{i}.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "140", "-w", str(wav), s.text],
                       check=True, capture_output=True, timeout=60)
        with wave.open(str(wav)) as w:
            rate = w.getframerate()
            said = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32)
        said = np.interp(np.arange(0, len(said), rate / RATE_HZ), np.arange(len(said)),
                         said / 32768.0).astype(np.float32)
        start = int(s.at_s * RATE_HZ)
        end = min(len(track), start + len(said))
        track[start:end] += 0.8 * said[:end - start] / max(1e-6, np.abs(said).max())
    out = work / "audio.wav"
    with wave.open(str(out), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE_HZ)
        w.writeframes((np.clip(track, -1, 1) * 32767).astype("<i2").tobytes())
    return out


def make_stream(path: Path, duration_s: float, *, width: int = 1280, height: int = 720,
                fps: int = 30, cam: tuple[int, int, int, int] | None = None,
                speech: list[Speech] = (), ffmpeg: str | None = None) -> Path:
    """An H.264/AAC MP4: testsrc2 as the game, the astronaut as a webcam at `cam` (x, y, w, h
    of the overlay including its BORDER_PX border, source pixels) or none, and `speech`."""
    ffmpeg = ffmpeg or media.find_ffmpeg()
    work = path.parent / f".{path.stem}_parts"
    work.mkdir(parents=True, exist_ok=True)
    try:
        return _render(path, duration_s, width, height, fps, cam, speech, ffmpeg, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _render(path: Path, duration_s: float, width: int, height: int, fps: int,
            cam: tuple[int, int, int, int] | None, speech: list[Speech], ffmpeg: str,
            work: Path) -> Path:
    audio = _speech_track(duration_s, list(speech), work)
    argv = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"testsrc2=s={width}x{height}:r={fps}:d={duration_s}",
            "-i", str(audio)]
    if cam is not None:
        import cv2
        import skimage.data

        face = work / "face.png"
        cv2.imwrite(str(face), cv2.cvtColor(skimage.data.astronaut()[0:260, 60:420],
                                            cv2.COLOR_RGB2BGR))
        x, y, w, h = cam
        iw, ih = w - 2 * BORDER_PX, h - 2 * BORDER_PX
        # a 320x240 window panning over the 360x260 portrait: the head moves a little
        pan = ("crop=320:240:x='20+18*sin(2*PI*t/4)':y='10+8*sin(2*PI*t/3)',"
               f"scale={iw}:{ih},pad={w}:{h}:{BORDER_PX}:{BORDER_PX}:color=0xd0d0d0")
        argv += ["-loop", "1", "-framerate", str(fps), "-t", f"{duration_s}", "-i", str(face),
                 "-filter_complex", f"[2:v]{pan}[cam];[0:v][cam]overlay={x}:{y}:shortest=1[v]",
                 "-map", "[v]"]
    else:
        argv += ["-map", "0:v"]
    argv += ["-map", "1:a", "-t", f"{duration_s}", "-c:v", "libx264", "-preset", "veryfast",
             "-g", str(2 * fps), "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "96k",
             "-movflags", "+faststart", "-f", "mp4"]
    # atomically: bench/shorts.py keeps the file once it exists, so never a truncated one
    return media.write_atomically(path, lambda tmp: media.run_ffmpeg(argv + [str(tmp)], 600))
