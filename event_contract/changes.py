"""Committed units of work as the capture reader returns them from the system of record.

These are plain values (no driver types): a source reader turns capture-table rows into
`UnitOfWork`s, and the publisher turns those into change events. Column values follow the
Python representation described in `event_contract.catalog`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Op(StrEnum):
    """The operation of a captured row change, as ASN's IBMSNAP_OPERATION spells it."""

    INSERT = "I"
    UPDATE = "U"
    DELETE = "D"


@dataclass(frozen=True, slots=True)
class RowChange:
    """One changed row of a unit of work.

    Attributes:
        table: the source table, SCHEMA.TABLE in upper case.
        op: insert, update or delete.
        lsn: the commit sequence (LSN) of the unit of work that made the change.
        seq: the position of the change inside its unit of work (ASN's IBMSNAP_INTENTSEQ),
            strictly increasing within the unit of work, starting at 1.
        before: the row before the change (None for an insert), column name → value.
        after: the row after the change (None for a delete), column name → value.
    """

    table: str
    op: Op
    lsn: int
    seq: int
    before: Mapping[str, object] | None
    after: Mapping[str, object] | None


@dataclass(frozen=True, slots=True)
class UnitOfWork:
    """A committed Db2 unit of work and every row it changed, in change order.

    Attributes:
        lsn: its commit sequence number; strictly increasing across units of work.
        uow_id: its id (ASN's IBMSNAP_UOWID), unique.
        commit_time: when it committed, naive UTC with microseconds.
        changes: its row changes in `seq` order.
    """

    lsn: int
    uow_id: str
    commit_time: datetime
    changes: tuple[RowChange, ...]
