"""main.py called in-process: exit codes, one-line errors, JSON output, the demo."""

import json
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


@pytest.mark.parametrize("argv, message", [
    ([""], "no source given"),
    (["   "], "no source given"),
    (["just some words"], "no such file"),
    (["ftp://example.com/x.mp4"], "only http(s)"),
    (["missing.mp4"], "no such file"),
    (["."], "is a folder"),
    ([], "give a SOURCE"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys, tmp_path):
    assert main.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and message in err[-1]
    assert not (tmp_path / "output_clips").exists() or not any(
        (tmp_path / "output_clips").iterdir())


@pytest.mark.parametrize("flag, value", [("--top-n", "0"), ("--top-n", "-3"),
                                         ("--top-n", "100000"), ("--clip-length", "0")])
def test_out_of_range_options_exit_2(flag, value, sample_stream, capsys):
    assert main.main([str(sample_stream), flag, value]) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_empty_and_fake_media_files(tmp_path, capsys):
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "fake.mp4").write_text("hello")
    assert main.main([str(tmp_path / "empty.mp4")]) == 2
    assert "empty" in capsys.readouterr().err
    assert main.main([str(tmp_path / "fake.mp4")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main.main(["--top-n", "many", "x.mp4"])
    assert exit_info.value.code == 2


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
