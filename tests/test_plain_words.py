"""Plain words for the UI: reasons, what the model learned, local dates."""

from datetime import datetime, timedelta, timezone

import numpy as np

import plain_words as pw


def test_reasons_read_as_words_whatever_their_form():
    """By feature name, by the engine's wording with its number, or a name nobody phrased:
    never a z-score, an underscore or a coefficient number."""
    h = {"reasons": ["loud audio (+6.0)", "motion_max", "mfcc_10 (+2.1)", "rms_max (+1.0)",
                     "new_signal_3 (+0.5)"], "kind": "both"}
    said = pw.why(h)
    assert said == ["things got loud", "sudden movement on screen",
                    "the voice or sound changed", "new signal"]
    assert not any(ch.isdigit() or "_" in s or "(" in s for s in said for ch in s)


def test_chat_says_how_busy_and_a_bare_highlight_says_its_kind():
    assert pw.why({"reasons": ["chat burst (+3.2)"]}, chat_ratio=4.2) == [
        "chat exploded (x4 usual)"]
    assert pw.why({"reasons": ["message_rate"]}, chat_ratio=1.1) == ["chat exploded"]
    assert pw.why({"reasons": [], "kind": "video"}) == ["something on screen"]


def test_what_the_model_learned_is_said_in_sentences():
    names = ("rms_mean", "motion_mean", "beat_strength", "mfcc_1")
    rng = np.random.default_rng(0)
    kept = rng.normal(0, 0.2, (10, 4)) + [2.0, 0.3, 0.0, 3.0]
    skipped = rng.normal(0, 0.2, (10, 4)) + [0.0, 0.0, 2.5, 0.0]
    likes, dislikes = pw.leanings(names, np.vstack([kept, skipped]), np.r_[[1.0] * 10,
                                                                            [0.0] * 10])
    assert likes == ["loud moments"] and dislikes == ["music"]  # mfcc: no taste to name
    text = pw.model_summary(4, 3, (["loud moments", "fast action"], ["music"]), 0.42,
                            "2026-03-03T14:05:00")
    assert "You keep loud moments and fast action; you skip music." in text
    assert "**4 ratings** (3 kept, 1 skipped)" in text and "**42%**" in text
    assert "Nothing rated yet" in pw.model_summary(0, 0, ([], []), 0.0, None)


def test_dates_are_local_and_said_as_people_say_them():
    now = datetime(2026, 3, 3, 15, 0).astimezone()
    utc = (now - timedelta(hours=1)).astimezone(timezone.utc).isoformat()
    assert pw.local_time(utc, now) == f"today {(now - timedelta(hours=1)):%H:%M}"
    assert pw.local_time((now - timedelta(days=1)).isoformat(), now).startswith("yesterday")
    assert pw.local_time(None) == "never"
