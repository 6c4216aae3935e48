"""A unit of work stalled on undecodable events, and partitions paused while units back up."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from projections.assembler import MemoryStage, UnitOfWorkAssembler
from projections.discovery import Rediscovery
from projections.errorlog import ErrorRecord
from projections.events import DecodedChange, TxMarker
from projections.flow_control import FlowControl
from projections.poison import PoisonLedger
from projections.progress import ReadProgress
from projections.stalls import StallResolver
from projections.topology import Topology

ORDERS = "SHIPPING.ORDERS"
TOPIC = "t.shipping.orders"
P0, P1 = (TOPIC, 0), (TOPIC, 1)


def _parts(kit: SimpleNamespace) -> SimpleNamespace:
    asm = UnitOfWorkAssembler("tx", 0, MemoryStage(), 1000)
    progress, poison = ReadProgress(), PoisonLedger()
    return SimpleNamespace(
        asm=asm,
        progress=progress,
        poison=poison,
        stalls=StallResolver(1000, asm, poison, progress),
        topology=Topology("tx", {TOPIC: kit.SHIPPING[ORDERS]}, {}),
        discovery=Rediscovery(None),
    )


def _order(kit: SimpleNamespace, oid: int, lsn: int, partition: int) -> DecodedChange:
    row = {"ORDER_ID": oid, "STATUS": "NEW"}
    event: DecodedChange = kit.make_event(ORDERS, row, lsn, oid, offset=oid, partition=partition)
    return event


def _read(p: SimpleNamespace, event: DecodedChange) -> None:
    part = (event.topic, event.partition)
    p.progress.note_record(part)
    p.progress.note_change(part, event.commit_lsn)
    p.poison.observe(part, event.commit_lsn)
    p.asm.add_event(event)


def _poison(offset: int) -> ErrorRecord:
    return ErrorRecord(kind="decode", reason="bad bytes", topic=TOPIC, partition=0, offset=offset)


def test_a_stalled_unit_is_applied_without_its_poison_once_its_partitions_moved_on(
    kit: SimpleNamespace,
) -> None:
    p = _parts(kit)
    p.asm.add_marker(TxMarker(0, "BEGIN", "U5", 5, 5))
    _read(p, _order(kit, 1, 5, 0))
    p.progress.note_record(P0)
    p.poison.add(P0, 2, 5, _poison(2))  # the second event of U5 does not decode
    p.asm.note_consumed(P0, 2)
    p.asm.add_marker(TxMarker(1, "END", "U5", 5, 5, 3, {ORDERS: 3}))
    p.progress.note_end_marker("U5")
    resolve = [p.topology, {P0, P1}, p.discovery]
    assert p.stalls.resolve(10.0, *resolve) == []  # stalled from now on
    assert p.stalls.resolve(10.5, *resolve) == []  # within the grace period
    _read(p, _order(kit, 7, 9, 0))  # partition 0 moved past LSN 5; partition 1 not yet
    assert p.stalls.resolve(11.0, *resolve) == []
    p.progress.note_end(P1)  # partition 1 read to its end after U5's END
    errors = p.stalls.resolve(11.0, *resolve)
    assert [(e.kind, e.offset, e.uow_id, e.commit_lsn) for e in errors] == [
        ("decode", 2, "U5", 5),
        ("missing", -5, "U5", 5),
    ]
    assert errors[1].reason == f"END announced 1 more events of {ORDERS} than arrived decodable"
    assert [u.uow_id for u in p.asm.ready(100)] == ["U5"]


def test_a_stalled_unit_on_a_table_not_read_asks_for_a_look_first(kit: SimpleNamespace) -> None:
    p = _parts(kit)
    p.discovery.done(0.0)
    p.asm.add_marker(TxMarker(0, "END", "U5", 5, 5, 1, {"SHIPPING.ITEMS": 1}))
    assert p.stalls.resolve(10.0, p.topology, {P0}, p.discovery) == []
    assert p.stalls.resolve(11.0, p.topology, {P0}, p.discovery) == []
    assert p.discovery.due(11.0)


def test_partitions_that_ran_ahead_pause_while_too_many_events_wait(kit: SimpleNamespace) -> None:
    p = _parts(kit)
    flow = FlowControl(1, p.asm, p.progress)
    p.asm.add_marker(TxMarker(0, "BEGIN", "U5", 5, 5))
    _read(p, _order(kit, 1, 5, 0))
    assert flow.paused(p.asm.held_events, p.topology, {P0, P1}) == set()
    _read(p, _order(kit, 2, 9, 1))  # partition 1 is past the oldest unit waiting (LSN 5)
    assert flow.paused(p.asm.held_events, p.topology, {P0, P1}) == {P1}


def test_the_transaction_topic_reads_on_past_the_cap_until_the_oldest_unit_has_its_end(
    kit: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Capture split by table group: group b, far behind, writes the END that completes the
    oldest unit after group a's markers of many later units; pausing the transaction topic
    then would wait for ever."""
    monkeypatch.setattr("projections.flow_control.MAX_QUEUED_UNITS", 3)
    p = _parts(kit)
    flow = FlowControl(1000, p.asm, p.progress)
    tx = ("tx", 0)
    for lsn in range(1, 6):  # group a's BEGIN and END of units 1..5, group b's of none
        p.asm.add_marker(TxMarker(2 * lsn, "BEGIN", f"U{lsn}", lsn, lsn, part="a", parts=2))
        p.asm.add_marker(TxMarker(2 * lsn + 1, "END", f"U{lsn}", lsn, lsn, 0, {}, "a", 2))
    assert p.asm.queued_units == 5 and not p.asm.head_ended
    assert flow.paused(0, p.topology, {tx}) == set()
    p.asm.add_marker(TxMarker(20, "END", "U1", 1, 1, 0, {}, "b", 2))
    assert p.asm.head_ended and [u.uow_id for u in p.asm.ready(100)] == ["U1"]
    assert flow.paused(0, p.topology, {tx}) == set()  # U2 waits for b's END too
    for lsn in range(2, 6):
        p.asm.add_marker(TxMarker(20 + lsn, "END", f"U{lsn}", lsn, lsn, 1, {ORDERS: 1}, "b", 2))
    assert p.asm.head_ended and p.asm.queued_units == 4  # U2..U5 wait for their events
    assert flow.paused(0, p.topology, {tx}) == {tx}
