"""The batch applier: many units of work per DuckDB transaction, set-based, exactly once.

One `apply` call is one DuckDB transaction holding: the mirrors' changes of every unit of
work in the batch (folded per key to its last change, then applied with one
`INSERT … ON CONFLICT DO UPDATE` and one `DELETE … USING` per table from an Arrow table),
the per-key versions, the derived views' affected rows, the consumed position of every
topic partition and the watermark. Readers (other cursors on the same database) see the
batch whole or not at all; a crash before COMMIT loses the batch and its positions together,
so it is read and applied again.

Per-key idempotence: a change applies only if its version (commit LSN, change position) is
above the version stored for its key, deletes included; a replayed, duplicated or older
change is a no-op. Staged units (larger than the batch limit) are read back from the stage
chunk by chunk inside the same transaction; versions make the order of chunks irrelevant.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import duckdb
import pyarrow as pa

from projections.assembler import AssembledUnit, Partition, Stage
from projections.errors import ApplyError
from projections.events import SNAPSHOT_SEQ, ArrowRow, DecodedChange, RowBlock
from projections.fold import Folded, fold
from projections.mirror import MirrorSpec
from projections.sqlfiles import statements

logger = logging.getLogger(__name__)

Hook = Callable[[str], None]
"""Called with a point's name ("project.mid_batch", "project.before_commit",
"project.after_commit"): crash injection in tests; a no-op by default."""
InTransaction = Callable[[duckdb.DuckDBPyConnection], None]
"""Extra bookkeeping written inside a batch's transaction (error rows, replay marks)."""
DATA_ERRORS: tuple[type[BaseException], ...] = (
    duckdb.ConversionException,
    duckdb.ConstraintException,
    duckdb.InvalidInputException,
    duckdb.OutOfRangeException,
    duckdb.TypeMismatchException,
    pa.ArrowException,
    TypeError,
    ValueError,
    OverflowError,
)
"""Causes of an `ApplyError` that lie in the data of the batch (a poison event), as opposed
to the database itself (disk full, out of memory), which must stop the writer."""


def _no_hook(point: str) -> None:
    del point


