"""What one Kafka transaction of capture publishes: the next changes, a held table's catch-up,
or a snapshot chunk. Each step reads the source first, then (inside the open transaction)
writes its messages through a `UnitWriter` and returns the position to commit with them.

Blocked tables (an incompatible schema change, see `table_codecs.Refusal`): capture of that
table stops at the main position P it had reached: its later changes are held, i.e. left
out of the units of work they belong to, whose END markers count only what was published.
Every other table goes on. Once the change is reverted or accepted
(`cdc resume TABLE --accept-incompatible`), the table catches up before anything else is
published: its held changes, in commit order up to P, each unit's held part as a pseudo
unit of work `resumed:<SCHEMA.TABLE>:<uow id>:<first seq>` with its own BEGIN/END and the
original commit LSN; then it rejoins the main stream. So per key, events stay in commit
order and exactly once; what is given up is the atomicity of the units of work that touched
the blocked table while it was blocked (they arrive in two parts), and such a resumed part
arrives with a commit LSN below units already published.

Snapshots (`snapshot:<SCHEMA.TABLE>:<n>` pseudo units of op "r" events): a chunk read at LSN
L is published only once the main stream has published every change up to L, so the
combined result equals the table's final state.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace

from cdc_ingest.capture_rows import BulkUnit
from cdc_ingest.positions import CapturePosition, OpenUnit, SnapshotProgress, TableState
from cdc_ingest.source import UOW_END, ChangeBatch, Position, TableChunk
from cdc_ingest.table_codecs import Refusal, TableCodec, TableCodecs
from cdc_ingest.unit_writer import Piece, UnitWriter
from event_contract.changes import Op, RowChange, UnitOfWork
from event_contract.envelope import RESUMED_PREFIX, SNAPSHOT_PREFIX, TxInfo, epoch_ms

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Chunk:
    """A snapshot chunk read and waiting for the main stream to reach its LSN."""

    table: str
    data: TableChunk
    rows: int
    done: bool


def now_ms() -> int:
    """Milliseconds since the epoch."""
    return time.time_ns() // 1_000_000


def reached(state: CapturePosition, lsn: int) -> bool:
    """Whether the main stream has published every change up to `lsn`."""
    if state.open_unit is not None:
        return False
    return state.lsn > lsn or (state.lsn == lsn and state.seq >= UOW_END)


def cut_at(
    batch: ChangeBatch, bound: int | None
) -> tuple[tuple[UnitOfWork | BulkUnit, ...], Position, bool]:
    """The batch's units up to LSN `bound`, where to continue, and whether the last is whole."""
    units = batch.units
    if bound is None or not units or units[-1].lsn <= bound:
        return units, batch.position, batch.last_complete
    kept = tuple(u for u in units if u.lsn <= bound)
    return kept, Position.after_unit(bound), True


def check_tables(
    state: CapturePosition,
    batch: ChangeBatch,
    codecs: TableCodecs,
    accepted: dict[str, int],
) -> CapturePosition:
    """Resolve every table's codec; block tables refused, release tables now resolvable."""
    tables = dict(state.tables)
    for name, table in batch.tables.items():
        current = tables.get(name, TableState())
        if current.status == "catching_up":
            continue
        outcome = codecs.resolve(table, accepted.get(name))
        if isinstance(outcome, Refusal) and current.status == "running":
            logger.error("%s", outcome.message)
            tables[name] = TableState(
                "blocked", (state.lsn, state.seq), outcome.schema_id, outcome.message,
                current.snapshot_ms,
            )  # fmt: skip
        elif isinstance(outcome, TableCodec) and current.status == "blocked":
            logger.info("table %s: schema change resolved; catching up its held changes", name)
            tables[name] = replace(current, status="catching_up", reason=None)
        else:
            tables.setdefault(name, current)
    return replace(state, tables=tables)


