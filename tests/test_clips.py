"""Clip cutting: the smart cut's pure builders, and real cuts checked frame by frame.

The integration tests cut from a small H.264 source whose every frame differs (testsrc2),
with keyframes only every 2 s and B-frames (the hard case for joining), and noise for audio
(so its alignment can be measured by correlation)."""

import dataclasses
import functools
import http.server
import re
import shutil
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest

import clip_cutter
import media
from errors import Cancelled

FPS = 30
GOP_S = 2.0  # keyframes at 0, 2, 4, 6 s
SOURCE_S = 8.0
W, H = 160, 90
RATE_HZ = 48000

TS_FRAMECRC = """#extradata 0:       39, 0xa4c508d5
#software: Lavf63.1.102
#tb 0: 1/90000
#media_type 0: video
#codec_id 0: h264
#dimensions 0: 640x360
#sar 0: 1/1
0,     126000,     132000,     3000,     8163, 0xd6615c29, S=1, MPEGTS Stream ID,     1, 0xe0
0,     129000,     141000,     3000,     4073, 0x643ed4aa, F=0x0, S=1, MPEGTS Stream ID,        1
0,     132000,     135000,     3000,     2471, 0xa615b0cc, F=0x0
0,     135000,     138000,     3000,     2471, 0xa615b0cd, F=0x0
0,     138000,     144000,     3000,     9000, 0xa615b0ce
0, -9223372036854775808, -9223372036854775808, 3000, 10, 0x0, F=0x0
"""
TS_STDERR = """Input #0, mpegts, from 'rec.ts':
  Duration: 00:00:20.02, start: 1.445333, bitrate: 922 kb/s
  Stream #0:0[0x100]: Video: h264 (High) ([27][0][0][0] / 0x001B), yuv420p, 640x360, 30 fps
  Stream #0:1[0x101](und): Audio: aac (LC) ([15][0][0][0] / 0x000F), 48000 Hz, mono, fltp
Output #0, framecrc, to 'pipe:':
  Stream #0:0: Video: h264 (High)
"""


# --- pure: scan parsing, planning, argv ---------------------------------------------------

def scan_of(keys: list[float], n_frames: int, start: float = 0.0, reorder: int = 2,
            codec: str = "h264", first: float = 0.0) -> clip_cutter.PacketScan:
    """A PacketScan of `n_frames` frames at 30 fps from `first`, keyframes at `keys`."""
    step = 1 / FPS
    packets = tuple(clip_cutter.VideoPacket(start + first + i * step,
                                      start + first + (i - reorder) * step,
                                      any(abs(first + i * step - k) < 1e-6 for k in keys))
                    for i in range(n_frames))
    return clip_cutter.PacketScan(codec, start, True, packets)


def plan_for(scan: clip_cutter.PacketScan, start_s: float,
             duration_s: float) -> clip_cutter.SmartCutPlan:
    span = clip_cutter.locate_clip(scan, start_s, duration_s, start_s)
    return clip_cutter.plan_smart_cut(scan, span)


def test_keyframe_scan_argv_lists_packets_without_decoding():
    argv = clip_cutter.keyframe_scan_argv("ffmpeg", "https://h/v.m3u8", 12.5, 10.0)
    i = argv.index("-i")
    assert "-copyts" in argv and argv.index("-copyts") < i  # timestamps on the input's clock
    assert argv[argv.index("-ss") + 1] == "12.500" and argv.index("-ss") < i
    assert argv[argv.index("-t") + 1] == "10.000" and argv.index("-t") < i
    assert argv[argv.index("-c") + 1] == "copy" and argv[-3:] == ["-f", "framecrc", "-"]
    assert "-protocol_whitelist" in argv  # URLs keep the whitelist and timeouts


