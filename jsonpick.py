"""Reading decoded JSON answers (Kick's API, Pusher frames) without chains of `isinstance`.

`pick(body, "livestream", "channel", "slug", type=str)` walks nested objects and gives None
as soon as a step is missing or not an object, or when the value is not of `type`: one call
where the answer's shape is not guaranteed. `as_int` / `as_float` read numbers that may come
as strings, null or "". A small cousin of yt-dlp's `traverse_obj`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["as_float", "as_int", "json_object", "pick"]


def pick(data: Any, *path: str, type: type | tuple[type, ...] | None = None) -> Any:
    """`data[path[0]][path[1]]...`, or None when a step is missing or is not an object, or when
    the value found is not an instance of `type` (when given)."""
    for key in path:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    if type is not None and not isinstance(data, type):
        return None
    return data


def json_object(value: Any) -> dict[str, Any] | None:
    """`value` as a JSON object: a dict as it is, a JSON string (or bytes) decoded; None for
    anything else, or a string that is not a JSON object. Kick sends some nested objects as
    JSON strings (chat `metadata`, Pusher `data`) and others as objects."""
    if isinstance(value, (str, bytes)):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, dict) else None


def as_int(value: Any) -> int | None:
    """`int(value)`, or None for None, "" and anything int() refuses."""
    try:
        return int(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        return None


def as_float(value: Any) -> float | None:
    """`float(value)`, or None for None, "" and anything float() refuses."""
    try:
        return float(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        return None
