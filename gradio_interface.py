"""The browser UI: `python gradio_interface.py` or `python main.py --ui`.

A thin adapter over `KickClipGenerator`, like the CLI: each handler turns widget values into a
`Config` copy, makes one engine call and turns the result into display values. Engine errors
become `gr.Error` with their one-line text (a setting named in words: the UI has no flags).
Every event has an `api_name`, so `gradio_client` and scripts can drive the same calls.
`ui_cards` renders what Review shows of a run (summary, timeline, clip cards, Details rows).
Importing this module starts nothing.
"""

from __future__ import annotations

import argparse
import atexit
import errno
import logging
import os
import shutil
import socket
import sys
import threading
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

import plain_words
from chat_features import CHAT_FEATURES, CHAT_NAME, ChatFeatures
from config import LAYOUTS, Config, field_help
from errors import Cancelled, InputError, KickClipError
from kick_clip_generator import JSON_NAME, KickClipGenerator
from live import LiveHandle
from logsetup import setup_logging
from timecode import hms
from ui_cards import (
    CARDS_CSS,
    CARDS_JS,
    DETAIL_HEADERS,
    TIMELINE_CSS,
    TIMELINE_JS,
    cards_html,
    detail_rows,
    plural,
    summary_markdown,
    timeline_html,
)

logger = logging.getLogger(__name__)

RUN_HEADERS = ["run", "title", "made", "length", "clips"]
CACHE_NAME = ".gradio-cache"  # Gradio's copies of uploads and downloads, under the output folder
USER_GRADIO_TEMP_DIR = os.environ.get("GRADIO_TEMP_DIR")  # as the user started us: theirs
def user_text(err: KickClipError) -> str:
    """An engine error as the UI says it: a setting named by its field here, or its words."""
    return err.phrased(lambda field: SETTING_FIELDS.get(field))


SETTING_FIELDS = {"output_dir": "output folder (set KCG_OUTPUT_DIR before starting the app)"}
LAYOUT_INFO = "auto: webcam on top when one is found, else fit"



def fail(text: str) -> gr.Error:
    """An error toast that goes away by itself, so it does not sit over the next results."""
    return gr.Error(text, duration=8)


def chat_ratios(run_dir: str | Path, data: dict[str, Any], window_s: float
                ) -> dict[int, float]:
    """Each highlight's busiest chat (message rate / the stream's usual rate), when the run
    had chat."""
    if not (data.get("chat") or {}).get("available"):
        return {}
    chat = ChatFeatures.load(Path(run_dir) / CHAT_NAME)
    if chat is None or not len(chat.matrix):
        return {}
    rate = chat.matrix[:, CHAT_FEATURES.index("message_rate")]
    out = {}
    for h in data["highlights"]:
        lo = int(h["start"] / window_s)
        hi = min(len(rate), max(lo + 1, int(np.ceil(h["end"] / window_s))))
        part = rate[lo:hi][chat.covered[lo:hi]]
        if len(part):
            out[int(h["rank"])] = float(part.max())
    return out


def _interleave(lists: list[list[str]]) -> list[str]:
    """The first of each list, then the second of each...: "loud moments with fast action"
    names the strongest of each signal before the second of one."""
    out: list[str] = []
    for i in range(max((len(items) for items in lists), default=0)):
        out += [items[i] for items in lists if i < len(items) and items[i] not in out]
    return out


def _clipped(snap: dict[str, Any]) -> list[dict[str, Any]]:
    return [h for h in snap["highlights"] if h.get("clip_path")]


