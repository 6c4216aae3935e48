"""Derived views: incremental upkeep equals recomputation from scratch; rebuild swaps whole."""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from projections.errors import ViewDefinitionError
from projections.mirror import quote
from projections.views import ViewDefinition, load_views


def scratch(p: Any, view: ViewDefinition) -> list[tuple[Any, ...]]:
    """The view's rows recomputed over the whole mirrors in one read-only SELECT (the one
    `offload reconcile` runs), on a cursor of its own."""
    cur = p.con.cursor()
    try:
        return sorted(cur.execute(view.whole_sql()).fetchall(), key=repr)
    finally:
        cur.close()


def live(p: Any, view: ViewDefinition) -> list[tuple[Any, ...]]:
    return p.rows(f"SELECT * FROM views.{quote(view.name)}")


TELEMETRY = "SHIPPING.REEFER_TELEMETRY"
NEW_READING = "new reading"
ASSIGNMENTS = "SHIPPING.ORDER_ASSIGNMENTS"
PRODUCTS = "REFERENCE.PRODUCTS"


class World:
    """Random shipping changes over a small key space, so that rows collide often."""

    def __init__(self, kit: SimpleNamespace, seed: int) -> None:
        self.kit = kit
        self.rnd = random.Random(seed)
        self.lsn = 0
        self.readings = 0

    def batch(self) -> list[Any]:
        """1 to 6 units: often only new readings, sometimes new readings with window and
        range changes, sometimes anything (updates and deletes included)."""
        kind = self.rnd.random()
        if kind < 0.5:
            make = lambda: self.unit([NEW_READING], deletes=False)  # noqa: E731
        elif kind < 0.75:
            tables = [NEW_READING, NEW_READING, ASSIGNMENTS, PRODUCTS]
            make = lambda: self.unit(tables, deletes=False)  # noqa: E731
        else:
            make = self.unit
        return [make() for _ in range(self.rnd.randint(1, 6))]

    def row(self, table: str) -> dict[str, Any]:
        r, t0, D = self.rnd, self.kit.T0, self.kit.D
        hours = timedelta(hours=r.randint(0, 40))
        temp = D(r.randint(-300, 300)) / 10
        rows: dict[str, dict[str, Any]] = {
            "SHIPPING.CUSTOMERS": {"CUSTOMER_ID": r.randint(1, 3), "NAME": r.choice("abc")},
            "SHIPPING.ORDERS": {
                "ORDER_ID": r.randint(1, 8),
                "CUSTOMER_ID": r.randint(1, 3),
                "PRODUCT_ID": r.choice(["P1", "P2", "P3"]),
                "QUANTITY": r.randint(1, 9),
                "AMOUNT": D(r.randint(1, 999)) / 4,
                "STATUS": r.choice(["NEW", "LOADED"]),
                "ORIGIN_PORT": r.choice(["NLRTM", "SGSIN"]),
                "DESTINATION_PORT": r.choice(["USNYC", "SGSIN"]),
            },
            "SHIPPING.VOYAGES": {
                "VOYAGE_ID": r.choice(["V1", "V2"]),
                "VESSEL_ID": r.choice(["S1", "S2"]),
                "PLANNED_DEPARTURE": t0 + hours,
                "PLANNED_ARRIVAL": t0 + 2 * hours,
                "DEPARTED_AT": r.choice([None, t0 + hours]),
                "ARRIVED_AT": r.choice([None, t0 + 2 * hours]),
            },
            "SHIPPING.ORDER_ASSIGNMENTS": {
                "ORDER_ID": r.randint(1, 8),
                "CONTAINER_ID": r.choice(["C1", "C2"]),
                "VOYAGE_ID": r.choice(["V1", "V2"]),
                "ASSIGNED_AT": t0 + timedelta(minutes=r.randint(0, 3)),
                "LOADED_AT": r.choice([None, t0 + hours]),
                "DISCHARGED_AT": r.choice([None, t0 + hours + timedelta(hours=r.randint(0, 30))]),
            },
            "SHIPPING.CONTAINERS": {
                "CONTAINER_ID": r.choice(["C1", "C2"]),
                "STATUS": r.choice(["ASSIGNED", "LOADED"]),
                "LAST_PORT": r.choice([None, "NLRTM"]),
            },
            "SHIPPING.REEFER_TELEMETRY": {
                "CONTAINER_ID": r.choice(["C1", "C2"]),
                "READING_TS": t0 + hours,
                "TEMPERATURE": temp,
                "HUMIDITY": D("50.00"),
                "POWER_STATE": "ON",
            },
            "REFERENCE.PRODUCTS": {
                "product_id": r.choice(["P1", "P2", "P3"]),
                "product_name": "p",
                "temp_min": D(r.randint(-250, 0)) / 10,
                "temp_max": D(r.randint(0, 250)) / 10,
            },
            "REFERENCE.PORTS": {
                "unlocode": r.choice(["NLRTM", "SGSIN", "USNYC"]),
                "name": r.choice("xyz"),
            },
            "REFERENCE.VESSELS": {"vessel_id": r.choice(["S1", "S2"]), "name": r.choice("mn")},
        }
        return rows[table]

    def new_reading(self) -> dict[str, Any]:
        """A reading at a timestamp no other reading has (an insert, never an update)."""
        self.readings += 1
        row = self.row("SHIPPING.REEFER_TELEMETRY")
        row["READING_TS"] += timedelta(hours=self.rnd.randint(0, 40), microseconds=self.readings)
        return row

    def unit(self, tables: Sequence[str] = (), deletes: bool = True) -> Any:
        """A unit of 1 to 6 random changes of `tables` (default: every table)."""
        self.lsn += 1
        events = []
        for seq in range(1, self.rnd.randint(1, 6) + 1):
            table = self.rnd.choice(list(tables or self.kit.SHIPPING))
            row = self.new_reading() if table == NEW_READING else self.row(table)
            table = TELEMETRY if table == NEW_READING else table
            key = tuple(row[k] for k in self.kit.SHIPPING[table].primary_key)
            deleted = deletes and self.rnd.random() < 0.2
            events.append(
                self.kit.make_event(table, None if deleted else row, self.lsn, seq, key=key)
            )
        return self.kit.unit(self.lsn, *events)