class ViewMaintainer(Protocol):
    """What the applier needs from the derived views: recompute the rows a batch touched."""

    def refresh(
        self,
        con: duckdb.DuckDBPyConnection,
        touched: set[str],
        lsn: int,
        commit: datetime | None,
        inserted_only: Set[str] = frozenset(),
    ) -> int:
        """Recompute affected rows inside the open transaction; return rows written.

        `inserted_only`: the touched mirrors whose changes in the batch were all inserts.
        """


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What one applied batch did.

    Attributes:
        units: units of work applied.
        events: change events in the batch (before folding).
        changed: rows that actually changed in mirrors (after folding and version checks).
        view_rows: derived-view rows recomputed.
        lsn: the batch's highest LSN (0 when it held no unit of work).
        seconds: wall time of the DuckDB transaction.
    """

    units: int
    events: int
    changed: int
    view_rows: int
    lsn: int
    seconds: float


def ms_to_datetime(ms: int) -> datetime:
    """A commit time in ms since the epoch as a naive UTC datetime (how DuckDB stores it)."""
    return datetime.fromtimestamp(ms / 1000, UTC).replace(tzinfo=None)


class BatchApplier:
    """Applies batches of assembled units of work to the mirrors and views.

    Args:
        con: the writer's connection.
        stage: where the events of staged units wait.
        views: the derived views to keep current, or None.
        chunk_events: events read back from the stage per chunk.
        hook: called at the named points of each batch (crash injection); no-op by default.
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        stage: Stage,
        views: ViewMaintainer | None = None,
        chunk_events: int = 50_000,
        hook: Hook = _no_hook,
    ) -> None:
        self._con = con
        self._hook = hook
        self._stage = stage
        self._views = views
        self._chunk = chunk_events
        self._mirrors: dict[str, MirrorSpec] = {}
        self._current: Sequence[AssembledUnit] = ()
        self._replaced: set[str] = set()
        # Mirrors whose delta table may hold rows (written by a committed or rolled-back
        # batch); only those are cleared at the start of the next batch.
        self._dirty: set[str] = set()
        self._sql = statements("mirror_apply.sql")
        self._bookkeeping = statements("positions.sql")

    @property
    def mirrors(self) -> Mapping[str, MirrorSpec]:
        """The mirrors known, by source table (SCHEMA.TABLE)."""
        return self._mirrors

    def ensure_mirror(self, spec: MirrorSpec) -> None:
        """Create the mirror, its per-key version table and its delta table if missing; add
        the columns a newer schema version brought to an existing mirror."""
        self._con.execute(spec.create_sql())
        self._con.execute(spec.create_keys_sql())
        params = {"schema": spec.schema.lower(), "table": spec.name.lower()}
        rows = self._con.execute(self._sql["mirror_columns"], params).fetchall()
        added = spec.add_columns_sql({str(r[0]) for r in rows})
        for statement in added:
            logger.info("mirror %s: %s", spec.sql_name, statement)
            self._con.execute(statement)
        if added:
            self._con.execute(self._format("delta_drop", spec))
        self._con.execute(self._format("delta_table", spec))
        self._mirrors[spec.source_name] = spec
        self._dirty.add(spec.source_name)

    def apply(
        self,
        units: Sequence[AssembledUnit],
        positions: Mapping[Partition, int],
        references: Sequence[DecodedChange] = (),
        *,
        within: InTransaction | None = None,
        commit: bool = True,
    ) -> BatchResult:
        """Apply units of work (and reference records) with the positions, in one transaction.

        Args:
            units: complete units of work, as the assembler released them.
            positions: next offset per topic partition to store with them.
            references: reference-topic records (version = offset), applied alongside.
            within: more bookkeeping to write in the same transaction (error rows).
            commit: False rolls the transaction back at the end: a trial that tells whether
                the batch would apply (used to find a poison event).

        Raises:
            ApplyError: DuckDB (or Arrow) refused the batch; nothing of it was committed.
                Its `__cause__` is the driver's exception (see `DATA_ERRORS`).
        """
        started = time.perf_counter()
        events = sum(u.event_count for u in units) + len(references)
        con = self._con
        self._current = units
        dirty_before = set(self._dirty)
        con.execute("BEGIN TRANSACTION")
        try:
            changed, touched = self._apply_all(units, references)
            self._hook("project.mid_batch")
            lsn, commit_time = _newest(units)
            view_rows = 0
            if self._views is not None and touched:
                inserted_only = touched - self._replaced
                view_rows = self._views.refresh(con, touched, lsn, commit_time, inserted_only)
            self._write_bookkeeping(units, positions, events)
            if within is not None:
                within(con)
            if commit:
                self._hook("project.before_commit")
                con.execute("COMMIT")
            else:
                self._rollback(dirty_before)
        except DATA_ERRORS as exc:
            self._rollback(dirty_before)
            raise _apply_error(units, f"{type(exc).__name__}: {exc}") from exc
        except duckdb.Error as exc:
            self._rollback(dirty_before)
            raise _apply_error(units, str(exc)) from exc
        except BaseException:
            self._rollback(dirty_before)
            raise
        if not commit:
            return BatchResult(len(units), events, changed, view_rows, lsn, 0.0)
        self._hook("project.after_commit")
        for unit in units:
            if unit.staged:
                self._stage.drop(unit.uow_id)
        seconds = time.perf_counter() - started
        logger.debug("applied %d units, %d events in %.3fs", len(units), events, seconds)
        return BatchResult(len(units), events, changed, view_rows, lsn, seconds)

    def _rollback(self, dirty_before: Set[str]) -> None:
        """Roll the batch back; the deltas hold again what they held before it began."""
        self._con.execute("ROLLBACK")
        self._dirty |= dirty_before

    def _apply_all(
        self, units: Sequence[AssembledUnit], references: Sequence[DecodedChange]
    ) -> tuple[int, set[str]]:
        # A delta no batch has written since it was last cleared is empty already.
        for source in sorted(self._dirty):
            self._con.execute(self._format("delta_clear", self._mirrors[source]))
        self._dirty = set()
        self._replaced = set()
        folded = fold(references)
        for unit in units:
            fold(unit.events, into=folded)
        changed, touched = self._apply_fold(folded)
        for unit in (u for u in units if u.staged):
            for chunk in self._stage.chunks(unit.uow_id, self._chunk):
                more, tables = self._apply_fold(fold(chunk))
                changed += more
                touched |= tables
        return changed, touched

    def _apply_fold(self, folded: Folded) -> tuple[int, set[str]]:
        changed = 0
        touched: set[str] = set()
        for table, by_key in folded.items():
            spec = self._mirrors.get(table)
            if spec is None:
                raise _apply_error(self._current, f"no mirror for table {table}")
            rows = self._apply_table(spec, list(by_key.values()))
            if rows:
                changed += rows
                touched.add(f"{spec.schema}.{spec.name}".lower())
        return changed, touched

    def _apply_table(self, spec: MirrorSpec, events: list[DecodedChange]) -> int:
        con = self._con
        con.register("_incoming", arrow_batch(spec, events))
        try:
            con.execute(self._format("winners", spec), {"snapshot_seq": SNAPSHOT_SEQ})
        finally:
            con.unregister("_incoming")
        row = con.execute(self._sql["counts"]).fetchone()
        winners, existed = (0, 0) if row is None else (int(row[0]), int(row[1]))
        if winners == 0:
            return 0
        self._dirty.add(spec.source_name)
        if existed:
            # an update or a delete: views cannot fold this table's delta in as inserts
            self._replaced.add(f"{spec.schema}.{spec.name}".lower())
            con.execute(self._format("old_images", spec))
            con.execute(self._format("delete", spec))
        for name in ("upsert", "new_images", "keys"):
            con.execute(self._format(name, spec))
        return winners

    def _write_bookkeeping(
        self, units: Sequence[AssembledUnit], positions: Mapping[Partition, int], events: int
    ) -> None:
        con = self._con
        if positions:
            table = pa.table(
                {
                    "topic": [t for t, _ in positions],
                    "partition": pa.array([p for _, p in positions], pa.int32()),
                    "next_offset": pa.array(list(positions.values()), pa.int64()),
                }
            )
            con.register("_positions", table)
            try:
                con.execute(self._bookkeeping["write_positions"])
            finally:
                con.unregister("_positions")
        lsn, commit = _newest(units)
        uow_lsn = max((u.commit_lsn for u in units if not u.is_pseudo), default=0)
        params: dict[str, Any] = {
            "lsn": lsn,
            "commit_time": commit,
            "uow_lsn": uow_lsn,
            "applied_at": datetime.now(UTC).replace(tzinfo=None),
            "units": len(units),
            "events": events,
        }
        con.execute(self._bookkeeping["write_watermark"], params)

    def _format(self, name: str, spec: MirrorSpec) -> str:
        keys = [c.sql_name for c in spec.key_columns]
        others = [c.sql_name for c in spec.columns if c.name not in spec.primary_key]
        set_list = ", ".join(f"{c} = excluded.{c}" for c in others)
        return self._sql[name].format(
            mirror=spec.sql_name,
            keys_table=spec.keys_table,
            delta=spec.delta_name,
            columns=", ".join(c.sql_name for c in spec.columns),
            key_columns=", ".join(keys),
            key_join_ik=" AND ".join(f"k.{c} = i.{c}" for c in keys),
            key_join_mw=" AND ".join(f"m.{c} = w.{c}" for c in keys),
            conflict_action=f"UPDATE SET {set_list}" if others else "NOTHING",
        )


