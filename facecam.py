"""Where a stream's webcam overlay sits: found once per stream, not per frame.

A webcam overlay is a fixed rectangle, so a few frames sampled across the stream are enough:
faces are detected in each with OpenCV's bundled Haar cascades (frontal and profile, both
ways), the detections are clustered by position, and a face that sits in the same place in
enough of the samples is grown to the overlay's rectangle. The rectangle's sides are the
nearest lines that stay put in every sample (an overlay's border, or the frame's edge), found
on the median of the samples' edge maps, where the game's own edges, which move, wash out.

Decoding (`sample_frames`, ffmpeg) and the maths (`locate_facecam`, numpy/OpenCV on grey
frames) are separate. The result is kept in the feature cache's database, keyed by the
source's identity, so a re-run does not look again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from contextlib import closing
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

import feature_cache
import media
import storage
from errors import InputError

logger = logging.getLogger(__name__)

SAMPLES = 16  # frames sampled across the stream
SAMPLE_WIDTH_PX = 640  # frames are searched at this width (the box is scaled back)
MIN_FACE_SHARE = 0.3  # a webcam face is in at least this share of the samples
MIN_FACE_FRAMES = 3
LINE_COVERAGE = 0.75  # an overlay border: a persistent edge along this share of the side
WEAK_LINE_COVERAGE = 0.3  # ... or the clearest line, where the border meets a similar game
EDGE_THRESHOLD = 25.0  # Sobel magnitude (grey levels) counted as an edge
DEFAULT_GROW = (1.0, 1.0, 0.8, 1.3)  # left, right, top, bottom in face sizes, no line found
CACHE_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS facecam (
    key TEXT PRIMARY KEY,
    box TEXT,
    created_at REAL NOT NULL
);
"""


@dataclass(frozen=True)
class FaceBox:
    """The webcam overlay in source pixels, and how sure the detection is (0-1; 1.0 for a
    box the user gave)."""

    x: int
    y: int
    w: int
    h: int
    confidence: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> FaceBox | None:
        if not data:
            return None
        return cls(int(data["x"]), int(data["y"]), int(data["w"]), int(data["h"]),
                   float(data.get("confidence", 1.0)))

    def clamped(self, width: int, height: int) -> FaceBox:
        """The box inside a `width` x `height` frame (even sizes, at least 16 px)."""
        x, y = min(max(0, self.x), width - 16), min(max(0, self.y), height - 16)
        w, h = min(self.w, width - x), min(self.h, height - y)
        return FaceBox(x, y, max(16, w - w % 2), max(16, h - h % 2), self.confidence)


def parse_box(text: str) -> FaceBox:
    """`X,Y,W,H` (source pixels) as a FaceBox; InputError that says how to write it."""
    try:
        x, y, w, h = (int(float(part)) for part in text.replace(" ", "").split(","))
    except ValueError:
        raise InputError(f"facecam box {text!r} is not X,Y,W,H - give four whole numbers in "
                         "source pixels, e.g. 960,0,320,240") from None
    if x < 0 or y < 0 or w < 16 or h < 16:
        raise InputError(f"facecam box {text!r}: X and Y must be >= 0, W and H at least 16 "
                         "pixels") from None
    return FaceBox(x, y, w, h, 1.0)


# --- decoding ---------------------------------------------------------------------------------

def sample_times(duration_s: float, n: int = SAMPLES) -> list[float]:
    """`n` times spread evenly across the stream, away from its very start and end."""
    return [duration_s * (i + 0.5) / n for i in range(n)]


def frame_argv(ffmpeg: str, source: str, at_s: float, width_px: int) -> list[str]:
    """One grey frame at `at_s`, `width_px` wide, as raw bytes on stdout."""
    return [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error",
            *media.input_args(source, at_s), "-map", "0:v:0", "-frames:v", "1",
            "-vf", f"scale={width_px}:-2,format=gray", "-f", "rawvideo", "pipe:1"]


def sample_frames(ffmpeg: str, source: str, duration_s: float, width: int, height: int, *,
                  n: int = SAMPLES, timeout_s: float = 120.0,
                  cancel: threading.Event | None = None) -> tuple[list[np.ndarray], float]:
    """Grey frames (uint8, shape (h, SAMPLE_WIDTH_PX)) at `n` times across the stream, and the
    factor from their pixels to the source's. A frame that cannot be read is left out."""
    out_w = min(SAMPLE_WIDTH_PX, width - width % 2)
    out_h = int(round(height * out_w / width / 2)) * 2
    frames = []
    for at in sample_times(duration_s, n):
        try:
            done = media.run_ffmpeg(frame_argv(ffmpeg, source, at, out_w), timeout_s, cancel)
        except media.MediaError as err:
            logger.info("facecam: no frame at %.1f s: %s", at, err)
            continue
        data = done.stdout
        if len(data) >= out_w * out_h:
            frames.append(np.frombuffer(data[:out_w * out_h], np.uint8).reshape(out_h, out_w))
    return frames, width / out_w


