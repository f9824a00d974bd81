"""Errors the user can act on.

Every error carries what went wrong, where, and how to fix it, so the CLI can print one clear
line instead of a traceback. The exit code says whose move it is: 2 when the command line or a
config file cannot be acted on as written (usage), 1 when the inputs exist but are broken or
unsupported, or a step failed (failure).
"""

from __future__ import annotations


class TunesmithError(Exception):
    """A failure the user can fix; printed as one line without a traceback."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class UsageError(TunesmithError):
    """The command line or a config file cannot be acted on as written."""

    exit_code = 2


class ConfigError(UsageError):
    """A config file or override has an unknown key, a wrong type or an out-of-range value."""


class ModelNotFoundError(UsageError):
    """The named model is not on this machine."""


class ModelFormatError(TunesmithError):
    """The model exists but cannot be loaded: broken, unsupported or unsafe."""


class UnsafeModelError(ModelFormatError):
    """Loading the model would execute untrusted code (pickle weights, remote code)."""


class DataError(TunesmithError):
    """Training or evaluation data is unreadable or invalid."""
