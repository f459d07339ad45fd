"""Shorts: the webcam found where it was planted, 9:16 clips in each layout, captions that say
what was planted, and the CLI doing all of it (`--vertical --captions`)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import captions
import facecam
import media
import shorts
from config import Config
from errors import ConfigError, InputError
from facecam import FaceBox
from scoring import Highlight

sys.path.insert(0, str(Path(__file__).parent))
import shorts_media  # noqa: E402
from shorts_media import Speech  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
W, H = 640, 360
CAM = (426, 8, 206, 160)  # the planted overlay, border included (source pixels)
SPEECH = [Speech(1.0, "Hello everyone and welcome back to my channel"),
          Speech(13.0, "We are going to win this game right now")]
STREAM_S = 24.0

needs_face = pytest.mark.skipif(not shorts_media.face_available(),
                                reason="scikit-image (the webcam's face) is not installed")
needs_speech = pytest.mark.skipif(not shorts_media.espeak_available(),
                                  reason="espeak-ng (the planted speech) is not installed")


def _has_whisper() -> bool:
    try:
        import faster_whisper  # noqa: F401
    except ImportError:
        return False
    return captions.bundled_model() is not None


needs_whisper = pytest.mark.skipif(not _has_whisper(),
                                   reason="requirements-captions.txt is not installed")


@pytest.fixture(scope="module")
def cam_stream(tmp_path_factory, ffmpeg) -> Path:
    if not (shorts_media.face_available() and shorts_media.espeak_available()):
        pytest.skip("needs scikit-image and espeak-ng")
    folder = tmp_path_factory.mktemp("shorts")
    return shorts_media.make_stream(folder / "cam.mp4", STREAM_S, width=W, height=H, cam=CAM,
                                    speech=SPEECH, ffmpeg=ffmpeg)


@pytest.fixture(scope="module")
def nocam_stream(tmp_path_factory, ffmpeg) -> Path:  # no speech: espeak-ng not needed
    folder = tmp_path_factory.mktemp("shorts_nocam")
    return shorts_media.make_stream(folder / "nocam.mp4", 8.0, width=W, height=H,
                                    ffmpeg=ffmpeg)


@pytest.fixture(scope="module")
def clip(cam_stream, ffmpeg) -> Path:
    """The first 6 s of the webcam stream (the first sentence), as a run's clip."""
    out = cam_stream.parent / "clip_01_00-00-00.mp4"
    media.run_ffmpeg([ffmpeg, "-v", "error", "-y", "-i", str(cam_stream), "-t", "6",
                      "-c", "copy", str(out)])
    return out


def _frame(ffmpeg: str, path: Path, at_s: float, width: int = 1080) -> np.ndarray:
    """One grey frame (uint8, (h, width))."""
    done = media.run_ffmpeg([ffmpeg, "-v", "error", "-ss", f"{at_s}", "-i", str(path),
                             "-frames:v", "1", "-vf", f"scale={width}:-2,format=gray",
                             "-f", "rawvideo", "pipe:1"])
    return np.frombuffer(done.stdout, np.uint8).reshape(-1, width)


def _probe(ffmpeg: str, path: Path) -> media.MediaInfo:
    return media.probe_media(ffmpeg, str(path))


def _iou(a: tuple, b: tuple) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0, min(ay + ah, by + bh) - max(ay, by))
    return iw * ih / (aw * ah + bw * bh - iw * ih)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


# --- pure -------------------------------------------------------------------------------------

def test_split_layout_puts_the_webcam_on_top_at_full_width():
    layout = shorts.split_layout(1280, 720, FaceBox(960, 0, 320, 240))
    assert layout.name == "split" and layout.top_px == 810  # 1080 * 240 / 320
    assert "crop=320:240:960:0,scale=1080:810" in layout.graph
    assert "scale=1080:1110" in layout.graph  # the game fills the rest
    assert layout.caption_y_px >= layout.top_px + 160
    tall = shorts.split_layout(1280, 720, FaceBox(0, 0, 200, 400))
    assert tall.top_px == shorts.TOP_MAX_PX
    flat = shorts.split_layout(1280, 720, FaceBox(0, 600, 1280, 120))
    assert flat.top_px == shorts.TOP_MIN_PX


