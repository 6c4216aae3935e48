"""The projection writer: one DuckDB database, its mirrors and views, batches with their errors.

`ProjectionWriter` composes the pure core (applier, views, stage) with the error table and the
dead-letter topic. A batch that DuckDB refuses because of its data (a value a mirror or a view
rejects) is not a reason to stop: the writer tries each unit of work alone, and each event of
a failing unit alone, both in transactions it rolls back, then commits the batch without the
events that fail alone, with their error rows, in one transaction. A failure of the database
itself (disk full, out of memory) is raised: the writer stops and restarts from its positions.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

import duckdb

from config import Settings
from projections.applier import DATA_ERRORS, BatchApplier, BatchResult, Hook, InTransaction
from projections.assembler import AssembledUnit, Partition
from projections.changelog import ChangeLog
from projections.commit_signal import CommitSignal
from projections.deadletters import DeadLetters
from projections.errorlog import ErrorRecord, record_errors
from projections.errors import ApplyError, UnknownView
from projections.events import DecodedChange
from projections.metrics import ProjectionMetrics
from projections.mirror import MirrorSpec, quote
from projections.sqlfiles import statements
from projections.stage import DuckDBStage
from projections.store import read_watermark
from projections.views import ViewSet, load_views

logger = logging.getLogger(__name__)


def _no_hook(point: str) -> None:
    del point


class ProjectionWriter:
    """Applies batches to the projection database, recording what cannot be applied.

    Args:
        con: the database's writer connection (`store.open_database`).
        settings: the whole configuration (projections and kafka sections).
        hook: crash-point hook handed to the applier and the views (a no-op by default).
        dead_letters: the dead-letter producer, or None (no copies to Kafka).
        metrics: where to count; new metrics by default.
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        settings: Settings,
        hook: Hook = _no_hook,
        dead_letters: DeadLetters | None = None,
        metrics: ProjectionMetrics | None = None,
    ) -> None:
        p = settings.projections
        self.con = con
        self.stage = DuckDBStage(con)
        self.views = ViewSet(load_views(p.views, p.views_dir), hook=hook)
        # subscribers' view changes, written in each batch
        self.views.changes = ChangeLog(con, views=p.logged_views())
        # A staged unit is read back as many events at a time as it spilled: the read-back
        # (its events unpickled with dict after images) is the writer's largest burst of Python
        # objects, and the heap keeps the high-water mark of such bursts.
        self.applier = BatchApplier(
            con, self.stage, self.views, chunk_events=p.stage_threshold, hook=hook
        )
        self.signal = CommitSignal()
        self.metrics = metrics or ProjectionMetrics()
        self._dlq = dead_letters
        self.signal.committed(read_watermark(con).lsn)

    def ensure(self, specs: Iterable[MirrorSpec]) -> list[str]:
        """Create missing mirrors, then build every view that is new, changed or now complete.

        Returns:
            the views rebuilt.
        """
        for spec in specs:
            if self.applier.mirrors.get(spec.source_name) != spec:
                self.applier.ensure_mirror(spec)
        mirrors = {f"{s.schema}.{s.name}".lower() for s in self.applier.mirrors.values()}
        return self.views.ensure(self.con, mirrors)

    def apply(
        self,
        units: Sequence[AssembledUnit],
        positions: Mapping[Partition, int],
        references: Sequence[DecodedChange] = (),
        errors: Sequence[ErrorRecord] = (),
    ) -> BatchResult:
        """Apply a batch with its positions and error rows in one transaction.

        Events that DuckDB rejects on their own are left out and recorded (kind "apply").

        Raises:
            ApplyError: the database itself failed (not the data); nothing was committed.
        """
        recorded = list(errors)
        try:
            result = self.applier.apply(units, positions, references, within=_rows(recorded))
        except ApplyError as exc:
            if not isinstance(exc.__cause__, DATA_ERRORS):
                raise
            logger.warning("%s; looking for the event(s) at fault", exc)
            units, references, poison = self._isolate(units, references)
            recorded += poison
            result = self.applier.apply(units, positions, references, within=_rows(recorded))
            for unit in units:
                self.stage.drop(unit.uow_id)
        self._after(result, recorded)
        return result

    def replay(self, events: Sequence[DecodedChange], within: InTransaction) -> BatchResult:
        """Apply events again on their own (per-key versions make older ones no-ops)."""
        result = self.applier.apply([], {}, events, within=within)
        self._after(result, [])
        return result

    def deliver_dead_letters(self) -> int:
        """Produce error rows not yet in the dead-letter topic (after a restart, say)."""
        return 0 if self._dlq is None else self._dlq.deliver(self.con)

    def rebuild(self, name: str) -> tuple[int, float, int]:
        """Rebuild view `name` from its mirrors and swap it in.

        Returns:
            (view rows, seconds, source rows read).

        Raises:
            UnknownView: the name is not configured.
        """
        known = tuple(v.name for v in self.views.definitions)
        view = next((v for v in self.views.definitions if v.name == name), None)
        if view is None:
            raise UnknownView(name, known)
        source_rows = 0
        for source in view.sources:
            schema, table = source.split(".")
            sql = statements("view_maintenance.sql")["source_count"]
            mirror = f"{quote(schema)}.{quote(table)}"
            row = self.con.execute(sql.format(mirror=mirror)).fetchone()
            source_rows += int(row[0]) if row else 0
        rows, seconds = self.views.rebuild(self.con, name)
        return rows, seconds, source_rows

    def _after(self, result: BatchResult, errors: Sequence[ErrorRecord]) -> None:
        for record in errors:
            self.metrics.errors.labels(record.kind).inc()
        self.metrics.batch(result)
        self.signal.committed(read_watermark(self.con).lsn)
        if errors:
            self.deliver_dead_letters()

    def _isolate(
        self, units: Sequence[AssembledUnit], references: Sequence[DecodedChange]
    ) -> tuple[list[AssembledUnit], list[DecodedChange], list[ErrorRecord]]:
        kept_units: list[AssembledUnit] = []
        poison: list[ErrorRecord] = []
        for unit in units:
            if self._trial([unit], ()) is None:
                kept_units.append(unit)
                continue
            staged = self.stage.chunks(unit.uow_id, 10_000) if unit.staged else iter(())
            events = [*unit.events, *itertools.chain.from_iterable(staged)]
            kept = []
            for event in events:
                alone = replace(unit, events=(event,), staged=False, event_count=1)
                reason = self._trial([alone], ())
                if reason is None:
                    kept.append(event)
                else:
                    poison.append(apply_error_record(event, reason))
            kept_units.append(replace(unit, events=tuple(kept), staged=False))
        kept_refs = []
        for event in references:
            reason = self._trial([], [event])
            if reason is None:
                kept_refs.append(event)
            else:
                poison.append(apply_error_record(event, reason))
        return kept_units, kept_refs, poison

    def _trial(self, units: Sequence[AssembledUnit], refs: Sequence[DecodedChange]) -> str | None:
        try:
            self.applier.apply(units, {}, refs, commit=False)
        except ApplyError as exc:
            if not isinstance(exc.__cause__, DATA_ERRORS):
                raise
            return exc.reason
        return None


def apply_error_record(event: DecodedChange, reason: str) -> ErrorRecord:
    """The error row of an event DuckDB rejected."""
    return ErrorRecord(
        kind="apply",
        reason=reason,
        topic=event.topic,
        partition=event.partition,
        offset=event.offset,
        raw_key=event.raw_key,
        raw_value=event.raw_value,
        uow_id=event.uow_id,
        commit_lsn=event.commit_lsn,
        source_table=event.table,
        key_text=json.dumps(list(event.key), default=str),
    )


def _rows(records: list[ErrorRecord]) -> InTransaction:
    def write(con: duckdb.DuckDBPyConnection) -> None:
        record_errors(con, records)

    return write
