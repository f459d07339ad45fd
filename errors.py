"""The one error hierarchy of the project.

Every `KickClipError` carries a message that is safe to show a user as it is:
what went wrong and, where there is one, what to do about it. The CLI prints it
as one line; the UI shows it in a `gr.Error`. Anything that is not a
`KickClipError` is a bug and propagates with its traceback.
"""

from __future__ import annotations

from collections.abc import Callable

# How the engine's messages name a setting; each adapter says it in its own terms instead
# (the CLI a flag, the UI a field) through `KickClipError.phrased`.
SETTING_WORDS = {
    "output_dir": "output folder",
    "kick_token": "a Kick session token",
    "dask_scheduler": "a Dask scheduler",
}


class KickClipError(Exception):
    """Base class: a failure the user can understand and act on. `setting`, when given, is
    the `Config` field the message's advice is about; the message names it with its
    `SETTING_WORDS`."""

    exit_code = 1

    def __init__(self, *args: object, setting: str | None = None):
        super().__init__(*args)
        self.setting = setting

    def phrased(self, name: Callable[[str], str | None]) -> str:
        """The message with the setting's words replaced by `name(setting)` (a flag, a
        field's label); as it is when `name` has nothing better."""
        text = str(self)
        words = SETTING_WORDS.get(self.setting or "")
        said = name(self.setting) if words else None
        return text.replace(words, said) if words and said else text


class InputError(KickClipError):
    """The user gave us something we cannot work with (bad source, bad option)."""

    exit_code = 2


class ConfigError(InputError):
    """A configuration value is out of range or of the wrong kind. `field` names the Config
    field, so the CLI and the UI can say which flag or widget to change."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field


class MediaError(KickClipError):
    """ffmpeg failed or a media source could not be read.

    `stderr` keeps ffmpeg's full output for logs and bug reports; the message
    is only its last meaningful line.
    """

    def __init__(self, message: str, *, stderr: str = "", argv: list[str] | None = None):
        super().__init__(message)
        self.stderr = stderr
        self.argv = argv or []


class Cancelled(KickClipError):
    """The user asked the run to stop."""

    exit_code = 130


class KickAPIError(KickClipError):
    """Kick answered, but not with what we need."""


class InvalidKickURL(KickAPIError, InputError):
    """The link is not a Kick channel, VOD or clip."""

    exit_code = 2


class ChannelNotFound(KickAPIError):
    """The channel, VOD or clip does not exist (HTTP 404)."""


class NotLive(KickAPIError):
    """The channel exists but is offline."""


class BlockedByKick(KickAPIError):
    """Kick's bot protection refused every attempt."""


class HostNotResolved(KickAPIError):
    """A host name did not resolve (offline, or no such host): not worth a retry."""
