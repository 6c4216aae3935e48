"""Errors of the projections.

`ProjectionError` is the base of every error this package raises. Contract problems (an
envelope or a transaction marker that lacks a field the contract promises, a column type
the mirror cannot hold, a view file that does not follow the convention) are terminal;
a DuckDB failure while applying a batch is reported with the unit(s) of work involved so
the poison can be moved to the error table.
"""

from __future__ import annotations

from plumbing.errors import EXIT_UNREACHABLE, EXIT_USAGE, OffloadError, Terminal, Transient


class ProjectionError(OffloadError):
    """Base of the projections' errors."""


class RecordError(ProjectionError, Terminal):
    """Base of the errors about one Kafka record, named by topic, partition and offset."""

    def __init__(self, topic: str, partition: int, offset: int, reason: str) -> None:
        super().__init__(f"{topic} partition {partition} offset {offset}: {reason}")
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.reason = reason


class ContractError(RecordError):
    """A decoded event or marker does not follow the event contract.

    Attributes:
        topic: the topic the record came from.
        partition: its partition.
        offset: its offset.
        reason: what is missing or wrong.
    """


class MirrorTypeError(ProjectionError, Terminal):
    """A column's type cannot be mirrored exactly.

    Attributes:
        table: the source table, SCHEMA.TABLE.
        column: the column name.
        type_text: the declared type.
    """

    def __init__(self, table: str, column: str, type_text: str, reason: str) -> None:
        super().__init__(f"table {table} column {column}: type {type_text!r}: {reason}")
        self.table = table
        self.column = column
        self.type_text = type_text


class ViewDefinitionError(ProjectionError, Terminal):
    """A derived view's SQL files do not follow the convention of `projections.views`.

    Attributes:
        view: the view name.
        file: the file at fault.
    """

    exit_code = EXIT_USAGE

    def __init__(self, view: str, file: str, reason: str) -> None:
        super().__init__(f"view {view} ({file}): {reason}")
        self.view = view
        self.file = file
        self.reason = reason


class ApplyError(ProjectionError, Terminal):
    """DuckDB refused to apply a batch; nothing of it was committed.

    Attributes:
        uow_ids: the units of work in the failed batch.
        first_lsn: the lowest commit LSN among them.
        last_lsn: the highest commit LSN among them.
    """

    def __init__(self, uow_ids: tuple[str, ...], first_lsn: int, last_lsn: int, reason: str):
        units = uow_ids[0] if len(uow_ids) == 1 else f"{len(uow_ids)} units of work"
        super().__init__(f"applying {units} (LSN {first_lsn}..{last_lsn}) failed: {reason}")
        self.uow_ids = uow_ids
        self.first_lsn = first_lsn
        self.last_lsn = last_lsn
        self.reason = reason


class UnknownErrorEntry(ProjectionError, Terminal):
    """No entry with this id in the error table.

    Attributes:
        entry_id: the id asked for.
    """

    exit_code = EXIT_USAGE

    def __init__(self, entry_id: int) -> None:
        super().__init__(f"no error entry with id {entry_id}")
        self.entry_id = entry_id


class DecodeFailure(RecordError):
    """A Kafka record cannot be turned into a change event, marker or reference record.

    Attributes:
        topic: the record's topic.
        partition: its partition.
        offset: its offset.
        reason: why (bad bytes, unknown schema id, a contract violation).
    """


class DatabaseBusy(ProjectionError, Transient):
    """Another process holds the projection database (DuckDB allows one writer process).

    Attributes:
        path: the DuckDB file.
    """

    exit_code = EXIT_UNREACHABLE

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(
            f"projection database {path} is in use by another process (a running "
            f"`offload project run`?): {reason}"
        )
        self.path = path
        self.reason = reason


class UnknownView(ProjectionError, Terminal):
    """A view name that `projections.views` does not configure.

    Attributes:
        view: the name asked for.
    """

    exit_code = EXIT_USAGE

    def __init__(self, view: str, known: tuple[str, ...]) -> None:
        names = ", ".join(known) or "none"
        super().__init__(f"no view {view} in projections.views (configured: {names})")
        self.view = view
