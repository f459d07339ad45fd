"""Ctrl-C and kill -9 in the middle of a real run (the CLI in a subprocess)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import demo_media

pytestmark = pytest.mark.slow  # real interrupts of long runs: ~30-40 s each

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def long_stream(media_dir, ffmpeg):
    """6 minutes at 640x360: long enough to interrupt half-way."""
    return demo_media.make_stream(media_dir / "long.mp4", 360, [
        demo_media.PlantedEvent(70, 82, "both"), demo_media.PlantedEvent(250, 260, "video")],
        width=640, height=360, ffmpeg=ffmpeg)


def start(stream: Path, work: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "main.py"), str(stream), "--json", "--workers", "1",
         "--output-dir", str(work / "out"), "--models-dir", str(work / "models"), *extra],
        cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for_chunks(work: Path, at_least: int, timeout_s: float = 120) -> None:
    """Until the feature cache holds `at_least` chunks of the run."""
    import sqlite3

    db = work / "models" / "feature_cache.sqlite3"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if db.exists():
            try:
                with sqlite3.connect(db, timeout=1) as con:
                    if con.execute("SELECT COUNT(*) FROM chunks").fetchone()[0] >= at_least:
                        return
            except sqlite3.Error:
                pass
        time.sleep(0.05)
    raise AssertionError("the run never got going")


def test_ctrl_c_stops_within_2_s_leaves_nothing_and_says_how_to_resume(long_stream, tmp_path):
    proc = start(long_stream, tmp_path)
    wait_for_chunks(tmp_path, 3)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert time.monotonic() - sent < 2.0
    assert proc.returncode == 130
    assert "run the same command again to resume" in err.decode()
    assert not list(tmp_path.glob("out/*"))  # no half-made run folder
    assert not list(tmp_path.glob("temp_chunks/*"))
    leftover = subprocess.run(["pgrep", "-f", str(long_stream)], capture_output=True, text=True)
    assert leftover.stdout.strip() == ""  # no ffmpeg left behind


def test_kill_9_half_way_then_the_same_command_resumes_with_the_same_highlights(long_stream,
                                                                               tmp_path):
    clean_dir = tmp_path / "clean"
    clean_dir.mkdir()
    clean = start(long_stream, clean_dir, "--no-clips")
    out, err = clean.communicate(timeout=300)
    assert clean.returncode == 0, err.decode()[-2000:]
    expected = json.loads(out)

    work = tmp_path / "killed"
    work.mkdir()
    proc = start(long_stream, work, "--no-clips")
    wait_for_chunks(work, 7)  # about half of 15 chunks
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    resumed = start(long_stream, work, "--no-clips")
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err.decode()[-2000:]
    data = json.loads(out)
    note = next(n for n in data["notes"] if n.startswith("resumed: "))
    assert 7 <= int(note.split()[1]) < 15
    for key in ("highlights", "audio_highlights", "video_highlights"):
        assert [(h["rank"], h["start"], h["end"], h["score"]) for h in data[key]] == \
            [(h["rank"], h["start"], h["end"], h["score"]) for h in expected[key]]
