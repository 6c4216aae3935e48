"""The DuckDB stage: a unit of work larger than the threshold is staged and applied whole."""

from __future__ import annotations

from types import SimpleNamespace

from projections.applier import BatchApplier
from projections.assembler import UnitOfWorkAssembler
from projections.events import TxMarker
from projections.stage import DuckDBStage
from projections.store import open_database


def test_a_staged_unit_is_applied_whole_and_the_stage_emptied(kit: SimpleNamespace) -> None:
    con = open_database(":memory:")
    stage = DuckDBStage(con)
    applier = BatchApplier(con, stage, None, chunk_events=7)
    applier.ensure_mirror(kit.SHIPPING["SHIPPING.CUSTOMERS"])
    assembler = UnitOfWorkAssembler("tx", 0, stage, stage_threshold=10)
    events = [
        kit.make_event("SHIPPING.CUSTOMERS", {"CUSTOMER_ID": i, "NAME": f"c{i}"}, 5, i, offset=i)
        for i in range(1, 46)
    ]
    for event in events:
        assembler.add_event(event)
    assert assembler.held_events == 5  # 40 of 45 went to the stage
    assert stage.staged_units == 1
    end = TxMarker(0, "END", "U5", 5, 0, 45, {"SHIPPING.CUSTOMERS": 45})
    assembler.add_marker(end)
    (unit,) = assembler.ready(10)
    assert unit.staged and unit.event_count == 45
    result = applier.apply([unit], assembler.positions())
    assert result.changed == 45
    rows = con.execute("SELECT customer_id, name FROM shipping.customers ORDER BY 1").fetchall()
    assert rows == [(i, f"c{i}") for i in range(1, 46)]
    assert con.execute("SELECT count(*) FROM _offload.stage").fetchall() == [(0,)]
    assert stage.staged_units == 0
    con.close()
