"""Files the project writes: every file written atomically (a temporary name beside it, then
moved into place, so a crash never leaves half a file under the real name), names that are
safe on every OS, and the SQLite files kept under `models/`, opened with their schema and set
aside when unreadable so a damaged file never stops a run."""

from __future__ import annotations

import json
import logging
import os
import re
import sqlite3
import time
import unicodedata
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
                     *(f"LPT{i}" for i in range(1, 10))}


def temp_path(target: Path) -> Path:
    """The temporary name `write_atomically` writes `target` under: hidden, beside it, same
    suffix (ffmpeg picks its output format from the suffix): `clip.mp4` -> `.clip.part.mp4`."""
    return target.with_name(f".{target.stem}.part{target.suffix}")


def write_atomically(target: Path, write: Callable[[Path], Any]) -> Path:
    """Call `write(tmp)` with `temp_path(target)`, then move the result into place. When
    `write` raises, the temporary file is removed and `target` is left as it was."""
    tmp = temp_path(target)
    try:
        write(tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def write_json(path: Path, data: Any) -> Path:
    """`data` as indented UTF-8 JSON, written atomically."""
    text = json.dumps(data, indent=2, ensure_ascii=False)
    return write_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def safe_name(text: str, max_len: int = 60) -> str:
    """A file/folder name safe on Windows, macOS and Linux: letters, digits, `-` and `_`."""
    text = unicodedata.normalize("NFKC", text)
    cleaned = "".join(c if (c.isalnum() or c in "-_") else "_" for c in text)
    cleaned = re.sub(r"_+", "_", cleaned).strip("_-")[:max_len].strip("_-")
    if not cleaned or cleaned.upper().split("_")[0] in _WINDOWS_RESERVED:
        cleaned = f"stream_{cleaned}" if cleaned else "stream"
    return cleaned


def connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, timeout=30)


def prepare(path: Path, schema: str,
            migrate: Callable[[sqlite3.Connection], None] | None = None) -> None:
    """Create `path` with `schema` if needed. `migrate(db)`, if given, first brings an older
    version's tables up to what the schema expects (it runs on every open, so it must be a
    no-op once done). A file that is not a usable SQLite database, or whose tables lack
    columns the schema has (another program's file, another version's), is moved to
    `<name>.corrupt-<time>` (logged) and a fresh one is made."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with closing(connect(path)) as db, db:
            if migrate is not None:
                migrate(db)
            db.executescript(schema)
            db.execute("PRAGMA quick_check").fetchone()
            missing = _missing_columns(db, schema)
            if missing:
                raise sqlite3.DatabaseError(f"not this program's tables: no {missing}")
    except sqlite3.DatabaseError as err:
        aside = set_aside(path)
        logger.warning("%s unreadable (%s); moved to %s and started afresh", path.name, err,
                       aside.name)
        with closing(connect(path)) as db, db:
            db.executescript(schema)


def set_aside(path: Path) -> Path:
    aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
    path.replace(aside)
    return aside


def _missing_columns(db: sqlite3.Connection, schema: str) -> str:
    """The first `table.column` that `schema` declares and `db` lacks, or ''."""
    with closing(sqlite3.connect(":memory:")) as expected:
        expected.executescript(schema)
        tables = [r[0] for r in expected.execute(
            "SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            want = {r[1] for r in expected.execute(f"PRAGMA table_info({table})")}
            have = {r[1] for r in db.execute(f"PRAGMA table_info({table})")}
            for column in sorted(want - have):
                return f"{table}.{column}"
    return ""
