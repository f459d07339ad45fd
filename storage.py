"""SQLite files the project keeps under `models/`: opened with their schema, set aside when
unreadable so a damaged file never stops a run."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

logger = logging.getLogger(__name__)


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