def test_views_equal_recomputation_after_random_batches(
    projection: Any, kit: SimpleNamespace
) -> None:
    world = World(kit, seed=11)
    views = projection.views.definitions
    for _ in range(40):
        projection.applier.apply(world.batch(), {})
        for view in views:
            assert live(projection, view) == scratch(projection, view), view.name
    counts = {v.name: len(live(projection, v)) for v in views}
    assert all(counts.values()), counts  # the random world did produce rows in both views
    state = dict(projection.rows("SELECT name, rows FROM _offload.view_state"))
    assert state == counts


def test_a_reading_a_range_and_a_window_change_update_the_leg(
    projection: Any, kit: SimpleNamespace
) -> None:
    mk, unit, T0, D = kit.make_event, kit.unit, kit.T0, kit.D
    h = timedelta(hours=1)
    p = projection
    p.applier.apply(
        [
            unit(
                1,
                mk(
                    "REFERENCE.PRODUCTS",
                    {
                        "product_id": "P1",
                        "product_name": "fish",
                        "temp_min": D("-20"),
                        "temp_max": D("-18"),
                    },
                    1,
                    1,
                ),
                mk("SHIPPING.ORDERS", {"ORDER_ID": 1, "PRODUCT_ID": "P1"}, 1, 2),
                mk(
                    "SHIPPING.ORDER_ASSIGNMENTS",
                    {
                        "ORDER_ID": 1,
                        "CONTAINER_ID": "C1",
                        "VOYAGE_ID": "V1",
                        "LOADED_AT": T0,
                        "DISCHARGED_AT": T0 + 5 * h,
                    },
                    1,
                    3,
                ),
                *[
                    mk(
                        "SHIPPING.REEFER_TELEMETRY",
                        {"CONTAINER_ID": "C1", "READING_TS": T0 + i * h, "TEMPERATURE": D("-19")},
                        1,
                        4 + i,
                    )
                    for i in range(7)
                ],
            )
        ],
        {},
    )
    leg = "SELECT readings, excursions, compliant FROM views.cold_chain"
    assert p.rows(leg) == [(6, 0, True)]  # readings at T0..T0+5h inclusive
    reading = {"CONTAINER_ID": "C1", "READING_TS": T0 + 2 * h, "TEMPERATURE": D("-17.5")}
    p.applier.apply([unit(2, mk("SHIPPING.REEFER_TELEMETRY", reading, 2))], {})
    assert p.rows(leg) == [(6, 1, False)]
    wider = {
        "product_id": "P1",
        "product_name": "fish",
        "temp_min": D("-20"),
        "temp_max": D("-17.5"),
    }
    p.applier.apply([unit(3, mk("REFERENCE.PRODUCTS", wider, 3))], {})
    assert p.rows(leg) == [(6, 0, True)]
    window = {
        "ORDER_ID": 1,
        "CONTAINER_ID": "C1",
        "VOYAGE_ID": "V1",
        "LOADED_AT": T0 + 3 * h,
        "DISCHARGED_AT": None,
    }
    p.applier.apply([unit(4, mk("SHIPPING.ORDER_ASSIGNMENTS", window, 4))], {})
    assert p.rows(leg) == [(4, 0, True)]  # T0+3h..T0+6h, at sea