def test_parse_keyframe_scan_reads_packets_flags_clock_and_streams():
    scan = clip_cutter.parse_keyframe_scan(TS_FRAMECRC, TS_STDERR)
    assert scan.codec == "h264" and scan.has_audio
    assert scan.start_time_s == pytest.approx(1.445333)
    assert [p.key for p in scan.packets] == [True, False, False, False, True]  # NOPTS dropped
    assert scan.packets[0].pts_s == pytest.approx(132000 / 90000)
    assert scan.packets[0].dts_s == pytest.approx(126000 / 90000)
    no_audio = clip_cutter.parse_keyframe_scan(TS_FRAMECRC,
                                               TS_STDERR.replace("Audio: aac", "Data:"))
    assert not no_audio.has_audio


def test_plan_splits_at_the_first_keyframe_after_the_start():
    scan = scan_of([0.0, 2.0, 4.0], 130)
    plan = plan_for(scan, 3.3, 5.0)
    assert plan.span.first_at_s == pytest.approx(3.3)
    assert plan.keyframe_at_s == pytest.approx(4.0)
    assert plan.head_frames == 21 and plan.head_s == pytest.approx(0.7)
    assert plan.reorder_frames == 2 and plan.span.frame_s == pytest.approx(1 / 30)
    assert plan.span.end_at_s == pytest.approx(8.3)
    assert plan.span.duration_s == pytest.approx(5.0)
    assert plan.span.seek_s == pytest.approx(3.3 - 1 / 60)  # ffmpeg's own cut stays clear
    # a start between two frames begins at the next frame, as ffmpeg's exact seek does ...
    assert plan_for(scan, 3.31, 5.0).span.first_at_s == pytest.approx(3.3333, abs=1e-3)
    # ... unless it lies within a millisecond of the frame before (a start typed to the ms)
    late = plan_for(scan, 3.3336, 5.0).span
    assert late.first_at_s == pytest.approx(3.3333, abs=1e-3) and late.seek_s < 3.3333


def test_plan_uses_the_input_clock_and_needs_no_head_on_a_keyframe():
    scan = scan_of([0.0, 2.0, 4.0], 130, start=1.4)  # MPEG-TS: the clock starts at 1.4 s
    plan = plan_for(scan, 2.0, 3.0)
    assert plan.head_frames == 0 and plan.keyframe_at_s == pytest.approx(3.4)
    assert plan.span.clock_s == pytest.approx(1.4)
    assert plan.span.end_at_s == pytest.approx(6.4)


@pytest.mark.parametrize("scan, start, why", [
    (scan_of([0.0, 2.0], 90, codec="mpeg4"), 0.5, "mpeg4 video"),
    (scan_of([0.0], 150), 0.5, "no keyframe"),  # the next keyframe is past the clip
    (scan_of([2.0, 4.0], 90, first=2.0), 1.0, "before the start"),  # the seek landed late
    (scan_of([0.0, 2.0], 90, reorder=3), 0.5, "reorders 3 frames"),
])
def test_plan_refuses_what_it_cannot_join(scan, start, why):
    with pytest.raises(clip_cutter.NoSmartCut, match=why):
        plan_for(scan, start, 1.0 if "no keyframe" in why else 3.0)


def test_seek_landed_late_compares_the_first_keyframe_with_the_start():
    assert clip_cutter.seek_landed_late(scan_of([2.0], 30, first=2.0), 1.0)
    assert not clip_cutter.seek_landed_late(scan_of([0.0, 2.0], 90), 1.0)
    assert not clip_cutter.seek_landed_late(scan_of([2.0], 30, start=1.4, first=2.0), 2.0)


