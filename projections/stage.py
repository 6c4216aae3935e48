"""The DuckDB-backed stage: events of a unit of work too large to hold in memory.

A unit of work reaching `projections.stage_threshold` events spills them, in the
assembler's chunks, into `_offload.stage` of the projection database, whose buffer manager
keeps them on disk beyond its memory limit. The applier reads them back chunk by chunk inside
the unit's one DuckDB transaction. The stage is scratch space: the writer empties it when it
starts, since the stored positions make it read those events again.

Events are stored pickled: they are the writer's own values, written and read by the same
process (never data from elsewhere). After images decoded in bulk (`events.ArrowRow`) are
stored as the dicts they equal, converted a block at a time (`plain_rows`): one by one, each
value would be a pyarrow scalar made and converted alone, which cost the loop benchmark's
writer 27 % of its samples.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator, Sequence

import duckdb
import pyarrow as pa

from projections.events import ArrowRow, DecodedChange, RowBlock

_PUT = "INSERT INTO _offload.stage SELECT uow_id, seq, payload FROM _stage_in"
_READ = (
    "SELECT payload FROM _offload.stage "
    "WHERE uow_id = $uow AND seq >= $low AND seq < $high ORDER BY seq"
)
_DROP = "DELETE FROM _offload.stage WHERE uow_id = $uow"
_CONVERT_EVENTS = 1000
"""Events whose images are converted to dicts together: the dicts live until pickled."""


class DuckDBStage:
    """A `Stage` in the table `_offload.stage` (see the module docstring).

    Args:
        con: the writer's connection (bookkeeping tables already created); the stage works
            on a cursor of its own, so it never meets a result the writer left open.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        # Two connections: the Kafka loop puts, the apply thread reads and drops, concurrently.
        self._con = con.cursor()
        self._reader = con.cursor()
        self._sizes: dict[str, int] = {}
        self._con.execute("DELETE FROM _offload.stage").fetchall()

    def put(self, uow_id: str, events: Sequence[DecodedChange]) -> None:
        """Append events of a unit of work."""
        start = self._sizes.get(uow_id, 0)
        dump, protocol = pickle.dumps, pickle.HIGHEST_PROTOCOL
        payloads = []
        for low in range(0, len(events), _CONVERT_EVENTS):  # a few dicts alive at a time
            part = plain_rows(events[low : low + _CONVERT_EVENTS])
            payloads += [dump(e, protocol=protocol) for e in part]
        table = pa.table(
            {
                "uow_id": pa.array([uow_id] * len(payloads), pa.string()),
                "seq": pa.array(range(start, start + len(payloads)), pa.int64()),
                "payload": pa.array(payloads, pa.binary()),
            }
        )
        self._con.register("_stage_in", table)
        try:
            self._con.execute(_PUT).fetchall()
        finally:
            self._con.unregister("_stage_in")
        self._sizes[uow_id] = start + len(payloads)

    def chunks(self, uow_id: str, size: int) -> Iterator[list[DecodedChange]]:
        """The unit's staged events, in chunks of at most `size`."""
        total = self._sizes.get(uow_id, 0)
        for low in range(0, total, size):
            params = {"uow": uow_id, "low": low, "high": low + size}
            rows = self._reader.execute(_READ, params).fetchall()
            yield [pickle.loads(row[0]) for row in rows]

    def drop(self, uow_id: str) -> None:
        """Forget the unit's staged events."""
        if self._sizes.pop(uow_id, None) is not None:
            self._reader.execute(_DROP, {"uow": uow_id}).fetchall()

    @property
    def staged_units(self) -> int:
        """Units with events in the stage."""
        return len(self._sizes)


def plain_rows(events: Sequence[DecodedChange]) -> list[DecodedChange]:
    """`events` with each `ArrowRow` after image replaced by the dict it equals, the images of
    one block converted together (`pa.Table.take` and `to_pylist`)."""
    blocks: dict[int, tuple[RowBlock, list[int], list[int]]] = {}
    for i, event in enumerate(events):
        row = event.row
        if type(row) is ArrowRow:
            found = blocks.get(id(row.block))
            if found is None:
                found = blocks[id(row.block)] = (row.block, [], [])
            found[1].append(row.index)
            found[2].append(i)
    out = list(events)
    for block, indexes, where in blocks.values():
        rows = block.table.take(pa.array(indexes, pa.int64())).to_pylist()
        for i, row in zip(where, rows, strict=True):
            out[i] = out[i]._replace(row=row)
    return out
