"""The reject file of a run: bad records, one JSON object a line, next to the ledger.

`<data_dir>/reference/rejects/<job>-<run_id>.jsonl`, created at the first reject. Each line:
record number, location, field and reason. A run may skip up to `max_rejects` bad records;
one more (or a fatal one, after which the rest of the file cannot be read) fails it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO

from reference_loader.errors import RejectLimitExceeded
from reference_loader.records import Reject


class RejectLog:
    """Counts and writes a run's rejects, enforcing its limit.

    Args:
        path: the reject file (created on the first reject).
        job: the job name, for messages.
        source: the extract file, for messages.
        max_rejects: bad records tolerated.
    """

    def __init__(self, path: Path, job: str, source: str, max_rejects: int) -> None:
        self.path = path
        self.job = job
        self.source = source
        self.max_rejects = max_rejects
        self.count = 0
        self._file: IO[str] | None = None

    def add(self, reject: Reject) -> None:
        """Record a reject.

        Raises:
            RejectLimitExceeded: this reject is one too many, or fatal.
        """
        self.count += 1
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("w", encoding="utf-8")
        line = {
            "record": reject.number,
            "location": str(reject.location),
            "field": reject.field,
            "reason": reject.reason,
            "fatal": reject.fatal,
        }
        self._file.write(json.dumps(line, ensure_ascii=False) + "\n")
        if reject.fatal or self.count > self.max_rejects:
            self.close()
            raise RejectLimitExceeded(
                self.job, reject.to_error(self.source), self.count, self.max_rejects, str(self.path)
            )

    @property
    def file(self) -> str | None:
        """The reject file's path when something was rejected."""
        return str(self.path) if self.count else None

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self._file is not None:
            self._file.close()
            self._file = None
