"""9:16 versions of a run's clips, for TikTok, YouTube Shorts and Reels.

Each landscape clip is re-encoded to 1080x1920 beside itself (`clip_NN_<hh-mm-ss>_9x16.mp4`,
same span, the same audio copied), in one of three layouts:

- split: the webcam overlay (`facecam.py`) scaled to the full width on top, the centre of the
  gameplay below;
- fit: the whole frame centred over a blurred, zoomed copy of itself;
- crop: a centred 9:16 cut of the frame.

With captions (`captions.py`) the clip's words are burned in, in the same encode, by ffmpeg's
`ass` filter (libass, in the bundled ffmpeg). The filter graphs are built by pure functions;
ffmpeg runs through `media.run_ffmpeg`.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import captions
import clip_cutter
import facecam
import media
from config import HARDWARE_ENCODERS
from errors import InputError
from facecam import FaceBox

logger = logging.getLogger(__name__)

OUT_W, OUT_H = 1080, 1920
TOP_MIN_PX, TOP_MAX_PX = 480, 864  # the webcam band: between a quarter and 45% of the height
VERTICAL_CRF = 23
# A 9:16 clip is ~2 million pixels a frame: libx264's fastest preset needs ~9 CPU-s per 30 s of
# it, a GPU encoder (HARDWARE_ENCODERS) a fraction of that.
HARDWARE_RATE = ("-b:v", "8M", "-maxrate", "12M", "-bufsize", "16M")  # every one takes these
RENDERS_AT_ONCE = 2  # two encodes overlap one's decoding with the other's encoding
SUFFIX = "_9x16"
# Shorts apps lay their own buttons over the right edge and captions/description over the
# bottom quarter, and the top has the app's tabs: captions sit at 62% of the height.
CAPTION_Y_SHARE = 0.62


@dataclass(frozen=True)
class Layout:
    """How one source frame maps to the 9:16 canvas: `name`, the filter graph (input [0:v],
    output [v]) and the height of the webcam band (0 without one)."""

    name: str
    graph: str
    top_px: int

    @property
    def caption_y_px(self) -> int:
        """Where the captions' centre sits: clear of the webcam band and the apps' UI."""
        return max(int(OUT_H * CAPTION_Y_SHARE), self.top_px + 160)


def choose_layout(requested: str, box: FaceBox | None) -> str:
    """`requested` unless "auto": split with a webcam, fit without."""
    if requested != "auto":
        return requested
    return "split" if box is not None else "fit"


def vertical_path(clip_path: str | Path) -> Path:
    clip = Path(clip_path)
    return clip.with_name(f"{clip.stem}{SUFFIX}.mp4")


def _even(value: float) -> int:
    return max(2, int(round(value / 2)) * 2)


def _centre_crop(src_w: int, src_h: int, out_w: int, out_h: int) -> str:
    """The largest centred crop of the source with the aspect of out_w:out_h."""
    ch = src_h
    cw = _even(src_h * out_w / out_h)
    if cw > src_w:
        cw, ch = src_w - src_w % 2, _even(src_w * out_h / out_w)
    return f"crop={cw}:{ch}:{(src_w - cw) // 2}:{(src_h - ch) // 2}"


def split_layout(src_w: int, src_h: int, box: FaceBox) -> Layout:
    """The webcam on top at the full width (cut to TOP_MIN..TOP_MAX high, around its middle),
    the gameplay's centre below."""
    box = box.clamped(src_w, src_h)
    x, y, w, h = box.x, box.y, box.w, box.h
    top = OUT_W * h / w
    if top > TOP_MAX_PX:  # a tall webcam: keep its middle rows
        new_h = _even(w * TOP_MAX_PX / OUT_W)
        y, h, top = y + (h - new_h) // 2, new_h, TOP_MAX_PX
    elif top < TOP_MIN_PX:  # a wide, flat webcam: keep its middle columns
        new_w = _even(h * OUT_W / TOP_MIN_PX)
        x, w, top = x + (w - new_w) // 2, new_w, TOP_MIN_PX
    top_px = _even(top)
    bottom_px = OUT_H - top_px
    graph = (f"[0:v]split=2[cam][game];"
             f"[cam]crop={w}:{h}:{x}:{y},scale={OUT_W}:{top_px}[top];"
             f"[game]{_centre_crop(src_w, src_h, OUT_W, bottom_px)},"
             f"scale={OUT_W}:{bottom_px}[bottom];"
             f"[top][bottom]vstack=inputs=2,setsar=1,format=yuv420p[v]")
    return Layout("split", graph, top_px)


