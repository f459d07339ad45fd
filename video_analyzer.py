"""Video features on the same time grid as the audio: small frames in, one row per window out.

Pure functions on numpy arrays. Frames arrive already scaled down and thinned out by ffmpeg
(`frame_skip`), so everything here works on a few thousand pixels per frame.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import cv2
import numpy as np

from audio_analyzer import n_windows_in, window_stats

CANNY_LOW, CANNY_HIGH = 80, 160
HIST_BINS = 32
SCENE_CUT_DISTANCE = 0.5  # half of the histogram changed between two analysed frames
# A cut the histogram misses (two shots of alike colours) is still one frame of change: a
# difference this many times both neighbours' and above SPIKE_FLOOR (a tenth of the grey range).
SPIKE_RATIO = 3.0
SPIKE_FLOOR = 0.1

VIDEO_FEATURES: tuple[str, ...] = (
    "motion_mean", "motion_std", "motion_max",
    "edge_density_mean", "edge_density_std",
    "color_variance", "brightness_mean", "brightness_std", "scene_cuts",
)


@contextlib.contextmanager
def opencv_threads(n: int) -> Iterator[None]:
    """OpenCV's own thread pool at `n` threads meanwhile. On 160-px frames its threads cost
    more than they save: measured 48 ms CPU per 30 s chunk with 2 threads, 19 ms with 1, and
    the chunks are already analysed in parallel."""
    before = cv2.getNumThreads()
    cv2.setNumThreads(n)
    try:
        yield
    finally:
        cv2.setNumThreads(before)


def frame_signals(frames: np.ndarray, fps: float = 6.0) -> dict[str, np.ndarray]:
    """Per-frame signals of `frames` (uint8, (n, h, w, 3) RGB): each value shape (n,).

    cut is 1 where the grey histogram changed by more than SCENE_CUT_DISTANCE with no other
    such change within a second (at `fps`: flashes and a rapid montage are action, not cuts),
    or the picture changed in one frame far more than just before and after (`is_spike`).
    motion is the mean absolute grey difference to the previous frame (0..1), NaN for the
    first frame and at cuts: a cut is one frame of change, not action, and stays out of the
    motion statistics.
    One frame at a time through OpenCV: no stream-sized temporaries, and the GIL is released.
    """
    n = len(frames)
    out = {name: np.zeros(n) for name in ("motion", "edges", "color_var", "brightness", "cut")}
    out["motion"][0:1] = np.nan
    prev_gray = prev_hist = None
    for i, frame in enumerate(frames):
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        out["edges"][i] = np.count_nonzero(cv2.Canny(gray, CANNY_LOW, CANNY_HIGH)) / gray.size
        hist = cv2.calcHist([gray], [0], None, [HIST_BINS], [0, 256]).ravel()
        hist /= max(float(hist.sum()), 1.0)
        _, std = cv2.meanStdDev(frame)
        out["color_var"][i] = float(np.mean(std.ravel() ** 2)) / (255.0 * 255.0)
        out["brightness"][i] = cv2.mean(gray)[0] / 255.0
        if prev_gray is not None:
            out["motion"][i] = cv2.mean(cv2.absdiff(gray, prev_gray))[0] / 255.0
            out["cut"][i] = 0.5 * float(np.abs(hist - prev_hist).sum()) > SCENE_CUT_DISTANCE
        prev_gray, prev_hist = gray, hist
    out["cut"] = np.maximum(isolated(out["cut"], max(1, int(round(fps)))),
                            is_spike(out["motion"]))
    out["motion"][out["cut"] > 0] = np.nan
    return out


def isolated(events: np.ndarray, within: int) -> np.ndarray:
    """1.0 where `events` (n,) is 1 with no other 1 within `within` frames either side."""
    near = np.convolve(np.pad(events, within), np.ones(2 * within + 1), mode="valid")
    return ((events > 0) & (near < 1.5)).astype(float)


def is_spike(motion: np.ndarray) -> np.ndarray:
    """1.0 where `motion` (n,) jumps for one frame: above SPIKE_FLOOR and SPIKE_RATIO times
    both neighbours (where one is missing, the other decides; with neither, no spike)."""
    before, after = np.r_[np.nan, motion[:-1]], np.r_[motion[1:], np.nan]
    around = np.fmax(before, after)  # NaN only where both are
    with np.errstate(invalid="ignore"):
        return ((motion > SPIKE_FLOOR) & (motion > SPIKE_RATIO * around)).astype(float)


def extract_video_features(frames: np.ndarray, fps: float, window_s: float,
                           duration_s: float | None = None) -> np.ndarray:
    """Features of `frames` (uint8 (n, h, w, 3)) sampled at `fps`, one row per window.

    `duration_s` fixes the number of windows (so audio and video rows line up); it defaults
    to the frames' own span. Returns float32 (n_windows, len(VIDEO_FEATURES)).
    """
    span = len(frames) / fps if duration_s is None else duration_s
    n_windows = n_windows_in(span, window_s)
    out = np.zeros((n_windows, len(VIDEO_FEATURES)), np.float32)
    if n_windows == 0 or len(frames) == 0:
        return out
    sig = frame_signals(frames, fps)
    window_of = np.minimum((np.arange(len(frames)) / fps / window_s).astype(np.int64),
                           n_windows - 1)
    columns = {}
    columns["motion_mean"], columns["motion_std"], columns["motion_max"] = window_stats(
        sig["motion"], window_of, n_windows)
    columns["edge_density_mean"], columns["edge_density_std"], _ = window_stats(
        sig["edges"], window_of, n_windows)
    columns["color_variance"] = window_stats(sig["color_var"], window_of, n_windows)[0]
    columns["brightness_mean"], columns["brightness_std"], _ = window_stats(
        sig["brightness"], window_of, n_windows)
    cuts = np.bincount(window_of, sig["cut"], minlength=n_windows)
    columns["scene_cuts"] = cuts[:n_windows]
    for j, name in enumerate(VIDEO_FEATURES):
        out[:, j] = columns[name]
    return out
