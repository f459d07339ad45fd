"""Scoring and selection: pure functions."""

import numpy as np
import pytest

import scoring


def test_robust_z_ignores_outliers_when_scaling():
    x = np.r_[np.random.default_rng(0).normal(10, 1, 500), [40.0]][:, None]
    z = scoring.robust_z(x)[:, 0]
    assert abs(np.median(z)) < 0.05
    assert z[-1] > 5  # squashed towards the limit, but clearly out
    assert z.max() <= scoring.Z_LIMIT


def test_robust_z_on_a_flat_signal_with_one_event_does_not_divide_by_zero():
    x = np.zeros((100, 1))
    x[50] = 0.4
    z = scoring.robust_z(x)[:, 0]
    assert np.isfinite(z).all() and z[50] > 5 and z[0] == 0


def test_weighted_score_is_the_weighted_mean_of_named_columns():
    z = np.array([[1.0, 2.0, 100.0]])
    s = scoring.weighted_score(z, ("a", "b", "c"), {"a": 1.0, "b": 3.0})
    assert s[0] == pytest.approx((1 + 6) / 4)


def test_clip_span_pads_before_and_clamps_to_the_stream():
    assert scoring.clip_span(40, 50, 300, clip_length_s=30, pre_roll_s=8, post_roll_s=4,
                             max_clip_length_s=60) == (32, 62)
    # a long moment runs the clip on past its end
    assert scoring.clip_span(40, 80, 300, clip_length_s=30, pre_roll_s=8, post_roll_s=4,
                             max_clip_length_s=60) == (32, 84)
    # near the start and end of the stream
    assert scoring.clip_span(3, 5, 300, clip_length_s=30, pre_roll_s=8, post_roll_s=4,
                             max_clip_length_s=60) == (0, 30)
    assert scoring.clip_span(290, 295, 300, clip_length_s=30, pre_roll_s=8, post_roll_s=4,
                             max_clip_length_s=60) == (270, 300)
    # a stream shorter than a clip
    assert scoring.clip_span(5, 8, 20, clip_length_s=30, pre_roll_s=8, post_roll_s=4,
                             max_clip_length_s=60) == (0, 20)


def spans(score, **kw):
    args = dict(top_n=10, min_gap_s=10, smooth_s=1, clip_length_s=20, pre_roll_s=5,
                post_roll_s=2, max_clip_length_s=40)
    args.update(kw)
    return scoring.select_spans(np.asarray(score, np.float32), 1.0, len(score), **args)


def test_select_spans_finds_events_in_order_and_starts_before_them():
    score = np.zeros(300)
    score[100:110] = 5
    score[200:206] = 8
    chosen = spans(score, top_n=2)
    assert [c.event_start for c in chosen] == [200, 100]
    assert chosen[0].start == 195 and chosen[1].start == 95
    assert chosen[1].event_end == 110


def test_close_moments_become_one_clip_and_no_moment_is_lost_to_padding():
    # issue 14: the fight, then the chase, 6 s later - one clip holding both
    score = np.zeros(300)
    score[100:106] = 9
    score[112:118] = 8
    score[200] = 7
    chosen = spans(score, top_n=2)
    assert [(c.event_start, c.event_end) for c in chosen] == [(100, 118), (200, 201)]
    assert chosen[0].start == 95 and chosen[0].end >= 118 and chosen[0].index in range(100, 106)


def test_a_streak_too_long_for_one_clip_becomes_clips_that_touch():
    score = np.zeros(300)
    score[100:120] = 9
    score[126:146] = 8  # merged it would run 53 s, past max_clip_length_s=40
    chosen = spans(score, top_n=2)
    (a, b) = sorted(chosen, key=lambda c: c.start)
    assert (a.event_start, b.event_start) == (100, 126)
    assert a.end == b.start and a.event_end <= a.end and b.start <= b.event_start


def test_moments_apart_keep_their_own_clips_with_padding_trimmed_not_dropped():
    score = np.zeros(300)
    score[100] = 9
    score[118] = 8  # 17 s later: its pre-roll would reach into the first clip
    chosen = spans(score, top_n=2)
    (a, b) = sorted(chosen, key=lambda c: c.start)
    assert (a.index, b.index) == (100, 118)
    assert a.end <= b.start and a.event_end <= a.end and b.start <= b.event_start


def test_a_second_peak_inside_a_moment_is_not_a_second_highlight():
    score = np.zeros(300)
    score[100:120] = 8
    score[104] = score[115] = 9
    chosen = spans(score, top_n=3, min_gap_s=0)
    assert sum(1 for c in chosen if c.event_start <= 110 < c.event_end) == 1


def test_select_spans_skips_invalid_windows_and_respects_top_n():
    score = np.arange(100, dtype=float) % 17
    valid = np.ones(100, bool)
    valid[16] = False
    chosen = spans(score, top_n=2, min_gap_s=0, clip_length_s=5, pre_roll_s=1,
                   valid=valid)
    assert len(chosen) == 2 and 16 not in [c.index for c in chosen]


def test_smooth_keeps_length_and_mean_level():
    s = scoring.smooth(np.ones(10, np.float32), 3)
    assert s.shape == (10,) and np.allclose(s, 1)


# --- the blend and the explanation (issue 12: pure, on plain arrays) ---------------------------

def _signal(name, heuristic, weight, ml=None, covered=None):
    h = np.asarray(heuristic, np.float32)
    return scoring.ModalityInput(name, h[:, None], h, ml, weight, covered)


