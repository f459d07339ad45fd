"""Run folders (`runs.py`) and the orchestrator's small parts: pure, no media."""

import json
import time

import pytest

import runs
import timecode
from errors import InputError
from kick_clip_generator import STAGES, Stopwatch, stage


def test_names_of_a_run_folder_and_its_clips():
    assert timecode.file_stamp(3725.9) == "01-02-05" and timecode.file_stamp(65) == "00-01-05"
    assert runs.clip_stem(3, 87.2) == "clip_03_00-01-27"
    assert runs.clip_ext(True) == ".mp4" and runs.clip_ext(False) == ".m4a"


def test_new_run_folders_never_collide(tmp_path):
    first = runs.new_run_dir(tmp_path, "stream")
    second = runs.new_run_dir(tmp_path, "stream")
    assert first != second and first.is_dir() and second.is_dir()
    assert second.name.startswith(first.name)


def test_an_unwritable_output_folder_names_the_setting_not_a_flag(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(InputError) as caught:
        runs.check_writable(blocker / "out")
    err = caught.value
    assert str(err).endswith("choose another output folder") and err.setting == "output_dir"
    assert err.phrased(lambda field: {"output_dir": "--output-dir"}[field]).endswith(
        "choose another --output-dir")
    assert err.phrased(lambda field: None) == str(err)


def test_load_list_and_find_a_clip_by_rank(tmp_path):
    run_dir = tmp_path / "a_run"
    run_dir.mkdir()
    data = {"title": "t", "created_at": "2026-01-01T00:00:00", "duration_s": 60.0,
            "highlights": [{"rank": 1, "clip_path": None}, {"rank": 2, "clip_path": None}]}
    runs.write_json(run_dir / runs.JSON_NAME, data)
    assert runs.load(run_dir) == data
    assert [r["highlights"] for r in runs.list_runs(tmp_path)] == [2]
    assert runs.find_rank(data, 2)["rank"] == 2
    with pytest.raises(InputError, match="no clip 3 \\(it has 2\\)"):
        runs.find_rank(data, 3)
    with pytest.raises(InputError, match="not a run folder"):
        runs.load(tmp_path)
    assert runs.zip_clips(run_dir, data) is None  # no clips, no zip
    assert not list(run_dir.glob(".*.part"))  # written atomically
    assert json.loads((run_dir / runs.JSON_NAME).read_text()) == data


def test_stages_cover_the_bar_in_order_and_map_their_own_fractions():
    spans = list(STAGES.values())
    assert spans[0][0] == 0.0 and spans[-1][1] == 1.0
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))
    seen = []
    report = stage(lambda f, m: seen.append((round(f, 6), m)), "clips")
    report(0.0, "a")
    report(0.5, "b")
    assert seen == [(0.9, "a"), (0.95, "b")]


def test_the_stopwatch_times_each_stage_and_the_total():
    watch = Stopwatch()
    with watch("analysis"):
        time.sleep(0.01)
    with pytest.raises(ValueError), watch("scoring"):
        raise ValueError  # a stage that fails is still timed
    timings = watch.total()
    assert list(timings) == ["analysis", "scoring", "total"]
    assert timings["analysis"] >= 0.01 and timings["total"] >= timings["analysis"]


class DictStore:
    """A chunk store in memory (the feature cache is one on disk)."""

    def __init__(self, parts=None):
        self.parts = dict(parts or {})

    def load(self):
        return dict(self.parts)

    def store(self, part):
        self.parts[part.chunk.index] = part


class NoRenew:
    analysis = "/nonexistent/never-read.mp4"

    def renew_if_expired(self, error):
        return False


def test_the_walk_takes_what_the_store_passed_in_holds_and_decodes_nothing(config):
    import threading

    import numpy as np

    import media
    from audio_analyzer import AUDIO_FEATURES
    from stream_processor import ChunkFeatures, StreamProcessor, plan_chunks

    info = media.MediaInfo("x", 60.0, has_video=False, has_audio=True)
    chunks = plan_chunks(60.0, config)
    store = DictStore({c.index: ChunkFeatures(
        c, int(c.start_s), np.full((int(c.duration_s), len(AUDIO_FEATURES)), c.index,
                                   np.float32), None) for c in chunks})
    seen = []
    walk = StreamProcessor(config).walk(NoRenew(), info, lambda f, m: seen.append(f),
                                        threading.Event(), store)
    assert (walk.reused, walk.chunks, walk.skipped) == (len(chunks), len(chunks), [])
    assert walk.features.valid.all() and walk.features.video is None
    assert seen == [1.0]  # everything settled before the first report
