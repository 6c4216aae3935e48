"""Errors of the system-of-record boundary (the simulated Db2 file or a real Db2).

`SystemOfRecordError` is the base; each subclass marks with `Transient` or `Terminal` whether a
retry can help, and keeps the values its message names (host and port, file, config key) as
attributes.
"""

from __future__ import annotations

from plumbing.errors import EXIT_UNREACHABLE, EXIT_USAGE, OffloadError, Terminal, Transient


class SystemOfRecordError(OffloadError):
    """Base of every error raised by `db2`."""


class SourceError(SystemOfRecordError, Terminal):
    """The system of record answered, but with something the gateway cannot use."""


class SourceUnavailable(SystemOfRecordError, Transient):
    """The system of record cannot be reached (host, port or file named in the message)."""

    exit_code = EXIT_UNREACHABLE

    def __init__(self, where: str, reason: str) -> None:
        self.where = where
        self.reason = reason
        super().__init__(f"system of record {where} is unreachable: {reason}")


class SourceConfigError(SystemOfRecordError, Terminal):
    """The source settings (source.dsn, source.kind, ...) cannot be used."""

    exit_code = EXIT_USAGE

    def __init__(self, key: str, reason: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(f"config key '{key}': {reason}")