# --- the maths --------------------------------------------------------------------------------

def _cascades() -> list[Any]:
    import cv2

    if not hasattr(cv2, "CascadeClassifier"):  # OpenCV 5 removed them: requirements pin < 5
        raise InputError("this OpenCV has no Haar cascades (OpenCV 5 removed them) - "
                         "pip install 'opencv-python-headless>=4.8,<5'")
    root = Path(cv2.data.haarcascades)
    return [cv2.CascadeClassifier(str(root / name)) for name in
            ("haarcascade_frontalface_default.xml", "haarcascade_profileface.xml")]


def detect_faces(frame: np.ndarray, cascades: list[Any] | None = None) -> list[tuple]:
    """Faces (x, y, w, h) in one grey frame: frontal, profile and mirrored profile."""
    import cv2

    frontal, profile = cascades or _cascades()
    min_side = max(20, frame.shape[0] // 24)
    grey = cv2.equalizeHist(frame)
    found = [tuple(f) for f in frontal.detectMultiScale(grey, 1.1, 5, minSize=(min_side,
                                                                               min_side))]
    found += [tuple(f) for f in profile.detectMultiScale(grey, 1.1, 5, minSize=(min_side,
                                                                               min_side))]
    mirrored = profile.detectMultiScale(grey[:, ::-1].copy(), 1.1, 5,
                                        minSize=(min_side, min_side))
    w = frame.shape[1]
    found += [(w - x - fw, y, fw, fh) for x, y, fw, fh in mirrored]
    return [tuple(int(v) for v in f) for f in found]


def cluster_faces(faces_per_frame: list[list[tuple]]) -> tuple[np.ndarray, int] | None:
    """The face position seen in the most frames: its median box (x, y, w, h) and in how
    many frames it was; None when no face was found."""
    points = [(i, np.array(f, float)) for i, faces in enumerate(faces_per_frame) for f in faces]
    if not points:
        return None
    best: tuple[np.ndarray, int] | None = None
    for _, seed in points:
        centre, size = seed[:2] + seed[2:] / 2, max(seed[2], seed[3])
        members = [(i, f) for i, f in points
                   if np.linalg.norm(f[:2] + f[2:] / 2 - centre) < 0.5 * size
                   and 0.5 < max(f[2], f[3]) / size < 2.0]
        frames = len({i for i, _ in members})
        if best is None or frames > best[1]:
            best = (np.median(np.array([f for _, f in members]), axis=0), frames)
    return best


def persistent_edges(frames: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The median over the frames of |d/dx| and |d/dy| (float32, shape of a frame): edges
    that stay put (an overlay's border) keep their strength, the game's wash out."""
    import cv2

    gx = np.median([np.abs(cv2.Sobel(f, cv2.CV_32F, 1, 0, ksize=3)) for f in frames], axis=0)
    gy = np.median([np.abs(cv2.Sobel(f, cv2.CV_32F, 0, 1, ksize=3)) for f in frames], axis=0)
    return gx / 4.0, gy / 4.0  # a Sobel 3x3 weighs a step by 4


def _find_side(cover: np.ndarray, positions: list[int]) -> int | None:
    """The overlay's side among `positions` (nearest the face first): the first line that is
    an edge along most of its length, else the clearest line where a border is partly lost
    against the game behind it; `cover[p]` is line p's share of edge pixels."""
    for p in positions:
        if cover[p] >= LINE_COVERAGE:
            return p
    if not positions:
        return None
    best = max(positions, key=lambda p: cover[p])
    return best if cover[best] >= WEAK_LINE_COVERAGE else None


def grow_to_overlay(face: np.ndarray, gx: np.ndarray, gy: np.ndarray
                    ) -> tuple[tuple[int, int, int, int], int]:
    """The overlay rectangle (x0, y0, x1, y1) around a face box, in frame pixels, and how
    many of its sides were a line or the frame's edge (0-4) rather than a guess."""
    h, w = gx.shape
    fx, fy, fw, fh = face
    fx0, fy0, fx1, fy1 = int(fx), int(fy), int(fx + fw), int(fy + fh)
    margin_x, margin_y = max(2, int(0.15 * fw)), max(2, int(0.15 * fh))
    # the lines are measured along the face's extent, well inside any plausible overlay
    rows = slice(max(0, fy0), min(h, fy1))
    cols = slice(max(0, fx0), min(w, fx1))
    col_cover = (gx[rows] > EDGE_THRESHOLD).mean(axis=0)  # per column x
    row_cover = (gy[:, cols] > EDGE_THRESHOLD).mean(axis=1)  # per row y
    found = 0

    def side(cover: np.ndarray, start: int, step: int, frame_edge: int, guess: float,
             limit: float) -> int:
        nonlocal found
        stop = int(np.clip(guess + step * limit, -1, len(cover)))  # outward, at most this far
        hit = _find_side(cover, list(range(start, stop, step)))
        if hit is not None:
            found += 1
            return hit
        if abs(frame_edge - guess) <= limit:  # the overlay sits against the frame's edge
            found += 1
            return frame_edge
        return int(round(guess))

    gl, gr, gt, gb = DEFAULT_GROW
    x0 = side(col_cover, fx0 - margin_x, -1, 0, fx0 - gl * fw, 1.5 * fw)
    x1 = side(col_cover, fx1 + margin_x, 1, w, fx1 + gr * fw, 1.5 * fw)
    y0 = side(row_cover, fy0 - margin_y, -1, 0, fy0 - gt * fh, 1.2 * fh)
    y1 = side(row_cover, fy1 + margin_y, 1, h, fy1 + gb * fh, 1.5 * fh)
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    return (x0, y0, x1, y1), found


def locate_facecam(frames: list[np.ndarray], scale: float = 1.0) -> FaceBox | None:
    """The webcam overlay in grey `frames` sampled across a stream (uint8, one shape), in
    source pixels (`scale` from frame to source pixels), or None when no face stays in one
    place in enough of them."""
    if not frames:
        return None
    cascades = _cascades()
    faces = [detect_faces(f, cascades) for f in frames]
    best = cluster_faces(faces)
    need = max(MIN_FACE_FRAMES, int(np.ceil(MIN_FACE_SHARE * len(frames))))
    if best is None or best[1] < need:
        logger.info("facecam: none (a face in %d of %d samples, %d needed)",
                    0 if best is None else best[1], len(frames), need)
        return None
    face, seen = best
    gx, gy = persistent_edges(frames)
    (x0, y0, x1, y1), sides = grow_to_overlay(face, gx, gy)
    confidence = round(float(seen / len(frames)) * (0.5 + 0.5 * sides / 4), 3)
    box = FaceBox(int(round(x0 * scale)), int(round(y0 * scale)),
                  int(round((x1 - x0) * scale)), int(round((y1 - y0) * scale)), confidence)
    logger.info("facecam: %s (face in %d/%d samples, %d/4 sides found)", box, seen,
                len(frames), sides)
    return box


def find_facecam(ffmpeg: str, source: str, duration_s: float, width: int, height: int, *,
                 timeout_s: float = 120.0, cancel: threading.Event | None = None
                 ) -> FaceBox | None:
    """Sample the stream and locate its webcam overlay (source pixels), or None."""
    if not (width and height and duration_s):
        return None
    frames, scale = sample_frames(ffmpeg, source, duration_s, width, height,
                                  timeout_s=timeout_s, cancel=cancel)
    box = locate_facecam(frames, scale)
    return box.clamped(width, height) if box else None


# --- the cache --------------------------------------------------------------------------------

class FacecamCache:
    """Boxes found per stream, in the feature cache's database (table `facecam`)."""

    def __init__(self, models_dir: Path):
        self.path = Path(models_dir) / feature_cache.DB_NAME  # beside the analysis's own
        storage.prepare(self.path, _SCHEMA)

    @staticmethod
    def key(identity: str, width: int, height: int) -> str:
        raw = json.dumps([identity, width, height, CACHE_VERSION])
        return hashlib.sha256(raw.encode()).hexdigest()

    def get(self, key: str) -> tuple[bool, FaceBox | None]:
        """(known, box): a stream looked at before may have no facecam (known, None)."""
        with closing(storage.connect(self.path)) as db:
            row = db.execute("SELECT box FROM facecam WHERE key=?", (key,)).fetchone()
        if row is None:
            return False, None
        return True, FaceBox.from_dict(json.loads(row[0]) if row[0] else None)

    def put(self, key: str, box: FaceBox | None) -> None:
        with closing(storage.connect(self.path)) as db, db:
            db.execute("INSERT OR REPLACE INTO facecam (key, box, created_at) VALUES (?,?,?)",
                       (key, json.dumps(box.to_dict()) if box else None, time.time()))
