"""The unit-of-work assembler: whole units, in transaction-topic order, duplicates dropped."""

from __future__ import annotations

import random
from types import SimpleNamespace

from projections.assembler import MemoryStage, UnitOfWorkAssembler
from projections.events import DecodedChange, TxMarker

ORDERS = "SHIPPING.ORDERS"
CUSTOMERS = "SHIPPING.CUSTOMERS"


def begin(offset: int, uow: str, lsn: int) -> TxMarker:
    return TxMarker(offset, "BEGIN", uow, lsn, lsn)


def end(offset: int, uow: str, lsn: int, **counts: int) -> TxMarker:
    per_table = {f"SHIPPING.{t.upper()}": n for t, n in counts.items()}
    return TxMarker(offset, "END", uow, lsn, lsn, sum(counts.values()), per_table)


def order(kit: SimpleNamespace, oid: int, lsn: int, seq: int, offset: int) -> DecodedChange:
    row = {"ORDER_ID": oid, "STATUS": "NEW"}
    return kit.make_event(ORDERS, row, lsn, seq, offset=offset, partition=oid % 2)


def cust(kit: SimpleNamespace, cid: int, lsn: int, seq: int, offset: int) -> DecodedChange:
    return kit.make_event(CUSTOMERS, {"CUSTOMER_ID": cid, "NAME": "x"}, lsn, seq, offset=offset)


def assembler(applied: int = 0, threshold: int = 1000) -> UnitOfWorkAssembler:
    return UnitOfWorkAssembler("tx", applied, MemoryStage(), threshold)


def test_a_unit_is_released_only_when_every_table_count_is_met(kit: SimpleNamespace) -> None:
    asm = assembler()
    asm.add_marker(begin(0, "U5", 5))
    asm.add_event(order(kit, 1, 5, 1, 0))
    asm.add_marker(end(1, "U5", 5, orders=2, customers=1))
    asm.add_event(cust(kit, 7, 5, 3, 0))
    assert asm.ready(100) == []
    asm.add_event(order(kit, 2, 5, 2, 0))
    (released,) = asm.ready(100)
    assert (released.uow_id, released.event_count) == ("U5", 3)
    assert sorted(e.change_lsn for e in released.events) == [1, 2, 3]


def test_units_are_released_in_transaction_topic_order(kit: SimpleNamespace) -> None:
    asm = assembler()
    asm.add_marker(begin(0, "U1", 1))
    asm.add_marker(end(1, "U1", 1, orders=1))
    asm.add_marker(begin(2, "U2", 2))
    asm.add_marker(end(3, "U2", 2, orders=1))
    asm.add_event(order(kit, 9, 2, 1, 0))  # U2 complete, U1 not yet: U2 waits
    assert asm.ready(100) == []
    asm.add_event(order(kit, 8, 1, 1, 0))
    assert [u.uow_id for u in asm.ready(100)] == ["U1", "U2"]


def test_events_of_a_unit_not_yet_in_the_transaction_topic_do_not_block(
    kit: SimpleNamespace,
) -> None:
    asm = assembler()
    asm.add_event(order(kit, 3, 7, 1, 5))  # U7: its BEGIN is not read yet
    asm.add_marker(begin(0, "U6", 6))
    asm.add_event(order(kit, 1, 6, 1, 4))
    asm.add_marker(end(1, "U6", 6, orders=1))
    assert [u.uow_id for u in asm.ready(100)] == ["U6"]
    # the held U7 event (partition 1, offset 5) keeps that partition's position back
    assert asm.positions()[("t.shipping.orders", 1)] == 5
    asm.add_marker(begin(2, "U7", 7))
    asm.add_marker(end(3, "U7", 7, orders=1))
    assert [u.uow_id for u in asm.ready(100)] == ["U7"]
    assert asm.positions() == {("t.shipping.orders", 1): 6, ("tx", 0): 4}


def test_any_interleaving_releases_the_same_units_in_order(kit: SimpleNamespace) -> None:
    records: list[DecodedChange | TxMarker] = []
    tx_offset = 0
    topic_offsets = {0: 0, 1: 0}
    for lsn in range(1, 30):
        n = lsn % 4 + 1
        records.append(begin(tx_offset, f"U{lsn}", lsn))
        for seq in range(1, n + 1):
            event = order(kit, lsn * 10 + seq, lsn, seq, 0)
            offset = topic_offsets[event.partition]
            topic_offsets[event.partition] += 1
            records.append(
                kit.make_event(
                    ORDERS, event.row, lsn, seq, offset=offset, partition=event.partition
                )
            )
        records.append(end(tx_offset + 1, f"U{lsn}", lsn, orders=n))
        tx_offset += 2
    rnd = random.Random(7)
    for _ in range(20):
        # each partition (and the tx topic) stays in offset order; partitions interleave freely
        queues: dict[object, list[DecodedChange | TxMarker]] = {}
        for r in records:
            queues.setdefault(r.partition if isinstance(r, DecodedChange) else "tx", []).append(r)
        asm = assembler()
        released = []
        while any(queues.values()):
            queue = rnd.choice([q for q in queues.values() if q])
            record = queue.pop(0)
            if isinstance(record, TxMarker):
                asm.add_marker(record)
            else:
                asm.add_event(record)
            released += [u.commit_lsn for u in asm.ready(rnd.randint(1, 8))]
        assert released == list(range(1, 30))


