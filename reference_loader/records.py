"""What a reader yields: decoded records and rejects, each with where it came from.

Readers are iterators of `Record | Reject`. A record that cannot be decoded or does not fit
its declared types does not stop the reader: it becomes a `Reject` and reading goes on, so a
load can apply its reject limit. Only a `Reject` with `fatal=True` ends the stream early
(the framing of the rest of the file is lost, e.g. a bad RDW); a load must then fail whatever
its reject limit, since it has not seen the whole extract.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from reference_loader.errors import RejectedRecordError


class InvalidValue(ValueError):
    """A field's bytes or text are not a valid value of its type; the message is the reason."""


class InvalidField(ValueError):
    """A field of a record could not be decoded or converted to its declared type.

    Attributes:
        field: the field's output name.
        offset: byte offset of the field in a binary record (0 for text records).
        reason: what is wrong, with the bytes in hex.
    """

    def __init__(self, field: str, offset: int, reason: str) -> None:
        super().__init__(f"field {field} at record offset {offset}: {reason}")
        self.field = field
        self.offset = offset
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Location:
    """A position in an extract: a line of a text file, or a byte offset of a binary one.

    Attributes:
        unit: "line" (1-based line number) or "byte" (0-based byte offset).
        value: the line number or byte offset.
    """

    unit: Literal["line", "byte"]
    value: int

    def __str__(self) -> str:
        return f"line {self.value}" if self.unit == "line" else f"byte offset {self.value}"


@dataclass(frozen=True, slots=True)
class Record:
    """One decoded record.

    Attributes:
        number: 1-based number of the record in the extract (header lines not counted).
        location: where the record starts.
        values: field name → Python value (str, int, Decimal, date, datetime, bool or None).
    """

    number: int
    location: Location
    values: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Reject:
    """A record that was not loaded, and why.

    Attributes:
        number: 1-based number of the record in the extract.
        location: where the fault is: the field's byte offset for a field of a binary record,
            the record's start otherwise.
        field: the field at fault, or None when the whole record is.
        reason: what is wrong, with the offending bytes in hex where there are some.
        fatal: True when the reader could not go on past this record (the rest of the
            extract was not read).
    """

    number: int
    location: Location
    field: str | None
    reason: str
    fatal: bool = False

    @property
    def message(self) -> str:
        """The reject as one line: record number, location, field and reason."""
        what = f", field {self.field}" if self.field else ""
        return f"record {self.number} ({self.location}){what}: {self.reason}"

    def to_error(self, source: str) -> RejectedRecordError:
        """The error a load raises for this reject; `source` names the extract file."""
        return RejectedRecordError(source, self.number, str(self.location), self.field, self.reason)