def test_smart_pieces_argv_reencodes_the_head_and_copies_the_tail():
    plan = plan_for(scan_of([0.0, 2.0, 4.0], 130), 3.3, 5.0)
    argv = clip_cutter.smart_pieces_argv("ffmpeg", "/v/a.mp4", plan, head="h.ts", tail="t.ts",
                                   audio="a.m4a", thumbnail=(6.0, "p.jpg"), preset="veryfast")
    first_out = argv.index("-map")
    assert "-copyts" in argv[:first_out] and argv.count("-i") == 2  # source + thumbnail
    assert argv[argv.index("-t") + 1] == f"{5.0 + 1 / 60:.6f}"  # up to the clip's end only
    head = argv[first_out:argv.index("h.ts") + 1]
    vf = head[head.index("-vf") + 1]
    half = 1 / 60  # midway between frames: no rounding can move a frame across
    assert vf == (f"trim=start={3.3 - half:.6f}:end={4.0 - half:.6f},setpts=PTS-STARTPTS")
    assert head[head.index("-c:v") + 1] == "libx264" and "veryfast" in head
    assert head[head.index("-bf") + 1] == "2" and head[-3:] == ["-f", "mpegts", "h.ts"]
    tail = argv[argv.index("h.ts") + 1:argv.index("t.ts") + 1]
    assert tail[tail.index("-c:v") + 1] == "copy" and "libx264" not in tail
    assert tail[tail.index("-bsf:v") + 1] == f"noise=drop=lt(pts*tb\\,{4.0 - half:.6f})"
    audio = argv[argv.index("t.ts") + 1:argv.index("a.m4a") + 1]
    assert audio[audio.index("-af") + 1].startswith("atrim=start=3.300000:end=8.300000,")
    assert audio[audio.index("-c:a") + 1] == "aac" and "-vn" in audio
    assert argv[argv.index("a.m4a") + 1:argv.index("a.m4a") + 3] == ["-map", "1:v:0"]
    assert argv[-1] == "p.jpg"


def test_smart_pieces_argv_leaves_out_an_empty_head_and_missing_audio():
    plan = plan_for(scan_of([0.0, 2.0, 4.0], 130), 2.0, 3.0)
    argv = clip_cutter.smart_pieces_argv("ffmpeg", "/v/a.mp4", plan, head="h.ts", tail="t.ts",
                                   audio=None)
    assert "h.ts" not in argv and "libx264" not in argv and "-af" not in argv
    assert argv[-1] == "t.ts" and argv.count("-i") == 1


def test_join_argv_and_concat_list_copy_everything():
    argv = clip_cutter.join_argv("ffmpeg", "/w/join.ffconcat", "/w/a.m4a", "/o/.c.part.mp4",
                           concat=True)
    i = argv.index("-i")
    assert argv[i - 4:i] == ["-f", "concat", "-safe", "0"] and argv[i + 1] == "/w/join.ffconcat"
    assert argv[argv.index("-c") + 1] == "copy" and "+faststart" in argv
    assert "0:v:0" in argv and "1:a:0" in argv and argv[-1] == "/o/.c.part.mp4"
    tail_only = clip_cutter.join_argv("ffmpeg", "/w/t.ts", None, "/o/c.mp4", concat=False)
    assert "concat" not in tail_only and "1:a:0" not in tail_only
    text = clip_cutter.concat_list_text("head.ts", 0.7, "tail.ts")
    assert text.splitlines() == ["ffconcat version 1.0", "file 'head.ts'", "duration 0.700000",
                                 "file 'tail.ts'"]


