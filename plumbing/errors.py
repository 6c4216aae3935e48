"""The base of every error the gateway reports to a user.

Each package has its own `errors.py` whose classes derive from `OffloadError`, and marks
whether a retry can help with the `Transient` or `Terminal` mixin, so retry loops decide by
type. The CLI prints the message of an `OffloadError` (never a traceback) and exits with its
`exit_code`: 2 for usage and configuration errors, 3 for an unreachable system, 1 otherwise.
"""

from __future__ import annotations

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3


class OffloadError(Exception):
    """An error with a message a user can act on."""

    exit_code: int = EXIT_FAILURE


class Transient:
    """Mixin: the same call may succeed later (a broker or a database is unreachable)."""


class Terminal:
    """Mixin: retrying the same call cannot help; a person has to change something."""


class UsageError(OffloadError, Terminal):
    """A command was called with arguments that do not fit."""

    exit_code = EXIT_USAGE