def fit_layout(src_w: int, src_h: int) -> Layout:
    """The whole frame, full width, over a blurred copy zoomed to fill (blurred at a quarter
    of the size: the same look at a sixteenth of the work)."""
    bw, bh = OUT_W // 4, OUT_H // 4
    fg_h = _even(OUT_W * src_h / src_w)
    graph = (f"[0:v]split=2[bgsrc][fgsrc];"
             f"[bgsrc]scale={bw}:{bh}:force_original_aspect_ratio=increase,crop={bw}:{bh},"
             f"boxblur=8:2,scale={OUT_W}:{OUT_H}[bg];"
             f"[fgsrc]scale={OUT_W}:{min(fg_h, OUT_H)}[fg];"
             f"[bg][fg]overlay=(W-w)/2:(H-h)/2,setsar=1,format=yuv420p[v]")
    return Layout("fit", graph, 0)


def crop_layout(src_w: int, src_h: int) -> Layout:
    graph = (f"[0:v]{_centre_crop(src_w, src_h, OUT_W, OUT_H)},scale={OUT_W}:{OUT_H},"
             "setsar=1,format=yuv420p[v]")
    return Layout("crop", graph, 0)


def make_layout(name: str, src_w: int, src_h: int, box: FaceBox | None) -> Layout:
    if name == "split" and box is not None:
        return split_layout(src_w, src_h, box)
    if name == "crop":
        return crop_layout(src_w, src_h)
    return fit_layout(src_w, src_h)  # fit, or split without a webcam


def _filter_path(path: Path) -> str:
    """A path as a value inside an ffmpeg filter graph (quoted; `:` and `\\` escaped)."""
    text = str(Path(path).resolve()).replace("\\", "/")
    return "'" + text.replace(":", "\\:").replace("'", "'\\''") + "'"


def with_captions(layout: Layout, ass: Path, fonts_dir: Path | None) -> str:
    """The layout's graph with the ASS captions burned onto the 9:16 canvas."""
    fonts = f":fontsdir={_filter_path(fonts_dir)}" if fonts_dir else ""
    return layout.graph.removesuffix("[v]") + f",ass=filename={_filter_path(ass)}{fonts}[v]"


def encoder_args(encoder: str, preset: str) -> list[str]:
    if encoder == "libx264":
        return ["-c:v", "libx264", "-preset", preset, "-crf", str(VERTICAL_CRF)]
    return ["-c:v", encoder, *HARDWARE_RATE]


def vertical_argv(ffmpeg: str, clip: str, out_path: str, graph: str, *,
                  preset: str = "veryfast", threads: int = 0,
                  encoder: str = "libx264") -> list[str]:
    """Re-encode `clip` through `graph` to a 1080x1920 H.264 MP4; the audio is copied."""
    return [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
            "-threads", str(threads), "-i", clip, "-filter_complex", graph,
            "-map", "[v]", "-map", "0:a:0?", *encoder_args(encoder, preset),
            "-threads", str(threads), "-c:a", "copy",
            "-movflags", "+faststart", "-f", "mp4", out_path]


_probed: dict[tuple[str, str], bool] = {}
_probe_lock = threading.Lock()


def encoder_works(ffmpeg: str, encoder: str, timeout_s: float = 20.0) -> bool:
    """Whether this ffmpeg can encode a few 1080x1920 frames with `encoder` here (a GPU
    encoder needs the GPU and its driver, not only the ffmpeg build). Asked once a process."""
    key = (ffmpeg, encoder)
    with _probe_lock:
        if key not in _probed:
            argv = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-f", "lavfi",
                    "-i", f"color=c=black:s={OUT_W}x{OUT_H}:r=30", "-frames:v", "3",
                    "-vf", "format=yuv420p", *encoder_args(encoder, "ultrafast"),
                    "-f", "null", "-"]
            try:
                media.run_ffmpeg(argv, timeout_s)
                _probed[key] = True
            except media.MediaError:
                _probed[key] = False
        return _probed[key]


