"""How a finished run looks in Review, rendered from its `highlights.json` data.

The summary above the cards, the score timeline and the clip cards as HTML (with their CSS
and the JS bridge that turns a card's clicks and keys into one `card` event), and the rows of
the Details fold. Functions from run data to strings and rows (the only disk they touch is a
check that a thumbnail or 9:16 file exists); no Gradio import, so they are tested without a
server. `gradio_interface` places them in the page and wires the events.
"""

from __future__ import annotations

import html
import urllib.parse
from pathlib import Path
from typing import Any

import numpy as np

import plain_words
from timecode import hms, kick_datetime

DETAIL_HEADERS = ["rank", "start", "end", "score", "audio", "video", "chat", "learned",
                  "kind", "reasons (as in highlights.json)"]
NUDGE_S = 1.0  # one press of a trim arrow on a card
TRANSCRIPT_FOLD_CHARS = 160  # a longer transcript on a card is folded
# The engine's notes say what to do as the CLI would ("pass ..."); here, the field to use.
NOTE_WORDS = (
    ("pass a model folder or name", "give a model name or folder in Advanced > Captions model"),
    ("pass a model folder", "give a model folder in Advanced > Captions model"),
    ("(pass its box to use split)", "(give its box under Webcam box in Review to use split)"),
)