def test_clip_argv_with_a_span_picks_frames_and_samples_by_their_timestamps():
    # an MPEG-TS input: clock at 1.4 s, seeked 4 s early because its seek lands late
    span = clip_cutter.ClipSpan(seek_s=8.5, clock_s=1.4, first_at_s=13.9, end_at_s=43.9,
                          frame_s=1 / 30)
    argv = clip_cutter.clip_argv("ffmpeg", "/v/rec.ts", 12.5, 30, "/o/c.mp4", span=span)
    i = argv.index("-i")
    assert "-copyts" in argv[:i] and argv[argv.index("-ss") + 1] == "8.500000"
    assert argv[argv.index("-t") + 1] == "34.000000" and argv.index("-t") < i
    assert argv.count("-ss") == 1 and argv.count("-t") == 1  # no output-side cuts
    half = 1 / 60
    assert argv[argv.index("-vf") + 1] == (f"trim=start={13.9 - half:.6f}:end={43.9 - half:.6f}"
                                           ",setpts=PTS-STARTPTS")
    assert argv[argv.index("-af") + 1] == "atrim=start=13.900000:end=43.900000,asetpts=PTS-STARTPTS"
    assert "libx264" in argv and "aac" in argv and argv[-1] == "/o/c.mp4"
    silent = clip_cutter.clip_argv("ffmpeg", "/v/rec.ts", 12.5, 30, "/o/c.mp4", span=span,
                             has_audio=False)
    assert "-af" not in silent and "0:a:0" not in silent
    fast = clip_cutter.clip_argv("ffmpeg", "/v/rec.ts", 12.5, 30, "/o/c.mp4", span=span, fast=True)
    assert "-copyts" not in fast and fast[fast.index("-c") + 1] == "copy"