def pick_encoder(ffmpeg: str, requested: str) -> tuple[str, str | None]:
    """The encoder to use for `requested` (`config.VERTICAL_ENCODERS`) and a note when it is
    not the one asked for: auto = the first GPU encoder that works here, else libx264."""
    if requested == "libx264":
        return "libx264", None
    if requested == "auto":
        return next((e for e in HARDWARE_ENCODERS if encoder_works(ffmpeg, e)), "libx264"), None
    if encoder_works(ffmpeg, requested):
        return requested, None
    return "libx264", (f"9:16: {requested} does not work on this machine (no such GPU, or "
                       "no driver for it), so the clips were encoded with libx264")


def still(ffmpeg: str, clip: Path, target: Path, timeout_s: float = 120.0) -> Path:
    """A full-size JPEG of the clip's middle frame (the box editor's picture)."""
    at = max(0.0, (media.probe_media(ffmpeg, str(clip)).duration_s or 0.0) / 2)
    return clip_cutter.make_thumbnail(ffmpeg, str(clip), at, target, timeout_s, width_px=0)


def render_vertical(ffmpeg: str, clip: Path, layout: Layout, *, ass: Path | None = None,
                    fonts_dir: Path | None = None, preset: str = "veryfast",
                    threads: int = 0, timeout_s: float = 600.0,
                    cancel: threading.Event | None = None, encoder: str = "libx264") -> Path:
    """Write the 9:16 version of `clip` beside it, atomically; returns its path."""
    graph = with_captions(layout, ass, fonts_dir) if ass else layout.graph
    return media.write_atomically(vertical_path(clip), lambda tmp: media.run_ffmpeg(
        vertical_argv(ffmpeg, str(clip), str(tmp), graph, preset=preset, threads=threads,
                      encoder=encoder),
        timeout_s, cancel))


@dataclass(frozen=True)
class ShortsResult:
    """What `make_shorts` did: the highlights with their 9:16 clips and transcripts, the
    webcam box used (None: none), what failed and what to note."""

    highlights: list[Any]
    facecam: FaceBox | None
    layout: str
    failed: list[dict[str, Any]]
    notes: list[str]


def locate(ffmpeg: str, cut_url: str, identity: str | None, duration_s: float, width: int,
           height: int, config: Any, cancel: threading.Event | None) -> FaceBox | None:
    """The stream's webcam box: the user's (`config.facecam`), the one found before (kept in
    the feature cache), or found now by sampling the stream."""
    if config.facecam:
        return facecam.parse_box(config.facecam).clamped(width, height)
    cache = facecam.FacecamCache(config.models_dir) if config.use_cache and identity else None
    key = facecam.FacecamCache.key(identity or "", width, height)
    if cache is not None:
        known, box = cache.get(key)
        if known:
            return box
    box = facecam.find_facecam(ffmpeg, cut_url, duration_s, width, height,
                               timeout_s=config.ffmpeg_timeout_s, cancel=cancel)
    if cache is not None:
        cache.put(key, box)
    return box


