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


class Db2SqlError(SorError, Terminal):
    """A statement Db2 itself would refuse (a value out of range, a bad string, ...), with the
    SQLCODE and SQLSTATE Db2 for z/OS answers; the unit of work is rolled back."""

    def __init__(self, reason: str, sqlcode: int, sqlstate: str) -> None:
        self.reason = reason
        self.sqlcode = sqlcode
        self.sqlstate = sqlstate
        super().__init__(f"{reason} (SQLCODE {sqlcode}, SQLSTATE {sqlstate})")


class UnsupportedSql(SorError, Terminal):
    """Db2 SQL the simulated Db2 cannot execute; refused with nothing changed (found before
    any statement runs, or the unit of work rolled back).

    Attributes:
        construct: what is not supported, e.g. "MERGE" or "function DAYOFWEEK_ISO".
    """

    exit_code = EXIT_USAGE

    def __init__(self, construct: str) -> None:
        self.construct = construct
        super().__init__(f"{construct} is not supported by the simulated Db2")
