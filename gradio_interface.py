"""The browser UI: `python gradio_interface.py` or `python main.py --ui`.

A thin adapter over `KickClipGenerator`, like the CLI: each handler turns widget values into a
`Config` copy, makes one engine call and turns the result into display values. Engine errors
become `gr.Error` with their one-line text (a setting named in words: the UI has no flags).
Every event has an `api_name`, so `gradio_client` and scripts can drive the same calls.
Importing this module starts nothing.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import socket
import sys
import threading
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from config import Config, field_help
from errors import Cancelled, InputError, KickClipError
from kick_clip_generator import JSON_NAME, KickClipGenerator, RunView
from live import LiveHandle
from logsetup import setup_logging
from timecode import hms

logger = logging.getLogger(__name__)

TABLE_HEADERS = ["rank", "start", "end", "score", "audio", "video", "model", "kind", "chat",
                 "why"]
RUN_HEADERS = ["run", "title", "created", "length", "highlights"]


def highlight_rows(data: dict[str, Any]) -> list[list[Any]]:
    def num(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    return [[h["rank"], hms(h["start"]), hms(h["end"]), num(h["score"]), num(h["audio_score"]),
             num(h["video_score"]), num(h["ml_score"]), h["kind"], num(h.get("chat_score")),
             ", ".join(h["reasons"])] for h in data["highlights"]]


def summary_markdown(data: dict[str, Any]) -> str:
    lines = [f"**{data['title']}**, {hms(data['duration_s'])}: "
             f"{len(data['highlights'])} highlights"]
    if data.get("kick"):
        kick = data["kick"]
        lines.append(f"Kick {kick['kind']} of **{kick.get('channel') or '?'}**"
                     + (f", streamed {kick['created_at'][:10]}" if kick.get("created_at") else ""))
    chat = data.get("chat") or {}
    if chat.get("available"):
        lines.append(f"Chat: {chat['messages']} messages, reaction lag {chat['lag_s']:.1f} s "
                     f"({'estimated' if chat.get('lag_estimated') else 'default'})")
    lines += [f"- skipped {hms(s['start'])}-{hms(s['end'])}: {s['reason']}"
              for s in data.get("skipped_chunks", [])]
    lines += [f"- clip {f['rank']} failed: {f['reason']}" for f in data.get("failed_clips", [])]
    lines += [f"- {note}" for note in data.get("notes", [])]
    text = "\n".join(lines)
    if data.get("run_dir"):
        text += f"\n\nSaved in `{data['run_dir']}`"
    return text


def user_text(err: KickClipError) -> str:
    """An engine error as the UI says it: a setting with no field here keeps its words."""
    return err.phrased(lambda field: None)


def timeline_figure(view: RunView):
    """Audio, video, chat and combined score over the whole stream, highlights shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scores = view.scores
    minutes = (0.5 + np.arange(len(scores.combined))) * view.window_s / 60
    fig, ax = plt.subplots(figsize=(10, 3.2), dpi=100)
    for h in view.data["highlights"]:
        ax.axvspan(h["start"] / 60, h["end"] / 60, color="#f5c542", alpha=0.35, lw=0)
        ax.text(h["peak"] / 60, 1.0, str(h["rank"]), transform=ax.get_xaxis_transform(),
                ha="center", va="bottom", fontsize=8)
    for values, label, color in ((scores.audio, "audio", "#3b82f6"),
                                 (scores.video, "video", "#10b981"),
                                 (scores.chat, "chat", "#a855f7"),
                                 (scores.combined, "combined", "#111827")):
        if values is not None:
            ax.plot(minutes, values, label=label, color=color,
                    lw=1.6 if label == "combined" else 0.9)
    ax.set_xlabel("minutes into the stream")
    ax.set_ylabel("score")
    ax.legend(loc="upper right", fontsize=8, ncols=4)
    ax.margins(x=0)
    fig.tight_layout()
    plt.close(fig)
    return fig


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
                progress: gr.Progress = gr.Progress()):  # noqa: B008 - how Gradio injects it
        """Run the pipeline; returns the display values of `show` followed by the run lists
        of `lists` with the new run selected in both, so Review and History show it at once.
        Every setting left out keeps the base config's value (`client.predict(link,
        api_name="/analyze")` works). Gradio passes a live `progress` tracker only when the
        default is a `gr.Progress()`; called directly, the default does nothing."""
        chosen = upload or (source or "").strip()
        try:
            given = dict(top_n=(top_n, int), clip_length_s=(clip_length_s, float),
                         pre_roll_s=(pre_roll_s, float), min_gap_s=(min_gap_s, float),
                         chunk_duration_s=(chunk_duration_s, float),
                         frame_skip=(frame_skip, int), audio_weight=(audio_weight, float),
                         video_weight=(video_weight, float), make_clips=(make_clips, bool))
            config = self.config.replace(**{name: kind(value) for name, (value, kind)
                                            in given.items() if value is not None})
            self.cancel_event.clear()
            result = self.generator.run(chosen, config, lambda f, m: progress(f, desc=m),
                                        self.cancel_event)
        except Cancelled:
            raise gr.Error("cancelled - nothing was kept; press Analyse to start again "
                           "(analysed chunks are reused)") from None
        except KickClipError as err:
            raise gr.Error(user_text(err)) from None
        shown = self.show(result.run_dir, config)
        return (*shown, *self.lists(select=shown[-1]))

    def cancel(self) -> str:
        self.cancel_event.set()
        return "cancelling..."

    def run_dir(self, value: str) -> str:
        """A run folder named by the browser, only if it lies inside the output folder: the
        server must not read, re-cut or rate anything elsewhere on the machine."""
        base = Path(self.config.output_dir).resolve()
        path = Path(value or "").resolve()
        if not value or path == base or base not in path.parents:
            raise gr.Error(f"{value or 'nothing'} is not a run in {self.config.output_dir} - "
                           "pick one from the list")
        return str(path)

    def show(self, run_dir: str, config: Config | None = None):
        """A finished run's display values."""
        config = config or self.config
        try:
            run_dir = self.run_dir(run_dir)
            view = self.generator.view(run_dir, config)
        except KickClipError as err:
            raise gr.Error(user_text(err)) from None
        data = view.data
        gallery = [(h["clip_path"], f"#{h['rank']} {hms(h['start'])} ({h['kind']})")
                   for h in data["highlights"] if h.get("clip_path")]
        downloads = [str(Path(run_dir) / JSON_NAME)]
        if view.archive:
            downloads.append(str(view.archive))
        return (summary_markdown(data), highlight_rows(data), timeline_figure(view), gallery,
                downloads, run_dir)

    # Review, model, history -----------------------------------------------------------------

    def runs_on_disk(self) -> list[dict[str, Any]]:
        """The runs in the output folder now, newest first (read every time: runs appear
        while the server is up, and a page reload must show them)."""
        return self.generator.list_runs(self.config)

    def run_choices(self) -> list[tuple[str, str]]:
        return [(f"{Path(r['run_dir']).name} ({r['highlights']} clips)",
                 str(Path(r["run_dir"]).resolve())) for r in self.runs_on_disk()]

    def history(self) -> list[list[Any]]:
        return [[Path(r["run_dir"]).name, r["title"], r["created_at"], hms(r["duration_s"]),
                 r["highlights"]] for r in self.runs_on_disk()]

    def lists(self, review_run: str | None = None, pick: str | None = None,
              select: str | None = None):
        """(Review run list, History run list, History table) as they are on disk now. Each
        list keeps its selection while that run exists; `select` (a finished Analyse) or else
        the newest run is chosen otherwise."""
        choices = self.run_choices()
        values = [value for _, value in choices]

        def chosen(current: str | None) -> str | None:
            if select:
                return str(Path(select).resolve())
            if current and str(Path(current).resolve()) in values:
                return str(Path(current).resolve())
            return values[0] if values else None

        return (gr.update(choices=choices, value=chosen(review_run)),
                gr.update(choices=choices, value=chosen(pick)), self.history())

    def clip(self, run_dir: str, rank: float):
        """(video path, start, end, rating text, shown) of one clip for the Review tab;
        `shown` [run folder, rank] is what Rate and Re-cut may then act on."""
        try:
            run_dir = self.run_dir(run_dir)
            clip = self.generator.clip(run_dir, int(rank), self.config)
        except KickClipError as err:
            raise gr.Error(user_text(err)) from None
        h, rating = clip.highlight, clip.rating
        said = "not rated yet" if rating is None else f"rated {rating:.2f}"
        return (h.get("clip_path"), h["start"], h["end"],
                f"**{Path(run_dir).name}**, clip {int(rank)}: {said}", [run_dir, int(rank)])

    def shown_target(self, run_dir: str, rank: float, shown: list | None, action: str) -> str:
        """The run folder to act on, only if it and `rank` are the clip on screen: a run list
        that moved (a finished Analyse selects its run) or a new clip number must not make
        Rate teach the model the wrong moments."""
        run_dir = self.run_dir(run_dir)
        if not shown:
            raise gr.Error(f"no clip is shown - press Show clip to watch clip {int(rank)} of "
                           f"{Path(run_dir).name}, then {action} it")
        shown_dir, shown_rank = str(shown[0]), int(shown[1])
        if (shown_dir, shown_rank) != (run_dir, int(rank)):
            raise gr.Error(f"the player shows clip {shown_rank} of {Path(shown_dir).name}, "
                           f"not clip {int(rank)} of {Path(run_dir).name} - press Show clip "
                           f"to watch it, then {action} it")
        return run_dir

    def rate(self, run_dir: str, rank: float, verdict: str, stars: float,
             shown: list | None) -> str:
        """verdict: "keep", "skip" or "stars" (then `stars` 1-5 counts). Only the clip shown
        (`shown` from `clip`) is rated."""
        rating = {"keep": 1.0, "skip": 0.0}.get(verdict, (float(stars) - 1) / 4)
        run_dir = self.shown_target(run_dir, rank, shown, "rate")
        try:
            rated = self.generator.rate(run_dir, int(rank), rating, self.config)
        except KickClipError as err:
            raise gr.Error(user_text(err)) from None
        return (f"**{Path(run_dir).name}**, clip {int(rank)} rated {rating:.2f}; "
                f"{rated.ratings} ratings stored")

    def recut(self, run_dir: str, rank: float, start_s: float, end_s: float,
              shown: list | None):
        run_dir = self.shown_target(run_dir, rank, shown, "re-cut")
        try:
            h = self.generator.recut(run_dir, int(rank), float(start_s), float(end_s),
                                     self.config)
        except KickClipError as err:
            raise gr.Error(user_text(err)) from None
        return h.clip_path, f"clip {h.rank} re-cut: {hms(h.start)}-{hms(h.end)}"

    # Live ------------------------------------------------------------------------------------

    def live_start(self, source: str):
        """Start following a live channel (or live HLS URL) in the background; the Live tab's
        timer then shows its scores and clips as they come."""
        if self.live is not None and self.live.running:
            raise gr.Error("a live run is going - press Stop before starting another")
        source = (source or "").strip()
        if not source:
            raise gr.Error("no channel given - paste a Kick channel link (kick.com/<channel>)")
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
        cards = [(h.get("thumbnail_path") or h["clip_path"], f"#{h['rank']} {hms(h['start'])} - "
                  f"{', '.join(h['reasons']) or h['kind']}")
                 for h in _clipped(snap)]
        choices = [(f"#{h['rank']} at {hms(h['start'])} ({h['kind']})", h["clip_path"])
                   for h in _clipped(snap)]
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
            raise gr.Error("no clip chosen - pick one of the clips above first")
        if self.live is None or self.live.run_dir is None:
            raise gr.Error("no live run yet - press Start first")
        run_dir = self.run_dir(str(self.live.run_dir))
        try:
            rated = self.generator.rate_clip(run_dir, clip_path,
                                             1.0 if verdict == "keep" else 0.0, self.config)
        except KickClipError as err:
            raise gr.Error(user_text(err)) from None
        return (f"{Path(clip_path).name}: {'kept' if verdict == 'keep' else 'skipped'}; "
                f"{rated.ratings} ratings stored (the model refits as you rate)")

    def model_status(self):
        status = self.generator.model_status(self.config)
        trained = ", ".join(f"{m.modality} model trained {m.trained_at or 'never'}"
                            for m in status.models)
        text = (f"**{status.samples}** samples stored, **{status.ratings}** ratings. "
                f"{trained[:1].upper()}{trained[1:]}.")
        rows = sorted(((m.modality, f, round(v, 4)) for m in status.models
                       for f, v in m.importances.items()), key=lambda r: -r[2])
        return text, [list(r) for r in rows]

    def retrain(self):
        trained = self.generator.retrain(self.config)
        text, rows = self.model_status()
        return f"retrained ({', '.join(f'{k}: {v}' for k, v in trained.items())}). " + text, rows


