"""Guards the quality evaluation's small case from regressing: planted events found, decoys
(loud music, a "be right back" card, a scene cut) not, clips starting 2-10 s early."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "eval"))

import quality  # noqa: E402


@pytest.fixture(scope="module")
def results(tmp_path_factory, monkeypatch_module):
    monkeypatch_module.setattr(quality, "HERE", tmp_path_factory.mktemp("eval"))
    (quality.HERE / "cache").mkdir()
    return quality.evaluate(6, seed=0, work=tmp_path_factory.mktemp("work"))


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_the_plan_has_events_and_every_kind_of_decoy():
    items = quality.plan(6, seed=0)
    assert {e.kind for e in items} == set(quality.EVENT_KINDS) | set(quality.DECOY_KINDS)
    spans = sorted((e.start_s, e.end_s) for e in items)
    assert all(b0 >= a1 for (_, a1), (b0, _) in zip(spans, spans[1:]))  # no overlaps


@pytest.mark.slow  # shares a ~13 s quality run
def test_combined_list_meets_the_targets(results):
    s = results["combined"]
    assert s.recall >= 0.95 and s.precision >= 0.9 and s.decoys == 0
    assert s.coverage >= 0.9 and 2.0 <= s.pre_roll <= 10.0


@pytest.mark.slow  # shares a ~13 s quality run
def test_modality_lists_find_their_own_events(results):
    assert results["audio list"].recall >= 0.95
    assert results["video list"].recall >= 0.95


@pytest.mark.slow  # shares a ~13 s quality run
def test_the_seed_baseline_is_worse(results):
    ours, seed = results["combined"], results["seed baseline"]
    assert seed.recall < ours.recall or seed.decoys > ours.decoys
