"""Errors of the simulated mainframe: its DDL, its units of work and its workload."""

from __future__ import annotations

from plumbing.errors import EXIT_USAGE, OffloadError, Terminal


class SorError(OffloadError):
    """Base of every error raised by `simulators`."""


class DdlError(SorError, Terminal):
    """A Db2 DDL statement the simulated Db2 cannot parse or carry; names table and column."""

    exit_code = EXIT_USAGE

    def __init__(self, table: str | None, column: str | None, reason: str) -> None:
        self.table = table
        self.column = column
        self.reason = reason
        where = " ".join(
            part
            for part in (f"table {table}" if table else "", f"column {column}" if column else "")
            if part
        )
        super().__init__(f"{where}: {reason}" if where else reason)


class StatementError(SorError, Terminal):
    """A statement failed inside a unit of work, which was rolled back."""

    def __init__(self, statement: str, reason: str) -> None:
        self.statement = statement
        self.reason = reason
        super().__init__(f"statement failed, unit of work rolled back: {reason}\n  {statement}")


class ImportFileError(SorError, Terminal):
    """A CSV file cannot be imported; names the file and the record number."""

    exit_code = EXIT_USAGE

    def __init__(self, path: str, record: int, reason: str) -> None:
        self.path = path
        self.record = record
        self.reason = reason
        super().__init__(f"{path} record {record}: {reason}")