# The card grid and the timeline are plain HTML; this bridge turns clicks and keys into one
# `card` event ({act, run, rank, start, end}) on the grid component. Trim arrows only move the
# card's own start/end until Re-cut is pressed. J/K move, Y/N keep/skip the selected card.
CARDS_JS = """
const hms = (s) => { s = Math.round(s); const h = Math.floor(s / 3600);
  const m = Math.floor(s % 3600 / 60), r = s % 60;
  return `${h}:${String(m).padStart(2, '0')}:${String(r).padStart(2, '0')}`; };
const cards = () => [...element.querySelectorAll('.kcg-card')];
const grid = () => element.querySelector('.kcg-grid');
function pick(card, scroll) {
  if (!card) return;
  cards().forEach((c) => c.classList.toggle('kcg-sel', c === card));
  if (scroll) card.scrollIntoView({block: 'nearest', behavior: 'smooth'});
}
function send(card, act) {
  trigger('card', {act: act, run: grid().dataset.run, rank: Number(card.dataset.rank),
                   start: Number(card.dataset.start), end: Number(card.dataset.end)});
}
function nudge(card, which, by) {
  const start = Number(card.dataset.start), end = Number(card.dataset.end);
  const length = Number(grid().dataset.duration);
  let v = (which === 'start' ? start : end) + by;
  v = which === 'start' ? Math.min(Math.max(0, v), end - 1)
                        : Math.max(Math.min(length, v), start + 1);
  card.dataset[which] = v.toFixed(1);
  card.querySelector('.kcg-t-' + which).textContent = hms(v);
  card.querySelector('.kcg-recut').disabled = false;
}
element.addEventListener('click', (e) => {
  const card = e.target.closest('.kcg-card');
  if (!card) return;
  const button = e.target.closest('button');
  pick(card, false);
  if (!button) return;
  if (button.dataset.nudge) {
    const [which, by] = button.dataset.nudge.split(':');
    nudge(card, which, Number(by));
  } else if (button.dataset.act) {
    send(card, button.dataset.act);
  }
});
window.kcgSelect = (rank) => pick(element.querySelector(`.kcg-card[data-rank="${rank}"]`), true);
if (window.kcgKeys) document.removeEventListener('keydown', window.kcgKeys);
window.kcgKeys = (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey || !element.offsetParent) return;
  if (e.target.closest('input, textarea, select, [contenteditable=true]')) return;
  const key = e.key.toLowerCase(), all = cards();
  if (!'jkyn'.includes(key) || !all.length || key.length !== 1) return;
  const at = all.findIndex((c) => c.classList.contains('kcg-sel'));
  if (key === 'j' || key === 'k') {
    const to = at < 0 ? 0 : Math.min(all.length - 1, Math.max(0, at + (key === 'j' ? 1 : -1)));
    pick(all[to], true);
  } else {
    send(all[Math.max(at, 0)], key === 'y' ? 'keep' : 'skip');
  }
  e.preventDefault();
};
document.addEventListener('keydown', window.kcgKeys);
"""
TIMELINE_JS = """
element.addEventListener('click', (e) => {
  const hit = e.target.closest('[data-rank]');
  if (hit && window.kcgSelect) window.kcgSelect(hit.dataset.rank);
});
"""
CARDS_CSS = """
.kcg-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(230px, 1fr));
  gap: 12px; }
.kcg-card { border: 2px solid var(--border-color-primary); border-radius: 10px; padding: 8px;
  background: var(--background-fill-secondary); display: flex; flex-direction: column;
  gap: 6px; min-width: 0; }
.kcg-card.kcg-sel { border-color: var(--color-accent);
  box-shadow: 0 0 0 2px var(--color-accent-soft); }
.kcg-card.kcg-keep { border-color: #16a34a; }
.kcg-card.kcg-skip { opacity: .55; }
.kcg-card video { width: 100%; aspect-ratio: 16 / 9; border-radius: 6px; background: #111; }
.kcg-head { display: flex; gap: 8px; align-items: baseline; font-size: 14px; }
.kcg-head .kcg-verdict { margin-left: auto; font-weight: 600; }
.kcg-keep .kcg-verdict { color: #16a34a; } .kcg-skip .kcg-verdict { color: #b91c1c; }
.kcg-bar { height: 6px; border-radius: 3px; background: var(--border-color-primary); }
.kcg-bar i { display: block; height: 100%; border-radius: 3px; background: #f59e0b; }
.kcg-why { font-size: 13px; min-height: 2.6em; }
.kcg-rate { display: flex; gap: 6px; }
.kcg-rate button { flex: 1; padding: 8px; border-radius: 6px; font-weight: 600;
  border: 1px solid var(--border-color-primary); cursor: pointer;
  background: var(--button-secondary-background-fill); color: var(--body-text-color); }
.kcg-rate button[data-act=keep] { background: #16a34a; color: white; border-color: #16a34a; }
.kcg-rate button[data-act=skip] { background: #6b7280; color: white; border-color: #6b7280; }
.kcg-trim { font-size: 12px; }
.kcg-trim summary { cursor: pointer; }
.kcg-trim .kcg-row { display: flex; align-items: center; gap: 4px; margin-top: 4px; }
.kcg-trim .kcg-row span { flex: 1; text-align: center; font-variant-numeric: tabular-nums; }
.kcg-trim button { padding: 2px 8px; border-radius: 4px; cursor: pointer;
  border: 1px solid var(--border-color-primary); background: var(--background-fill-primary);
  color: var(--body-text-color); }
.kcg-trim .kcg-recut { width: 100%; margin-top: 6px; padding: 4px; }
.kcg-9x16 { font-size: 12px; font-weight: 600; padding: 0 5px; border-radius: 4px;
  border: 1px solid var(--border-color-primary); text-decoration: none;
  color: var(--body-text-color); }
.kcg-said { font-size: 12px; font-style: italic; color: var(--body-text-color-subdued); }
.kcg-said summary { cursor: pointer; }
.kcg-empty { padding: 16px; color: var(--body-text-color-subdued); }
.kcg-keys { font-size: 12px; color: var(--body-text-color-subdued); margin: 4px 0; }
"""
TIMELINE_CSS = """
.kcg-legend { display: flex; flex-wrap: wrap; gap: 14px; font-size: 12px; margin: 0 0 4px 0; }
.kcg-legend i { display: inline-block; width: 14px; height: 3px; margin-right: 4px;
  vertical-align: middle; }
.kcg-timeline svg { width: 100%; height: auto; display: block; }
.kcg-timeline [data-rank] { cursor: pointer; }
.kcg-timeline [data-rank]:hover rect { fill-opacity: .6; }
"""
LINES = (("combined", "score", "#111827", 2.0), ("audio", "sound", "#3b82f6", 1.0),
         ("video", "picture", "#10b981", 1.0), ("chat", "chat", "#a855f7", 1.0))


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def file_url(path: str | Path) -> str:
    """The URL Gradio serves a file of the output folder at (see `allowed_paths`)."""
    return "gradio_api/file=" + urllib.parse.quote(str(Path(path).resolve()))


def ui_note(note: str) -> str:
    """A run's note as the UI says it: a field to use, never a flag."""
    for said, shown in NOTE_WORDS:
        note = note.replace(said, shown)
    return note


