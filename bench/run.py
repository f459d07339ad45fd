"""Speed and memory benchmark: `python bench/run.py [--minutes 10]`.

Generates (once, cached in bench/cache/) a Kick-style HLS VOD (a 720p30 source rendition plus a
160p30 one, 10 s MPEG-TS segments, relative variant URIs) and the same stream as a local MP4,
serves the HLS on 127.0.0.1, runs the real CLI on each in a subprocess and prints one table:
wall time, x real time, the ffmpeg decode floor of the same input measured in the same run,
their ratio, peak RSS of the whole process tree, and bytes read. The floor is a plain decode;
the "plain decode" rows run the analysis without its decoder shortcuts (fast_decode off), so
the gain they bring is measured in the same run. The table is appended to bench/RESULTS.md
with the date and machine.

The "Kick VOD with chat" case serves the same HLS as a Kick VOD from the test Kick server
(tests/kick_server.py) with a busy chat (~3 messages a second, a burst after each planted
moment) and Kick's burst block (more than 5 requests in 3 s: 403 for a minute), and runs the
CLI on its link at Kick's real pace (1 chat page a second, the default chat budget).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import platform
import resource
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests"))  # the fake Kick

from procmem import run_measured  # noqa: E402

import demo_media  # noqa: E402
import media  # noqa: E402
from kick_server import LEGACY_VOD_ID, KickServer, make_chat  # noqa: E402
from timecode import kick_epoch_s  # noqa: E402

CACHE = HERE / "cache"
RENDITIONS = {  # name: (width, height, video bitrate, BANDWIDTH in the master)
    "720p30": (1280, 720, None, 3_400_000),
    "160p30": (284, 160, "200k", 230_000),
}


def events_for(minutes: float) -> list[demo_media.PlantedEvent]:
    """One planted event every ~2.5 minutes, kinds rotating."""
    kinds = ("both", "audio", "video")
    return [demo_media.PlantedEvent(t, t + 12, kinds[i % 3])
            for i, t in enumerate(range(60, int(minutes * 60) - 30, 150))]


def build_media(minutes: float, ffmpeg: str) -> tuple[Path, Path]:
    """(local MP4, HLS folder with master.m3u8), made once per length."""
    CACHE.mkdir(exist_ok=True)
    source = CACHE / f"source_{minutes:g}m.mp4"
    if not source.exists():
        print(f"generating a {minutes:g}-minute 720p30 stream (once) ...", file=sys.stderr)
        demo_media.make_stream(source, minutes * 60, events_for(minutes), width=1280,
                               height=720, fps=30, ffmpeg=ffmpeg)
    hls = CACHE / f"hls_{minutes:g}m"
    master = hls / "master.m3u8"
    if master.exists():
        return source, hls
    lines = ["#EXTM3U", "#EXT-X-VERSION:3"]
    for name, (width, height, bitrate, bandwidth) in RENDITIONS.items():
        out = hls / name
        out.mkdir(parents=True, exist_ok=True)
        codec = ["-c", "copy"] if bitrate is None else [
            "-vf", f"scale={width}:{height}", "-c:v", "libx264", "-preset", "veryfast",
            "-b:v", bitrate, "-maxrate", bitrate, "-bufsize", "400k", "-g", "60",
            "-c:a", "aac", "-b:a", "48k", "-ac", "1"]
        media.run_ffmpeg([ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-i", str(source),
                          *codec, "-f", "hls", "-hls_time", "10", "-hls_playlist_type", "vod",
                          "-hls_segment_filename", str(out / "%d.ts"),
                          str(out / "playlist.m3u8")], timeout_s=3600)
        lines += [f"#EXT-X-STREAM-INF:PROGRAM-ID=1,BANDWIDTH={bandwidth},"
                  f'RESOLUTION={width}x{height},CODECS="avc1.4D401F,mp4a.40.2",FRAME-RATE=30.000',
                  f"{name}/playlist.m3u8"]
    master.write_text("\n".join(lines) + "\n")
    return source, hls


class CountingHandler(http.server.SimpleHTTPRequestHandler):
    """Static files; counts bytes sent per first path segment below the served folder."""

    counts: Counter = Counter()

    def log_message(self, *args) -> None:
        pass

    def copyfile(self, source, outputfile) -> None:
        parts = self.path.lstrip("/").split("/")
        key = parts[1] if len(parts) > 2 else parts[0]
        while block := source.read(1 << 16):
            outputfile.write(block)
            CountingHandler.counts[key] += len(block)


def serve(folder: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(CountingHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.handle_error = lambda request, address: None  # ffmpeg hangs up early at times
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


PLAIN_ENV = {**os.environ, "KCG_FAST_DECODE": "0"}  # the analysis without decoder shortcuts


def decode_floor(ffmpeg: str, url: str) -> float:
    """Seconds for one ffmpeg to decode what the analysis decodes: mono 22050 Hz audio and
    160-px frames at fps/5 (the defaults), discarding the output. A plain decode (no decoder
    shortcuts, which `fast_decode` gives the analysis): the ratios are against this floor."""
    argv = [ffmpeg, "-hide_banner", "-loglevel", "error", *media.input_args(url),
            "-map", "0:a:0", "-ac", "1", "-ar", "22050", "-f", "null", "-",
            "-map", "0:v:0", "-vf", "fps=6,scale=160:-2,format=rgb24", "-f", "null", "-"]
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - start


def with_cpu(fn, *args):
    """(fn(*args), CPU seconds of the processes it ran and waited for, their children too):
    on a shared machine CPU time says more than wall time about how much work a run is."""
    def used() -> float:
        r = resource.getrusage(resource.RUSAGE_CHILDREN)
        return r.ru_utime + r.ru_stime

    before = used()
    value = fn(*args)
    return value, used() - before


def cpu_note(result: dict, cpu: float, floor: float, floor_cpu: float) -> str:
    return (f"CPU {cpu / floor_cpu:.2f}x the floor's {floor_cpu:.1f} s, analysis stage "
            f"{result['timings_s']['analysis'] / floor:.2f}x the floor")


def plain_row(name: str, run: tuple[dict, float, int], cpu: float, floor: float,
              floor_cpu: float, duration: float) -> tuple:
    result, wall, peak = run
    return (f"{name}, analysis, plain decode", wall, duration / wall, floor, wall / floor, peak,
            f"{cpu_note(result, cpu, floor, floor_cpu)}; fast_decode off")


def cli(args: list[str], work: Path, env: dict[str, str] | None = None
        ) -> tuple[dict, float, int]:
    """The CLI's JSON, wall s and peak RSS KB; `work` holds its output and models folders
    (a fresh one per analysis row, so each fits its model alike)."""
    argv = [sys.executable, str(ROOT / "main.py"), *args, "-q", "--json",
            "--output-dir", str(work / "out"), "--models-dir", str(work / "models")]
    done, wall, peak_kb, _ = run_measured(argv, env=env)
    if done.returncode != 0:
        raise SystemExit(f"bench: {' '.join(args)} failed:\n{done.stderr.decode()[-2000:]}")
    return json.loads(done.stdout), wall, peak_kb


def rerank_time(run_dir: str, work: Path) -> float:
    code = (f"import sys, time; sys.path.insert(0, {str(ROOT)!r})\n"
            "from config import Config\nfrom kick_clip_generator import KickClipGenerator\n"
            f"c = Config(models_dir={str(work / 'models')!r}, top_n=5, min_gap_s=30, "
            "audio_weight=0.8)\n"
            "g = KickClipGenerator(c)\nt = time.perf_counter()\n"
            f"r = g.rerank({run_dir!r}, c)\n"
            "print(time.perf_counter() - t, len(r.highlights))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout.split()
    return float(out[0])


CHAT_RATE_PER_S = 3.0
CHAT_LAG_S = 8.0  # the chat bursts this long after a planted moment begins


def kick_vod_with_chat(hls: Path, minutes: float, work: Path) -> tuple[tuple, dict]:
    """The HLS served as Kick's legacy VOD with a busy chat and the burst block, analysed
    through its kick.com link at Kick's pace: (table row, chat figures)."""
    duration = minutes * 60
    events = events_for(minutes)
    with KickServer(hls_dir=hls) as server:
        livestream = server.videos[LEGACY_VOD_ID]["livestream"]
        livestream["duration"] = int(duration * 1000)
        channel = int(livestream["channel_id"])
        server.chat[channel] = make_chat(
            kick_epoch_s(livestream["start_time"]), duration, channel_id=channel,
            rate_per_s=CHAT_RATE_PER_S, seed=18,
            bursts=tuple((e.start_s + CHAT_LAG_S, e.start_s + CHAT_LAG_S + 10,
                          4 * CHAT_RATE_PER_S) for e in events))
        server.chat_burst_requests, server.chat_burst_window_s = 5, 3.0
        server.chat_block_s = 60.0
        env = {**os.environ, **{name: server.base_url for name in
                                ("KICK_BASE_URL", "KICK_WEB_BASE_URL", "KICK_MOBILE_BASE_URL")}}
        result, wall, peak = cli([f"https://kick.com/xqc/videos/{LEGACY_VOD_ID}", "--no-clips",
                                  "--no-cache", "--top-n", str(max(10, len(events)))], work, env)
        requests = server.count(f"/api/v2/channels/{channel}/messages")
        blocks = server.chat_blocks
    timings = result["timings_s"]
    found = sum(any(h["start"] - 12 <= e.start_s <= h["end"] + 12
                    for h in result["chat_highlights"]) for e in events)
    chat = {"analysis_s": timings["analysis"], "wait_s": timings.get("chat_wait", 0.0),
            "requests": requests, "blocks": blocks, "found": found, "events": len(events),
            "mode": result["chat"].get("mode"), "reason": result["chat"].get("reason")}
    row = ("Kick VOD with chat, analysis only", wall, duration / wall, None, None, peak,
           f"analysis {chat['analysis_s']:.1f} s, then {chat['wait_s']:.1f} s for chat; "
           f"{requests} chat requests, {blocks} blocks")
    return row, chat


