"""The views' change log: replaying it gives the view; positions only grow; rollbacks and
compaction leave no gap unannounced."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from projections.applier import BatchApplier
from projections.changelog import ChangeLog, json_object
from projections.errors import ApplyError
from projections.mirror import quote

LOG = "SELECT lsn, n, view_name, key, before, after FROM _offload.view_changes ORDER BY lsn, n, seq"
H = timedelta(hours=1)


def logged(p: Any) -> list[tuple[Any, ...]]:
    cur = p.con.cursor()
    try:
        return cur.execute(LOG).fetchall()
    finally:
        cur.close()


def view_json(p: Any, name: str) -> dict[str, str]:
    """The view's rows as the log renders them: key JSON → row JSON."""
    cur = p.con.cursor()
    try:
        cols = cur.execute(
            "SELECT column_name, data_type FROM duckdb_columns() "
            "WHERE schema_name = 'views' AND table_name = ? ORDER BY column_index",
            [name],
        ).fetchall()
        types = {str(c): str(t) for c, t in cols}
        view = next(v for v in p.views.definitions if v.name == name)
        key = json_object({k: types[k] for k in view.key})
        rows = cur.execute(f"SELECT {key}, {json_object(types)} FROM views.{quote(name)} AS v")
        return dict(rows.fetchall())
    finally:
        cur.close()


@pytest.fixture
def logged_projection(projection: Any) -> Any:
    projection.views.changes = ChangeLog(projection.con)
    return projection


class Shipping:
    """Random changes over two products, three orders, two containers: legs flip compliance."""

    def __init__(self, kit: SimpleNamespace, seed: int) -> None:
        self.kit = kit
        self.rnd = random.Random(seed)
        self.lsn = 0

    def unit(self) -> Any:
        self.lsn += 1
        mk, rnd, D, T0 = self.kit.make_event, self.rnd, self.kit.D, self.kit.T0
        events = []
        for seq in range(1, rnd.randint(1, 5) + 1):
            kind = rnd.random()
            if kind < 0.15:
                low = D(rnd.choice(["-20", "-19"]))
                row = {"product_id": f"P{rnd.randint(1, 2)}", "product_name": "x",
                       "temp_min": low, "temp_max": low + D("2")}  # fmt: skip
                events.append(mk("REFERENCE.PRODUCTS", row, self.lsn, seq))
            elif kind < 0.3:
                row = {"ORDER_ID": rnd.randint(1, 3), "PRODUCT_ID": f"P{rnd.randint(1, 2)}"}
                events.append(mk("SHIPPING.ORDERS", row, self.lsn, seq))
            elif kind < 0.45:
                order = rnd.randint(1, 3)
                row = {"ORDER_ID": order, "CONTAINER_ID": f"C{order % 2}", "VOYAGE_ID": "V1",
                       "LOADED_AT": T0 + rnd.randint(0, 3) * H, "DISCHARGED_AT": None}  # fmt: skip
                gone = rnd.random() < 0.2
                key = (order, row["CONTAINER_ID"], "V1")
                table = "SHIPPING.ORDER_ASSIGNMENTS"
                events.append(mk(table, None if gone else row, self.lsn, seq, key=key))
            else:
                stamp = T0 + timedelta(minutes=rnd.randint(0, 600), seconds=self.lsn)
                temp = D(rnd.choice(["-21", "-19.5", "-18.25", "-16"]))
                row = {"CONTAINER_ID": f"C{rnd.randint(0, 1)}", "READING_TS": stamp,
                       "TEMPERATURE": temp}  # fmt: skip
                events.append(mk("SHIPPING.REEFER_TELEMETRY", row, self.lsn, seq))
        return self.kit.unit(self.lsn, *events)


def test_replaying_the_log_gives_the_views(logged_projection: Any, kit: SimpleNamespace) -> None:
    p = logged_projection
    world = Shipping(kit, seed=5)
    for _ in range(60):
        p.applier.apply([world.unit() for _ in range(world.rnd.randint(1, 3))], {})
    replayed: dict[tuple[str, str], str] = {}
    positions = []
    flips = 0
    for lsn, n, view, key, before, after in logged(p):
        positions.append((lsn, n))
        assert before != after
        assert replayed.get((view, key)) == before, (view, key)  # no change missed
        if after is None:
            replayed.pop((view, key))
        else:
            replayed[(view, key)] = after
        if view == "cold_chain" and before and after:
            flips += json.loads(before)["compliant"] != json.loads(after)["compliant"]
    assert positions == sorted(positions)
    for name in ("cold_chain", "order_tracking"):
        mine = {k: v for (view, k), v in replayed.items() if view == name}
        assert mine == view_json(p, name), name
        assert mine  # the random world made rows
    assert flips > 0  # legs did become non-compliant and recover