def test_layout_choice_and_box_parsing():
    assert shorts.choose_layout("auto", FaceBox(1, 2, 30, 40)) == "split"
    assert shorts.choose_layout("auto", None) == "fit"
    assert shorts.choose_layout("crop", FaceBox(1, 2, 30, 40)) == "crop"
    assert facecam.parse_box(" 960, 0,320 ,240") == FaceBox(960, 0, 320, 240, 1.0)
    with pytest.raises(InputError, match="X,Y,W,H"):
        facecam.parse_box("960,0,320")
    with pytest.raises(ConfigError, match="layout"):
        Config(layout="square")
    with pytest.raises(ConfigError, match="facecam"):
        Config(facecam="1,2,3")
    with pytest.raises(ConfigError, match="facecam"):
        Config(facecam="1,2,3,4")
    assert Config(facecam="960, 0, 320, 240").facecam
    assert shorts.vertical_path("/r/clip_01_00-01-27.mp4").name == "clip_01_00-01-27_9x16.mp4"


def test_vertical_argv_copies_the_audio_and_burns_captions_in_the_same_encode(tmp_path):
    layout = shorts.fit_layout(1280, 720)
    graph = shorts.with_captions(layout, tmp_path / "a b.ass", tmp_path)
    assert graph.endswith("[v]") and ",ass=filename='" in graph and ":fontsdir='" in graph
    argv = shorts.vertical_argv("ffmpeg", "in.mp4", "out.mp4", graph, preset="ultrafast")
    assert argv[argv.index("-c:a") + 1] == "copy"
    assert argv[argv.index("-filter_complex") + 1] == graph


def test_the_encoder_is_one_that_works_here(clip, ffmpeg, monkeypatch, tmp_path):
    assert shorts.encoder_works(ffmpeg, "libx264")
    assert not shorts.encoder_works(ffmpeg, "h264_no_such_gpu")
    # a GPU encoder asked for by name: used where it works, else libx264 and one line saying so
    nvenc = shorts.encoder_works(ffmpeg, "h264_nvenc")
    used, note = shorts.pick_encoder(ffmpeg, "h264_nvenc")
    assert (used, note is None) == (("h264_nvenc", True) if nvenc else ("libx264", False))
    assert note is None or "\n" not in note and "libx264" in note
    # auto takes the first that works; OpenH264 (software, in the bundled ffmpeg) stands in
    # for a GPU encoder and goes through the same arguments a GPU encoder gets
    monkeypatch.setattr(shorts, "HARDWARE_ENCODERS", ("h264_no_such_gpu", "libopenh264"))
    assert shorts.pick_encoder(ffmpeg, "auto") == ("libopenh264", None)
    short = tmp_path / "clip.mp4"
    short.write_bytes(clip.read_bytes())
    out = shorts.render_vertical(ffmpeg, short, shorts.fit_layout(W, H), encoder="libopenh264")
    info = _probe(ffmpeg, out)
    assert (info.width, info.height) == (1080, 1920) and info.has_audio
    assert abs(info.duration_s - _probe(ffmpeg, clip).duration_s) < 0.1


def test_caption_groups_are_a_few_words_and_highlight_the_current_one():
    words = [captions.Word(0.1 * i, 0.1 * i + 0.08, w) for i, w in
             enumerate("one two three four five".split())]
    subs = captions.shorts_ass(words, 1200)
    assert len(subs) == 5  # one event per word
    first = subs[0].text
    assert "\\pos(" in first and "ONE" in first and "THREE" in first and "FOUR" not in first
    assert first.index(captions.HIGHLIGHT) < first.index("ONE")
    assert "FOUR" in subs[3].text and "ONE" not in subs[3].text


def test_no_model_leaves_captions_out_with_one_note(monkeypatch, tmp_path):
    monkeypatch.setattr(captions, "bundled_model", lambda: None)
    monkeypatch.setattr(captions, "_models", {})
    model, note = captions.load_model(str(tmp_path / "no-such-model"))
    assert model is None and "no-such-model" in note and "\n" not in note


# --- facecam ----------------------------------------------------------------------------------

@pytest.mark.slow
@needs_face
def test_facecam_is_found_where_it_was_planted(cam_stream, nocam_stream, ffmpeg):
    box = facecam.find_facecam(ffmpeg, str(cam_stream), STREAM_S, W, H)
    assert box is not None, "no webcam found"
    assert _iou((box.x, box.y, box.w, box.h), CAM) >= 0.6, box
    assert 0.5 <= box.confidence <= 1.0
    assert facecam.find_facecam(ffmpeg, str(nocam_stream), 8.0, W, H) is None


