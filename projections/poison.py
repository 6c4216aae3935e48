"""Undecodable change records waiting to be matched with the unit of work they belonged to.

A record that cannot be decoded names no unit of work, yet its unit's END marker counts it, so
that unit would wait for it forever. Events of one key are published in commit order to one
partition, so a poison record's LSN lies between the LSN of the event before it in its
partition and the LSN of the event after it. When the head unit of work (LSN L) stalls on a
table, stall detection takes from this ledger the poison records of that table's topic whose
range holds L, and the unit is applied without them (see `stalls`). Pure bookkeeping.

Ranges of records in different partitions overlap, so several records may fit L. Units stall
in LSN order, so the record whose range ends first is taken (earliest deadline first): a
record that also fits a later unit is kept for it. Whenever each poison record can be given
to a unit its range holds, every one is: none is left over while a unit is excused with a
"missing" row (taking the record nearest below L did that, once the records of two units
were spread over partitions).
"""

from __future__ import annotations

from dataclasses import dataclass

from projections.assembler import Partition
from projections.errorlog import ErrorRecord


@dataclass(slots=True)
class _Poison:
    partition: Partition
    offset: int
    low_lsn: int
    high_lsn: int | None
    record: ErrorRecord


class PoisonLedger:
    """Poison records of change topics not yet attributed to a unit of work."""

    def __init__(self) -> None:
        self._open: dict[str, list[_Poison]] = {}

    def __len__(self) -> int:
        return sum(len(v) for v in self._open.values())

    def __bool__(self) -> bool:
        # Asked for every decoded event: the dict holds no empty list (see `attribute`).
        return bool(self._open)

    def add(self, partition: Partition, offset: int, low_lsn: int, record: ErrorRecord) -> None:
        """A poison record after an event of LSN `low_lsn` (0: none) in its partition."""
        entry = _Poison(partition, offset, low_lsn, None, record)
        self._open.setdefault(partition[0], []).append(entry)

    def observe(self, partition: Partition, lsn: int) -> None:
        """An event of LSN `lsn` was decoded in `partition`: it bounds earlier poison."""
        for entry in self._open.get(partition[0], ()):
            if entry.partition == partition and entry.high_lsn is None:
                entry.high_lsn = lsn

    def attribute(self, topic: str | None, lsn: int, count: int) -> list[ErrorRecord]:
        """Take up to `count` poison records of `topic` that may belong to LSN `lsn`.

        Records whose range ends below `lsn` belong to units already applied: dropped. Of
        the records that fit, those whose range ends first are taken (see the module
        docstring); an open range (no event read after the record yet) ends last.
        """
        entries = self._open.get(topic or "", [])
        live = [e for e in entries if e.high_lsn is None or e.high_lsn >= lsn]
        fits = [e for e in live if e.low_lsn <= lsn]
        fits.sort(key=_deadline)
        taken = fits[:count]
        rest = [e for e in live if e not in taken]
        if rest:
            self._open[topic or ""] = rest
        else:  # no empty lists: `bool` looks at the dict alone
            self._open.pop(topic or "", None)
        return [e.record for e in taken]


def _deadline(entry: _Poison) -> tuple[bool, int, int, Partition, int]:
    """Sort key: the range that ends first, then the one that starts last."""
    open_range = entry.high_lsn is None
    return (open_range, entry.high_lsn or 0, -entry.low_lsn, entry.partition, entry.offset)