def chat_summary(chat: dict) -> str:
    return (f"Kick VOD with chat ({CHAT_RATE_PER_S:g} messages/s, a burst after each planted "
            f"moment, Kick's burst block): {chat['requests']} chat requests, "
            f"{chat['blocks']} blocks, {chat['wait_s']:.1f} s waited for chat after the "
            f"{chat['analysis_s']:.1f} s analysis, the chat-only list found "
            f"{chat['found']}/{chat['events']} planted moments"
            + (f" ({chat['reason']})" if chat["reason"] else "")
            + " - targets: <= 80 requests, <= 30 s wait, >= 80 % found")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--no-append", action="store_true", help="do not write RESULTS.md")
    parser.add_argument("--only", choices=["kick"],
                        help="run one case alone (kick: the Kick VOD with chat)")
    args = parser.parse_args()
    ffmpeg = media.find_ffmpeg()
    source, hls = build_media(args.minutes, ffmpeg)
    duration = args.minutes * 60
    work = CACHE / f"work_{os.getpid()}"
    if args.only == "kick":
        try:
            _, chat = kick_vod_with_chat(hls, args.minutes, work)
        finally:
            subprocess.run(["rm", "-rf", str(work)], check=False)
        print(chat_summary(chat))
        return
    server, base = serve(hls.parent)
    rows = []
    try:
        master = f"{base}/{hls.name}/master.m3u8"
        CountingHandler.counts.clear()
        (result, wall, peak), cpu = with_cpu(cli, [master, "--no-clips", "--no-cache"], work / "1")
        served = dict(CountingHandler.counts)
        floor, floor_cpu = with_cpu(decode_floor, ffmpeg,
                                    f"{base}/{hls.name}/160p30/playlist.m3u8")
        plain, plain_cpu = with_cpu(cli, [master, "--no-clips", "--no-cache"], work / "2",
                                    PLAIN_ENV)
        source_bytes = sum(p.stat().st_size for p in (hls / "720p30").glob("*.ts"))
        rows.append(("HLS VOD, analysis only", wall, duration / wall, floor, wall / floor,
                     peak, f"{cpu_note(result, cpu, floor, floor_cpu)}; "
                     f"{served.get('160p30', 0) / 1e6:.1f} MB of 160p, "
                     f"{served.get('720p30', 0) / 1e6:.1f} MB of 720p "
                     f"({served.get('160p30', 0) / source_bytes:.1%} of the source's "
                     f"{source_bytes / 1e6:.0f} MB)"))
        rows.append(plain_row("HLS VOD", plain, plain_cpu, floor, floor_cpu, duration))

        (result_local, wall, peak), cpu = with_cpu(cli, [str(source), "--no-clips",
                                                         "--no-cache"], work / "3")
        floor, floor_cpu = with_cpu(decode_floor, ffmpeg, str(source))
        plain, plain_cpu = with_cpu(cli, [str(source), "--no-clips", "--no-cache"], work / "4",
                                    PLAIN_ENV)
        rows.append(("local 720p30 MP4, analysis only", wall, duration / wall, floor,
                     wall / floor, peak, f"{cpu_note(result_local, cpu, floor, floor_cpu)}; "
                     f"{source.stat().st_size / 1e6:.0f} MB file"))
        rows.append(plain_row("local 720p30 MP4", plain, plain_cpu, floor, floor_cpu, duration))

        CountingHandler.counts.clear()
        clips, wall, peak = cli([master, "--top-n", "10", "--clip-length", "30",
                                 "--min-gap", "0"], work)
        n_clips = sum(1 for h in clips["highlights"] if h["clip_path"])
        rows.append((f"cut {n_clips} clips of 30 s from 720p", clips["timings_s"]["clips"],
                     None, None, None, peak,
                     f"{CountingHandler.counts.get('720p30', 0) / 1e6:.1f} MB of 720p read"))

        seconds = rerank_time(clips["run_dir"], work)
        rows.append(("re-rank a finished run", seconds, None, None, None, None, "no decoding"))

        row, chat = kick_vod_with_chat(hls, args.minutes, work)
        rows.append(row)
        found = sum(any(h["start"] <= e.start_s + 6 <= h["end"] for h in result["highlights"])
                    for e in events_for(args.minutes))
        found_local = sum(any(h["start"] <= e.start_s + 6 <= h["end"]
                              for h in result_local["highlights"])
                          for e in events_for(args.minutes))
    finally:
        server.shutdown()
        subprocess.run(["rm", "-rf", str(work)], check=False)

    table = [f"| case ({args.minutes:g}-minute stream) | wall s | x real time | decode floor s "
             "| ratio | peak RSS MB | bytes |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, wall, speed, floor, ratio, peak, note in rows:
        table.append(" | ".join([
            f"| {name}", f"{wall:.2f}", "-" if speed is None else f"{speed:.0f}x",
            "-" if floor is None else f"{floor:.2f}", "-" if ratio is None else f"{ratio:.2f}",
            "-" if peak is None else f"{peak / 1024:.0f}", note]) + " |")
    events = len(events_for(args.minutes))
    summary = (f"planted events found in the top {min(10, events)}: HLS {found}/{events}, "
               f"local {found_local}/{events}\n\n" + chat_summary(chat))
    text = "\n".join(table) + "\n\n" + summary
    print(text)
    if not args.no_append:
        machine = (f"{platform.machine()}, {os.cpu_count()} cores, "
                   f"Python {platform.python_version()}")
        with open(HERE / "RESULTS.md", "a", encoding="utf-8") as out:
            out.write(f"\n## {datetime.now():%Y-%m-%d %H:%M} - {machine}\n\n{text}\n")


if __name__ == "__main__":
    main()
