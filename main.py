"""Command line: `python main.py SOURCE`, `python main.py --demo`.

A thin adapter over `KickClipGenerator`: argparse (defaults and help from `Config`) in, one
engine call, a tqdm progress bar, a ranked table out. Errors become one line and an exit code:
0 done, 1 failed, 2 bad input or usage, 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
from collections.abc import Callable, Collection
from pathlib import Path

from config import ENV_ALIASES, ENV_PREFIX, VERSION, Config, field_help
from errors import ConfigError, KickClipError
from logsetup import setup_logging
from timecode import hms

logger = logging.getLogger("main")

# flag -> Config field; defaults and help come from Config so they cannot drift.
OPTIONS = {
    "--top-n": ("top_n", int),
    "--clip-length": ("clip_length_s", float),
    "--pre-roll": ("pre_roll_s", float),
    "--min-gap": ("min_gap_s", float),
    "--chunk-duration": ("chunk_duration_s", float),
    "--frame-skip": ("frame_skip", int),
    "--audio-weight": ("audio_weight", float),
    "--video-weight": ("video_weight", float),
    "--chat-weight": ("chat_weight", float),
    "--output-dir": ("output_dir", Path),
    "--models-dir": ("models_dir", Path),
    "--workers": ("workers", int),
    "--dask-scheduler": ("dask_scheduler", str),
    "--kick-token": ("kick_token", str),
    "--live-for": ("live_for_s", float),
    "--export": ("exports", str),
    "--layout": ("layout", str),
    "--facecam": ("facecam", str),
    "--captions-model": ("captions_model", str),
    "--vertical-encoder": ("vertical_encoder", str),
}


def build_parser() -> argparse.ArgumentParser:
    defaults = Config()
    parser = argparse.ArgumentParser(
        prog="main.py",
        description="Find the best moments of a stream and cut them into clips.",
        epilog="examples:\n  python main.py --demo\n  python main.py recording.mp4\n"
               "  python main.py https://host/vod/master.m3u8 --top-n 5 --no-clips\n"
               "  python main.py https://kick.com/xqc --live-for 3600   (live: clips as it "
               "goes)\n"
               "  python main.py rate output_clips/<run> 3 --keep   (teach the model)\n"
               "  python main.py export output_clips/<run> --export edl,chapters",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("source", nargs="?", help="video/audio file, HLS or MP4 URL, Kick link")
    parser.add_argument("--demo", action="store_true",
                        help="make a 3-minute sample stream with planted events and run on it")
    parser.add_argument("--resolve", action="store_true",
                        help="print what a Kick link resolves to, as JSON, and stop")
    ui = parser.add_argument_group("browser UI")
    ui.add_argument("--ui", action="store_true", help="open the browser UI instead")
    ui.add_argument("--host", default="127.0.0.1", help="UI address (default: 127.0.0.1)")
    ui.add_argument("--port", type=int, default=7860, help="UI port (default: 7860)")
    ui.add_argument("--share", action="store_true", help="also a public gradio.live link")
    for flag, (name, kind) in OPTIONS.items():
        parser.add_argument(flag, dest=name, type=kind, default=None, metavar=_metavar(name, kind),
                            help=f"{field_help(name)} (default: {getattr(defaults, name)})")
    parser.add_argument("--no-clips", dest="make_clips", action="store_false", default=None,
                        help="analysis and highlights.json only, no clip files")
    parser.add_argument("--fast", dest="fast_cut", action="store_true", default=None,
                        help=field_help("fast_cut"))
    parser.add_argument("--no-smart-cut", dest="smart_cut", action="store_false", default=None,
                        help="re-encode every clip whole instead of only up to its first "
                             "keyframe (slower; for players that reject the join)")
    parser.add_argument("--no-cache", dest="use_cache", action="store_false", default=None,
                        help="analyse every chunk again instead of reusing stored features")
    parser.add_argument("--no-chat", dest="use_chat", action="store_false", default=None,
                        help="do not fetch a Kick VOD's chat replay (fetched at one page of "
                             "~25 messages a second: minutes for a long VOD, once, then cached)")
    parser.add_argument("--chat", dest="chat_mode", choices=("sampled", "full"), default=None,
                        help="sampled (default): a chat-rate curve across the VOD and every "
                             "message around its top moments, within chat_budget_s of requests "
                             "while the analysis runs; full: every message (one page of ~25 a "
                             "second: minutes for a long VOD, once, then cached)")
    parser.add_argument("--wait", dest="live_wait", action="store_true", default=None,
                        help="an offline Kick channel is checked every 30-60 s until it goes "
                             "live, then followed")
    parser.add_argument("--vertical", dest="vertical", action="store_true", default=None,
                        help=field_help("vertical"))
    parser.add_argument("--captions", dest="captions", action="store_true", default=None,
                        help=field_help("captions") + " (needs requirements-captions.txt)")
    parser.add_argument("--json", action="store_true", help="print the result JSON to stdout")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar or table")
    parser.add_argument("--debug", action="store_true",
                        help="show tracebacks instead of one-line errors")
    parser.add_argument("--version", action="version", version=f"%(prog)s {VERSION}")
    return parser


SWITCHES = {"use_cache": "--no-cache", "use_chat": "--no-chat", "make_clips": "--no-clips",
            "smart_cut": "--no-smart-cut", "fast_cut": "--fast", "vertical": "--vertical",
            "captions": "--captions"}


def flag_of(field: str) -> str | None:
    """The flag that sets a `Config` field, if one does."""
    return SWITCHES.get(field) or next((f for f, (name, _) in OPTIONS.items() if name == field),
                                       None)


def error_line(err: KickClipError, flags_used: set[str]) -> str:
    """The one line a user sees. A bad setting names the flag (or environment variable) it
    came from and says to change it; advice about a setting names its flag."""
    text = err.phrased(flag_of)
    field = getattr(err, "field", None)
    if isinstance(err, ConfigError) and field and text.startswith(field):
        flag = next((f for f, (name, _) in OPTIONS.items() if name == field), None)
        if flag and field in flags_used:
            return f"error: {flag}{text[len(field):]} - change {flag}"
        env = ENV_ALIASES.get(field, ENV_PREFIX + field.upper())
        if os.environ.get(env, "").strip():
            return f"error: {env}{text[len(field):]} - fix or unset {env}"
    return f"error: {text}"


def _metavar(name: str, kind: type) -> str:
    special = {"dask_scheduler": "ADDRESS", "kick_token": "TOKEN", "exports": "KINDS",
               "facecam": "X,Y,W,H", "layout": "split|fit|crop", "captions_model": "NAME|DIR",
               "vertical_encoder": "auto|libx264|h264_nvenc|h264_qsv|h264_amf|h264_videotoolbox"}
    if name in special:
        return special[name]
    if name.endswith("_s"):
        return "SECONDS"
    return {int: "N", float: "W", Path: "DIR"}.get(kind, "VALUE")


class TqdmProgress:
    """Adapts the engine's `(fraction, message)` callback to a tqdm bar with ETA."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bar = None

    def __call__(self, fraction: float, message: str) -> None:
        if self.bar is None and self.enabled and fraction > 0:
            from tqdm import tqdm

            self.bar = tqdm(total=1000, bar_format="{desc:<28.28} {percentage:3.0f}%|{bar}| "
                            "{elapsed}<{remaining}", file=sys.stderr, leave=False)
        if self.bar is not None:
            self.bar.set_description_str(message, refresh=False)
            self.bar.update(max(0, int(fraction * 1000) - self.bar.n))

    def write(self, line: str, file=None) -> None:
        """Print a line without tearing the bar."""
        file = file or sys.stdout
        if self.bar is not None:
            self.bar.write(line, file=file)
        else:
            print(line, file=file, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def format_table(result: dict) -> str:
    """The ranked highlights as a plain-text table."""
    rows = [f"{'#':>2}  {'start':>8}  {'end':>8}  {'score':>6}  {'kind':<5}  why"]
    for h in result["highlights"]:
        rows.append(f"{h['rank']:>2}  {hms(h['start']):>8}  {hms(h['end']):>8}  "
                    f"{h['score']:>6.2f}  {h['kind']:<5}  {', '.join(h['reasons']) or '-'}")
    return "\n".join(rows)


def clip_line(h) -> str:
    """The line a live run prints as a clip lands (`h` a Highlight)."""
    where = f" -> {Path(h.clip_path).name}" if h.clip_path else ""
    return (f"clip at {hms(h.start)}-{hms(h.end)}  score {h.score:.2f}  {h.kind}: "
            f"{', '.join(h.reasons) or '-'}{where}")


def summary(result: dict) -> str:
    lines = [f"{result['title']} ({hms(result['duration_s'])})", format_table(result)]
    if result.get("kick"):  # files and URLs have no chat to speak of
        lines.append(chat_line(result.get("chat") or {}))
    for item in result["skipped_chunks"]:
        lines.append(f"skipped {hms(item['start'])}-{hms(item['end'])}: {item['reason']}")
    for item in result["failed_clips"]:
        lines.append(f"clip {item['rank']} failed: {item['reason']}")
    lines += [f"note: {n}" for n in result["notes"]]
    if result.get("live"):
        live = result["live"]
        lines.append(f"live: {live['state']} after {hms(live['covered_s'])} "
                     f"({live.get('reason') or 'no reason given'})")
    if result.get("run_dir"):
        lines.append(f"written to {result['run_dir']}")
    return "\n".join(lines)


def chat_line(chat: dict) -> str:
    """Whether chat took part in the ranking, in one line."""
    if not chat.get("available"):
        return f"chat: not used ({chat.get('reason') or 'unavailable'})"
    how = "estimated" if chat.get("lag_estimated") else "default"
    line = (f"chat: {chat['messages']} messages, reaction lag {chat['lag_s']:.1f} s ({how})")
    if chat.get("mode") == "sampled":
        line += f", sampled with {chat.get('requests', 0)} requests"
    if chat.get("reason"):
        line += f", partial: {chat['reason']}"
    return line


def demo_source(config: Config) -> str:
    """The demo's sample stream, made once and kept beside the runs."""
    import demo_media

    path = Path(config.output_dir) / "demo_source.mp4"
    if not path.exists():
        logger.info("making the demo stream %s", path)
        print("making a 3-minute sample stream (once) ...", file=sys.stderr)
        demo_media.make_stream(path, 180.0, demo_media.DEMO_EVENTS)
    return str(path)


def rate_main(argv: list[str]) -> int:
    """`main.py rate RUN_DIR CLIP_NO --keep|--skip|--stars N`: store a rating, retrain."""
    parser = argparse.ArgumentParser(
        prog="main.py rate", description="Rate a clip so the model learns what you like.")
    parser.add_argument("run_dir", help="a run folder under output_clips/")
    parser.add_argument("clip", type=int, help="the clip's rank (clip_03_... is 3)")
    verdict = parser.add_mutually_exclusive_group(required=True)
    verdict.add_argument("--keep", action="store_const", const=1.0, dest="rating")
    verdict.add_argument("--skip", action="store_const", const=0.0, dest="rating")
    verdict.add_argument("--stars", type=int, choices=range(1, 6), metavar="1-5")
    parser.add_argument("--models-dir", type=Path, default=None, help=field_help("models_dir"))

    def rate(args: argparse.Namespace) -> int:
        from kick_clip_generator import KickClipGenerator

        rating = args.rating if args.stars is None else (args.stars - 1) / 4
        config = Config.from_env(models_dir=args.models_dir)
        rated = KickClipGenerator(config).rate(args.run_dir, args.clip, rating, config)
        learnt = (f"model retrained on {max(rated.trained.values())} samples" if rated.trained
                  else "the model had nothing new to learn")
        print(f"rated clip {args.clip}: {rating:.2f} ({rated.ratings} ratings stored); {learnt}")
        return 0

    return _subcommand(parser, argv, rate)


def export_main(argv: list[str]) -> int:
    """`main.py export RUN_DIR [--export KINDS]`: write a finished run's files for editors
    (again) into RUN_DIR/exports/."""
    parser = argparse.ArgumentParser(
        prog="main.py export",
        description="Write a run's timelines, markers, chapters and CSVs for editors.")
    parser.add_argument("run_dir", help="a run folder under output_clips/")
    parser.add_argument("--export", dest="exports", default="all", metavar="KINDS",
                        help=field_help("exports") + " (default: all)")
    parser.add_argument("--models-dir", type=Path, default=None, help=field_help("models_dir"))

    def export(args: argparse.Namespace) -> int:
        from kick_clip_generator import KickClipGenerator

        config = Config.from_env(models_dir=args.models_dir, exports=args.exports)
        done = KickClipGenerator(config).export(args.run_dir, config.exports, config)
        for note in done.notes:
            print(f"note: {note}")
        print(f"{len(done.files)} file(s) written to {done.folder} ({done.rate})")
        return 1 if done.failed else 0

    return _subcommand(parser, argv, export, {"exports"})


def shorts_main(argv: list[str]) -> int:
    """`main.py shorts RUN_DIR [--facecam X,Y,W,H] [--layout L]`: render a finished run's 9:16
    clips again (a corrected webcam box, another layout); nothing else is redone."""
    parser = argparse.ArgumentParser(
        prog="main.py shorts", description="Render a run's 9:16 clips again.")
    parser.add_argument("run_dir", help="a run folder under output_clips/")
    parser.add_argument("--facecam", metavar="X,Y,W,H", default=None,
                        help="the webcam's box in source pixels (default: the run's)")
    parser.add_argument("--layout", default=None, help=field_help("layout"))

    def reshort(args: argparse.Namespace) -> int:
        from kick_clip_generator import KickClipGenerator

        config = Config.from_env(layout=args.layout)
        data = KickClipGenerator(config).reshort(args.run_dir, args.facecam, config)
        made = [h for h in data["highlights"] if h.get("vertical_path")]
        print(f"{len(made)} 9:16 clip(s) rendered again, webcam "
              f"{data.get('facecam') or 'none'}")
        return 0

    return _subcommand(parser, argv, reshort, {"layout"})


def _subcommand(parser: argparse.ArgumentParser, argv: list[str],
                act: Callable[[argparse.Namespace], int], fields: Collection[str] = ()) -> int:
    """A subcommand's frame: `--debug`, quiet logging, and a KickClipError from `act` as one
    line with its exit code (naming the flag of one of `fields` when the user gave it)."""
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args(argv)
    setup_logging(0, False)
    try:
        return act(args)
    except KickClipError as err:
        if args.debug:
            raise
        given = {f for f in fields if getattr(args, f, None) is not None}
        print(error_line(err, given), file=sys.stderr)
        return err.exit_code


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "rate":
        return rate_main(argv[1:])
    if argv and argv[0] == "export":
        return export_main(argv[1:])
    if argv and argv[0] == "shorts":
        return shorts_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.verbose, args.quiet or args.json,
                  secrets=[args.kick_token or "", os.environ.get("KICK_TOKEN", "")])
    if args.ui:
        import gradio_interface

        overrides = {name: getattr(args, name) for name, _ in OPTIONS.values()}
        try:
            config = Config.from_env(**overrides)
            gradio_interface.launch(config, host=args.host, port=args.port, share=args.share)
        except KickClipError as err:
            if args.debug:
                raise
            print(error_line(err, {k for k, v in overrides.items() if v is not None}),
                  file=sys.stderr)
            return err.exit_code
        return 0
    if not args.demo and args.source is None:
        parser.print_usage(sys.stderr)
        print("error: give a SOURCE (file, URL or Kick link) or --demo", file=sys.stderr)
        return 2
    overrides = {name: getattr(args, name) for name, _ in OPTIONS.values()}
    overrides.update(make_clips=args.make_clips, fast_cut=args.fast_cut,
                     smart_cut=args.smart_cut, use_cache=args.use_cache,
                     use_chat=args.use_chat, live_wait=args.live_wait,
                     chat_mode=args.chat_mode, vertical=args.vertical,
                     captions=args.captions)
    progress = None
    cancel = threading.Event()
    try:
        from kick_clip_generator import KickClipGenerator

        config = Config.from_env(**overrides)
        generator = KickClipGenerator(config)
        if args.resolve:
            print(json.dumps(generator.describe(args.source or "", config), indent=2,
                             ensure_ascii=False))
            return 0
        source = demo_source(config) if args.demo else args.source
        progress = TqdmProgress(enabled=not (args.quiet or args.json))
        bar = progress

        def on_clip(h) -> None:  # live runs: a line per clip as it lands
            if not args.quiet:
                bar.write(clip_line(h), sys.stderr if args.json else sys.stdout)

        # A live run ends on Ctrl-C by itself and returns what it clipped (exit 0).
        result = generator.run(source, config, progress, cancel,
                                               on_clip).to_dict()
    except KickClipError as err:
        if progress:
            progress.close()
        if args.debug:
            raise
        print(error_line(err, {k for k, v in overrides.items() if v is not None}),
              file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        cancel.set()
        if progress:
            progress.close()
        print("interrupted - no half-written clip or folder was kept; run the same command "
              "again to resume (analysed chunks and fetched chat are kept in the cache)",
              file=sys.stderr)
        return 130
    progress.close()
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    elif not args.quiet:
        print(summary(result))
        if args.demo:
            print("demo: planted events at 0:40-0:52 (audio+video), 1:35-1:45 (audio), "
                  "2:20-2:30 (video)")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    sys.exit(main())