# --- real cuts ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def clip_media(tmp_path_factory, ffmpeg) -> Path:
    """src.mp4 (H.264 with B-frames), src.ts (the same as an MPEG-TS recording, clock at
    1.4 s), src_mpeg4.mp4, and hls/ (the same H.264, 2 s segments)."""
    root = tmp_path_factory.mktemp("clip_media")
    media.run_ffmpeg([
        ffmpeg, "-hide_banner", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", f"testsrc2=s={W}x{H}:r={FPS}:d={SOURCE_S}",
        "-f", "lavfi", "-i", f"anoisesrc=d={SOURCE_S}:c=pink:r={RATE_HZ}:a=0.3:seed=7",
        "-c:v", "libx264", "-preset", "veryfast", "-g", str(int(GOP_S * FPS)),
        "-keyint_min", str(int(GOP_S * FPS)), "-sc_threshold", "0", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart", str(root / "src.mp4")])
    media.run_ffmpeg([ffmpeg, "-loglevel", "error", "-y", "-i", str(root / "src.mp4"),
                      "-c", "copy", "-f", "mpegts", str(root / "src.ts")])
    media.run_ffmpeg([ffmpeg, "-loglevel", "error", "-y", "-i", str(root / "src.mp4"),
                      "-c:v", "mpeg4", "-q:v", "3", "-c:a", "copy", str(root / "src_mpeg4.mp4")])
    (root / "hls").mkdir()
    media.run_ffmpeg([ffmpeg, "-loglevel", "error", "-y", "-i", str(root / "src.mp4"),
                      "-c", "copy", "-f", "hls", "-hls_time", "2", "-hls_playlist_type", "vod",
                      str(root / "hls" / "index.m3u8")])
    return root


@pytest.fixture(scope="module")
def reference(clip_media, ffmpeg) -> tuple[np.ndarray, np.ndarray]:
    """Every frame (grey, int16) and every audio sample of the H.264 source."""
    return frames(ffmpeg, clip_media / "src.mp4"), samples(ffmpeg, clip_media / "src.mp4")


@pytest.fixture(scope="module")
def hls_url(clip_media):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(clip_media))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.handle_error = lambda *args: None  # ffmpeg hangs up early at times
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hls/index.m3u8"
    server.shutdown()
    server.server_close()


def frames(ffmpeg: str, path: Path) -> np.ndarray:
    out = subprocess.run([ffmpeg, "-v", "error", "-i", str(path), "-map", "0:v:0",
                          "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "gray", "-"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(out, np.uint8).reshape(-1, H, W).astype(np.int16)


def samples(ffmpeg: str, path: Path) -> np.ndarray:
    out = subprocess.run([ffmpeg, "-v", "error", "-i", str(path), "-map", "0:a:0", "-ac", "1",
                          "-ar", str(RATE_HZ), "-f", "f32le", "-"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(out, np.float32)


def decode_errors(ffmpeg: str, path: Path) -> str:
    return subprocess.run([ffmpeg, "-v", "error", "-i", str(path), "-f", "null", "-"],
                          capture_output=True, text=True).stderr


def first_video_pts(ffmpeg: str, path: Path) -> float:
    err = subprocess.run([ffmpeg, "-hide_banner", "-i", str(path), "-map", "0:v:0", "-vf",
                          "showinfo", "-frames:v", "1", "-f", "null", "-"],
                         capture_output=True, text=True).stderr
    return float(re.search(r"pts_time:(-?[\d.]+)", err).group(1))


def audio_offset_ms(clip_audio: np.ndarray, source_audio: np.ndarray, start_s: float) -> float:
    """Where the clip's audio sits against the source's, in ms (0: exactly at start_s)."""
    piece = clip_audio[4800:14400]  # 0.1-0.3 s in: clear of the encoder's start-up
    at = int(start_s * RATE_HZ) + 4800
    lags = range(-960, 961)  # +-20 ms
    scores = [np.dot(piece, source_audio[at + lag:at + lag + len(piece)]) for lag in lags]
    return lags[int(np.argmax(scores))] / RATE_HZ * 1000


def check_clip(ffmpeg: str, clip: Path, reference, start_s: float, duration_s: float,
               copied_from_s: float | None, tolerance_s: float = 0.1) -> None:
    """The clip starts on the source's frame at `start_s`, lasts `duration_s`, has audio in
    step with the video, decodes cleanly and, from `copied_from_s` on, holds the source's
    own frames bit for bit. (A copied tail ends where the source's decode order allows: up
    to 3 B-frames past the end, 0.1 s at 30 fps.)"""
    ref_frames, ref_audio = reference
    got = frames(ffmpeg, clip)
    first = round(start_s * FPS)
    diff = [np.abs(got[0] - ref_frames[i]).mean() for i in range(len(ref_frames))]
    assert int(np.argmin(diff)) == first and diff[first] < 2.0
    for snap in (int(start_s // GOP_S * GOP_S * FPS), int(-(-start_s // GOP_S) * GOP_S * FPS)):
        if snap != first:  # what a keyframe-snapping cut would have started with
            assert diff[snap] > 5 * diff[first] + 5
    info = media.probe_media(ffmpeg, str(clip))
    assert info.duration_s == pytest.approx(duration_s, abs=tolerance_s)
    assert info.has_audio and info.has_video
    assert len(got) == pytest.approx(duration_s * FPS, abs=3)
    assert abs(audio_offset_ms(samples(ffmpeg, clip), ref_audio, start_s)) <= 1.0
    assert decode_errors(ffmpeg, clip) == ""
    assert first_video_pts(ffmpeg, clip) == 0.0  # the audio's 0 is the first frame's time
    if copied_from_s is not None:
        k = round((copied_from_s - start_s) * FPS)
        n = min(len(got), round(duration_s * FPS))  # (up to 2 B-frames more may follow)
        assert all(np.array_equal(got[i], ref_frames[first + i]) for i in range(k, n))
        assert not np.array_equal(got[0], ref_frames[first])  # the head was re-encoded


def cut(ffmpeg, source, start_s, duration_s, tmp_path, **kw) -> clip_cutter.CutResult:
    return clip_cutter.cut_clip(ffmpeg, str(source), start_s, duration_s,
                                tmp_path / "out" / "c.mp4", work_dir=tmp_path / "temp", **kw)


@pytest.fixture
def out_dir(tmp_path) -> Path:
    (tmp_path / "out").mkdir()
    return tmp_path


def assert_nothing_left(tmp_path: Path, keep: set[str]) -> None:
    assert {p.name for p in (tmp_path / "out").iterdir()} == keep
    assert not (tmp_path / "temp").exists() or list((tmp_path / "temp").iterdir()) == []


@pytest.mark.slow  # a real smart cut
def test_smart_cut_is_frame_accurate_and_copies_from_the_keyframe(ffmpeg, clip_media,
                                                                  reference, out_dir):
    made = cut(ffmpeg, clip_media / "src.mp4", 3.3, 3.0, out_dir,
               thumbnail=(4.5, out_dir / "out" / "c.jpg"))
    assert made.method == "smart" and made.note == ""
    check_clip(ffmpeg, made.path, reference, 3.3, 3.0, copied_from_s=4.0)
    assert made.thumbnail == out_dir / "out" / "c.jpg" and made.thumbnail.stat().st_size > 500
    assert_nothing_left(out_dir, {"c.mp4", "c.jpg"})


@pytest.mark.slow  # a real smart cut
def test_a_start_typed_to_the_millisecond_keeps_the_frame_it_names(ffmpeg, clip_media,
                                                                  reference, out_dir):
    made = cut(ffmpeg, clip_media / "src.mp4", 3.3336, 2.0, out_dir)  # frame 100 is 3.33333
    assert made.method == "smart"
    check_clip(ffmpeg, made.path, reference, 3.3333, 2.0, copied_from_s=4.0, tolerance_s=0.11)


@pytest.mark.slow  # a real smart cut
def test_smart_cut_starting_on_a_keyframe_copies_every_frame(ffmpeg, clip_media, reference,
                                                             out_dir):
    made = cut(ffmpeg, clip_media / "src.mp4", 2.0, 3.0, out_dir)
    assert made.method == "smart"
    got, ref = frames(ffmpeg, made.path), reference[0]
    assert all(np.array_equal(got[i], ref[60 + i]) for i in range(90))
    assert len(got) == pytest.approx(90, abs=3) and decode_errors(ffmpeg, made.path) == ""


@pytest.mark.slow  # a real smart cut
def test_smart_cut_to_the_end_of_the_stream(ffmpeg, clip_media, reference, out_dir):
    made = cut(ffmpeg, clip_media / "src.mp4", 5.5, SOURCE_S - 5.5, out_dir,
               available_s=SOURCE_S - 5.5)
    assert made.method == "smart"
    check_clip(ffmpeg, made.path, reference, 5.5, SOURCE_S - 5.5, copied_from_s=6.0)


@pytest.mark.slow  # a real smart cut
def test_smart_cut_from_hls_over_loopback(ffmpeg, hls_url, reference, out_dir):
    made = cut(ffmpeg, hls_url, 2.5, 3.0, out_dir)  # HLS seeks land on the segment start
    assert made.method == "smart"
    check_clip(ffmpeg, made.path, reference, 2.5, 3.0, copied_from_s=4.0)


@pytest.mark.slow  # a real smart cut
def test_mpeg_ts_recording_is_cut_exactly_although_its_seek_lands_late(ffmpeg, clip_media,
                                                                       reference, out_dir):
    made = cut(ffmpeg, clip_media / "src.ts", 3.3, 3.0, out_dir)
    assert made.method == "smart"
    check_clip(ffmpeg, made.path, reference, 3.3, 3.0, copied_from_s=4.0)
    whole = cut(ffmpeg, clip_media / "src.ts", 3.3, 3.0, out_dir, smart=False)
    assert whole.method == "re-encode"  # exact too: frames picked by their timestamps
    check_clip(ffmpeg, whole.path, reference, 3.3, 3.0, copied_from_s=None)
    assert_nothing_left(out_dir, {"c.mp4"})


@pytest.mark.slow  # a real smart cut
def test_non_h264_source_is_reencoded_whole(ffmpeg, clip_media, reference, out_dir):
    made = cut(ffmpeg, clip_media / "src_mpeg4.mp4", 3.3, 3.0, out_dir,
               thumbnail=(4.5, out_dir / "out" / "c.jpg"))
    assert made.method == "re-encode" and "mpeg4" in made.note and made.thumbnail is None
    got = frames(ffmpeg, made.path)
    diff = [np.abs(got[0] - f).mean() for f in reference[0]]
    assert int(np.argmin(diff)) == 99  # 3.3 s, give or take mpeg4's own losses
    assert media.probe_media(ffmpeg, str(made.path)).duration_s == pytest.approx(3.0, abs=0.1)
    assert_nothing_left(out_dir, {"c.mp4"})


@pytest.mark.slow  # a real smart cut
def test_a_failing_step_falls_back_to_a_whole_reencode(ffmpeg, clip_media, reference, out_dir,
                                                       monkeypatch):
    real = clip_cutter.smart_pieces_argv
    monkeypatch.setattr(clip_cutter, "smart_pieces_argv",  # an ffmpeg that has no such encoder
                        lambda *a, **kw: [*real(*a, **kw)[:-1], "-c:a", "no_such_codec",
                                          real(*a, **kw)[-1]])
    made = cut(ffmpeg, clip_media / "src.mp4", 3.3, 3.0, out_dir)
    assert made.method == "re-encode" and made.note
    check_clip(ffmpeg, made.path, reference, 3.3, 3.0, copied_from_s=None)
    assert_nothing_left(out_dir, {"c.mp4"})


@pytest.mark.slow  # a real smart cut
def test_a_smart_cut_of_the_wrong_length_is_redone_whole(ffmpeg, clip_media, out_dir,
                                                         monkeypatch):
    real = clip_cutter.join_argv
    monkeypatch.setattr(clip_cutter, "join_argv",  # a join that loses most of the video
                        lambda *a, **kw: [*real(*a, **kw)[:-1], "-frames:v", "30",
                                          real(*a, **kw)[-1]])
    made = cut(ffmpeg, clip_media / "src.mp4", 3.3, 3.0, out_dir)
    assert made.method == "re-encode" and "instead of 3.00 s" in made.note
    assert media.probe_media(ffmpeg, str(made.path)).duration_s == pytest.approx(3.0, abs=0.1)
    assert_nothing_left(out_dir, {"c.mp4"})


@pytest.mark.slow  # a real smart cut
def test_a_join_out_of_decode_order_is_redone_whole(ffmpeg, clip_media, out_dir, monkeypatch):
    real = clip_cutter.plan_smart_cut
    monkeypatch.setattr(clip_cutter, "plan_smart_cut",  # a head without the source's B-frame delay
                        lambda *a: dataclasses.replace(real(*a), reorder_frames=0))
    made = cut(ffmpeg, clip_media / "src.mp4", 3.3, 3.0, out_dir)
    assert made.method == "re-encode" and "decode order" in made.note


@pytest.mark.slow  # a real smart cut
def test_cancel_during_a_smart_cut_leaves_nothing_behind(ffmpeg, clip_media, out_dir,
                                                         monkeypatch):
    cancel = threading.Event()
    real = clip_cutter.smart_pieces_argv

    def cancel_now(*args, **kw):
        cancel.set()
        return real(*args, **kw)

    monkeypatch.setattr(clip_cutter, "smart_pieces_argv", cancel_now)
    with pytest.raises(Cancelled):
        cut(ffmpeg, clip_media / "src.mp4", 3.3, 3.0, out_dir, cancel=cancel)
    assert_nothing_left(out_dir, set())


@pytest.mark.slow  # a real smart cut
def test_missing_source_fails_without_a_pointless_fallback(ffmpeg, out_dir, monkeypatch):
    calls = []
    real = media.run_ffmpeg
    monkeypatch.setattr(media, "run_ffmpeg", lambda argv, *a, **kw: calls.append(argv) or
                        real(argv, *a, **kw))
    with pytest.raises(media.MediaError, match="No such file"):
        cut(ffmpeg, out_dir / "missing.mp4", 3.3, 3.0, out_dir)
    assert len(calls) == 1  # the scan failed; the whole re-encode would fail the same way


# --- a real browser plays what the smart cut makes ---------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

PLAY_THROUGH = """async (url) => {
    const v = document.createElement('video'); v.muted = true; v.src = url;
    document.body.appendChild(v);
    await new Promise((ok, fail) => { v.onloadeddata = ok;
                                      v.onerror = () => fail(v.error && v.error.message); });
    const canvas = document.createElement('canvas'); canvas.width = 80; canvas.height = 45;
    const c = canvas.getContext('2d'), shown = [];
    const grab = (now, meta) => { c.drawImage(v, 0, 0, 80, 45);
        shown.push([meta.mediaTime, Array.from(c.getImageData(0, 0, 80, 45).data)]);
        if (!v.ended) v.requestVideoFrameCallback(grab); };
    v.requestVideoFrameCallback(grab);
    v.playbackRate = 0.5;  // twice the time per frame: a busy machine drops fewer
    await v.play(); await new Promise(done => v.onended = done);
    return shown; }"""


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed "
                                             "(.ci/run installs it with apt)")
@pytest.mark.slow  # a browser: ~20 s
def test_chromium_plays_a_smart_cut_clip_as_ffmpeg_decodes_it(ffmpeg, tmp_path):
    """The clip's head is x264's, its tail the source's own encoding with other parameter sets
    (Main profile, 2 refs): the UI's player must show every frame of both, not a garbled tail
    once the parameters change."""
    from playwright.sync_api import sync_playwright

    source = tmp_path / "src.mp4"
    media.run_ffmpeg([
        ffmpeg, "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=s=320x180:r=30:d=8",
        "-f", "lavfi", "-i", "sine=f=440:d=8", "-c:v", "libx264", "-profile:v", "main",
        "-x264-params", "ref=2:bframes=2:keyint=60:min-keyint=60:scenecut=0",
        "-pix_fmt", "yuv420p", "-c:a", "aac", str(source)])
    (tmp_path / "out").mkdir()
    made = cut(ffmpeg, source, 3.3, 3.0, tmp_path)
    assert made.method == "smart"  # head 3.3-4.0 s re-encoded, tail copied
    expected = np.frombuffer(subprocess.run(
        [ffmpeg, "-v", "error", "-i", str(made.path), "-vf", "scale=80:45", "-f", "rawvideo",
         "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout,
        np.uint8).reshape(-1, 45, 80, 3).astype(np.float32)

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=[
                "--headless", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--autoplay-policy=no-user-gesture-required"])
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{server.server_address[1]}/")
            shown = page.evaluate(PLAY_THROUGH, f"/out/{made.path.name}")
            browser.close()
    finally:
        server.shutdown()
        server.server_close()

    # It played through, head and tail: frames from the re-encoded head (3.3-4.0 s of the
    # source, the clip's first 0.7 s) and from the copied tail up to the end. How many frames a
    # browser shows on time depends on how busy the machine is (79 of 93 at load 10), so the
    # count only asks for most of them; every frame shown is checked below.
    times = [t for t, _ in shown]
    duration = len(expected) / 30
    assert min(times) < 0.2 and max(times) > duration - 0.3, (min(times), max(times))
    assert sum(t < 0.7 for t in times) >= 5 and sum(t > 0.8 for t in times) >= 20
    assert len(shown) >= 0.5 * len(expected), (len(shown), len(expected))
    same, other = [], []
    for media_time, pixels in shown:
        frame = np.array(pixels, np.float32).reshape(45, 80, 4)[:, :, :3]
        i = min(int(round(media_time * 30)), len(expected) - 1)
        nearby = range(max(0, i - 1), min(len(expected), i + 2))
        same.append(min(float(np.abs(expected[j] - frame).mean()) for j in nearby))
        other.append(float(np.abs(expected[(i + 15) % len(expected)] - frame).mean()))
    # what the browser shows is what ffmpeg decodes (scaling and colour conversion differ a
    # little), head and tail alike; half a second away looks clearly different
    assert max(same) < 15.0 and np.median(other) > 2 * max(same), (max(same), np.median(other))