def arrow_batch(spec: MirrorSpec, events: Iterable[DecodedChange]) -> pa.Table:
    """The Arrow table of one mirror's folded changes: its columns, then the bookkeeping.

    Key columns come from the event's key (deletes have no after image); the others from
    the after image, None for a delete. After images decoded in bulk (`events.ArrowRow`)
    are taken from their blocks a column at a time (`_taken`); the values are the same.
    """
    events = list(events)
    key_pos = {name: i for i, name in enumerate(spec.primary_key)}
    taken = _taken(events)
    key_values = list(zip(*[e.key for e in events], strict=True)) or [()] * len(key_pos)
    arrays: list[pa.Array | pa.ChunkedArray] = []
    for column in spec.columns:
        pos = key_pos.get(column.name)
        if pos is not None:
            arrays.append(pa.array(key_values[pos], column.arrow_type))
            continue
        name = column.name
        if taken is not None:
            found = _cast(taken, name, column.arrow_type, len(events))
            if found is not None:
                arrays.append(found)
                continue
        values = [None if e.row is None else e.row.get(name) for e in events]
        arrays.append(pa.array(values, column.arrow_type))
    # the events' versions (`DecodedChange.version`), a column at a time
    arrays.append(pa.array([e.commit_lsn for e in events], pa.int64()))
    changes = [SNAPSHOT_SEQ if e.op == "r" else e.change_lsn for e in events]
    arrays.append(pa.array(changes, pa.int64()))
    arrays.append(pa.array([e.row is None for e in events], pa.bool_()))
    micros = pa.array([e.commit_ms * 1000 for e in events], pa.int64())
    arrays.append(micros.cast(pa.timestamp("us")))
    return pa.Table.from_arrays(arrays, schema=spec.arrow_schema())


def _taken(events: Sequence[DecodedChange]) -> pa.Table | None:
    """The events' after images as one table (a delete's row all null), taken from their
    `RowBlock`s; None unless every image is an `ArrowRow` and their blocks agree on columns."""
    blocks: dict[int, tuple[RowBlock, int]] = {}
    indices: list[int | None] = []
    base = 0
    for event in events:
        row = event.row
        if row is None:
            indices.append(None)
            continue
        if type(row) is not ArrowRow:
            return None
        found = blocks.get(id(row.block))
        if found is None:
            found = blocks[id(row.block)] = (row.block, base)
            base += len(row.block)
        indices.append(found[1] + row.index)
    if not blocks:
        return None
    tables = [block.table for block, _ in blocks.values()]
    if any(t.schema != tables[0].schema for t in tables[1:]):
        return None
    whole = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
    return whole.take(pa.array(indices, pa.int64()))


def _cast(
    taken: pa.Table, name: str, arrow_type: pa.DataType, rows: int
) -> pa.ChunkedArray | pa.Array | None:
    """Column `name` of `taken` as `arrow_type` (all null when the images lack it, as
    `row.get` gives None); None when Arrow cannot cast it safely (then value by value)."""
    if name not in taken.column_names:
        return pa.nulls(rows, arrow_type)
    try:
        return taken.column(name).cast(arrow_type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _newest(units: Sequence[AssembledUnit]) -> tuple[int, datetime | None]:
    if not units:
        return 0, None
    last = max(units, key=lambda u: u.commit_lsn)
    return last.commit_lsn, ms_to_datetime(last.commit_ms)


def _apply_error(units: Sequence[AssembledUnit], reason: str) -> ApplyError:
    ids = tuple(u.uow_id for u in units)
    lsns = [u.commit_lsn for u in units] or [0]
    return ApplyError(ids, min(lsns), max(lsns), reason)