def test_facecam_cache_remembers_a_stream_without_webcam(tmp_path):
    cache = facecam.FacecamCache(tmp_path)
    key = facecam.FacecamCache.key("file:/x.mp4", 1280, 720)
    assert cache.get(key) == (False, None)
    cache.put(key, None)
    assert cache.get(key) == (True, None)
    cache.put(key, FaceBox(1, 2, 30, 40, 0.5))
    assert cache.get(key) == (True, FaceBox(1, 2, 30, 40, 0.5))


# --- rendering --------------------------------------------------------------------------------

@needs_face
def test_split_clip_is_1080x1920_same_length_with_the_face_on_top(clip, ffmpeg):
    layout = shorts.make_layout("split", W, H, FaceBox(*CAM))
    out = shorts.render_vertical(ffmpeg, clip, layout, preset="ultrafast")
    info, source = _probe(ffmpeg, out), _probe(ffmpeg, clip)
    assert (info.width, info.height) == (1080, 1920) and info.has_audio
    assert abs(info.duration_s - source.duration_s) < 0.1
    frame = _frame(ffmpeg, out, 3.0, width=540)
    faces = facecam.detect_faces(frame)
    assert any(y + h / 2 < layout.top_px / 2 for _, y, _, h in faces), faces


@pytest.mark.slow
@needs_whisper
@needs_speech
def test_captions_say_what_was_planted_and_burn_into_the_caption_area_only(clip, ffmpeg):
    model, note = captions.load_model(str(captions.bundled_model()))
    assert model is not None, note
    words = captions.transcribe(model, captions.clip_audio(ffmpeg, clip))
    planted = _words(SPEECH[0].text)
    heard = _words(captions.transcript(words))
    recall = sum(w in heard for w in planted) / len(planted)
    assert recall >= 0.8, heard
    assert all(0.5 <= w.start < w.end <= 6.0 for w in words)

    srt, vtt = captions.write_sidecars(words, clip)
    import pysubs2

    for path in (srt, vtt):
        subs = pysubs2.load(str(path))
        assert len(subs) >= 1
        assert _words(" ".join(e.plaintext for e in subs)) == _words(
            captions.transcript(words))
        assert subs[0].start == round(words[0].start * 1000)
    assert vtt.read_text().startswith("WEBVTT")

    layout = shorts.make_layout("split", W, H, FaceBox(*CAM))
    plain = shorts.render_vertical(ffmpeg, clip, layout, preset="ultrafast")
    plain = plain.rename(plain.with_name("plain.mp4"))
    ass = captions.write_ass(words, clip.with_name("c.ass"), layout.caption_y_px)
    burned = shorts.render_vertical(ffmpeg, clip, layout, ass=ass,
                                    fonts_dir=captions.fonts_dir(), preset="ultrafast")
    at = (words[1].start + words[1].end) / 2
    diff = np.abs(_frame(ffmpeg, burned, at).astype(int) - _frame(ffmpeg, plain, at))
    band = slice(layout.caption_y_px - 240, layout.caption_y_px + 240)
    inside, outside = diff[band], np.r_[diff[:band.start], diff[band.stop:]]
    assert (inside > 60).mean() > 0.02, "no captions in the caption area"
    assert (outside > 60).mean() < 0.001, "the captions changed the picture elsewhere"


@pytest.mark.slow
@needs_speech
def test_without_webcam_auto_is_the_fit_layout(nocam_stream, ffmpeg, tmp_path):
    clip = tmp_path / "clip_01_00-00-00.mp4"
    media.run_ffmpeg([ffmpeg, "-v", "error", "-y", "-i", str(nocam_stream), "-t", "3",
                      "-c", "copy", str(clip)])
    h = Highlight(1, 0.0, 3.0, 1.5, 1.0, None, None, None, None, "both", [], str(clip))
    config = Config(vertical=True, models_dir=tmp_path / "m", output_dir=tmp_path)
    made = shorts.make_shorts(ffmpeg, [h], cut_url=str(nocam_stream), identity=None,
                              duration_s=8.0, config=config, progress=lambda f, m: None,
                              cancel=threading.Event())
    assert made.layout == "fit" and made.facecam is None and not made.failed
    out = Path(made.highlights[0].vertical_path)
    info = _probe(ffmpeg, out)
    assert (info.width, info.height) == (1080, 1920)
    frame = _frame(ffmpeg, out, 1.0, width=270)  # the frame, full width, over its blur
    def sharpness(rows: np.ndarray) -> float:
        return float(np.abs(np.diff(rows.astype(int), axis=1)).mean())

    assert sharpness(frame[240 - 60:240 + 60]) > 2 * sharpness(frame[:150])  # blur above


