"""The batcher: a complete unit of work is applied at once when nothing else waits (Nagle-style);
under backlog, or while the apply thread is busy, batches grow up to their limits."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest

from projections.assembler import MemoryStage, UnitOfWorkAssembler
from projections.batcher import Batcher
from projections.events import TxMarker
from projections.pipeline import ApplyWorker
from projections.store import open_database
from projections.writer import ProjectionWriter

CUSTOMERS = "SHIPPING.CUSTOMERS"
HOUR_MS = 3_600_000


@dataclass
class Loop:
    """What the Kafka loop holds: the assembler, the apply thread, the batcher, the database."""

    assembler: UnitOfWorkAssembler
    worker: ApplyWorker
    batcher: Batcher
    writer: ProjectionWriter
    offset: int = 0

    def read_unit(self, kit: SimpleNamespace, lsn: int, *customers: int) -> None:
        """Read a whole unit of work (BEGIN, its events, END) as the dispatcher would."""
        uow = f"U{lsn}"
        self.assembler.add_marker(TxMarker(self._next(), "BEGIN", uow, lsn, lsn))
        for seq, cid in enumerate(customers, start=1):
            row = {"CUSTOMER_ID": cid, "NAME": f"c{cid}"}
            event = kit.make_event(CUSTOMERS, row, lsn, seq, offset=self._next(), uow=uow)
            self.assembler.add_event(event)
        counts = {CUSTOMERS: len(customers)}
        end = TxMarker(self._next(), "END", uow, lsn, lsn, len(customers), counts)
        self.assembler.add_marker(end)

    def customers(self) -> list[int]:
        """Customer ids in the mirror (read once the apply thread is done)."""
        self.worker.wait()
        rows = self.writer.con.execute("SELECT customer_id FROM shipping.customers").fetchall()
        return sorted(int(r[0]) for r in rows)

    def _next(self) -> int:
        self.offset += 1
        return self.offset


@pytest.fixture
def make_loop(settings_factory: Any, kit: SimpleNamespace) -> Iterator[Any]:
    """Makes a loop whose batches may wait an hour (`batch_max_ms`), so a batch applied in
    these tests was applied because of the Nagle rule, never because it aged."""
    opened: list[Loop] = []

    def make(max_events: int = 50_000) -> Loop:
        overrides = {
            "projections.views": [],
            "projections.batch_max_ms": HOUR_MS,
            "projections.batch_max_events": max_events,
        }
        settings = settings_factory(overrides)
        writer = ProjectionWriter(open_database(":memory:"), settings)
        writer.ensure([kit.SHIPPING[CUSTOMERS]])
        assembler = UnitOfWorkAssembler("tx", 0, MemoryStage(), 1000)
        worker = ApplyWorker()
        loop = Loop(
            assembler, worker, Batcher(settings.projections, writer, assembler, worker), writer
        )
        opened.append(loop)
        return loop

    yield make
    for loop in opened:
        loop.worker.wait()
        loop.writer.con.close()


def test_a_complete_unit_is_applied_at_once_when_nothing_else_waits(
    make_loop: Any, kit: SimpleNamespace
) -> None:
    loop = make_loop()
    loop.read_unit(kit, 5, 1, 2)
    loop.batcher.collect(time.monotonic(), backlog=False)
    assert loop.customers() == [1, 2]
    assert (loop.batcher.summary.batches, loop.batcher.summary.units) == (1, 1)


def test_under_backlog_the_batch_collects_until_the_backlog_is_read(
    make_loop: Any, kit: SimpleNamespace
) -> None:
    loop = make_loop()
    loop.read_unit(kit, 5, 1)
    loop.batcher.collect(time.monotonic(), backlog=True)
    loop.read_unit(kit, 6, 2)
    loop.batcher.collect(time.monotonic(), backlog=True)
    assert loop.customers() == []
    assert loop.batcher.pending
    loop.batcher.collect(time.monotonic(), backlog=False)
    assert loop.customers() == [1, 2]
    assert (loop.batcher.summary.batches, loop.batcher.summary.units) == (1, 2)


def test_a_full_batch_is_applied_even_under_backlog(make_loop: Any, kit: SimpleNamespace) -> None:
    loop = make_loop(max_events=2)
    loop.read_unit(kit, 5, 1, 2)
    loop.batcher.collect(time.monotonic(), backlog=True)
    assert loop.customers() == [1, 2]


def test_while_a_batch_is_applied_the_next_one_grows(make_loop: Any, kit: SimpleNamespace) -> None:
    loop = make_loop()
    gate = threading.Event()
    loop.worker.submit(lambda: gate.wait(timeout=30))  # the apply thread is busy until the gate
    try:
        loop.read_unit(kit, 5, 1)
        loop.batcher.collect(time.monotonic(), backlog=False)
        loop.read_unit(kit, 6, 2)
        loop.batcher.collect(time.monotonic(), backlog=False)
        assert loop.batcher.pending
    finally:
        gate.set()
    loop.worker.wait()
    loop.batcher.collect(time.monotonic(), backlog=False)
    assert loop.customers() == [1, 2]
    assert (loop.batcher.summary.batches, loop.batcher.summary.units) == (1, 2)