def build_ui(generator: KickClipGenerator, config: Config) -> gr.Blocks:
    """The Blocks app; `launch` serves it."""
    ui = UI(generator, config)
    with gr.Blocks(title="Kick Clip Generator") as app:
        gr.Markdown("# Kick Clip Generator\nPaste a Kick link, an HLS/MP4 URL or a file path, "
                    "or upload a recording; the best moments come back as clips.")
        run_state = gr.State("")
        shown_clip = gr.State(None)  # [run folder, rank] in the Review player
        with gr.Tab("Analyse"):
            with gr.Row():
                source = gr.Textbox(label="Kick link, URL or file path", scale=3,
                                    placeholder="https://kick.com/xqc/videos/...")
                upload = gr.File(label="...or upload a recording", type="filepath", scale=2,
                                 file_types=["video", "audio"])
            with gr.Row():
                top_n = gr.Slider(1, 30, value=config.top_n, step=1, label="Highlights",
                                  info=field_help("top_n"))
                clip_length = gr.Slider(5, 120, value=config.clip_length_s, step=1,
                                        label="Clip length (s)")
                pre_roll = gr.Slider(0, 30, value=config.pre_roll_s, step=1,
                                     label="Pre-roll (s)", info=field_help("pre_roll_s"))
                min_gap = gr.Slider(0, 120, value=config.min_gap_s, step=1,
                                    label="Min gap (s)")
            with gr.Accordion("Advanced", open=False):
                with gr.Row():
                    chunk = gr.Slider(10, 120, value=config.chunk_duration_s, step=5,
                                      label="Chunk duration (s)")
                    frame_skip = gr.Slider(1, 30, value=config.frame_skip, step=1,
                                           label="Frame skip", info=field_help("frame_skip"))
                    audio_w = gr.Slider(0, 1, value=config.audio_weight, step=0.05,
                                        label="Audio weight")
                    video_w = gr.Slider(0, 1, value=config.video_weight, step=0.05,
                                        label="Video weight")
                    make_clips = gr.Checkbox(value=config.make_clips, label="Cut clips")
            with gr.Row():
                go = gr.Button("Analyse", variant="primary")
                stop = gr.Button("Cancel", variant="stop")
            summary = gr.Markdown()
            table = gr.Dataframe(headers=TABLE_HEADERS, label="Highlights", interactive=False,
                                 wrap=True)
            timeline = gr.Plot(label="Timeline")
            gallery = gr.Gallery(label="Clips", columns=4, height="auto")
            downloads = gr.File(label="Downloads", file_count="multiple", interactive=False)
        # Run lists start empty and are read from disk when the page loads, when their tab
        # is opened and after every Analyse: never the runs of the server's start.
        with gr.Tab("Review") as review_tab:
            with gr.Row():
                review_run = gr.Dropdown(label="Run", choices=[], value=None, scale=3,
                                         allow_custom_value=True)
                rank = gr.Number(label="Clip", value=1, precision=0, minimum=1, scale=1)
                load = gr.Button("Show clip", scale=1)
            player = gr.Video(label="Clip", interactive=False)
            rating_text = gr.Markdown()
            with gr.Row():
                verdict = gr.Radio(["keep", "skip", "stars"], value="keep", label="Verdict",
                                   info="keep / skip, or rate with the stars")
                stars = gr.Slider(1, 5, value=4, step=1, label="Stars")
                rate = gr.Button("Rate", variant="primary")
            with gr.Row():
                start = gr.Number(label="Start (s)")
                end = gr.Number(label="End (s)")
                recut = gr.Button("Re-cut this clip")
        with gr.Tab("Live"):
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
        with gr.Tab("Model"):
            model_text = gr.Markdown()
            importances = gr.Dataframe(headers=["model", "feature", "importance"],
                                       interactive=False)
            with gr.Row():
                refresh_model = gr.Button("Refresh")
                retrain = gr.Button("Retrain now")
        with gr.Tab("History") as history_tab:
            runs = gr.Dataframe(headers=RUN_HEADERS, interactive=False)
            with gr.Row():
                pick = gr.Dropdown(label="Run", choices=[], value=None, scale=3,
                                   allow_custom_value=True)
                reopen = gr.Button("Open", scale=1)
                refresh_runs = gr.Button("Refresh list", scale=1)

        shown = [summary, table, timeline, gallery, downloads, run_state]
        run_lists = [review_run, pick, runs]
        go.click(ui.analyze, [source, upload, top_n, clip_length, pre_roll, min_gap, chunk,
                              frame_skip, audio_w, video_w, make_clips],
                 shown + run_lists, api_name="analyze", concurrency_limit=1)
        stop.click(ui.cancel, None, summary, api_name="cancel", queue=False)
        load.click(ui.clip, [review_run, rank], [player, start, end, rating_text, shown_clip],
                   api_name="clip")
        rate.click(ui.rate, [review_run, rank, verdict, stars, shown_clip], rating_text,
                   api_name="rate")
        recut.click(ui.recut, [review_run, rank, start, end, shown_clip],
                    [player, rating_text], api_name="recut")
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
        retrain.click(ui.retrain, None, [model_text, importances], api_name="retrain")
        reopen.click(lambda run_dir: ui.show(run_dir), pick, shown, api_name="open_run")
        refresh_runs.click(ui.lists, [review_run, pick], run_lists, api_name="history")
        for tab in (review_tab, history_tab):
            tab.select(ui.lists, [review_run, pick], run_lists, api_name=False)
        app.load(ui.lists, [review_run, pick], run_lists, api_name="runs")
        app.load(ui.model_status, None, [model_text, importances], api_name=False)
    return app


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


def launch(config: Config | None = None, *, host: str = "127.0.0.1", port: int = 7860,
           share: bool = False, open_browser: bool = True, block: bool = True) -> gr.Blocks:
    """Serve the UI. Files are served only from the output folder. A bad or busy port raises
    `InputError` before anything is built."""
    check_port(host, port)
    config = config or Config.from_env()
    Path(config.output_dir).mkdir(parents=True, exist_ok=True)
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