def summary_markdown(data: dict[str, Any]) -> str:
    """A run in a few plain lines: what, how long, how many clips, what to know."""
    lines = [f"**{data['title']}** - {hms(data['duration_s'])} long, "
             f"{plural(len(data['highlights']), 'highlight')}, made "
             f"{plain_words.local_time(data.get('created_at'))}"]
    kick = data.get("kick") or {}
    if kick:
        streamed = kick_datetime(kick.get("created_at"))
        lines.append(f"Kick {kick.get('kind', 'video')} of **{kick.get('channel') or '?'}**"
                     + (f", streamed {plain_words.local_time(streamed.isoformat())}"
                        if streamed else ""))
    chat = data.get("chat") or {}
    if chat.get("available"):
        lines.append(f"Chat counted: {chat['messages']} messages")
    lines += [f"- {hms(s['start'])}-{hms(s['end'])} could not be read: {s['reason']}"
              for s in data.get("skipped_chunks", [])]
    lines += [f"- clip {f['rank']} could not be cut: {f['reason']}"
              for f in data.get("failed_clips", [])]
    lines += [f"- {ui_note(note)}" for note in data.get("notes", [])]
    return "\n\n".join(lines[:2]) + ("\n\n" + "\n".join(lines[2:]) if lines[2:] else "")


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def detail_rows(data: dict[str, Any]) -> list[list[Any]]:
    """The numbers behind each highlight, for the Details fold."""
    def num(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    return [[h["rank"], hms(h["start"]), hms(h["end"]), num(h["score"]),
             num(h.get("audio_score")), num(h.get("video_score")), num(h.get("chat_score")),
             num(h.get("ml_score")), h["kind"], ", ".join(h["reasons"])]
            for h in data["highlights"]]


def cards_html(run_dir: str, data: dict[str, Any], ratings: dict[int, float],
               ratios: dict[int, float] | None = None, selected: int | None = None) -> str:
    """Every clip of a run as a card: its thumbnail as the poster, start, a score bar, why in
    plain words, Keep / Skip, and a trim fold with Re-cut."""
    highlights = data["highlights"]
    if not highlights:
        return "<div class='kcg-empty'>This run found no highlights.</div>"
    top = max((h["score"] for h in highlights), default=1.0) or 1.0
    low = min(0.0, *(h["score"] for h in highlights))
    items = []
    for h in highlights:
        rank, rating = int(h["rank"]), ratings.get(int(h["rank"]))
        state = ("" if rating is None else " kcg-keep" if rating >= plain_words.KEEP_AT
                 else " kcg-skip")
        verdict = ("" if rating is None else "kept" if rating >= plain_words.KEEP_AT
                   else "skipped")
        width = 8 + 92 * max(0.0, (h["score"] - low) / ((top - low) or 1.0))
        reasons = " · ".join(plain_words.why(h, (ratios or {}).get(rank)))
        poster = f" poster='{esc(file_url(h['thumbnail_path']))}'" if h.get(
            "thumbnail_path") and Path(h["thumbnail_path"]).exists() else ""
        media_tag = (f"<video preload='none' controls{poster} "
                     f"src='{esc(file_url(h['clip_path']))}'></video>"
                     if h.get("clip_path") else "<div class='kcg-empty'>no clip cut</div>")
        trim = "" if not h.get("clip_path") or data.get("live") else (
            "<details class='kcg-trim'><summary>Trim</summary>"
            f"<div class='kcg-row'>start <button data-nudge='start:-{NUDGE_S:g}' "
            f"title='start earlier'>&minus;{NUDGE_S:g}s</button>"
            f"<span class='kcg-t-start'>{hms(h['start'])}</span>"
            f"<button data-nudge='start:{NUDGE_S:g}' title='start later'>+{NUDGE_S:g}s"
            f"</button></div><div class='kcg-row'>end&nbsp; <button data-nudge="
            f"'end:-{NUDGE_S:g}' title='end earlier'>&minus;{NUDGE_S:g}s</button>"
            f"<span class='kcg-t-end'>{hms(h['end'])}</span>"
            f"<button data-nudge='end:{NUDGE_S:g}' title='end later'>+{NUDGE_S:g}s</button>"
            "</div><button class='kcg-recut' data-act='recut' disabled>Re-cut</button>"
            "</details>")
        vertical = (f"<a class='kcg-9x16' href='{esc(file_url(h['vertical_path']))}' "
                    "target='_blank' title='the 9:16 clip (opens in a new tab)'>9:16</a>"
                    if h.get("vertical_path") and Path(h["vertical_path"]).exists() else "")
        items.append(
            f"<div class='kcg-card{state}{' kcg-sel' if rank == selected else ''}' "
            f"data-rank='{rank}' data-start='{h['start']:.3f}' data-end='{h['end']:.3f}'>"
            f"{media_tag}<div class='kcg-head'><b>#{rank}</b><span>at {hms(h['start'])}"
            f"</span><span>{h['end'] - h['start']:.0f} s</span>{vertical}"
            f"<span class='kcg-verdict'>{verdict}</span></div>"
            f"<div class='kcg-bar' title='score'><i style='width:{width:.0f}%'></i></div>"
            f"<div class='kcg-why'>{esc(reasons)}</div>{transcript_html(h)}"
            "<div class='kcg-rate'>"
            f"<button data-act='keep'>Keep</button><button data-act='skip'>Skip</button>"
            f"</div>{trim}</div>")
    return (f"<div class='kcg-keys'>Keep or skip each clip: the model learns from it at "
            f"once. Keys: J / K move, Y keep, N skip.</div><div class='kcg-grid' "
            f"data-run='{esc(run_dir)}' data-duration='{data['duration_s']:.3f}'>"
            + "".join(items) + "</div>")


def transcript_html(h: dict[str, Any]) -> str:
    """What was said in the clip (captions on), as plain text; folded when long."""
    text = " ".join(str(h.get("transcript") or "").split())
    if h.get("transcript") is None:
        return ""
    if not text:
        return "<div class='kcg-said kcg-quiet'>no speech heard</div>"
    if len(text) <= TRANSCRIPT_FOLD_CHARS:
        return f"<div class='kcg-said'>&ldquo;{esc(text)}&rdquo;</div>"
    return (f"<details class='kcg-said'><summary>&ldquo;{esc(text[:80].rsplit(' ', 1)[0])}"
            f"&hellip;&rdquo;</summary>{esc(text)}</details>")


def _path(xs: np.ndarray, ys: np.ndarray) -> str:
    """An SVG path through the finite points, broken where a value is missing."""
    out, pen = [], "M"
    for x, y in zip(xs, ys):
        if not np.isfinite(y):
            pen = "M"
            continue
        out.append(f"{pen}{x:.1f},{y:.1f}")
        pen = "L"
    return "".join(out)


def timeline_html(data: dict[str, Any], scores: Any, window_s: float,
                  width: int = 1000, height: int = 150) -> str:
    """The scores over the whole stream with the highlights as numbered, clickable bands (a
    click selects the clip's card). The legend sits above the plot, never over it."""
    duration = float(data["duration_s"]) or 1.0
    series = [(getattr(scores, name, None), label, color, lw)
              for name, label, color, lw in LINES]
    series = [(np.asarray(v, np.float64), label, color, lw) for v, label, color, lw in series
              if v is not None and len(v)]
    top, bottom = 18, height - 20
    finite = np.concatenate([v[np.isfinite(v)] for v, *_ in series]) if series else np.zeros(1)
    lo, hi = (float(np.percentile(finite, 1)), float(finite.max())) if len(finite) else (0, 1)
    hi = hi if hi > lo else lo + 1.0

    def x_of(t: float) -> float:
        return width * min(max(t / duration, 0.0), 1.0)

    def y_of(v: np.ndarray) -> np.ndarray:
        return bottom - (bottom - top) * (np.clip(v, lo, hi) - lo) / (hi - lo)

    parts = [f"<svg viewBox='0 0 {width} {height}' role='img' "
             "aria-label='scores over the stream'>",
             f"<line x1='0' x2='{width}' y1='{bottom}' y2='{bottom}' stroke='#9ca3af'/>"]
    for h in data["highlights"]:
        x0, x1 = x_of(h["start"]), x_of(h["end"])
        parts.append(f"<g data-rank='{h['rank']}'><title>clip {h['rank']} at "
                     f"{hms(h['start'])}</title><rect x='{x0:.1f}' y='{top}' "
                     f"width='{max(x1 - x0, 3):.1f}' height='{bottom - top}' fill='#f5c542' "
                     f"fill-opacity='.35'/><text x='{(x0 + x1) / 2:.1f}' y='{top - 4}' "
                     f"font-size='12' text-anchor='middle'>{h['rank']}</text></g>")
    for values, _, color, lw in reversed(series):
        step = max(1, int(np.ceil(len(values) / width)))  # at most a point per pixel
        n = len(values) // step * step
        pooled = values[:n].reshape(-1, step)
        with np.errstate(all="ignore"):
            peak = np.where(np.isfinite(pooled).any(1), np.nanmax(
                np.where(np.isfinite(pooled), pooled, -np.inf), axis=1), np.nan)
        xs = [x_of((i + 0.5) * step * window_s) for i in range(len(peak))]
        parts.append(f"<path d='{_path(np.array(xs), y_of(peak))}' fill='none' "
                     f"stroke='{color}' stroke-width='{lw}' pointer-events='none'/>")
    for frac in (0, 0.25, 0.5, 0.75, 1.0):
        anchor = "start" if frac == 0 else "end" if frac == 1 else "middle"
        parts.append(f"<text x='{width * frac:.0f}' y='{height - 4}' font-size='11' "
                     f"text-anchor='{anchor}' fill='#6b7280'>{hms(duration * frac)}</text>")
    parts.append("</svg>")
    legend = "".join(f"<span><i style='background:{color}'></i>{label}</span>"
                     for _, label, color, _ in series)
    legend += "<span><i style='background:#f5c542;height:10px'></i>a clip (click it)</span>"
    return (f"<div class='kcg-timeline'><div class='kcg-legend'>{legend}</div>"
            + "".join(parts) + "</div>")
