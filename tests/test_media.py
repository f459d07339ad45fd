"""ffmpeg wrapper: argv builders (pure), probing, chunk decoding, atomic writes, watchdog."""

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import clip_cutter
import media
from errors import InputError, MediaError


def req(source, **kw):
    args = dict(source=source, start_s=30.0, duration_s=30.0, sample_rate_hz=22050,
                want_audio=True, want_video=True, video_fps=6.0, width_px=160, height_px=90)
    args.update(kw)
    return media.ChunkRequest(**args)


def test_chunk_argv_seeks_on_the_input_and_bounds_both_outputs():
    argv = media.chunk_argv("ffmpeg", req("/v/a.mp4"), video_fd=5)
    i = argv.index("-i")
    assert argv[argv.index("-ss") + 1] == "30.000" and argv.index("-ss") < i
    assert argv.index("-t") < i  # input-side: limits the audio and the video output
    assert argv[argv.index("-ar") + 1] == "22050" and "s16le" in argv
    assert argv[-1] == "pipe:5" and argv[argv.index("pipe:1") - 1] == "s16le"
    vf = argv[argv.index("-vf") + 1]
    assert vf.startswith("fps=6.0") and "scale=160:90" in vf and "rgb24" in vf
    assert "-protocol_whitelist" not in argv


def test_chunk_argv_for_urls_whitelists_protocols_and_sets_timeouts():
    argv = media.chunk_argv("ffmpeg", req("https://h/x.m3u8", want_video=False), None)
    assert argv[argv.index("-protocol_whitelist") + 1] == "http,https,tcp,tls,crypto"
    assert "-rw_timeout" in argv and "-vf" not in argv and argv[-1] == "pipe:1"


def test_chunk_argv_fast_decode_gives_the_video_decoder_its_shortcuts_as_input_options():
    argv = media.chunk_argv("ffmpeg", req("/v/a.mp4", fast_decode=True), video_fd=5)
    i = argv.index("-i")
    assert argv[argv.index("-skip_frame:v") + 1] == "noref" and argv.index("-skip_frame:v") < i
    assert "-skip_frame:v" not in media.chunk_argv("ffmpeg", req("/v/a.mp4"), video_fd=5)
    audio_only = media.chunk_argv("ffmpeg", req("/v/a.mp4", fast_decode=True,
                                                want_video=False), None)
    assert "-skip_frame:v" not in audio_only  # nothing to decode faster


def test_fast_decode_is_on_by_default_and_keeps_its_cached_features_apart():
    from config import Config
    from feature_cache import cache_key

    fast = Config()
    assert fast.fast_decode
    plain = fast.replace(fast_decode=False)
    assert cache_key("x", fast, True, True) != cache_key("x", plain, True, True)


def test_clip_argv_reencodes_by_default_and_copies_when_fast():
    slow = clip_cutter.clip_argv("ffmpeg", "/v/a.mp4", 12.5, 30, "/o/c.mp4")
    assert slow[slow.index("-ss") + 1] == "12.500" and slow.index("-ss") < slow.index("-i")
    assert "libx264" in slow and "aac" in slow and "+faststart" in slow
    fast = clip_cutter.clip_argv("ffmpeg", "/v/a.mp4", 12.5, 30, "/o/c.mp4", fast=True)
    assert fast[fast.index("-c") + 1] == "copy" and "libx264" not in fast
    audio_only = clip_cutter.clip_argv("ffmpeg", "/v/a.mp4", 0, 5, "/o/c.m4a", has_video=False)
    assert "0:v:0" not in audio_only and "libx264" not in audio_only


def test_parse_probe_output_reads_duration_and_streams():
    stderr = (
        "Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'x.mp4':\n"
        "  Duration: 01:02:03.50, start: 0.000000, bitrate: 500 kb/s\n"
        "  Stream #0:0[0x1](und): Video: h264 (High), yuv420p(progressive), 1280x720 "
        "[SAR 1:1 DAR 16:9], 400 kb/s, 29.97 fps, 29.97 tbr, 15360 tbn (default)\n"
        "  Stream #0:1[0x2](und): Audio: aac (LC), 44100 Hz, stereo, fltp, 96 kb/s\n")
    info = media.parse_probe_output("x.mp4", stderr)
    assert info.duration_s == pytest.approx(3723.5)
    assert (info.width, info.height, info.fps) == (1280, 720, 29.97)
    assert info.has_video and info.has_audio


def test_last_error_line_skips_progress_noise():
    assert media.last_error_line("x: Invalid data found\nframe=  10 fps=0\n\n") == \
        "x: Invalid data found"


def test_probe_real_file(ffmpeg, sample_stream):
    info = media.probe_media(ffmpeg, str(sample_stream))
    assert info.duration_s == pytest.approx(150, abs=0.2)
    assert (info.width, info.height) == (320, 180) and info.fps == 30
    assert info.has_audio and info.has_video


def test_probe_rejects_a_text_file(ffmpeg, tmp_path):
    bogus = tmp_path / "notes.mp4"
    bogus.write_text("not a video")
    with pytest.raises(InputError, match="cannot read"):
        media.probe_media(ffmpeg, str(bogus))