def write_changes(
    writer: UnitWriter,
    state: CapturePosition,
    units: tuple[UnitOfWork | BulkUnit, ...],
    position: Position,
    last_complete: bool,
) -> CapturePosition:
    """Publish units of the main stream; returns the position after them."""
    held = frozenset(state.blocked())
    open_unit = state.open_unit
    events = state.events
    commit_ms = state.commit_ms
    for i, uow in enumerate(units):
        continuing = open_unit if open_unit is not None and open_unit.lsn == uow.lsn else None
        ends = last_complete or i < len(units) - 1
        tx = TxInfo(uow.uow_id, uow.lsn, epoch_ms(uow.commit_time))
        before = continuing.counts if continuing is not None else {}
        begins = continuing is None
        if isinstance(uow, BulkUnit):
            counts = writer.write_bulk(
                uow, tx, published=before, begins=begins, ends=ends, held=held
            )
        else:
            counts = writer.write(Piece(tx, uow.changes, before, begins, ends), held)
        events += sum(counts.values()) - sum(before.values())
        open_unit = None if ends else OpenUnit(uow.lsn, uow.uow_id, tx.ts_ms, counts)
        commit_ms = tx.ts_ms
    return replace(
        state,
        lsn=position.lsn,
        seq=position.seq,
        open_unit=open_unit,
        events=events,
        commit_ms=commit_ms,
        published_ms=now_ms(),
    )


def write_catch_up(
    writer: UnitWriter, state: CapturePosition, name: str, batch: ChangeBatch, max_rows: int
) -> CapturePosition:
    """Publish the held changes of `name` read in `batch`, up to the main position."""
    limit = (state.lsn, state.seq)
    current = state.tables[name]
    last = current.held_after
    events = state.events
    rows = 0
    for uow in batch.units:
        changes = tuple(c for c in uow.changes if (c.lsn, c.seq) <= limit)
        rows += len(uow.changes)
        if not changes:
            continue
        tx = TxInfo(
            f"{RESUMED_PREFIX}{name}:{uow.uow_id}:{changes[0].seq}",
            uow.lsn,
            epoch_ms(uow.commit_time),
        )
        events += sum(writer.write(Piece(tx, changes, {})).values())
        last = (changes[-1].lsn, changes[-1].seq)
    caught_up = rows < max_rows or last is None or last >= limit
    caught_up = caught_up or any((c.lsn, c.seq) > limit for u in batch.units for c in u.changes)
    table = (
        TableState("running", None, None, None, current.snapshot_ms)
        if caught_up
        else replace(current, held_after=last)
    )
    if caught_up:
        logger.info("table %s caught up; capture of it goes on", name)
    return replace(state.with_table(name, table), events=events, published_ms=now_ms())


def write_chunk(writer: UnitWriter, state: CapturePosition, chunk: Chunk) -> CapturePosition:
    """Publish one snapshot chunk as a pseudo unit of work; returns the advanced position."""
    progress = state.snapshots.get(chunk.table, SnapshotProgress())
    rows = chunk.data.rows[: chunk.rows]
    number = progress.chunks + 1
    lsn = chunk.data.lsn
    if rows:
        tx = TxInfo(f"{SNAPSHOT_PREFIX}{chunk.table}:{number}", lsn, now_ms(), "true")
        changes = tuple(
            RowChange(chunk.table, Op.INSERT, lsn, i, None, row) for i, row in enumerate(rows, 1)
        )
        writer.write(Piece(tx, changes, {}, last_snapshot_row=chunk.done))
    snapshots = dict(state.snapshots)
    if chunk.done:
        snapshots.pop(chunk.table, None)
        logger.info("snapshot of %s done: %d rows", chunk.table, progress.rows + len(rows))
    else:
        key = chunk.data.table.primary_key
        last_key = tuple(rows[-1][k] for k in key)
        snapshots[chunk.table] = SnapshotProgress(number, last_key, progress.rows + len(rows))
    return replace(
        state, snapshots=snapshots, events=state.events + len(rows), published_ms=now_ms()
    )