def test_rebuild_swaps_whole_and_readers_see_the_old_table_until_then(
    projection: Any, kit: SimpleNamespace
) -> None:
    world = World(kit, seed=5)
    projection.applier.apply([world.unit() for _ in range(60)], {})
    reader = projection.con.cursor()
    reader.execute("BEGIN TRANSACTION")
    before = sorted(reader.execute("SELECT * FROM views.order_tracking").fetchall(), key=repr)
    projection.con.execute("DELETE FROM views.order_tracking")  # a damaged view
    rows, _ = projection.views.rebuild(projection.con, "order_tracking")
    # the reader's snapshot still has the table as it was when it started
    seen = sorted(reader.execute("SELECT * FROM views.order_tracking").fetchall(), key=repr)
    reader.execute("COMMIT")
    reader.close()
    assert seen == before
    assert projection.rows("SELECT * FROM views.order_tracking") == before
    assert rows == len(before)
    state = projection.rows(
        "SELECT status, rows, rebuild_rows FROM _offload.view_state WHERE name = 'order_tracking'"
    )
    assert state == [("current", rows, rows)]


def test_a_reader_never_sees_half_a_unit_of_work(
    bare_projection: Any, kit: SimpleNamespace
) -> None:
    """Each unit moves one unit of stock between two customers' NAME counters; the total of
    every snapshot a concurrent reader takes must stay constant."""
    mk, unit = kit.make_event, kit.unit
    p = bare_projection

    def pair(lsn: int, a: int, b: int) -> Any:
        return unit(
            lsn,
            mk("SHIPPING.CUSTOMERS", {"CUSTOMER_ID": 1, "NAME": str(a)}, lsn, 1),
            mk("SHIPPING.CUSTOMERS", {"CUSTOMER_ID": 2, "NAME": str(b)}, lsn, 2),
        )

    p.applier.apply([pair(1, 500, 500)], {})
    stop = threading.Event()
    seen: list[tuple[Any, ...]] = []
    failures: list[BaseException] = []

    def read() -> None:
        cur = p.con.cursor()
        try:
            while not stop.is_set():
                row = cur.execute(
                    "SELECT sum(name::INTEGER), count(*), "
                    "(SELECT lsn FROM _offload.watermark) FROM shipping.customers"
                ).fetchone()
                seen.append(row)
        except BaseException as exc:  # re-raised in the test thread below
            failures.append(exc)
        finally:
            cur.close()

    thread = threading.Thread(target=read)
    thread.start()
    rnd = random.Random(3)
    a = 500
    for lsn in range(2, 300):
        a = rnd.randint(0, 1000)
        p.applier.apply([pair(lsn, a, 1000 - a)], {})
    stop.set()
    thread.join()
    if failures:
        raise failures[0]
    assert len({r[2] for r in seen}) > 3  # the reader did run across many batches
    assert {(r[0], r[1]) for r in seen} == {(1000, 2)}


def test_an_incremental_file_must_name_one_of_the_view_sources(tmp_path: Path) -> None:
    (tmp_path / "legs.sql").write_text("-- key: id\n-- sources: shipping.orders\nSELECT 1 AS id")
    (tmp_path / "legs.keys.sql").write_text("SELECT 1 AS id")
    (tmp_path / "legs.incremental.sql").write_text("-- incremental: shipping.voyages\nSELECT 1")
    with pytest.raises(ViewDefinitionError) as caught:
        load_views(["legs"], tmp_path)
    assert str(caught.value) == (
        "view legs (legs.incremental.sql): 'shipping.voyages' is not one of the view's sources"
    )
    (tmp_path / "legs.incremental.sql").write_text("SELECT 1")
    with pytest.raises(ViewDefinitionError) as caught:
        load_views(["legs"], tmp_path)
    assert (
        str(caught.value)
        == "view legs (legs.incremental.sql): header line '-- incremental:' missing"
    )