def test_missing_chat_is_absent_from_the_blend_never_zero():
    valid = np.ones(4, bool)
    audio = _signal("audio", [1.0, 1.0, 1.0, 1.0], 0.5)
    video = _signal("video", [3.0, 3.0, 3.0, 3.0], 0.5)
    covered = np.array([True, True, False, False])
    chat = _signal("chat", [5.0, 5.0, 5.0, 5.0], 1.0, covered=covered)
    with_chat = scoring.blend([audio, video, chat], valid, ml_share=0.0)
    without = scoring.blend([audio, video], valid, ml_share=0.0)
    # where chat is unknown the score is the audio/video mean, not pulled down by a zero
    assert with_chat.combined[2:].tolist() == without.combined[2:].tolist() == [2.0, 2.0]
    assert with_chat.combined[:2].tolist() == [(0.5 + 1.5 + 5.0) / 2] * 2
    assert np.isnan(with_chat.chat[2:]).all() and with_chat.chat[:2].tolist() == [5.0, 5.0]
    assert without.chat is None and with_chat.ml is None


def test_the_model_takes_its_share_of_each_signal_and_invalid_windows_are_nan():
    valid = np.array([True, True, False])
    audio = _signal("audio", [0.0, 0.0, 0.0], 1.0, ml=np.full(3, 4.0, np.float32))
    scores = scoring.blend([audio], valid, ml_share=0.25)
    assert scores.audio.tolist() == [1.0, 1.0, 1.0] and scores.ml.tolist() == [4.0] * 3
    assert scores.combined[:2].tolist() == [1.0, 1.0] and np.isnan(scores.combined[2])
    assert scoring.blend([audio], valid, ml_share=3.0).audio.tolist() == [4.0] * 3  # at most all


def test_rank_explains_each_highlight_by_its_largest_contributions():
    from config import Config

    config = Config(top_n=1, clip_length_s=4.0, pre_roll_s=1.0, min_gap_s=1.0, smooth_s=1.0,
                    window_s=1.0)
    audio_names = scoring.modality("audio").features
    z = np.zeros((30, len(audio_names)), np.float32)
    z[20, audio_names.index("rms_mean")] = 6.0
    heuristic = scoring.weighted_score(z, audio_names, config.audio_weights)
    inputs = [scoring.ModalityInput("audio", z, heuristic, None, 1.0)]
    ranking = scoring.rank(scoring.blend(inputs, np.ones(30, bool), 0.0), np.ones(30, bool),
                           1.0, 30.0, config)
    (h,) = ranking.highlights
    assert h.peak == 20.5 and h.kind == "audio" and h.reasons[0].startswith("loud audio")
    assert ranking.video_highlights == [] and ranking.chat_highlights == []
    assert ranking.notes == ["ranked by the heuristic alone (no trained model yet)"]
    assert [m.name for m in scoring.modalities()] == ["audio", "video", "chat"]


# --- issue 14: one strong signal wins, and a moment stands out against its neighbourhood -------

def test_a_moment_strong_on_one_signal_beats_one_mild_on_both():
    valid = np.ones(2, bool)
    audio = _signal("audio", [0.0, 2.0], 0.5)
    video = _signal("video", [4.0, 2.0], 0.5)  # window 0: fast action, ordinary audio
    mean = scoring.blend([audio, video], valid, 0.0)
    fused = scoring.blend([audio, video], valid, 0.0, scoring.Fusion(peak_share=0.5))
    assert mean.combined.tolist() == [2.0, 2.0]  # the plain mean ties them
    assert fused.combined.tolist() == [3.0, 2.0]


def test_a_plateau_does_not_stand_out_against_its_neighbourhood_but_a_moment_does():
    score = np.zeros(400)
    score[100:112] = 3.0  # a 12 s moment
    score[200:260] = 3.0  # a minute of steady loud music
    score[320:330] = -2.0  # a quiet stretch ...
    score[325] = 1.0  # ... where something small happens
    out = scoring.against_context(score, context=30, guard=5)
    assert out[100:112].min() == pytest.approx(3.0)
    assert np.abs(out[215:245]).max() == pytest.approx(0.0)  # the plateau's middle
    assert out[325] == pytest.approx(1.0)  # the neighbourhood, not the stream, sets the bar
    # the blend applies it to every signal, per window
    fused = scoring.blend([_signal("audio", score, 1.0)], np.ones(400, bool), 0.0,
                          scoring.Fusion(context_s=30, guard_s=5))
    assert np.allclose(fused.combined, out)


def test_reasons_are_weighed_as_the_fusion_weighed_each_signal():
    from config import Config

    config = Config(top_n=1, clip_length_s=4.0, pre_roll_s=1.0, min_gap_s=1.0, smooth_s=1.0,
                    fusion_peak_share=0.5)
    names = {m: scoring.modality(m).features for m in ("audio", "video")}
    z = {m: np.zeros((30, len(f)), np.float32) for m, f in names.items()}
    z["video"][20, names["video"].index("motion_mean")] = 4.0
    z["audio"][20, names["audio"].index("rms_mean")] = 1.0
    inputs = [scoring.ModalityInput(m, z[m], scoring.weighted_score(
        z[m], names[m], getattr(config, f"{m}_weights")), None, 0.5) for m in names]
    scores = scoring.blend(inputs, np.ones(30, bool), 0.0, scoring.Fusion(peak_share=0.5))
    h = scoring.rank(scores, np.ones(30, bool), 1.0, 30.0, config).highlights[0]
    assert h.weights == {"audio": 0.25, "video": 0.75}
    assert h.reasons[0].startswith("fast motion")


def test_a_moment_longer_than_a_clip_keeps_its_peak_in_the_clip():
    score = np.zeros(300)
    score[100:200] = 1.0  # a long, low stretch ...
    score[170] = 1.2  # ... whose peak comes late
    (c,) = spans(score, top_n=1)
    assert c.start <= c.peak < c.end and c.end - c.start <= 40
