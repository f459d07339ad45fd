"""main.py called in-process: exit codes, one-line errors, JSON output, the demo."""

import json
import re
from pathlib import Path

import pytest

import main
from conftest import AUDIO_EVENT


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Run each CLI test in its own folder so logs/, models/ and output_clips/ stay there."""
    monkeypatch.chdir(tmp_path)


def test_json_output_and_no_clips(sample_stream, capsys, tmp_path):
    code = main.main([str(sample_stream), "--no-clips", "--json", "--top-n", "2"])
    out = capsys.readouterr().out
    assert code == 0
    data = json.loads(out)
    assert len(data["highlights"]) == 2
    assert all(h["clip_path"] is None for h in data["highlights"])
    assert Path(data["run_dir"], "highlights.json").exists()
    assert Path(data["run_dir"]).parent.resolve() == (tmp_path / "output_clips").resolve()


def test_table_names_rank_times_and_reasons(sample_stream, capsys):
    assert main.main([str(sample_stream), "--no-clips", "-q"]) == 0
    assert capsys.readouterr().out == ""
    assert main.main([str(sample_stream), "--no-clips", "--min-gap", "5"]) == 0
    out = capsys.readouterr().out
    assert "#     start       end   score  kind   why" in out
    assert f"0:00:{int(AUDIO_EVENT.start_s) - 8:02d}" in out
    assert "loud audio" in out


def assert_bad_input(argv, message, capsys, tmp_path):
    """Exit 2, one line naming what is wrong and what to do, and nothing written but the log."""
    assert main.main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert re.fullmatch(r"error: .+ - .+\n", err) and re.search(message, err), err
    assert "@ 0x" not in err  # no ffmpeg internals
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")
                     if p.is_file() and p.parent.name != "logs")
    assert written == [n for n in written if n.startswith("input/")], written


@pytest.mark.parametrize("argv, message", [
    ([""], "no source given"),
    (["   "], "no source given"),
    (["just some words"], "just some words: no such file"),
    (["ftp://example.com/x.mp4"], "only http\\(s\\) URLs"),
    (["https://www.twitch.tv/xqc"], "Twitch links are not supported"),
    (["https://youtu.be/abc"], "YouTube links are not supported"),
    (["https://kick.com/browse"], "Kick's 'browse' page"),
    (["https://kick.com/xqc/videos"], "list of xqc's videos"),
    (["https://kick.com/xqc/clips"], "list of xqc's clips"),
    (["kick.com/xqc/videos/1"], "'1' is not a Kick video id - open the video on kick.com"),
    (["missing.mp4"], "missing.mp4: no such file"),
    # paths are told they do not exist, not that they look like a URL
    (["./x.mp4"], "^error: ./x.mp4: no such file - check the path"),
    (["../clips/x.mp4"], "^error: ../clips/x.mp4: no such file - check the path"),
    (["C:/clips/x.mp4"], "^error: C:/clips/x.mp4: no such file - check the path"),
    (["clips/x.mp4"], "^error: clips/x.mp4: no such file - check the path"),
    (["example.com/vod/master.m3u8"], "no such file - check the path; if it is a web address, add https://"),
    (["."], "is a folder"),
    (["input/empty.mp4"], "is empty \\(0 bytes\\)"),
    (["input/fake.mp4"], "cannot read .*fake.mp4: .*moov atom not found"),
    (["input/x.mp4", "--top-n", "0"], "--top-n must be between 1 and 500 - change --top-n"),
    (["input/x.mp4", "--top-n", "-3"], "--top-n must be between 1 and 500"),
    (["input/x.mp4", "--top-n", "100000"], "--top-n must be between 1 and 500"),
    (["input/x.mp4", "--clip-length", "0"], "--clip-length must be between 1 and 600"),
    (["input/x.mp4", "--clip-length", "nan"], "--clip-length must be a finite number"),
    (["input/x.mp4", "--chunk-duration", "inf"], "--chunk-duration must be a finite number"),
    (["input/x.mp4", "--audio-weight", "inf"], "--audio-weight must be a finite number"),
    (["input/x.mp4", "--audio-weight", "-1"], "--audio-weight must be between 0 and 100"),
    (["input/x.mp4", "--live-for", "1e9"], "--live-for must be 0 "),
    (["input/x.mp4", "--output-dir", "input/fake.mp4/out"],
     "cannot write to .*: Not a directory - choose another --output-dir"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys, tmp_path):
    (tmp_path / "input").mkdir()
    (tmp_path / "input" / "empty.mp4").write_bytes(b"")
    (tmp_path / "input" / "fake.mp4").write_text("hello")
    (tmp_path / "input" / "x.mp4").write_text("never read: the options are checked first")
    assert_bad_input(argv, message, capsys, tmp_path)


def test_a_missing_home_path_names_the_expanded_path(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert_bad_input(["~/clips/x.mp4"], re.escape(
        f"error: {tmp_path / 'home' / 'clips' / 'x.mp4'}: no such file - check the path"),
        capsys, tmp_path)


def test_a_port_out_of_range_is_one_line(capsys, tmp_path):
    assert_bad_input(["--ui", "--port", "99999"], "^error: --port 99999 is out of range - "
                     "pass --port with a number from 1 to 65535$", capsys, tmp_path)
    assert_bad_input(["--ui", "--port", "0"], "--port 0 is out of range", capsys, tmp_path)


def test_a_busy_port_is_one_line_naming_the_flag(capsys, tmp_path):
    import socket

    import gradio_interface

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert_bad_input(["--ui", "--port", str(port)], f"^error: port {port} is in use - pass "
                         "--port with another port$", capsys, tmp_path)
        # the UI's own entry point says the same
        assert gradio_interface.main(["--port", str(port), "--no-browser"]) == 2
        assert capsys.readouterr().err == (f"error: port {port} is in use - pass --port with "
                                           "another port\n")
        assert gradio_interface.main(["--port", "99999", "--no-browser"]) == 2
        assert "--port 99999 is out of range" in capsys.readouterr().err


def test_a_bad_setting_in_the_environment_names_the_variable(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("KCG_TOP_N", "0")
    assert_bad_input(["x.mp4"], "KCG_TOP_N must be between 1 and 500 - fix or unset KCG_TOP_N",
                     capsys, tmp_path)
    monkeypatch.setenv("KCG_TOP_N", "many")
    assert_bad_input(["x.mp4"], "KCG_TOP_N='many' is not a valid int", capsys, tmp_path)


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main.main(["--top-n", "many", "x.mp4"])
    assert exit_info.value.code == 2


@pytest.mark.slow  # a 3-minute demo stream: ~12 s
def test_demo_runs_offline_and_finds_its_planted_events(capsys, tmp_path):
    assert main.main(["--demo", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    starts = sorted(h["start"] for h in data["highlights"][:3])
    assert starts == [32.0, 87.0, 132.0]  # 8 s before each planted event
    for h in data["highlights"]:
        assert Path(h["clip_path"]).exists() and Path(h["thumbnail_path"]).exists()
    assert (tmp_path / "output_clips" / "demo_source.mp4").exists()
    assert list((tmp_path / "logs").glob("*.log"))


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_a_still_image_is_refused(suffix, tmp_path, capsys, ffmpeg):
    import media

    image = tmp_path / f"picture{suffix}"
    media.run_ffmpeg([ffmpeg, "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=s=64x48",
                      "-frames:v", "1", str(image)])
    assert main.main([str(image)]) == 2
    assert "still image" in capsys.readouterr().err


def test_a_web_page_url_says_what_to_paste_instead(http_root, capsys):
    assert main.main([f"{http_root}/not-a-video.html"]) == 2
    assert "direct .m3u8/.mp4 link" in capsys.readouterr().err


def test_video_only_file_works_with_an_empty_audio_list(tmp_path, capsys, ffmpeg):
    import demo_media

    path = demo_media.make_stream(tmp_path / "silent.mp4", 60, [
        demo_media.PlantedEvent(30, 38, "video")], audio=False, width=160, height=90,
        ffmpeg=ffmpeg)
    assert main.main([str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["audio_highlights"] == [] and data["video_highlights"]
    assert any("no audio" in n for n in data["notes"])
    first = data["highlights"][0]
    assert first["start"] <= 30 <= first["end"] and Path(first["clip_path"]).exists()


def test_rate_command_stores_ratings_and_retrains(sample_stream, capsys, tmp_path):
    assert main.main([str(sample_stream), "--no-clips", "--json", "--top-n", "3"]) == 0
    run_dir = json.loads(capsys.readouterr().out)["run_dir"]
    assert main.main(["rate", run_dir, "1", "--keep"]) == 0
    assert main.main(["rate", run_dir, "2", "--stars", "2"]) == 0
    out = capsys.readouterr().out
    assert "2 ratings stored" in out and "model retrained" in out
    assert main.main(["rate", run_dir, "9", "--skip"]) == 2
    assert "no clip 9" in capsys.readouterr().err
    assert main.main(["rate", str(tmp_path), "1", "--keep"]) == 2
    assert "not a run folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main.main(["rate", run_dir, "1"])  # --keep, --skip or --stars is required


def test_the_terminal_shows_a_progress_bar_with_eta(sample_stream, capfd):
    assert main.main([str(sample_stream), "--no-clips"]) == 0
    err = capfd.readouterr().err
    # tqdm redraws in place: stage, percentage, bar, elapsed<remaining
    assert re.search(r"chunk \d+/\d+ +\d+%\|.*\| \d\d:\d\d<\d\d:\d\d", err), err[-500:]


def test_the_summary_lists_skipped_chunks_failed_clips_and_notes():
    text = main.summary({
        "title": "stream", "duration_s": 600.0, "highlights": [],
        "skipped_chunks": [{"start": 250.0, "end": 280.0, "reason": "segment 25 lost"}],
        "failed_clips": [{"rank": 3, "reason": "No space left on device"}],
        "notes": ["--fast: clips are stream copies; starts snap to keyframes"],
        "run_dir": "out/stream_1"})
    assert "skipped 0:04:10-0:04:40: segment 25 lost" in text
    assert "clip 3 failed: No space left on device" in text
    assert "note: --fast: clips are stream copies; starts snap to keyframes" in text


def test_fast_clips_say_they_snap_to_keyframes(sample_stream, capsys):
    assert main.main([str(sample_stream), "--fast", "--top-n", "1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert "--fast: clips are stream copies; starts snap to keyframes" in data["notes"]
    assert Path(data["highlights"][0]["clip_path"]).exists()
