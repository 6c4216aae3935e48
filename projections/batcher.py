"""Batches: complete units of work, reference records and error rows applied together.

Complete units of work are taken from the assembler, in commit order, into the next batch.
Each batch is one DuckDB transaction with the positions and the watermark
(`ProjectionWriter.apply`), run on the apply thread (`pipeline.ApplyWorker`) while the loop
reads on. Batching happens only under backlog, the way Nagle's algorithm holds small segments
only while one is unacknowledged: when the apply thread is free and no more records wait in
the consumer, a batch holding a complete unit of work (or reference records, or error rows) is
applied at once; while the thread is busy, or while the last poll came back full (a backlog),
the batch goes on collecting, up to `batch_max_events` events or `batch_max_ms` milliseconds.
A batch with nothing in it but positions that moved (tombstones, records of units applied
before) waits for `batch_max_ms`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from config import ProjectionSettings
from projections.assembler import AssembledUnit, Partition, UnitOfWorkAssembler
from projections.errorlog import ErrorRecord
from projections.events import DecodedChange
from projections.pipeline import ApplyWorker
from projections.writer import ProjectionWriter


@dataclass(slots=True)
class RunSummary:
    """What one run did.

    Attributes:
        batches: batches committed.
        units: units of work applied.
        events: events applied (change and reference).
        errors: records sent to the error table.
        seconds: wall time of the run.
        lsn: the watermark at the end.
    """

    batches: int = 0
    units: int = 0
    events: int = 0
    errors: int = 0
    seconds: float = 0.0
    lsn: int = 0


@dataclass(slots=True)
class Batch:
    """What the next DuckDB transaction applies.

    Attributes:
        units: complete units of work, in commit order.
        references: reference records, in the order read.
        errors: error rows.
        events: events of the units and reference records.
        started: when the batch began to collect (monotonic seconds).
        dirty: whether records were read since the batch before (its positions moved).
    """

    units: list[AssembledUnit] = field(default_factory=list)
    references: list[DecodedChange] = field(default_factory=list)
    errors: list[ErrorRecord] = field(default_factory=list)
    events: int = 0
    started: float = 0.0
    dirty: bool = False

    def __bool__(self) -> bool:
        return bool(self.units or self.references or self.errors or self.dirty)


class Batcher:
    """Collects the next batch and hands it to the apply thread.

    Args:
        limits: the projections settings (`batch_max_events`, `batch_max_ms`).
        writer: the projection writer.
        assembler: where complete units of work and the positions to store come from.
        worker: the apply thread.
        on_commit: called (on the apply thread) after each committed batch.
    """

    def __init__(
        self,
        limits: ProjectionSettings,
        writer: ProjectionWriter,
        assembler: UnitOfWorkAssembler,
        worker: ApplyWorker,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self._max_events = limits.batch_max_events
        self._max_s = limits.batch_max_ms / 1000
        self._writer = writer
        self._assembler = assembler
        self._worker = worker
        self._on_commit = on_commit
        self._batch = Batch()
        self._ref_positions: dict[Partition, int] = {}
        self.summary = RunSummary()
        """The counts of the batches committed."""

    @property
    def pending(self) -> bool:
        """Whether units of work or reference records wait in the batch being collected."""
        return bool(self._batch.units or self._batch.references)

    def touch(self) -> None:
        """A record was read: the positions moved, so the batch is worth applying."""
        self._batch.dirty = True

    def add_reference(self, event: DecodedChange) -> None:
        """Add a reference record (it applies on its own, in no unit of work)."""
        self._batch.references.append(event)
        self._batch.events += 1
        self._ref_positions[(event.topic, event.partition)] = event.offset + 1

    def skip_reference(self, partition: Partition, offset: int) -> None:
        """A reference record that is not applied (its error row is added) was read."""
        self._ref_positions[partition] = offset + 1

    def add_errors(self, records: Iterable[ErrorRecord]) -> None:
        """Add error rows."""
        self._batch.errors.extend(records)

    def collect(self, now: float, backlog: bool) -> None:
        """Take the complete units that fit; apply the batch when full, old enough, or holding
        something while nothing more waits (see the module docstring).

        Args:
            now: monotonic seconds.
            backlog: whether more records already wait in the consumer (the last poll
                returned as many as it asked for).
        """
        batch = self._batch
        if not batch.units and not batch.references:
            batch.started = now
        room = self._max_events - batch.events
        if room > 0:
            for unit in self._assembler.ready(room):
                batch.units.append(unit)
                batch.events += unit.event_count
        full = batch.events >= self._max_events
        aged = now - batch.started >= self._max_s
        holds = bool(batch.units or batch.references or batch.errors)
        if batch and (full or aged or (holds and not backlog)):
            self.apply()

    def apply(self, wait: bool = False) -> None:
        """Hand the batch to the apply thread; while it is busy, unless `wait`, the batch
        goes on collecting (up to its limit) and the loop on reading."""
        if not self._batch or (self._worker.busy and not wait):
            return
        batch, self._batch = self._batch, Batch(started=time.monotonic())
        positions = {**self._assembler.positions(), **self._ref_positions}
        self._ref_positions = {}
        self._worker.submit(lambda: self._commit(batch, positions))

    def _commit(self, batch: Batch, positions: dict[Partition, int]) -> None:
        """Apply one batch (on the apply thread)."""
        result = self._writer.apply(batch.units, positions, batch.references, batch.errors)
        s = self.summary
        s.batches += 1
        s.units += result.units
        s.events += result.events
        s.errors += len(batch.errors)
        if self._on_commit is not None:
            self._on_commit()
