"""The batch applier: set-based apply, per-key idempotence, positions and watermark."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projections.errors import ApplyError
from projections.store import read_positions, read_watermark

CUSTOMERS = "SHIPPING.CUSTOMERS"
NAMES = "SELECT customer_id, name FROM shipping.customers"  # the columns the tests write


def customer(cid: int, name: str) -> dict[str, object]:
    return {"CUSTOMER_ID": cid, "NAME": name}


def test_apply_writes_rows_positions_and_watermark(
    bare_projection: Any, kit: SimpleNamespace
) -> None:
    make_event, unit = kit.make_event, kit.unit
    p = bare_projection
    u1 = unit(
        10,
        make_event(CUSTOMERS, customer(1, "Ann"), 10),
        make_event(CUSTOMERS, customer(2, "Bob"), 10, 2),
    )
    result = p.applier.apply([u1], {("t.customers", 0): 7, ("tx", 0): 3})
    assert result.changed == 2
    assert p.rows(NAMES) == [(1, "Ann"), (2, "Bob")]
    assert read_positions(p.con) == {("t.customers", 0): 7, ("tx", 0): 3}
    mark = read_watermark(p.con)
    assert (mark.lsn, mark.uow_lsn, mark.units, mark.events) == (10, 10, 1, 2)
    assert mark.commit_time == datetime(2023, 11, 14, 22, 13, 20, 10000)


def test_older_duplicate_and_deleted_keys_change_nothing(
    bare_projection: Any, kit: SimpleNamespace
) -> None:
    make_event, unit = kit.make_event, kit.unit
    p = bare_projection
    p.applier.apply([unit(5, make_event(CUSTOMERS, customer(1, "v5"), 5))], {})
    p.applier.apply([unit(6, make_event(CUSTOMERS, None, 6, key=(1,)))], {})
    # the insert of LSN 5 again, and an update older than the delete: both no-ops
    again = p.applier.apply([unit(5, make_event(CUSTOMERS, customer(1, "v5"), 5))], {})
    older = p.applier.apply([unit(4, make_event(CUSTOMERS, customer(1, "v4"), 4))], {})
    assert (again.changed, older.changed) == (0, 0)
    assert p.rows(NAMES) == []
    p.applier.apply([unit(7, make_event(CUSTOMERS, customer(1, "v7"), 7))], {})
    assert p.rows(NAMES) == [(1, "v7")]


def test_snapshot_read_at_the_applied_lsn_is_a_no_op(
    bare_projection: Any, kit: SimpleNamespace
) -> None:
    make_event, unit = kit.make_event, kit.unit
    p = bare_projection
    p.applier.apply([unit(8, make_event(CUSTOMERS, customer(1, "live"), 8))], {})
    snap = make_event(CUSTOMERS, customer(1, "snap"), 8, 1, op="r", uow="snapshot:X:1")
    assert p.applier.apply([unit(8, snap, uow="snapshot:X:1")], {}).changed == 0
    newer = make_event(CUSTOMERS, customer(1, "snap9"), 9, 1, op="r", uow="snapshot:X:2")
    assert p.applier.apply([unit(9, newer, uow="snapshot:X:2")], {}).changed == 1
    # unit of work 9 delivered after the snapshot that reflects it: older than the snapshot
    assert p.applier.apply([unit(9, make_event(CUSTOMERS, customer(1, "x"), 9))], {}).changed == 0
    assert p.rows("SELECT name FROM shipping.customers") == [("snap9",)]
    assert read_watermark(p.con).uow_lsn == 9


def test_a_failed_batch_commits_nothing(bare_projection: Any, kit: SimpleNamespace) -> None:
    make_event, unit = kit.make_event, kit.unit
    p = bare_projection
    D = kit.D
    good = make_event(CUSTOMERS, customer(1, "ok"), 3)
    bad = make_event("SHIPPING.ORDERS", {"ORDER_ID": 1, "AMOUNT": D("1.234")}, 3, 2)
    with pytest.raises(ApplyError) as caught:
        p.applier.apply([unit(3, good, bad)], {("t.customers", 0): 1})
    assert str(caught.value).startswith("applying U3 (LSN 3..3) failed: ")
    assert p.rows(NAMES) == []
    assert read_positions(p.con) == {}
    assert read_watermark(p.con).lsn == 0


def test_deltas_hold_only_the_last_batchs_images_even_after_a_rollback(
    bare_projection: Any, kit: SimpleNamespace
) -> None:
    """Only deltas a batch wrote are cleared by the next: the others must be empty already."""
    make_event, unit = kit.make_event, kit.unit
    p = bare_projection
    sql = (
        "SELECT (SELECT count(*) FROM delta_shipping_customers), "
        "(SELECT count(*) FROM delta_shipping_orders)"
    )

    def deltas() -> tuple[Any, ...] | None:  # temp tables: the writer's own connection
        return p.con.execute(sql).fetchone()

    order = {"ORDER_ID": 1, "CUSTOMER_ID": 1, "AMOUNT": kit.D("1.00")}
    p.applier.apply([unit(3, make_event(CUSTOMERS, customer(1, "a"), 3))], {})
    assert deltas() == (1, 0)
    p.applier.apply([unit(4, make_event(CUSTOMERS, customer(1, "b"), 4))], {})
    assert deltas() == (2, 0)  # the old and the new image of customer 1
    # a trial batch (rolled back) clears and rewrites the deltas: rolled back with it
    p.applier.apply([unit(5, make_event("SHIPPING.ORDERS", order, 5))], {}, commit=False)
    assert deltas() == (2, 0)
    p.applier.apply([unit(6, make_event("SHIPPING.ORDERS", order, 6))], {})
    assert deltas() == (0, 1)
    p.applier.apply([unit(7, make_event(CUSTOMERS, customer(2, "c"), 7))], {})
    assert deltas() == (1, 0)


def test_a_unit_of_an_unknown_table_is_refused(bare_projection: Any, kit: SimpleNamespace) -> None:
    make_event, unit = kit.make_event, kit.unit
    event = make_event(CUSTOMERS, customer(1, "x"), 3)
    stray = event._replace(table="X.Y")
    with pytest.raises(
        ApplyError,
        match=r"^applying U3 \(LSN 3..3\) failed: no mirror for "
        r"table X.Y$",
    ):
        bare_projection.applier.apply([unit(3, stray)], {})


def test_staged_unit_applies_whole_in_one_transaction(
    bare_projection: Any, kit: SimpleNamespace
) -> None:
    make_event, unit = kit.make_event, kit.unit
    p = bare_projection
    events = [make_event(CUSTOMERS, customer(i % 20, f"n{i}"), 30, i) for i in range(1, 60)]
    p.stage.put("U30", events)
    staged = unit(30)
    staged = type(staged)("U30", 30, staged.commit_ms, (), True, len(events))
    p.applier.apply([staged], {})
    last = {e.key[0]: (e.key[0], e.row["NAME"]) for e in events}
    expected = sorted(last.values(), key=repr)
    assert p.rows(NAMES) == expected
    assert list(p.stage.chunks("U30", 10)) == []


# Each key's history: (lsn, seq, name or None for delete); applied in any order, split into
# any batches, with duplicates: the result is always the last-by-version event.
histories = st.dictionaries(
    st.integers(1, 6),
    st.lists(
        st.tuples(
            st.integers(1, 30), st.integers(1, 3), st.one_of(st.none(), st.text("abc", max_size=3))
        ),
        min_size=1,
        max_size=6,
        unique_by=lambda t: (t[0], t[1]),
    ),
    min_size=1,
    max_size=4,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(hist=histories, rnd=st.randoms(use_true_random=False), batches=st.integers(1, 5))
def test_any_permutation_and_duplication_gives_the_last_event(
    kit: SimpleNamespace, hist: dict[int, list[tuple[int, int, str | None]]], rnd: Any, batches: int
) -> None:
    make_event, unit = kit.make_event, kit.unit
    p = kit.Projection(with_views=False)
    try:
        events = [
            make_event(
                CUSTOMERS,
                None if name is None else customer(cid, name),
                lsn,
                seq,
                key=(cid,),
                uow=f"U{lsn}",
            )
            for cid, changes in hist.items()
            for lsn, seq, name in changes
        ]
        stream = events + rnd.sample(events, k=len(events) // 2)
        rnd.shuffle(stream)
        cuts = sorted(rnd.sample(range(len(stream) + 1), k=min(batches, len(stream) + 1)))
        for lo, hi in zip([0, *cuts], [*cuts, len(stream)], strict=True):
            for e in stream[lo:hi]:
                p.applier.apply([unit(e.commit_lsn, e)], {})
        expected = []
        for cid, changes in hist.items():
            _, _, name = max(changes, key=lambda t: (t[0], t[1]))
            if name is not None:
                expected.append((cid, name))
        assert p.rows(NAMES) == sorted(expected, key=repr)
    finally:
        p.con.close()


def test_a_resumed_part_applies_by_the_per_key_rule(
    bare_projection: Any, kit: SimpleNamespace
) -> None:
    make_event, unit = kit.make_event, kit.unit
    p = bare_projection
    p.applier.apply([unit(5, make_event(CUSTOMERS, customer(1, "v5"), 5))], {})
    p.applier.apply([unit(9, make_event(CUSTOMERS, customer(2, "v9"), 9))], {})
    uow = "resumed:SHIPPING.CUSTOMERS:U7:1"
    part = unit(7, make_event(CUSTOMERS, customer(1, "v7"), 7, uow=uow), uow=uow)
    assert p.applier.apply([part], {}).changed == 1  # LSN 7 is below the watermark (9)
    assert p.applier.apply([part], {}).changed == 0  # delivered again: a no-op
    assert p.rows(NAMES) == [(1, "v7"), (2, "v9")]
    mark = read_watermark(p.con)
    assert (mark.lsn, mark.uow_lsn) == (9, 9)