def test_duplicates_are_dropped_and_applied_units_are_skipped_after_restart(
    kit: SimpleNamespace,
) -> None:
    asm = assembler(applied=4)
    asm.add_event(order(kit, 1, 4, 1, 0))  # unit 4 was applied before the restart
    asm.add_marker(end(0, "U4", 4, orders=1))
    asm.add_marker(begin(1, "U5", 5))
    asm.add_event(order(kit, 2, 5, 1, 1))
    asm.add_event(order(kit, 2, 5, 1, 1))  # read twice
    asm.add_marker(begin(1, "U5", 5))
    asm.add_marker(end(2, "U5", 5, orders=1))
    (released,) = asm.ready(100)
    assert (released.uow_id, len(released.events)) == ("U5", 1)
    assert asm.duplicates == 4


def test_orphans_of_units_applied_before_a_restart_are_dropped(kit: SimpleNamespace) -> None:
    asm = assembler(applied=9)
    snap = kit.make_event(ORDERS, {"ORDER_ID": 1}, 9, 1, op="r", uow="snapshot:S.O:1", offset=3)
    asm.add_event(snap)  # a snapshot chunk at LSN 9, released before the restart
    assert asm.positions() == {("t.shipping.orders", 0): 3}
    assert asm.drop_orphans() == 1
    assert asm.positions() == {("t.shipping.orders", 0): 4}


def test_snapshot_chunks_with_the_same_lsn_are_separate_units(kit: SimpleNamespace) -> None:
    asm = assembler(applied=12)
    for chunk, (off, oid) in enumerate([(0, 1), (2, 2)], start=1):
        uow = f"snapshot:SHIPPING.ORDERS:{chunk}"
        asm.add_marker(TxMarker(off, "BEGIN", uow, 12, 0))
        asm.add_event(kit.make_event(ORDERS, {"ORDER_ID": oid}, 12, 1, op="r", uow=uow, offset=oid))
        asm.add_marker(TxMarker(off + 1, "END", uow, 12, 0, 1, {ORDERS: 1}))
    units = asm.ready(100)
    assert [u.uow_id for u in units] == ["snapshot:SHIPPING.ORDERS:1", "snapshot:SHIPPING.ORDERS:2"]
    assert all(u.is_snapshot for u in units)


def test_a_large_unit_is_staged_and_released_alone(kit: SimpleNamespace) -> None:
    stage = MemoryStage()
    asm = UnitOfWorkAssembler("tx", 0, stage, stage_threshold=10)
    asm.add_marker(begin(0, "U1", 1))
    for seq in range(1, 26):
        asm.add_event(order(kit, seq, 1, seq, seq))
    assert asm.held_events == 5
    asm.add_marker(end(1, "U1", 1, orders=25))
    asm.add_marker(begin(2, "U2", 2))
    asm.add_event(order(kit, 99, 2, 1, 30))
    asm.add_marker(end(3, "U2", 2, orders=1))
    first = asm.ready(10)
    assert [(u.uow_id, u.staged, u.event_count, len(u.events)) for u in first] == [
        ("U1", True, 25, 5)
    ]
    assert sum(len(c) for c in stage.chunks("U1", 7)) == 20
    assert [u.uow_id for u in asm.ready(10)] == ["U2"]


def test_resumed_parts_below_the_watermark_are_released_not_dropped(kit: SimpleNamespace) -> None:
    # Units 5..9 were applied; ORDERS was blocked meanwhile, so unit 6's ORDERS part comes now,
    # as a pseudo unit with unit 6's LSN, its event read before its marker.
    asm = assembler(applied=9)
    uow = "resumed:SHIPPING.ORDERS:U6:2"
    asm.add_event(kit.make_event(ORDERS, {"ORDER_ID": 1}, 6, 2, uow=uow, offset=4))
    asm.add_marker(begin(10, "U10", 10))
    asm.add_event(cust(kit, 3, 10, 1, 7))
    asm.add_marker(end(11, "U10", 10, customers=1))
    assert [u.uow_id for u in asm.ready(100)] == ["U10"]  # releasing 10 keeps the resumed part
    asm.add_marker(TxMarker(12, "BEGIN", uow, 6, 6))
    asm.add_event(kit.make_event(ORDERS, {"ORDER_ID": 2}, 6, 3, uow=uow, offset=5))
    asm.add_marker(TxMarker(13, "END", uow, 6, 6, 2, {ORDERS: 2}))
    (resumed,) = asm.ready(100)
    assert (resumed.uow_id, resumed.commit_lsn, resumed.is_pseudo) == (uow, 6, True)
    assert sorted(e.key for e in resumed.events) == [(1,), (2,)]
    assert asm.duplicates == 0