def live_figure(snap: dict[str, Any]):
    """The live combined score so far, the clips shaded (times in minutes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scores = snap["scores"]
    minutes = (0.5 + np.arange(len(scores))) * snap["window_s"] / 60
    fig, ax = plt.subplots(figsize=(10, 2.6), dpi=100)
    for h in snap["highlights"]:
        ax.axvspan(h["start"] / 60, h["end"] / 60, color="#f5c542", alpha=0.35, lw=0)
    ax.plot(minutes, scores, color="#111827", lw=1.2, label="score")
    ax.set_xlabel("minutes since the run started")
    ax.set_ylabel("score")
    ax.margins(x=0)
    fig.tight_layout()
    plt.close(fig)
    return fig


class UI:
    """The handlers, bound to one generator and base config. Tested without a server."""

    def __init__(self, generator: KickClipGenerator, config: Config):
        self.generator = generator
        self.config = config
        self.cancel_event = threading.Event()
        self.live: LiveHandle | None = None

    # Analyse -------------------------------------------------------------------------------

    def analyze(self, source: str, upload: str | None = None, top_n: float | None = None,
                clip_length_s: float | None = None, pre_roll_s: float | None = None,
                min_gap_s: float | None = None, chunk_duration_s: float | None = None,
                frame_skip: float | None = None, audio_weight: float | None = None,
                video_weight: float | None = None, make_clips: bool | None = None,
                vertical: bool | None = None, layout: str | None = None,
                captions: bool | None = None, captions_model: str | None = None,
                progress: gr.Progress = gr.Progress()):  # noqa: B008 - how Gradio injects it
        """Run the pipeline; returns the Analyse summary, the Review display values of
        `show`, the run lists of `lists` with the new run selected, and the tab to show
        (Review, with the new run's cards). Every setting left out keeps the base config's
        value (`client.predict(link, api_name="/analyze")` works). Gradio passes a live
        `progress` tracker only when the default is a `gr.Progress()`; called directly, the
        default does nothing."""
        chosen = upload or (source or "").strip()
        try:
            given = dict(top_n=(top_n, int), clip_length_s=(clip_length_s, float),
                         pre_roll_s=(pre_roll_s, float), min_gap_s=(min_gap_s, float),
                         chunk_duration_s=(chunk_duration_s, float),
                         frame_skip=(frame_skip, int), audio_weight=(audio_weight, float),
                         video_weight=(video_weight, float), make_clips=(make_clips, bool),
                         vertical=(vertical, bool), layout=(layout or None, str),
                         captions=(captions, bool),
                         captions_model=((captions_model or "").strip() or None, str))
            config = self.config.replace(**{name: kind(value) for name, (value, kind)
                                            in given.items() if value is not None})
            self.cancel_event.clear()
            result = self.generator.run(chosen, config, lambda f, m: progress(f, desc=m),
                                        self.cancel_event)
        except Cancelled:
            raise fail("cancelled - nothing was kept; press Analyse to start again "
                       "(what was analysed is reused)") from None
        except KickClipError as err:
            raise fail(user_text(err)) from None
        shown = self.show(result.run_dir, config)
        found = len(result.highlights)
        done = (f"Done: **{found} highlight{'s' if found != 1 else ''}** in "
                f"{hms(result.duration_s)} of stream - they are in **Review**.")
        return (done, *shown, *self.lists(select=shown[-1]), gr.Tabs(selected="review"))

    def cancel(self) -> str:
        self.cancel_event.set()
        return "cancelling..."

    def run_dir(self, value: str) -> str:
        """A run folder named by the browser, only if it lies inside the output folder: the
        server must not read, re-cut or rate anything elsewhere on the machine."""
        base = Path(self.config.output_dir).resolve()
        path = Path(value or "").resolve()
        if not value or path == base or base not in path.parents:
            raise fail(f"{value or 'nothing'} is not a run in {self.config.output_dir} - "
                       "pick one from the list")
        return str(path)

    def show(self, run_dir: str, config: Config | None = None, selected: int | None = None):
        """A finished run's Review values: (summary, timeline, cards, details, downloads,
        run folder)."""
        config = config or self.config
        try:
            run_dir = self.run_dir(run_dir)
            view = self.generator.view(run_dir, config)
        except KickClipError as err:
            raise fail(user_text(err)) from None
        data = view.data
        downloads = [str(Path(run_dir) / JSON_NAME)]
        if view.archive:
            downloads.append(str(view.archive))
        return (summary_markdown(data), timeline_html(data, view.scores, view.window_s),
                self.cards(run_dir, data, view.window_s, selected), detail_rows(data),
                downloads, run_dir)

    def cards(self, run_dir: str, data: dict[str, Any], window_s: float,
              selected: int | None = None) -> str:
        return cards_html(run_dir, data, self.generator.ratings(run_dir, self.config),
                          chat_ratios(run_dir, data, window_s), selected)

    def zip_clips(self, run_dir: str) -> list[str]:
        """Make the run's clips.zip (only when asked: it doubles the run's size on disk)."""
        run_dir = self.run_dir(run_dir)
        try:
            archive = self.generator.zip_clips(run_dir)
        except KickClipError as err:
            raise fail(user_text(err)) from None
        if archive is None:
            raise fail("this run has no clips to zip - analyse with Cut clips on")
        return [str(Path(run_dir) / JSON_NAME), str(archive)]

    def editor_exports(self, run_dir: str) -> list[str]:
        """The run's files for video editors (timeline, markers, chapters, CSV) as one zip."""
        run_dir = self.run_dir(run_dir)
        try:
            archive = self.generator.exports_zip(run_dir, self.config)
        except KickClipError as err:
            raise fail(user_text(err)) from None
        return [str(Path(run_dir) / JSON_NAME), str(archive)]

    # Review ----------------------------------------------------------------------------------

    def card_action(self, run_dir: str, act: str, rank: float, start_s: float | None = None,
                    end_s: float | None = None):
        """What a card's button (or key) asks: "keep", "skip" or "recut" clip `rank` of the
        run the cards show. Returns (cards, what happened, the Model tab's text). After a
        rating the next card is selected, so Y / N run down the grid."""
        run_dir = self.run_dir(run_dir)
        rank = int(rank)
        if act in ("keep", "skip"):
            said = self.rate(run_dir, rank, act)
            following = rank + 1
        elif act == "recut":
            said = self.recut(run_dir, rank, float(start_s), float(end_s))[1]
            following = rank
        else:
            raise fail(f"a card cannot {act} - use Keep, Skip or Re-cut")
        data = self.generator.load_run(run_dir)
        ranks = {int(h["rank"]) for h in data["highlights"]}
        window_s = float((data.get("config") or {}).get("window_s", self.config.window_s))
        cards = self.cards(run_dir, data, window_s,
                           following if following in ranks else rank)
        return cards, said, self.model_status()[0]

    def card_event(self, evt: gr.EventData):
        """A card's click or key, from the bridge in CARDS_JS."""
        d = getattr(evt, "_data", None) or {}
        return self.card_action(d.get("run", ""), d.get("act", ""), d.get("rank", 0),
                                d.get("start"), d.get("end"))

    def rate(self, run_dir: str, rank: float, verdict: str, stars: float = 3) -> str:
        """verdict: "keep", "skip" or "stars" (then `stars` 1-5 counts). The run and clip
        are named by the caller (a card carries its own), so nothing on screen can move
        under it."""
        rating = {"keep": 1.0, "skip": 0.0}.get(verdict, (float(stars) - 1) / 4)
        run_dir = self.run_dir(run_dir)
        try:
            rated = self.generator.rate(run_dir, int(rank), rating, self.config)
        except KickClipError as err:
            raise fail(user_text(err)) from None
        word = {1.0: "kept", 0.0: "skipped"}.get(rating, f"rated {rating:.2f}")
        return (f"Clip {int(rank)} {word}; {rated.ratings} rating"
                f"{'s' if rated.ratings != 1 else ''} so far - the model has learned it.")

    def recut(self, run_dir: str, rank: float, start_s: float, end_s: float):
        run_dir = self.run_dir(run_dir)
        try:
            h = self.generator.recut(run_dir, int(rank), float(start_s), float(end_s),
                                     self.config)
        except KickClipError as err:
            raise fail(user_text(err)) from None
        return h.clip_path, f"Clip {h.rank} re-cut: now {hms(h.start)}-{hms(h.end)}."

    def recut_api(self, run_dir: str, rank: float, start_s: float, end_s: float) -> str:
        """Re-cut clip `rank` of a run from `start_s` to `end_s` (seconds into the stream)."""
        return self.recut(run_dir, rank, start_s, end_s)[1]

    # The webcam box of the 9:16 clips ---------------------------------------------------------

    def facecam_view(self, run_dir: str | None):
        """The box editor for a run: (editor shown?, the still with the box drawn, X, Y, W, H,
        layout, what to know). Shown only for a run with 9:16 clips; the numbers are the run's
        box (empty when none was found)."""
        hidden = (gr.update(visible=False), None, None, None, None, None, gr.update(), "")
        # (a hidden editor keeps its layout choice; its other values are cleared)
        if not run_dir:
            return hidden
        run_dir = self.run_dir(run_dir)
        data = self.generator.load_run(run_dir)
        if not any(h.get("vertical_path") for h in data["highlights"]):
            return hidden
        box = data.get("facecam") or {}
        numbers = [box.get(k) for k in "xywh"]
        layout = (data.get("config") or {}).get("layout") or "auto"
        said = ("The webcam box the 9:16 clips use (source pixels). Fix the numbers and press "
                "**Re-render 9:16 clips**." if box else
                "No webcam was found in this run: give its box (source pixels) to put it on "
                "top of the 9:16 clips, then press **Re-render 9:16 clips**.")
        return (gr.update(visible=True), self.facecam_picture(run_dir, *numbers), *numbers,
                layout if layout in LAYOUTS else "auto", said)

    def still(self, run_dir: str) -> Path:
        """The run's full-size still (made once; the box's pixels are its pixels)."""
        path = Path(run_dir) / "facecam.jpg"
        if path.exists():
            return path
        try:
            return self.generator.facecam_still(run_dir, self.config)
        except KickClipError as err:
            raise fail(user_text(err)) from None

    def facecam_picture(self, run_dir: str, x: float | None = None, y: float | None = None,
                        w: float | None = None, h: float | None = None) -> np.ndarray:
        """The still (RGB) with the box drawn on it, when all four numbers are given."""
        import cv2

        run_dir = self.run_dir(run_dir)
        picture = cv2.imread(str(self.still(run_dir)))
        if picture is None:
            raise fail("the run's still picture cannot be read - re-render the 9:16 clips")
        if None not in (x, y, w, h):
            x, y, w, h = (int(v) for v in (x, y, w, h))
            thick = max(2, picture.shape[1] // 320)
            cv2.rectangle(picture, (x, y), (x + w - 1, y + h - 1), (0, 0, 0), thick + 2)
            cv2.rectangle(picture, (x, y), (x + w - 1, y + h - 1), (0, 220, 255), thick)
        return cv2.cvtColor(picture, cv2.COLOR_BGR2RGB)

    def facecam_box(self, run_dir: str, x: float | None, y: float | None, w: float | None,
                    h: float | None) -> str | None:
        """The four numbers as "X,Y,W,H" (None: all empty, the run's own box), checked
        against the still's size."""
        given = [v for v in (x, y, w, h) if v is not None and v != ""]
        if not given:
            return None
        if len(given) < 4:
            raise fail("the webcam box needs all four numbers - fill in X, Y, W and H, or "
                       "empty them all to keep the run's box")
        x, y, w, h = (int(round(float(v))) for v in (x, y, w, h))
        import cv2

        height, width = cv2.imread(str(self.still(run_dir))).shape[:2]
        if x < 0 or y < 0 or w < 16 or h < 16 or x + w > width or y + h > height:
            raise fail(f"the webcam box {x},{y},{w},{h} does not fit the picture ({width}x"
                       f"{height}) - X and Y from 0, W and H at least 16, the box inside it")
        return f"{x},{y},{w},{h}"

    def reshort(self, run_dir: str, x: float | None, y: float | None, w: float | None,
                h: float | None, layout: str | None = None):
        """Re-render only the run's 9:16 clips with this webcam box and layout. Returns (the
        still with the box, what happened, the cards)."""
        run_dir = self.run_dir(run_dir)
        box = self.facecam_box(run_dir, x, y, w, h)
        layout = layout or "auto"
        if layout == "split" and box is None and not self.generator.load_run(run_dir).get(
                "facecam"):
            raise fail("the split layout needs the webcam box - fill in X, Y, W and H")
        try:
            data = self.generator.reshort(run_dir, box, self.config.replace(layout=layout))
        except KickClipError as err:
            raise fail(user_text(err)) from None
        made = sum(1 for h_ in data["highlights"] if h_.get("vertical_path"))
        used = data.get("facecam")
        said = (f"Re-rendered {plural(made, '9:16 clip')} ({layout} layout"
                + (f", webcam box {used['x']},{used['y']},{used['w']},{used['h']})."
                   if used else ", no webcam box)."))
        numbers = [used.get(k) for k in "xywh"] if used else [None] * 4
        window_s = float((data.get("config") or {}).get("window_s", self.config.window_s))
        return (self.facecam_picture(run_dir, *numbers), said,
                self.cards(run_dir, data, window_s))

    def reshort_api(self, run_dir: str, x: float | None, y: float | None, w: float | None,
                    h: float | None, layout: str = "auto") -> str:
        """Re-render the 9:16 clips of a run with the webcam box X, Y, W, H (source pixels;
        all None: the run's own box) in `layout` (auto, split, fit or crop)."""
        return self.reshort(run_dir, x, y, w, h, layout)[1]

    def open_run(self, run_dir: str):
        """History's Open: the run's Review values, the run chosen in Review, its source in
        the Analyse box (to run it again) and the Review tab shown."""
        shown = self.show(run_dir)
        source = self.generator.load_run(shown[-1]).get("source", "")
        return (*shown, gr.update(value=shown[-1]), source, gr.Tabs(selected="review"))

    # Runs ------------------------------------------------------------------------------------

    def runs_on_disk(self) -> list[dict[str, Any]]:
        """The runs in the output folder now, newest first (read every time: runs appear
        while the server is up, and a page reload must show them)."""
        return self.generator.list_runs(self.config)

    @staticmethod
    def run_choices(found: list[dict[str, Any]]) -> list[tuple[str, str]]:
        return [(f"{r['title'] or Path(r['run_dir']).name} - "
                 f"{plain_words.local_time(r['created_at'])} ({r['highlights']} clips)",
                 str(Path(r["run_dir"]).resolve()))
                for r in found]

    @staticmethod
    def history(found: list[dict[str, Any]]) -> list[list[Any]]:
        return [[Path(r["run_dir"]).name, r["title"], plain_words.local_time(r["created_at"]),
                 hms(r["duration_s"]), r["highlights"]]
                for r in found]

    def lists(self, review_run: str | None = None, pick: str | None = None,
              select: str | None = None):
        """(Review run list, History run list, History table) as they are on disk now. Each
        list keeps its selection while that run exists; `select` (a finished Analyse) or else
        the newest run is chosen otherwise."""
        found = self.runs_on_disk()  # once: it parses every run's highlights.json
        choices = self.run_choices(found)
        values = [value for _, value in choices]

        def chosen(current: str | None) -> str | None:
            if select:
                return str(Path(select).resolve())
            if current and str(Path(current).resolve()) in values:
                return str(Path(current).resolve())
            return values[0] if values else None

        return (gr.update(choices=choices, value=chosen(review_run)),
                gr.update(choices=choices, value=chosen(pick)), self.history(found))

    def history_pick(self, evt: gr.SelectData) -> str | None:
        """The run of the History row clicked."""
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        found = self.runs_on_disk()
        return str(Path(found[row]["run_dir"]).resolve()) if 0 <= row < len(found) else None

    def review_pick(self, run_dir: str | None):
        """Review's run list changed: show that run (nothing when the list is empty)."""
        if not run_dir:
            return ("Nothing analysed yet: paste a link or a file in Analyse.", "", "", [],
                    None, "")
        return self.show(run_dir)

    # Live ------------------------------------------------------------------------------------

    def live_start(self, source: str):
        """Start following a live channel (or live HLS URL) in the background; the Live tab's
        timer then shows its scores and clips as they come."""
        if self.live is not None and self.live.running:
            raise fail("a live run is going - press Stop before starting another")
        source = (source or "").strip()
        if not source:
            raise fail("no channel given - paste a Kick channel link (kick.com/<channel>)")
        self.live = self.generator.start_live(source, self.config)
        return (f"starting: {source}", gr.Timer(active=True))

    def live_stop(self):
        if self.live is None:
            return "nothing is running", gr.Timer(active=False)
        stopped = self.live.stop()
        text, *_ = self.live_status()
        return (text if stopped else "stopping... (the last clip is being cut)",
                gr.Timer(active=not stopped))

    def live_status(self):
        """(status, timeline, clip cards, clip choices) of the live run now."""
        if self.live is None:
            return ("Paste a live channel and press Start.", None, [], gr.update())
        snap = self.live.snapshot()
        if snap["error"]:
            text = f"**Stopped:** {user_text(self.live.error)}"
        else:
            text = f"**{snap['state']}** - {snap['message']}"
            if snap["run_dir"]:
                text += f"\n\nSaved in `{snap['run_dir']}`"
        cards = [(h.get("thumbnail_path") or h["clip_path"], f"#{h['rank']} {hms(h['start'])}"
                  f" - {', '.join(plain_words.why(h))}") for h in _clipped(snap)]
        choices = [(f"#{h['rank']} at {hms(h['start'])} - {plain_words.why(h)[0]}",
                    h["clip_path"]) for h in _clipped(snap)]
        return (text, live_figure(snap) if len(snap["scores"]) else None, cards,
                gr.update(choices=choices))

    def live_pick(self, evt: gr.SelectData) -> str | None:
        """The clip of the card clicked (cards are in the order `live_status` lists them)."""
        clipped = _clipped(self.live.snapshot()) if self.live is not None else []
        return clipped[evt.index]["clip_path"] if evt.index < len(clipped) else None

    def live_rate(self, clip_path: str, verdict: str) -> str:
        """Keep or skip a clip of the live run by its file (ranks move as better clips
        land)."""
        if not clip_path:
            raise fail("no clip chosen - pick one of the clips above first")
        if self.live is None or self.live.run_dir is None:
            raise fail("no live run yet - press Start first")
        run_dir = self.run_dir(str(self.live.run_dir))
        try:
            rated = self.generator.rate_clip(run_dir, clip_path,
                                             1.0 if verdict == "keep" else 0.0, self.config)
        except KickClipError as err:
            raise fail(user_text(err)) from None
        return (f"{Path(clip_path).name}: {'kept' if verdict == 'keep' else 'skipped'}; "
                f"{rated.ratings} ratings stored (the model refits as you rate)")

    # Model -----------------------------------------------------------------------------------

    def model_status(self):
        """(what the model learned in sentences, the raw importances for the Details fold)."""
        status = self.generator.model_status(self.config)
        taste = self.generator.taste(self.config)
        per_signal = [plain_words.leanings(names, x, rating)
                      for names, x, rating in taste.rated.values() if len(x)]
        leaned = tuple(_interleave([lean[side] for lean in per_signal]) for side in (0, 1))
        trained = max((m.trained_at for m in status.models if m.trained_at), default=None)
        text = plain_words.model_summary(taste.ratings, taste.kept, leaned, taste.model_share,
                                         trained)
        importances = sorted(((m.modality, f, round(v, 4)) for m in status.models
                              for f, v in m.importances.items()), key=lambda r: -r[2])
        return text, [list(r) for r in importances]

    def retrain(self):
        self.generator.retrain(self.config)
        text, rows = self.model_status()
        return "Retrained just now.\n\n" + text, rows


def build_ui(generator: KickClipGenerator, config: Config) -> gr.Blocks:
    """The Blocks app; `launch` serves it."""
    ui = UI(generator, config)
    with gr.Blocks(title="Kick Clip Generator", delete_cache=(3600, 3600)) as app:
        gr.Markdown("# Kick Clip Generator\nPaste a Kick link, an HLS/MP4 URL or a file path, "
                    "or upload a recording; the best moments come back as clips to keep "
                    "or skip.")
        run_state = gr.State("")
        with gr.Tabs(selected="analyse") as tabs:
            with gr.Tab("Analyse", id="analyse"):
                with gr.Row():
                    source = gr.Textbox(label="Kick link, URL or file path", scale=3,
                                        placeholder="https://kick.com/xqc/videos/...")
                    upload = gr.File(label="...or upload a recording", type="filepath",
                                     scale=2, file_types=["video", "audio"])
                with gr.Row():
                    top_n = gr.Slider(1, 30, value=config.top_n, step=1, label="Highlights",
                                      info=field_help("top_n"))
                    clip_length = gr.Slider(5, 120, value=config.clip_length_s, step=1,
                                            label="Clip length (s)")
                    pre_roll = gr.Slider(0, 30, value=config.pre_roll_s, step=1,
                                         label="Pre-roll (s)", info=field_help("pre_roll_s"))
                    min_gap = gr.Slider(0, 120, value=config.min_gap_s, step=1,
                                        label="Min gap (s)")
                # What comes out of a run: clips, their 9:16 versions, captions.
                with gr.Row(elem_id="kcg-output-options"):
                    make_clips = gr.Checkbox(value=config.make_clips, label="Cut clips")
                    vertical = gr.Checkbox(value=config.vertical, label="Vertical 9:16 shorts",
                                           info="a 1080x1920 copy of every clip")
                    layout = gr.Dropdown(LAYOUTS, value=config.layout, label="9:16 layout",
                                         info=LAYOUT_INFO)
                    captions = gr.Checkbox(value=config.captions, label="Captions",
                                           info="transcribe the clips; burned into the 9:16")
                with gr.Accordion("Advanced", open=False):
                    with gr.Row():
                        chunk = gr.Slider(10, 120, value=config.chunk_duration_s, step=5,
                                          label="Chunk duration (s)")
                        frame_skip = gr.Slider(1, 30, value=config.frame_skip, step=1,
                                               label="Frame skip",
                                               info=field_help("frame_skip"))
                        audio_w = gr.Slider(0, 1, value=config.audio_weight, step=0.05,
                                            label="Sound weight")
                        video_w = gr.Slider(0, 1, value=config.video_weight, step=0.05,
                                            label="Picture weight")
                    captions_model = gr.Textbox(
                        value=config.captions_model, label="Captions model",
                        info="a Whisper model name (downloaded once) or a model folder")
                with gr.Row():
                    go = gr.Button("Analyse", variant="primary")
                    stop = gr.Button("Cancel", variant="stop", interactive=False)
                analyse_text = gr.Markdown("Results open in **Review** when the run is done.")
            # Run lists start empty and are read from disk when the page loads, when their
            # tab is opened and after every Analyse: never the runs of the server's start.
            with gr.Tab("Review", id="review") as review_tab:
                review_run = gr.Dropdown(label="Run", choices=[], value=None,
                                         allow_custom_value=True)
                review_text = gr.Markdown()
                timeline = gr.HTML(elem_id="kcg-timeline", css_template=TIMELINE_CSS,
                                   js_on_load=TIMELINE_JS)
                cards = gr.HTML(elem_id="kcg-cards", css_template=CARDS_CSS,
                                js_on_load=CARDS_JS)
                card_said = gr.Markdown()
                # Tools for the selected clip and run: the webcam box of the 9:16 clips.
                with gr.Column(elem_id="kcg-clip-tools"):
                    with gr.Accordion("Webcam box (9:16 clips)", open=False,
                                      visible=False) as cam_tools:
                        cam_said = gr.Markdown()
                        cam_picture = gr.Image(label="The webcam box on a frame of the stream",
                                               interactive=False, format="jpeg", height=360)
                        with gr.Row():
                            cam_x = gr.Number(label="X", precision=0, minimum=0)
                            cam_y = gr.Number(label="Y", precision=0, minimum=0)
                            cam_w = gr.Number(label="W", precision=0, minimum=16)
                            cam_h = gr.Number(label="H", precision=0, minimum=16)
                            cam_layout = gr.Dropdown(LAYOUTS, value="auto",
                                                     label="9:16 layout", info=LAYOUT_INFO)
                        rerender = gr.Button("Re-render 9:16 clips", variant="primary")
                # What a run gives to take away; more exports go in this row.
                with gr.Row(elem_id="kcg-run-actions"):
                    make_zip = gr.Button("Make clips.zip", scale=1)
                    for_editors = gr.Button("Files for video editors", scale=1)
                    downloads = gr.File(label="Downloads", file_count="multiple",
                                        interactive=False, scale=3, min_width=300)
                with gr.Accordion("Details (the numbers)", open=False):
                    details = gr.Dataframe(headers=DETAIL_HEADERS, interactive=False,
                                           wrap=True)
            with gr.Tab("Live", id="live"):
                gr.Markdown("Follow a channel while it is live: clips appear here as the "
                            "moments happen, and can be kept or skipped at once.")
                with gr.Row():
                    live_source = gr.Textbox(label="Live channel", scale=3,
                                             placeholder="https://kick.com/<channel>")
                    live_go = gr.Button("Start", variant="primary", scale=1)
                    live_end = gr.Button("Stop", variant="stop", scale=1)
                live_text = gr.Markdown()
                live_plot = gr.Plot(label="Score so far")
                live_cards = gr.Gallery(label="Clips so far - click one to watch and rate it",
                                        columns=4, height="auto", allow_preview=False)
                with gr.Row():
                    live_clip = gr.Dropdown(label="Clip", choices=[], value=None, scale=3,
                                            allow_custom_value=True)
                    live_keep = gr.Button("Keep", variant="primary", scale=1)
                    live_skip = gr.Button("Skip", scale=1)
                live_player = gr.Video(label="Clip", interactive=False)
                live_rated = gr.Markdown()
                live_timer = gr.Timer(2.0, active=False)
            with gr.Tab("Model", id="model") as model_tab:
                model_text = gr.Markdown()
                with gr.Row():
                    refresh_model = gr.Button("Refresh")
                    retrain = gr.Button("Retrain now")
                with gr.Accordion("Details (what each signal weighs)", open=False):
                    importances = gr.Dataframe(headers=["signal", "feature", "importance"],
                                               interactive=False)
            with gr.Tab("History", id="history") as history_tab:
                gr.Markdown("Every run in the output folder, newest first. Click a row or "
                            "pick a run, then **Open** it in Review.")
                runs = gr.Dataframe(headers=RUN_HEADERS, interactive=False)
                with gr.Row():
                    pick = gr.Dropdown(label="Run", choices=[], value=None, scale=3,
                                       allow_custom_value=True)
                    reopen = gr.Button("Open", variant="primary", scale=1)
                    refresh_runs = gr.Button("Refresh list", scale=1)

        shown = [review_text, timeline, cards, details, downloads, run_state]
        run_lists = [review_run, pick, runs]
        busy = dict(fn=lambda: (gr.update(interactive=False), gr.update(interactive=True)),
                    inputs=None, outputs=[go, stop], queue=False, api_name=False)
        idle = dict(fn=lambda: (gr.update(interactive=True), gr.update(interactive=False)),
                    inputs=None, outputs=[go, stop], queue=False, api_name=False)
        # an old error toast must not sit over the new run's results
        go.click(None, None, None, js=CLOSE_TOASTS_JS, api_name=False)
        analysed = go.click(**busy).then(
            ui.analyze, [source, upload, top_n, clip_length, pre_roll, min_gap, chunk,
                         frame_skip, audio_w, video_w, make_clips, vertical, layout,
                         captions, captions_model],
            [analyse_text, *shown, *run_lists, tabs], api_name="analyze",
            concurrency_limit=1, show_progress_on=[analyse_text])
        analysed.success(**idle)
        analysed.failure(**idle)  # `then` does not follow a failed step
        stop.click(ui.cancel, None, analyse_text, api_name="cancel", queue=False)
        review_run.input(ui.review_pick, review_run, shown, api_name=False)
        cards.card(ui.card_event, None, [cards, card_said, model_text], api_name=False,
                   concurrency_id="review", concurrency_limit=1, show_progress="hidden")
        # the run shown changed (Analyse, the run list, Open): its webcam box editor
        cam_numbers = [cam_x, cam_y, cam_w, cam_h]
        run_state.change(ui.facecam_view, run_state,
                         [cam_tools, cam_picture, *cam_numbers, cam_layout, cam_said],
                         api_name=False)
        gr.on([n.input for n in cam_numbers], ui.facecam_picture, [run_state, *cam_numbers],
              cam_picture, api_name=False, show_progress="hidden")
        rerender.click(ui.reshort, [run_state, *cam_numbers, cam_layout],
                       [cam_picture, cam_said, cards], api_name=False,
                       concurrency_id="review")
        gr.api(ui.reshort_api, api_name="reshort", concurrency_id="review")
        make_zip.click(ui.zip_clips, run_state, downloads, api_name="zip_clips")
        for_editors.click(ui.editor_exports, run_state, downloads, api_name="editor_exports")
        gr.api(ui.rate, api_name="rate", concurrency_id="review")
        gr.api(ui.recut_api, api_name="recut", concurrency_id="review")
        live_go.click(ui.live_start, live_source, [live_text, live_timer],
                      api_name="live_start", concurrency_limit=None)
        live_end.click(ui.live_stop, None, [live_text, live_timer], api_name="live_stop",
                       concurrency_limit=None)
        live_timer.tick(ui.live_status, None, [live_text, live_plot, live_cards, live_clip],
                        api_name="live_status", concurrency_limit=None)
        live_cards.select(ui.live_pick, None, live_clip, api_name=False)
        live_clip.change(lambda path: path or None, live_clip, live_player, api_name=False)
        live_keep.click(lambda path: ui.live_rate(path, "keep"), live_clip, live_rated,
                        api_name="live_keep", concurrency_limit=None)
        live_skip.click(lambda path: ui.live_rate(path, "skip"), live_clip, live_rated,
                        api_name="live_skip", concurrency_limit=None)
        refresh_model.click(ui.model_status, None, [model_text, importances],
                            api_name="model_status")
        model_tab.select(ui.model_status, None, [model_text, importances], api_name=False)
        retrain.click(ui.retrain, None, [model_text, importances], api_name="retrain")
        runs.select(ui.history_pick, None, pick, api_name=False)
        reopen.click(ui.open_run, pick, [*shown, review_run, source, tabs],
                     api_name="open_run")
        refresh_runs.click(ui.lists, [review_run, pick], run_lists, api_name="history")
        for tab in (review_tab, history_tab):
            tab.select(ui.lists, [review_run, pick], run_lists, api_name=False)
        app.load(ui.lists, [review_run, pick], run_lists, api_name="runs").then(
            ui.review_pick, review_run, shown, api_name=False)
        app.load(ui.model_status, None, [model_text, importances], api_name=False)
    return app


CLOSE_TOASTS_JS = """() => {
  document.querySelectorAll('.toast-close').forEach((b) => b.click());
}"""


def check_port(host: str, port: int) -> None:
    """Raise `InputError` (naming --port, the flag both entry points share) unless `port` is a
    valid port that `host` can listen on now. Gradio would say GRADIO_SERVER_PORT, with a
    traceback."""
    if not 1 <= port <= 65535:
        raise InputError(f"--port {port} is out of range - pass --port with a number from 1 "
                         "to 65535")
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            if os.name != "nt":  # as uvicorn binds: a closed server's TIME_WAIT is no conflict
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as err:
        if err.errno in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", -1)):
            raise InputError(f"port {port} is in use - pass --port with another "
                             "port") from None
        if err.errno == errno.EACCES:
            raise InputError(f"port {port} needs administrator rights - pass --port with a "
                             "port above 1023") from None
        raise InputError(f"cannot listen on {host}:{port} ({err.strerror or err}) - check "
                         "--host and --port") from None


def use_cache_folder(config: Config) -> Path:
    """Keep Gradio's copies (uploads, files it hands the browser) in the output folder's
    `.gradio-cache` instead of the system temp folder, emptied now and when the program exits:
    disk use stays where the user looks, and does not grow run after run. A GRADIO_TEMP_DIR
    the user set is theirs: used as it is, never emptied."""
    if USER_GRADIO_TEMP_DIR:
        return Path(USER_GRADIO_TEMP_DIR)
    cache = Path(config.output_dir).resolve() / CACHE_NAME
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True, exist_ok=True)
    os.environ["GRADIO_TEMP_DIR"] = str(cache)
    atexit.register(shutil.rmtree, cache, ignore_errors=True)
    return cache


