"""The watermark: how far the read side has applied the source, as an LSN and a commit time.

The projection stores it with every batch it commits; the query API stamps it on every answer
(and compares it with the newest LSN the source published, to say how far behind it is). Both
sides use this one value, so neither imports the other. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True, slots=True)
class Watermark:
    """The highest source LSN applied to the read models and its source commit time.

    Attributes:
        lsn: the LSN; 0 before the first batch was applied.
        commit_time: the source commit time of that LSN (naive values are UTC), None before
            the first batch.
    """

    lsn: int
    commit_time: datetime | None

    @property
    def time_text(self) -> str:
        """The commit time as ISO 8601 UTC (`...Z`), or "none"."""
        if self.commit_time is None:
            return "none"
        stamp = self.commit_time
        stamp = stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)
        return stamp.isoformat().replace("+00:00", "Z")

    def as_json(self) -> dict[str, object]:
        """The watermark as carried in JSON bodies."""
        return {
            "lsn": self.lsn,
            "commit_time": None if self.commit_time is None else self.time_text,
        }
