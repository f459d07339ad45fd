"""Times as people and Kick write them: H:MM:SS for display and file names, and Kick's
timestamps ("2025-08-25 00:40:42", "...Z", "...+00:00") read as UTC."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

__all__ = ["file_stamp", "hms", "kick_datetime", "kick_epoch_s", "kick_iso"]


def hms(seconds: float) -> str:
    """`3725.4` -> "1:02:05": rounded to the second, hours not padded (for people)."""
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def file_stamp(seconds: float) -> str:
    """`3725.9` -> "01-02-05": cut to the second, every part two digits, no colons (for file
    names, which sort by it)."""
    s = int(seconds)
    return f"{s // 3600:02d}-{s % 3600 // 60:02d}-{s % 60:02d}"


def kick_datetime(value: Any) -> datetime | None:
    """A Kick timestamp as an aware UTC datetime; None when absent, Kick's zero time
    ("0001-01-01...") or unreadable. A time without a zone is UTC ("2025-08-25 00:40:42")."""
    if not isinstance(value, str) or not value.strip() or value.startswith("0001-"):
        return None
    text = value.strip().replace(" ", "T", 1)
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc)


def kick_epoch_s(value: Any) -> float | None:
    """A Kick timestamp as epoch seconds; None as for `kick_datetime`."""
    when = kick_datetime(value)
    return None if when is None else when.timestamp()


def kick_iso(value: Any) -> str | None:
    """A Kick timestamp as ISO-8601 UTC ending in "Z"; a form that does not parse is returned
    as Kick sent it (still worth showing), None when absent or Kick's zero time."""
    when = kick_datetime(value)
    if when is not None:
        return when.isoformat().replace("+00:00", "Z")
    if not isinstance(value, str) or not value.strip() or value.startswith("0001-"):
        return None
    return value