def make_shorts(ffmpeg: str, highlights: list[Any], *, cut_url: str, identity: str | None,
                duration_s: float, config: Any, progress: Callable[[float, str], None],
                cancel: threading.Event, box: FaceBox | None = None,
                find_box: bool = True) -> ShortsResult:
    """For each highlight with a landscape clip: its words (`config.captions`: `.srt`/`.vtt`
    beside the clip, `transcript`) and its 9:16 clip (`config.vertical`, captions burned in).
    The webcam is looked for once (`find_box`, unless `box` is given). One clip failing does
    not stop the rest; no speech model only leaves the captions out."""
    notes: list[str] = []
    failed: list[dict[str, Any]] = []
    todo = [h for h in highlights if h.clip_path and Path(h.clip_path).suffix == ".mp4"
            and Path(h.clip_path).exists()]
    if not todo:
        return ShortsResult(highlights, box, "", failed, notes)
    layout, encoder = None, "libx264"
    if config.vertical:
        info = media.probe_media(ffmpeg, todo[0].clip_path)
        width, height = info.width, info.height
        if box is None and find_box and config.layout in ("auto", "split"):
            progress(0.0, "looking for the webcam")
            try:
                box = locate(ffmpeg, cut_url, identity, duration_s, width, height, config,
                             cancel)
            except InputError as err:  # an OpenCV without Haar cascades: fit, and say why
                notes.append(f"9:16: the webcam was not looked for: {err}")
        name = choose_layout(config.layout, box)
        if name == "split" and box is None:
            notes.append("9:16: no webcam found, so the split layout fell back to fit (pass "
                         "its box to use split)")
        layout = make_layout(name, width, height, box)
        encoder, note = pick_encoder(ffmpeg, config.vertical_encoder)
        if note:
            notes.append(note)
        if encoder != "libx264":
            logger.info("9:16 clips encoded with %s", encoder)
    model = None
    if config.captions:
        model, note = captions.load_model(config.captions_model)
        if note:
            notes.append(f"captions: {note}" + ("" if model else " - clips made without "
                                                             "captions"))
    fonts = captions.fonts_dir()
    done: dict[int, Any] = {}
    n = len(todo)

    def render(h: Any, ass: Path | None) -> Any:
        try:
            out = render_vertical(ffmpeg, Path(h.clip_path), layout, ass=ass,
                                  fonts_dir=fonts, preset=config.vertical_preset,
                                  threads=max(1, 2 // RENDERS_AT_ONCE),
                                  timeout_s=config.ffmpeg_timeout_s, cancel=cancel,
                                  encoder=encoder)
            return dataclasses.replace(h, vertical_path=str(out))
        except media.MediaError as err:
            logger.warning("9:16 clip %d failed: %s", h.rank, err)
            failed.append({"rank": h.rank, "start": h.start, "end": h.end,
                           "reason": f"9:16 version: {err}"})
            return h
        finally:
            if ass is not None:
                ass.unlink(missing_ok=True)

    progress(0.0, f"shorts: clip 1/{n}")
    with ThreadPoolExecutor(RENDERS_AT_ONCE, thread_name_prefix="short") as pool:
        futures = []
        try:
            for h in todo:  # transcribe here while the pool renders the clips before
                ass = None
                if model is not None:
                    h, ass = _caption(ffmpeg, model, h, layout, config, cancel, failed)
                elif h.words and layout is not None:  # a re-render keeps the words it had
                    ass = _burn_file(h, [captions.Word.from_list(w) for w in h.words], layout)
                if layout is not None:
                    futures.append(pool.submit(render, h, ass))
                else:
                    done[h.rank] = h
                    progress(len(done) / n, f"shorts: clip {min(len(done) + 1, n)}/{n}")
            for future in futures:
                made = future.result()
                done[made.rank] = made
                progress(len(done) / n, f"shorts: clip {min(len(done) + 1, n)}/{n}")
        except BaseException:
            cancel.set()
            raise
    return ShortsResult([done.get(h.rank, h) for h in highlights], box,
                        layout.name if layout else "", sorted(failed, key=lambda f: f["rank"]),
                        notes)


def _caption(ffmpeg: str, model: Any, h: Any, layout: Layout | None, config: Any,
             cancel: threading.Event, failed: list[dict[str, Any]]) -> tuple[Any, Path | None]:
    """One clip's words: sidecars, transcript and (with a layout) the ASS file to burn."""
    clip = Path(h.clip_path)
    try:
        words = captions.transcribe(model, captions.clip_audio(
            ffmpeg, clip, config.ffmpeg_timeout_s, cancel))
        captions.write_sidecars(words, clip)
    except (media.MediaError, OSError) as err:
        logger.warning("captions of clip %d failed: %s", h.rank, err)
        failed.append({"rank": h.rank, "start": h.start, "end": h.end,
                       "reason": f"captions: {err}"})
        return h, None
    h = dataclasses.replace(h, transcript=captions.transcript(words),
                            words=[w.to_list() for w in words])
    return h, (_burn_file(h, words, layout) if layout is not None and words else None)


def _burn_file(h: Any, words: list[captions.Word], layout: Layout) -> Path:
    """The ASS captions to burn into `h`'s 9:16 clip, a hidden file beside its clip (the
    render deletes it)."""
    clip = Path(h.clip_path)
    return captions.write_ass(words, clip.with_name(f".{clip.stem}.ass"), layout.caption_y_px)