def launch(config: Config | None = None, *, host: str = "127.0.0.1", port: int = 7860,
           share: bool = False, open_browser: bool = True, block: bool = True) -> gr.Blocks:
    """Serve the UI. Files are served only from the output folder. A bad or busy port raises
    `InputError` before anything is built."""
    check_port(host, port)
    config = config or Config.from_env()
    Path(config.output_dir).mkdir(parents=True, exist_ok=True)
    use_cache_folder(config)
    app = build_ui(KickClipGenerator(config), config)
    app.queue(default_concurrency_limit=1)
    try:
        app.launch(server_name=host, server_port=port, share=share, inbrowser=open_browser,
                   allowed_paths=[str(Path(config.output_dir).resolve())],
                   prevent_thread_lock=not block, show_error=True)
    except OSError as err:  # taken between the check and the bind
        if "Cannot find empty port" not in str(err):
            raise
        raise InputError(f"port {port} is in use - pass --port with another port") from None
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Kick Clip Generator in the browser")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--share", action="store_true", help="a public gradio.live link")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser tab")
    parser.add_argument("--debug", action="store_true",
                        help="show tracebacks instead of one-line errors")
    args = parser.parse_args(argv)
    setup_logging()
    try:
        launch(host=args.host, port=args.port, share=args.share,
               open_browser=not args.no_browser)
    except KickClipError as err:
        if args.debug:
            raise
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