def decode_whole(ffmpeg, request, timeout_s=300.0):
    """`media.decode` into arrays: (samples float32 (n,), frames uint8 (n, h, w, 3))."""
    out = {"audio": b"", "video": b""}

    def keep(name):
        return lambda pipe: out.__setitem__(name, media.read_exactly(pipe, 1 << 40))

    media.decode(ffmpeg, request, keep("audio"), keep("video"), timeout_s)
    audio = media.pcm_to_float(out["audio"])
    frame_size = request.width_px * request.height_px * 3
    n_frames = len(out["video"]) // frame_size
    video = np.frombuffer(out["video"][: n_frames * frame_size], np.uint8).reshape(
        n_frames, request.height_px, request.width_px, 3)
    return audio, video


def test_decode_gives_audio_and_frames_from_one_process(ffmpeg, sample_stream):
    audio, frames = decode_whole(ffmpeg, req(str(sample_stream), start_s=95, duration_s=10,
                                             width_px=64, height_px=36))
    assert audio.dtype == np.float32 and len(audio) == pytest.approx(220500, abs=2000)
    assert frames.shape[1:] == (36, 64, 3) and len(frames) == pytest.approx(60, abs=1)
    # 100-110 s is the planted video event: frames 30.. must change far more than 0..25
    diffs = np.abs(np.diff(frames.astype(int), axis=0)).mean(axis=(1, 2, 3))
    assert diffs[32:].mean() > 10 * diffs[:25].mean() + 1


def test_decode_two_process_path_gives_the_same_data(ffmpeg, sample_stream, monkeypatch):
    one = decode_whole(ffmpeg, req(str(sample_stream), duration_s=5, width_px=32, height_px=18))
    monkeypatch.setattr(media.os, "name", "nt")  # the Windows path: audio and video separately
    two = decode_whole(ffmpeg, req(str(sample_stream), duration_s=5, width_px=32, height_px=18))
    assert np.array_equal(one[0], two[0]) and np.array_equal(one[1], two[1])


def test_fast_decode_skips_b_frames_yet_keeps_every_analysed_frame(ffmpeg, tmp_path):
    """A stream with B-frames (x264 veryfast, as real renditions are), analysed at fps/5: the
    shortcut decodes fewer frames, the analysis gets as many, each near its full-decode twin."""
    source = tmp_path / "bframes.mp4"
    media.run_ffmpeg([ffmpeg, "-loglevel", "error", "-f", "lavfi", "-i",
                      "testsrc2=size=320x180:rate=30:duration=6", "-c:v", "libx264", "-preset",
                      "veryfast", "-bf", "3", str(source)])
    plain = decode_whole(ffmpeg, req(str(source), start_s=0, duration_s=6, want_audio=False,
                                     width_px=64, height_px=36))[1]
    fast = decode_whole(ffmpeg, req(str(source), start_s=0, duration_s=6, want_audio=False,
                                    width_px=64, height_px=36, fast_decode=True))[1]
    assert len(plain) == len(fast) == pytest.approx(36, abs=1)
    assert not np.array_equal(plain, fast)  # other frames were taken: B-frames were skipped
    step = np.abs(np.diff(plain.astype(int), axis=0)).mean()  # one analysed frame to the next
    assert np.abs(plain.astype(int) - fast.astype(int)).mean() < step / 2


def test_fast_decode_only_where_frame_skip_drops_most_frames_anyway():
    from config import Config
    from stream_processor import fast_decode_for

    assert fast_decode_for(Config()) and Config().frame_skip >= 4
    assert not fast_decode_for(Config(frame_skip=2))  # B-frames would be missed
    assert not fast_decode_for(Config(fast_decode=False))


@pytest.mark.skipif(os.name != "posix", reason="needs a FIFO")
def test_stalled_decoder_is_killed_by_the_watchdog(ffmpeg, tmp_path):
    fifo = tmp_path / "never.ts"
    os.mkfifo(fifo)
    def hold_open_and_say_nothing() -> None:
        with open(fifo, "wb"):
            time.sleep(4)

    threading.Thread(target=hold_open_and_say_nothing, daemon=True).start()
    started = time.monotonic()
    with pytest.raises(MediaError, match="stalled"):
        decode_whole(ffmpeg, req(str(fifo), start_s=0, want_video=False), timeout_s=1.0)
    assert time.monotonic() - started < 5


def test_write_atomically_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "clip.mp4"

    def fail(tmp: Path) -> None:
        tmp.write_bytes(b"half")
        raise MediaError("disk full")

    with pytest.raises(MediaError):
        media.write_atomically(target, fail)
    assert list(tmp_path.iterdir()) == []


def test_cut_clip_is_frame_accurate_and_keeps_audio(ffmpeg, sample_stream, tmp_path):
    out = clip_cutter.cut_clip(ffmpeg, str(sample_stream), 12.3, 7.0, tmp_path / "c.mp4").path
    info = media.probe_media(ffmpeg, str(out))
    assert info.duration_s == pytest.approx(7.0, abs=0.1)
    assert info.has_audio and info.has_video
    assert [p.name for p in tmp_path.iterdir()] == ["c.mp4"]


def test_find_ffmpeg_honours_an_override_and_reports_a_bad_one(ffmpeg):
    assert media.find_ffmpeg(ffmpeg) == ffmpeg
    with pytest.raises(MediaError, match="FFMPEG_BINARY"):
        media.find_ffmpeg("/nonexistent/ffmpeg")
