"""The real-media benchmark's plan: the split, the spacing and the scoring (no media, no
downloads: the streams themselves are built by `python eval/real_media.py`)."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "eval"))

import real_media as rm  # noqa: E402

from demo_media import PlantedEvent  # noqa: E402


def _plans():
    return {s.name: (s, *rm.plan(s)) for s in rm.STREAMS}


PLANS = _plans()


def test_held_out_decoy_kinds_never_appear_in_the_tune_part():
    assert not set(rm.TUNE_DECOYS) & set(rm.HELDOUT_ONLY_DECOYS)
    assert len(rm.DECOY_KINDS) >= 5
    for spec, items, _ in PLANS.values():
        kinds = {e.kind for e in items if e.kind in rm.DECOY_KINDS}
        if spec.part == "tune":
            assert not kinds & set(rm.HELDOUT_ONLY_DECOYS), spec.name
        else:
            assert kinds == set(rm.DECOY_KINDS), spec.name


def test_held_out_part_is_at_least_three_streams_of_20_to_30_minutes_on_other_seeds():
    held = [s for s in rm.STREAMS if s.part == "heldout"]
    tune = [s for s in rm.STREAMS if s.part == "tune"]
    assert len(held) >= 3 and all(20 <= s.minutes <= 30 for s in held)
    assert tune and not {s.seed for s in held} & {s.seed for s in tune}


@pytest.mark.parametrize("name", sorted(PLANS))
def test_items_never_overlap_and_moments_last_8_to_18_s(name):
    spec, items, _ = PLANS[name]
    assert all(a.end_s <= b.start_s for a, b in zip(items, items[1:]))
    assert 0 <= items[0].start_s and items[-1].end_s <= spec.minutes * 60
    moments = [e for e in items if e.kind in rm.MOMENT_KINDS]
    assert len(moments) == rm.n_moments(spec.minutes)
    assert all(8.0 <= e.end_s - e.start_s <= 18.0 for e in moments)
    assert {e.kind for e in moments} == set(rm.MOMENT_KINDS)


@pytest.mark.parametrize("name", sorted(PLANS))
def test_streaks_are_20_to_30_s_apart_and_everything_else_is_well_apart(name):
    spec, items, _ = PLANS[name]
    streaks = 0
    for a, b in zip(items, items[1:]):
        gap = b.start_s - a.end_s
        if a.kind in rm.MOMENT_KINDS and b.kind in rm.MOMENT_KINDS and gap < rm.BLOCK_GAP_S:
            assert 20.0 <= gap <= 30.0
            streaks += 1
        else:
            assert gap >= rm.BLOCK_GAP_S - 0.2, (a, b)
    assert streaks == max(1, int(spec.minutes // 10))


@pytest.mark.parametrize("name", sorted(PLANS))
def test_pictures_cover_the_stream_and_show_what_was_planted(name):
    spec, items, pieces = PLANS[name]
    assert pieces[0].start_s == 0 and pieces[-1].end_s == spec.minutes * 60
    assert all(a.end_s == b.start_s for a, b in zip(pieces, pieces[1:]))
    base = rm.pictures([], spec.minutes * 60, np.random.default_rng(spec.seed))
    assert len(base) >= spec.minutes * 60 / rm.CALM_SEGMENT_S[1]
    assert all(a.look != b.look for a, b in zip(base, base[1:])), "hard cuts between looks"

    def looks(e):
        return {p.look for p in pieces if p.start_s < e.end_s and p.end_s > e.start_s}

    for e in items:
        if e.kind in ("video", "both"):
            assert looks(e) == {"action"}
        elif e.kind in ("brb", "intro"):
            assert looks(e) == {e.kind}
        elif e.kind == "return":
            assert any(x.startswith("slide:") for x in looks(e))
        elif e.kind == "audio":
            assert looks(e) <= set(rm.CALM_LOOKS) | {"bright"}


def test_plans_are_the_same_every_time():
    assert rm.plan(rm.STREAMS[0]) == rm.plan(rm.STREAMS[0])


def test_figures_count_moments_decoys_and_calm_picks():
    moments = [PlantedEvent(100, 112, "audio"), PlantedEvent(300, 310, "video")]
    decoys = [PlantedEvent(500, 540, "music")]
    top = [{"start": 92, "end": 122, "rank": 1}, {"start": 505, "end": 535, "rank": 2},
           {"start": 700, "end": 730, "rank": 3}]
    f = rm.figures(top, moments, decoys)
    assert (f.recall, f.decoys, f.calm) == (0.5, ["music"], 1)
    assert f.precision == pytest.approx(1 / 3)
    assert rm.decoy_ranks(top, moments + decoys) == "music:2"
