"""Logging for the entry points (CLI and UI): console + a rotating file in logs/, with
secrets scrubbed from every record. Library modules only ever call `logging.getLogger`."""

from __future__ import annotations

import logging
import logging.handlers
import re
import sys
from collections.abc import Iterable
from pathlib import Path

LOG_NAME = "kick_clip_generator.log"
_SECRET_PATTERNS = [
    re.compile(r"(?i)([?&](?:token|sig|signature|auth|key|session_token)=)[^&\s'\"]+"),
    re.compile(r"(?i)(Bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"(eyJ[A-Za-z0-9_-]{8,})\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"),  # JWTs
]


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with URL tokens, bearer tokens, JWTs and the given secrets replaced."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + "[redacted]"
                           if not m.group(1).startswith("eyJ") else "[redacted-jwt]", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


class RedactingFilter(logging.Filter):
    def __init__(self, secrets: Iterable[str] = ()):
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message, self.secrets)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def setup_logging(verbose: int = 0, quiet: bool = False, logs_dir: Path = Path("logs"),
                  secrets: Iterable[str] = ()) -> None:
    """Console at WARNING (INFO with -v, DEBUG with -vv); a rotating file in `logs_dir` at
    INFO (DEBUG with -vv), 2 MB x 3. Safe to call again: it replaces what it set up before."""
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    for old in [h for h in root.handlers if getattr(h, "_kcg", False)]:
        root.removeHandler(old)
        old.close()
    scrub = RedactingFilter(secrets)
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.ERROR if quiet else
                     [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)])
    console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handlers: list[logging.Handler] = [console]
    try:
        logs_dir.mkdir(parents=True, exist_ok=True)
        file = logging.handlers.RotatingFileHandler(logs_dir / LOG_NAME, maxBytes=2_000_000,
                                                    backupCount=3, encoding="utf-8")
        file.setLevel(logging.DEBUG if verbose >= 2 else logging.INFO)
        file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handlers.append(file)
    except OSError:
        pass  # a read-only checkout still runs; it just keeps no log file
    for handler in handlers:
        handler.addFilter(scrub)
        handler._kcg = True
        root.addHandler(handler)