# --- the whole thing --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cli_run(cam_stream, tmp_path_factory) -> Path:
    """`main.py STREAM --vertical --captions` on the webcam stream: its run folder."""
    if not _has_whisper():
        pytest.skip("requirements-captions.txt is not installed")
    tmp = tmp_path_factory.mktemp("cli")
    out = tmp / "out"
    done = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), str(cam_stream), "--vertical", "--captions",
         "--captions-model", str(captions.bundled_model()), "--top-n", "2",
         "--clip-length", "8", "--pre-roll", "2", "--min-gap", "2", "--output-dir", str(out),
         "--models-dir", str(tmp / "models"), "-q"],
        capture_output=True, text=True, timeout=300, cwd=tmp)
    assert done.returncode == 0, done.stderr
    return next(out.glob("*/highlights.json")).parent


@pytest.mark.slow
@needs_face
def test_cli_vertical_captions_gives_every_highlight_a_short(cli_run, ffmpeg):
    data = json.loads((cli_run / "highlights.json").read_text())
    assert _iou(tuple(data["facecam"][k] for k in "xywh"), CAM) >= 0.6
    assert len(data["highlights"]) == 2 and not data["failed_clips"]
    for h in data["highlights"]:
        vertical = Path(h["vertical_path"])
        assert vertical.name == Path(h["clip_path"]).stem + "_9x16.mp4"
        info = _probe(ffmpeg, vertical)
        assert (info.width, info.height) == (1080, 1920)
        assert abs(info.duration_s - (h["end"] - h["start"])) < 0.2
        assert Path(h["clip_path"]).with_suffix(".srt").exists()
        assert Path(h["clip_path"]).with_suffix(".vtt").exists()
        assert isinstance(h["transcript"], str)
    heard = _words(" ".join(h["transcript"] for h in data["highlights"]))
    assert heard, "no speech in any highlight"
    assert not list(cli_run.glob(".*.ass")), "caption scratch files left behind"


@pytest.mark.slow
@needs_face
def test_a_corrected_box_renders_only_the_9x16_clips_again(cli_run, ffmpeg, capsys):
    import main
    from kick_clip_generator import KickClipGenerator

    still = KickClipGenerator(Config()).facecam_still(cli_run)
    import cv2

    assert cv2.imread(str(still)).shape[:2] == (H, W)  # the box's pixels are the still's
    before = json.loads((cli_run / "highlights.json").read_text())
    stamps = {p: p.stat().st_mtime_ns for p in cli_run.iterdir()}
    assert main.main(["shorts", str(cli_run), "--facecam", "0,0,320,180"]) == 0
    assert "2 9:16 clip(s) rendered again" in capsys.readouterr().out
    after = json.loads((cli_run / "highlights.json").read_text())
    assert after["facecam"] == {"x": 0, "y": 0, "w": 320, "h": 180, "confidence": 1.0}
    changed = {p.name for p in cli_run.iterdir() if p.stat().st_mtime_ns != stamps.get(p)}
    assert changed == {"highlights.json"} | {Path(h["vertical_path"]).name
                                             for h in before["highlights"]}
    assert [h["transcript"] for h in after["highlights"]] == [
        h["transcript"] for h in before["highlights"]]
    assert main.main(["shorts", str(cli_run), "--facecam", "1,2"]) == 2
    assert "X,Y,W,H" in capsys.readouterr().err


@pytest.mark.slow
@needs_face
def test_a_recut_clip_gets_its_9x16_version_and_captions_again(cli_run, ffmpeg):
    from kick_clip_generator import KickClipGenerator

    h = json.loads((cli_run / "highlights.json").read_text())["highlights"][0]
    old_vertical = Path(h["vertical_path"])
    new = KickClipGenerator(Config()).recut(cli_run, h["rank"], h["start"] + 1.0, h["end"])
    assert new.vertical_path and Path(new.vertical_path).name == (
        Path(new.clip_path).stem + "_9x16.mp4")
    assert not old_vertical.exists() and not Path(h["clip_path"]).with_suffix(".srt").exists()
    assert Path(new.clip_path).with_suffix(".srt").exists()
    assert isinstance(new.transcript, str)
    info = _probe(ffmpeg, Path(new.vertical_path))
    assert abs(info.duration_s - (h["end"] - h["start"] - 1.0)) < 0.2