def part_marker(status: str, offset: int, lsn: int, part: str, **counts: int) -> TxMarker:
    if status == "BEGIN":
        return TxMarker(offset, status, f"U{lsn}", lsn, lsn, part=part, parts=2)
    per_table = {f"SHIPPING.{t.upper()}": n for t, n in counts.items()}
    return TxMarker(offset, status, f"U{lsn}", lsn, lsn, sum(counts.values()), per_table, part, 2)


def test_a_unit_split_by_table_group_waits_for_every_part_end(kit: SimpleNamespace) -> None:
    asm = assembler()
    asm.add_marker(part_marker("BEGIN", 0, 5, "a"))
    asm.add_event(order(kit, 1, 5, 1, 0))
    asm.add_marker(part_marker("END", 1, 5, "a", orders=1))
    asm.add_marker(part_marker("END", 2, 5, "a", orders=1))  # read twice
    assert asm.ready(100) == [] and asm.duplicates == 1
    asm.add_marker(part_marker("BEGIN", 3, 5, "b"))
    asm.add_marker(part_marker("END", 4, 5, "b", customers=1))
    assert asm.ready(100) == []  # group b's event has not arrived
    asm.add_event(cust(kit, 7, 5, 2, 0))
    (released,) = asm.ready(100)
    assert (released.uow_id, released.event_count) == ("U5", 2)
    assert asm.positions()[("tx", 0)] == 5


def test_groups_far_apart_still_release_whole_units_in_lsn_order(kit: SimpleNamespace) -> None:
    """Group a (orders) and group b (customers) each write a BEGIN and an END for every unit,
    in LSN order, in their own transactions; the transaction topic interleaves the two
    sequences in any way (one group may be far ahead), partitions interleave freely."""
    lsns = range(1, 25)
    per_group: dict[str, list[tuple[str, int, dict[str, int]]]] = {"a": [], "b": []}
    events: list[DecodedChange] = []
    offsets = {0: 0, 1: 0, "c": 0}
    for lsn in lsns:
        n_orders, n_customers = lsn % 3, (lsn + 1) % 2  # some units touch one group only
        for seq in range(1, n_orders + 1):
            event = order(kit, lsn * 10 + seq, lsn, seq, 0)
            offset = offsets[event.partition]
            offsets[event.partition] += 1
            events.append(
                kit.make_event(
                    ORDERS, event.row, lsn, seq, offset=offset, partition=event.partition
                )
            )
        for seq in range(n_customers):
            events.append(cust(kit, lsn, lsn, 10 + seq, offsets["c"]))
            offsets["c"] += 1
        per_group["a"] += [("BEGIN", lsn, {}), ("END", lsn, {"orders": n_orders})]
        per_group["b"] += [("BEGIN", lsn, {}), ("END", lsn, {"customers": n_customers})]
    rnd = random.Random(11)
    for _ in range(30):
        a, b = list(per_group["a"]), list(per_group["b"])
        tx: list[TxMarker] = []
        while a or b:
            group = rnd.choice([g for g, q in (("a", a), ("b", b)) if q])
            q = a if group == "a" else b
            for _ in range(rnd.randint(1, 6)):  # a transaction of several markers
                if q:
                    status, lsn, counts = q.pop(0)
                    counts = {t: n for t, n in counts.items() if n}
                    tx.append(part_marker(status, len(tx), lsn, group, **counts))
        queues: dict[object, list[DecodedChange | TxMarker]] = {"tx": list(tx)}
        for e in events:
            key = e.partition if e.table == ORDERS else "c"
            queues.setdefault(key, []).append(e)
        asm = assembler()
        released: list[tuple[int, int]] = []
        while any(queues.values()):
            queue = rnd.choice([q for q in queues.values() if q])
            record = queue.pop(0)
            if isinstance(record, TxMarker):
                asm.add_marker(record)
            else:
                asm.add_event(record)
            released += [(u.commit_lsn, u.event_count) for u in asm.ready(rnd.randint(1, 8))]
        assert released == [(lsn, lsn % 3 + (lsn + 1) % 2) for lsn in lsns]
