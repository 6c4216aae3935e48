"""Errors of the reference loader.

`ReferenceLoadError` is the base of every error this package raises. Problems with the job's
declarations (a copybook the decoder cannot lay out, an unknown field type, a CSV header that
lacks a declared column) are `LayoutError`s: terminal, exit code 2, a person fixes the config.
Problems with the data of one record are not raised while reading: readers turn them into
`reader.Reject` values so that a load can count them against its reject limit;
`RejectedRecordError` is what a load raises when it must fail on one.
"""

from __future__ import annotations

from offload.errors import EXIT_USAGE, OffloadError, Terminal


class ReferenceLoadError(OffloadError):
    """Base of the reference loader's errors."""


class LayoutError(ReferenceLoadError, Terminal):
    """A record layout (copybook, declared fields, format options) cannot be used.

    Attributes:
        source: the file or config key the layout came from, or "" when unknown.
        line: the copybook line the problem is on, or None.
    """

    exit_code = EXIT_USAGE

    def __init__(self, message: str, *, source: str = "", line: int | None = None) -> None:
        where = " ".join(part for part in (source, f"line {line}" if line else "") if part)
        super().__init__(f"{where}: {message}" if where else message)
        self.source = source
        self.line = line
        self.reason = message


class RejectedRecordError(ReferenceLoadError, Terminal):
    """A record of an extract was rejected and the load allows no (more) rejects.

    Attributes:
        source: the extract file.
        record_number: 1-based number of the record in the extract.
        location: where it is, e.g. "line 12" or "byte offset 4096".
        field: the field at fault, or None for the whole record.
        reason: what is wrong with it.
    """

    def __init__(
        self, source: str, record_number: int, location: str, field: str | None, reason: str
    ) -> None:
        what = f", field {field}" if field else ""
        super().__init__(f"{source}: record {record_number} ({location}){what}: {reason}")
        self.source = source
        self.record_number = record_number
        self.location = location
        self.field = field
        self.reason = reason
