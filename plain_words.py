"""What a highlight and the model mean, in a streamer's words (for the UI).

The engine explains a highlight with its largest feature contributions ("loud audio (+6.0)" in
`highlights.json`) and the model with feature importances. Those numbers stay in the JSON and a
*Details* fold; here they become "things got loud", "fast action on screen", "chat exploded (x4
usual)" and "you keep loud moments and fast action; you skip music".

Everything is keyed by feature NAME (`rms_mean`, `motion_max`, `mfcc_3`, ...), never by the
wording of a reason, which may change: a reason is traced back to its feature through
`scoring.REASON_WORDS` when it is not a name itself, and a name nobody wrote a phrase for still
reads as words (by its family, or its name without digits and underscores).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np

from scoring import REASON_WORDS

# What a high value of a feature looked like, said to a streamer.
PHRASES = {
    "rms_mean": "things got loud", "rms_max": "things got loud",
    "rms_std": "the volume jumped", "loudness_variance": "the volume jumped",
    "zcr_mean": "shouting", "spectral_centroid": "screams or high-pitched noise",
    "spectral_rolloff": "screams or high-pitched noise",
    "high_freq_energy": "screams or high-pitched noise",
    "spectral_flux": "sudden sounds", "beat_strength": "music with a strong beat",
    "tempo": "fast music",
    "motion_mean": "fast action on screen", "motion_max": "sudden movement on screen",
    "motion_std": "jerky, shaky action",
    "edge_density_mean": "a lot going on on screen", "edge_density_std": "the picture changed",
    "color_variance": "a colourful scene", "brightness_mean": "a bright scene",
    "brightness_std": "flashes on screen", "scene_cuts": "quick scene changes",
    "message_rate": "chat exploded", "chatters": "lots of viewers chimed in",
    "emotes": "emote spam in chat", "short_share": "chat reacting in one-word bursts",
}
# The same features as things a viewer keeps or skips ("you keep loud moments").
TASTES = {
    "rms_mean": "loud moments", "rms_max": "loud moments", "rms_std": "loud moments",
    "loudness_variance": "loud moments", "zcr_mean": "shouting",
    "spectral_centroid": "screams", "spectral_rolloff": "screams",
    "high_freq_energy": "screams", "spectral_flux": "sudden sounds",
    "beat_strength": "music", "tempo": "music",
    "motion_mean": "fast action", "motion_max": "fast action", "motion_std": "fast action",
    "edge_density_mean": "busy scenes", "edge_density_std": "busy scenes",
    "color_variance": "colourful scenes", "brightness_mean": "bright scenes",
    "brightness_std": "flashes", "scene_cuts": "scene changes",
    "message_rate": "chat bursts", "chatters": "chat bursts", "emotes": "emote spam",
    "short_share": "chat bursts",
}
# Families of names with no phrase of their own (new features, numbered coefficients).
FAMILIES = (("mfcc", "the voice or sound changed", ""),  # timbre: no taste to name
            ("rms", "things got loud", "loud moments"),
            ("loud", "things got loud", "loud moments"),
            ("spectral", "the sound changed", "that kind of sound"),
            ("motion", "fast action on screen", "fast action"),
            ("bright", "flashes on screen", "flashes"),
            ("scene", "quick scene changes", "scene changes"),
            ("chat", "chat went busy", "chat bursts"),
            ("emote", "emote spam in chat", "emote spam"),
            ("message", "chat went busy", "chat bursts"))
KIND_WORDS = {"audio": "something you can hear", "video": "something on screen",
              "both": "big sound and action", "chat": "chat went busy"}
_NUMBERS = re.compile(r"\s*\([^)]*\)\s*$")  # "loud audio (+6.0)" -> "loud audio"


def feature_of(reason: str) -> str:
    """The feature a reason of `highlights.json` stands for: the reason itself when it is a
    name (`motion_max`), else the name `scoring.REASON_WORDS` words that way, else the reason
    without its number."""
    text = _NUMBERS.sub("", str(reason)).strip()
    if text in PHRASES or "_" in text:
        return text
    for name, words in REASON_WORDS.items():
        if words == text:
            return name
    return text


def phrase(feature: str) -> str:
    """A feature (or a reason) as a streamer would say it happened."""
    return _say(feature, PHRASES, 1)


def taste(feature: str) -> str:
    """A feature as a kind of moment someone keeps or skips ("loud moments"); "" for one
    that names no kind of moment a person would recognise (timbre coefficients)."""
    return _say(feature, TASTES, 2)


def _say(feature: str, words: dict[str, str], column: int) -> str:
    """`words[feature]`, else its family's words (`FAMILIES`' `column`), else the name."""
    if feature in words:
        return words[feature]
    family = next((f for f in FAMILIES if f[0] in feature), None)
    return family[column] if family else _words(feature)


def _words(name: str) -> str:
    """A name nobody gave words: no underscores, no digits, no numbers in brackets."""
    text = re.sub(r"[_\d]+", " ", _NUMBERS.sub("", name))
    return re.sub(r"\s+", " ", text).strip() or "a stand-out moment"


def why(highlight: dict[str, Any], chat_ratio: float | None = None) -> list[str]:
    """Why a highlight was picked, in plain words, strongest first and each said once. With
    `chat_ratio` (the chat's message rate at the moment / its usual rate), a chat reason says
    how busy: "chat exploded (x4 usual)"."""
    said: list[str] = []
    for reason in highlight.get("reasons") or []:
        name = feature_of(reason)
        words = phrase(name)
        if name == "message_rate" and chat_ratio is not None and chat_ratio >= 1.5:
            words = f"{words} (x{chat_ratio:.0f} usual)"
        if words not in said:
            said.append(words)
    if not said:
        said.append(KIND_WORDS.get(highlight.get("kind", ""), "a stand-out moment"))
    return said


# --- the model --------------------------------------------------------------------------------

KEEP_AT = 0.5  # a rating at or above this is a keep
LEAN_Z = 0.5  # how much higher (in z) a feature must run in one group to say they lean to it


def leanings(names: Sequence[str], x: np.ndarray, rating: np.ndarray
             ) -> tuple[list[str], list[str]]:
    """(what the kept clips have, what the skipped clips have) more than the others, as
    tastes, strongest first. `x` (n, f) float holds the rated windows' z-scores over `names`,
    `rating` (n,) their ratings 0..1. Without skips, kept clips are held against a calm
    moment (z 0); without keeps, skipped ones likewise."""
    x = np.asarray(x, np.float64)
    rating = np.asarray(rating, np.float64)
    kept, skipped = x[rating >= KEEP_AT], x[rating < KEEP_AT]
    zero = np.zeros(len(names))
    keep_mean = kept.mean(axis=0) if len(kept) else zero
    skip_mean = skipped.mean(axis=0) if len(skipped) else zero

    def ordered(high: np.ndarray, low: np.ndarray, present: bool) -> list[str]:
        if not present:
            return []
        gap = high - low
        out: list[str] = []
        for j in np.argsort(-gap):
            if gap[j] < LEAN_Z or high[j] < LEAN_Z:
                break
            said = taste(names[j])
            if said and said not in out:
                out.append(said)
        return out

    return (ordered(keep_mean, skip_mean, len(kept) > 0),
            ordered(skip_mean, keep_mean, len(skipped) > 0))


def _join(items: Sequence[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def model_summary(ratings: int, kept: int, leaned: tuple[list[str], list[str]],
                  share: float, trained_at: str | None) -> str:
    """What the model learned, in sentences: what the user keeps and skips, how many ratings
    that rests on, and how much of each score it decides now (`share` 0..1)."""
    if not ratings:
        start = ("A starter model learned what stands out in your streams"
                 if trained_at else "Clips are ranked by built-in rules")
        return (f"{start}. Nothing rated yet: keep or skip clips in Review and it learns "
                "what you like.")
    likes, dislikes = leaned
    parts = []
    if likes:
        parts.append(f"you keep {_join(likes[:2])}")
    if dislikes:
        parts.append(f"you skip {_join(dislikes[:2])}")
    learned = ("; ".join(parts) if parts
               else "no clear pattern yet - keep rating, especially clips you skip")
    text = (f"**What it learned:** {learned[:1].upper()}{learned[1:]}.\n\n"
            f"Based on **{ratings} rating{'s' if ratings != 1 else ''}** ({kept} kept, "
            f"{ratings - kept} skipped). ")
    text += (f"It decides about **{round(100 * share)}%** of each clip's score now; the "
             "rest is the built-in rules. The more you rate, the more it decides.")
    if trained_at:
        text += f"\n\nLast trained {local_time(trained_at)}."
    return text


# --- dates ------------------------------------------------------------------------------------

def local_time(stamp: str | None, now: datetime | None = None) -> str:
    """An ISO time (with or without zone; without is taken as local) as this computer's local
    time, the way people say it: "today 14:05", "yesterday 09:30", "Tue 3 Mar 2026 18:00"."""
    if not stamp:
        return "never"
    try:
        when = datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).astimezone()
    except ValueError:
        return str(stamp)
    now = (now or datetime.now()).astimezone()
    clock = when.strftime("%H:%M")
    days = (now.date() - when.date()).days
    if days == 0:
        return f"today {clock}"
    if days == 1:
        return f"yesterday {clock}"
    return f"{when.strftime('%a')} {when.day} {when.strftime('%b %Y')} {clock}"
