"""Kick chat as a third signal: the engine's side of a VOD's chat.

The chat is fetched while the stream is analysed and joined to it at the end:

* `skip_reason`: whether a source gets chat at all (Kick VODs only, `use_chat`).
* `ChatJob`: `chat_replay.fetch_replay` (paced, cached in SQLite, resumable) in a background
  thread; it feeds the sampled fetch the top audio/video moments analysed so far
  (`top_moments`) and ends the fetch `chat_tail_s` after the analysis.
* `assemble`: the fetched `ChatReplay` -> `ChatFeatures` (the pure maths of
  `chat_features.py`, chat shifted back by the reaction lag estimated against the audio
  score), the `chat` block of highlights.json and notes.
* Scoring helpers for a sampled chat (`chat_z`, `chat_heuristic`, `mark_rate_only`): where a
  lone page gives the rate alone, only the rate counts.

Chat that cannot be had (not a Kick VOD, blocked, empty) is *absent*, never zeros: `assemble`
returns no features and a note, and the engine leaves the term out of the weighted mean.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import scoring
from chat_features import (
    DENSE_MIN_S,
    ChatFeatures,
    ChatMessages,
    chat_features,
    chat_rate,
    coverage,
    estimate_lag,
    span_coverage,
)
from chat_replay import CANDIDATE_GAP_S, CANDIDATE_MIN, ChatReplay, fetch_replay
from config import Config
from timecode import hms, kick_epoch_s

logger = logging.getLogger(__name__)

MIN_MESSAGES = 20  # fewer messages than this over a VOD is no signal
MIN_COVERAGE_S = 600.0  # a partial fetch must cover this much (or half the stream) to be used


# --- the background job and its result --------------------------------------------------------

def skip_reason(kick: dict[str, Any] | None, config: Config) -> str | None:
    """Why a source gets no chat (None: fetch it)."""
    if not config.use_chat:
        return "turned off"
    if not kick or kick.get("kind") != "vod":
        return "chat replay is fetched for Kick VODs only"
    if kick.get("channel_id") is None:
        return "Kick gave no channel id for this video"
    if kick_epoch_s(kick.get("created_at")) is None:
        return "Kick gave no start time for this video"
    return None


@dataclass
class ChatJob:
    """`fetch_replay` in a background thread, run while the stream is analysed. The engine
    reads `status()` for its progress line (the UI's progress only works from the run's own
    thread, so the job never reports itself) and `stop()`s it when the run ends early."""

    config: Config
    kick: dict[str, Any]
    duration_s: float
    _stop: threading.Event = field(default_factory=threading.Event)
    _status: tuple[float, str] = (0.0, "chat 0%")
    _replay: ChatReplay | None = None
    _error: BaseException | None = None
    _thread: threading.Thread | None = None
    _features: Any = None  # the StreamFeatures the analysis is filling (`watch`)
    _deadline: float | None = None
    _analysed: float = 0.0
    _moments: tuple[int, list[tuple[float, float]]] = (-1, [])

    def start(self) -> ChatJob:
        self._thread = threading.Thread(target=self._work, name="kick-chat", daemon=True)
        self._thread.start()
        return self

    def _work(self) -> None:
        try:
            self._replay = fetch_replay(
                self.config, int(self.kick["channel_id"]), str(self.kick["id"]),
                kick_epoch_s(self.kick["created_at"]) or 0.0, self.duration_s,
                progress=self._progress, stop=self._stop, candidates=self.candidates,
                deadline=lambda: self._deadline)
        except BaseException as err:  # noqa: BLE001 - a bug: handed to the run's thread
            self._error = err
        self._status = (1.0, "chat done")

    def _progress(self, fraction: float, message: str) -> None:
        self._status = (fraction, message)

    def watch(self, features: Any) -> None:
        """The analysis' hook (`StreamProcessor.walk`'s `on_merge`): called with the stream's
        StreamFeatures each time a chunk lands in them, so the sampled fetch can look at the
        top audio/video moments so far."""
        self._features = features
        self._analysed = float(features.valid.mean())

    def analysis_done(self) -> None:
        """The analysis has ended: the sampled fetch gets `chat_tail_s` more, then stops."""
        self._analysed = 1.0
        self._deadline = time.monotonic() + self.config.chat_tail_s

    def candidates(self) -> tuple[list[tuple[float, float]], float]:
        """(moment s, strength) of the top audio/video moments analysed so far, strongest
        first, and the share of the stream analysed (1.0 once it is done)."""
        analysed, features = self._analysed, self._features
        if features is None:
            return [], analysed
        valid = features.valid.copy()
        count = int(valid.sum())
        if count != self._moments[0]:
            self._moments = (count, top_moments(features, valid, self.config))
        return self._moments[1], analysed

    def status(self) -> tuple[float, str]:
        """(fraction 0..1, short text) of the fetch."""
        return self._status

    def done(self) -> bool:
        return self._thread is None or not self._thread.is_alive()

    def wait(self, timeout_s: float) -> bool:
        """True once the fetch has ended (waits up to `timeout_s`)."""
        if self._thread is not None:
            self._thread.join(timeout_s)
        return self.done()

    def stop(self, timeout_s: float = 2.0) -> None:
        """Ask the fetch to stop (what it stored is kept) and give it `timeout_s` to do so."""
        self._stop.set()
        self.wait(timeout_s)

    def result(self) -> ChatReplay:
        """The replay; re-raises what broke the thread (a bug, not something Kick did)."""
        if self._error is not None:
            raise self._error
        if self._replay is None:
            raise RuntimeError("the chat fetch has not finished")
        return self._replay


def top_moments(features: Any, valid: np.ndarray, config: Config, most: int = 40
                ) -> list[tuple[float, float]]:
    """(moment s, strength) of the best audio/video peaks among the `valid` windows of a
    StreamFeatures: the heuristics' weighted mean (z over what is analysed so far), smoothed;
    peaks at least CANDIDATE_GAP_S apart, strongest first."""
    if valid.sum() < 60:
        return []
    total, weight = np.zeros(len(valid)), 0.0
    for name in ("audio", "video"):
        matrix = getattr(features, name)
        m = scoring.modality(name)
        if matrix is None or m.share(config) <= 0:
            continue
        z = scoring.z_rows(np.asarray(matrix, np.float32), valid)
        total += m.share(config) * scoring.weighted_score(z, m.features, m.feature_weights(config))
        weight += m.share(config)
    if weight <= 0:
        return []
    width = max(1, int(round(config.smooth_s / features.window_s)))
    score = np.where(valid, scoring.smooth(total / weight, width), -np.inf)
    gap = max(1, int(round(CANDIDATE_GAP_S / features.window_s)))
    out = []
    while len(out) < most:
        i = int(np.argmax(score))
        if not np.isfinite(score[i]) or score[i] < CANDIDATE_MIN:
            break
        out.append(((i + 0.5) * features.window_s, float(score[i])))
        score[max(0, i - gap):i + gap + 1] = -np.inf
    return out


def unavailable(reason: str) -> dict[str, Any]:
    """The `chat` block of highlights.json when there is no chat."""
    return {"available": False, "messages": 0, "lag_s": None, "lag_estimated": False,
            "reason": reason}


def assemble(replay: ChatReplay, n_windows: int, window_s: float, duration_s: float,
             reference: np.ndarray | None, valid: np.ndarray, config: Config
             ) -> tuple[ChatFeatures | None, dict[str, Any], list[str]]:
    """A fetched replay -> (features or None, the `chat` block, notes): estimates the reaction
    lag against `reference` (the audio score (n_windows,), or None) and shifts chat by it. Too
    little chat is no chat: None and a note, so the term is left out rather than zeroed."""
    messages = ChatMessages.from_rows(replay.rows, replay.start_epoch_s)
    sampled = replay.spans is not None and not replay.complete and replay.mode == "sampled"
    if sampled:
        return _assemble_sampled(replay, messages, n_windows, window_s, duration_s, reference,
                                 valid, config)
    covered_span = duration_s - replay.covered_from_s
    why = None
    if replay.reason and not len(messages):
        why = replay.reason
    elif len(messages) < MIN_MESSAGES:
        why = ("the chat replay has no messages" if not len(messages) else
               f"only {len(messages)} chat messages")
    elif covered_span < min(MIN_COVERAGE_S, 0.5 * duration_s):
        why = f"only {covered_span:.0f} s of chat fetched ({replay.reason or 'stopped'})"
    if why:
        return None, unavailable(why), [f"chat: unavailable ({why}) - ranked on audio and "
                                        "video"]
    covered = coverage(n_windows, window_s, duration_s, replay.covered_from_s, 0.0)
    lag_s, estimated = _lag(messages, n_windows, window_s, covered, reference, valid, config)
    chat = chat_features(messages, n_windows, window_s, duration_s=duration_s, lag_s=lag_s,
                         covered_from_s=replay.covered_from_s, lag_estimated=estimated)
    block: dict[str, Any] = {"available": True, "messages": chat.messages, "lag_s": lag_s,
                             "lag_estimated": estimated}
    notes = []
    if not replay.complete:
        block["covered_from_s"] = round(replay.covered_from_s, 1)
        block["reason"] = replay.reason or "stopped early"
        more = ("raise chat_max_pages to fetch more" if "page limit" in block["reason"]
                else "run again to fetch the rest")
        notes.append(f"chat: partial ({block['reason']}) - chat covers "
                     f"{hms(replay.covered_from_s)}-{hms(duration_s)}; before that ranked "
                     f"on audio and video ({more})")
    return chat, block, notes


def _lag(messages: ChatMessages, n_windows: int, window_s: float, covered: np.ndarray,
         reference: np.ndarray | None, valid: np.ndarray, config: Config) -> tuple[float, bool]:
    """The chat's reaction lag (s) and whether it was estimated from `reference` (the stream's
    audio/video score) over the `covered` windows, else `config.chat_lag_s`."""
    if reference is None:
        return config.chat_lag_s, False
    rate = chat_rate(messages, n_windows, window_s, covered)
    return estimate_lag(rate, reference, window_s, max_lag_s=config.chat_max_lag_s,
                        default_s=config.chat_lag_s, mask=valid & covered)


def _assemble_sampled(replay: ChatReplay, messages: ChatMessages, n_windows: int,
                      window_s: float, duration_s: float, reference: np.ndarray | None,
                      valid: np.ndarray, config: Config
                      ) -> tuple[ChatFeatures | None, dict[str, Any], list[str]]:
    """`assemble` for a sampled replay: features where pages were fetched (every feature in
    dense stretches, the rate alone under a lone page), nothing in between."""
    spans = replay.spans or []
    fetched_s = sum(hi - lo for lo, hi in spans)
    if len(messages) < MIN_MESSAGES:
        why = replay.reason or (f"only {len(messages)} chat messages" if len(messages)
                                else "the chat replay has no messages")
        return None, unavailable(why), [f"chat: unavailable ({why}) - ranked on audio and "
                                        "video"]
    # the lag is read off dense stretches only: a lone page is a second or a few, and the
    # correlation of scattered single windows picks whatever lag lines a few pages up
    covered, stretch = span_coverage(n_windows, window_s, spans, 0.0)
    covered &= stretch >= min(DENSE_MIN_S, duration_s)
    lag_s, estimated = _lag(messages, n_windows, window_s, covered, reference, valid, config)
    chat = chat_features(messages, n_windows, window_s, duration_s=duration_s, lag_s=lag_s,
                         lag_estimated=estimated, spans=spans)
    rate_only = chat.rate_only if chat.rate_only is not None else np.zeros(n_windows, bool)
    dense_s = float((chat.covered & ~rate_only).sum() * window_s)
    rate_s = float(rate_only.sum() * window_s)
    block: dict[str, Any] = {"available": True, "messages": chat.messages, "lag_s": lag_s,
                             "lag_estimated": estimated, "mode": "sampled",
                             "requests": replay.requests, "fetched_s": round(fetched_s, 1),
                             "dense_s": dense_s, "rate_only_s": rate_s}
    notes = [f"chat: sampled with {replay.requests} requests - every chat feature over "
             f"{hms(dense_s)} around the top moments, the chat rate alone over {hms(rate_s)}, "
             f"the rest ranked on audio and video (--chat full fetches all of it)"]
    if replay.reason:
        block["reason"] = replay.reason
        notes.append(f"chat: stopped early ({replay.reason}) - went on without the rest")
    return chat, block, notes


def chat_z(chat: ChatFeatures, rows: np.ndarray) -> np.ndarray:
    """The chat features' z-scores (n, 4) over `rows`: the rate over every covered row, the
    other features over the dense rows only; 0 where a feature is unknown (rate-only rows)."""
    if chat.rate_only is None:
        return scoring.z_rows(chat.matrix, rows)
    dense = rows & ~chat.rate_only
    z = np.zeros_like(chat.matrix)
    z[:, :1] = scoring.z_rows(chat.matrix[:, :1], rows)
    z[:, 1:] = scoring.z_rows(chat.matrix[:, 1:], dense)
    return z


def chat_heuristic(chat: ChatFeatures, z: np.ndarray, heuristic: np.ndarray) -> np.ndarray:
    """The chat heuristic with the rate term alone where only the rate is known."""
    if chat.rate_only is None:
        return heuristic
    return np.where(chat.rate_only, z[:, 0], heuristic).astype(np.float32)


RATE_ONLY_WORD = "chat rate, sampled"


def mark_rate_only(highlights: list[Any], chat: ChatFeatures | None, window_s: float
                   ) -> list[Any]:
    """Highlights whose peak only a sampled page covers say so: their chat reason reads
    "chat rate, sampled" rather than "chat burst"."""
    if chat is None or chat.rate_only is None:
        return highlights
    import dataclasses

    from scoring import REASON_WORDS

    word = REASON_WORDS["message_rate"]
    out = []
    for h in highlights:
        i = min(int(h.peak / window_s), len(chat.rate_only) - 1)
        if chat.rate_only[i]:
            h = dataclasses.replace(h, reasons=[r.replace(word + " (", RATE_ONLY_WORD + " (")
                                                for r in h.reasons])
        out.append(h)
    return out


__all__ = ["ChatJob", "assemble", "chat_heuristic", "chat_z", "mark_rate_only", "skip_reason",
           "top_moments", "unavailable"]