def test_positions_and_values(logged_projection: Any, kit: SimpleNamespace) -> None:
    p, mk, unit, D, T0 = logged_projection, kit.make_event, kit.unit, kit.D, kit.T0
    product = {"product_id": "P1", "product_name": "fish", "temp_min": D("-20"),
               "temp_max": D("-18")}  # fmt: skip
    leg = {"ORDER_ID": 7, "CONTAINER_ID": "C1", "VOYAGE_ID": "V1", "LOADED_AT": T0,
           "DISCHARGED_AT": None}  # fmt: skip
    p.applier.apply(
        [
            unit(
                10,
                mk("REFERENCE.PRODUCTS", product, 10, 1),
                mk("SHIPPING.ORDERS", {"ORDER_ID": 7, "PRODUCT_ID": "P1"}, 10, 2),
                mk("SHIPPING.ORDER_ASSIGNMENTS", leg, 10, 3),
            )
        ],
        {},
    )
    reading = {"CONTAINER_ID": "C1", "READING_TS": T0 + H, "TEMPERATURE": D("-17.50")}
    p.applier.apply([unit(12, mk("SHIPPING.REEFER_TELEMETRY", reading, 12))], {})
    cold = [r for r in logged(p) if r[2] == "cold_chain"]
    assert [(r[0], r[1]) for r in cold] == [(10, 0), (12, 0)]
    assert json.loads(cold[0][3]) == {"order_id": 7, "container_id": "C1", "voyage_id": "V1"}
    after = json.loads(cold[1][5])
    assert after["compliant"] is False and json.loads(cold[1][4])["compliant"] is True
    assert after["max_temperature"] == "-17.50" and after["temp_min"] == "-20.00"
    assert after["first_excursion_at"] == "2024-05-01T09:00:00"

    # A reference record alone does not move the watermark: the next position at LSN 12.
    wider = {**product, "temp_max": D("-17")}
    p.applier.apply([], {}, [mk("REFERENCE.PRODUCTS", wider, 20, 1)])
    cold = [r for r in logged(p) if r[2] == "cold_chain"]
    assert (cold[-1][0], cold[-1][1]) == (12, 1)
    assert json.loads(cold[-1][5])["compliant"] is True


def test_a_rolled_back_batch_logs_nothing(logged_projection: Any, kit: SimpleNamespace) -> None:
    p, mk, unit = logged_projection, kit.make_event, kit.unit
    p.applier.apply([unit(3, mk("SHIPPING.ORDERS", {"ORDER_ID": 1}, 3))], {}, commit=False)
    assert logged(p) == []
    p.applier.apply([unit(4, mk("SHIPPING.ORDERS", {"ORDER_ID": 1}, 4))], {})
    assert [(r[0], r[1]) for r in logged(p)] == [(4, 0)]

    def fail(point: str) -> None:
        if point == "project.before_commit":
            raise ApplyError(("U5",), 5, 5, "injected")

    failing = BatchApplier(p.con, p.stage, p.views, hook=fail)
    for spec in p.applier.mirrors.values():
        failing.ensure_mirror(spec)
    with pytest.raises(ApplyError):
        failing.apply([unit(5, mk("SHIPPING.ORDERS", {"ORDER_ID": 2}, 5))], {})
    p.applier.apply([unit(6, mk("SHIPPING.ORDERS", {"ORDER_ID": 3}, 6))], {})
    rows = logged(p)
    assert [(r[0], r[1]) for r in rows] == [(4, 0), (6, 0)]
    assert json.loads(rows[-1][3]) == {"order_id": 3}


def test_compaction_moves_the_horizon(projection: Any, kit: SimpleNamespace) -> None:
    p, mk, unit = projection, kit.make_event, kit.unit
    log = ChangeLog(p.con, retention_s=0)
    p.views.changes = log
    for lsn in (1, 2):
        p.applier.apply([unit(lsn, mk("SHIPPING.ORDERS", {"ORDER_ID": lsn}, lsn))], {})
    p.con.execute("BEGIN TRANSACTION")
    assert log.compact(p.con) == 2
    p.con.execute("COMMIT")
    assert logged(p) == []
    state = p.con.execute(
        "SELECT last_lsn, last_n, horizon_lsn, horizon_n FROM _offload.view_changes_state"
    ).fetchone()
    assert state == (2, 0, 2, 0)


def test_only_the_configured_views_are_logged(projection: Any, kit: SimpleNamespace) -> None:
    """`projections.change_log_views`: the other views cost no copy and log nothing."""
    p = projection
    p.views.changes = ChangeLog(p.con, views=["cold_chain"])
    world = Shipping(kit, seed=5)
    for _ in range(30):
        p.applier.apply([world.unit() for _ in range(world.rnd.randint(1, 3))], {})
    views = {row[2] for row in logged(p)}
    assert views == {"cold_chain"}
    assert view_json(p, "order_tracking")  # the view itself is still kept
