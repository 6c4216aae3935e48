"""Errors of the event contract: schemas, the codec, the schema store.

`EventContractError` is the base; each subclass marks with `Transient` or `Terminal` whether a
retry can help, and keeps the values its message names (subject, field, schema id, ...) as
attributes.
"""

from __future__ import annotations

from plumbing.errors import EXIT_UNREACHABLE, OffloadError, Terminal, Transient


class EventContractError(OffloadError):
    """Base of every error raised by `event_contract`."""


class SchemaDefinitionError(EventContractError, Terminal):
    """A declared field or type cannot be turned into an Avro schema (or back)."""

    def __init__(self, what: str, reason: str) -> None:
        self.what = what
        self.reason = reason
        super().__init__(f"{what}: {reason}")


class RowShapeError(EventContractError, Terminal):
    """A captured row does not fit its table's catalog (a column the catalog does not know)."""

    def __init__(self, table: str, lsn: int, columns: list[str]) -> None:
        self.table = table
        self.lsn = lsn
        self.columns = columns
        super().__init__(
            f"row of table {table} at LSN {lsn} has columns {', '.join(columns)} that the "
            "catalog does not declare; reload the table's catalog"
        )


class CodecError(EventContractError, Terminal):
    """A message cannot be encoded to, or decoded from, the Confluent wire format."""

    def __init__(self, reason: str, schema_id: int | None = None) -> None:
        self.reason = reason
        self.schema_id = schema_id
        super().__init__(reason)


class SchemaIncompatibleError(EventContractError, Terminal):
    """A new schema version is not BACKWARD compatible with the subject's latest version."""

    def __init__(
        self, subject: str, version: int, *, field: str, old_type: str, new_type: str, reason: str
    ) -> None:
        self.subject = subject
        self.version = version
        self.field = field
        self.old_type = old_type
        self.new_type = new_type
        self.reason = reason
        super().__init__(
            f"new schema for subject {subject} is not BACKWARD compatible with version "
            f"{version}: {reason}"
        )


class SchemaStoreError(EventContractError, Terminal):
    """The schema store holds something it cannot use, or was used wrongly."""

    def __init__(self, where: str, reason: str) -> None:
        self.where = where
        self.reason = reason
        super().__init__(f"schema store {where}: {reason}")


class SchemaStoreUnavailable(EventContractError, Transient):
    """The schema store (the `_schemas` topic or an external registry) cannot be reached."""

    exit_code = EXIT_UNREACHABLE

    def __init__(self, where: str, reason: str) -> None:
        self.where = where
        self.reason = reason
        super().__init__(f"schema store {where} is unreachable: {reason}")
