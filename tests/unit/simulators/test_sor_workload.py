"""The simulated workload: repeatable by seed, with telemetry excursions where promised."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from simulators.reference_data import PORTS_BY_LOCODE, PRODUCTS_BY_ID, VESSELS_BY_ID
from simulators.simulation import SimulationOptions, run_simulation
from simulators.sor import SystemOfRecord


def _contents(sor: SystemOfRecord) -> dict[str, list[tuple[object, ...]]]:
    """Every data and CD table, plus the UOW ids and LSNs (not the wall-clock commit times)."""
    tables = sorted(sor.table_names()) + [f"CD_{t}" for t in sorted(sor.captured())]
    found = {
        t: sor.conn.execute(f'SELECT * FROM SHIPPING."{t}" ORDER BY 1, 2').fetchall()
        for t in tables
    }
    found["IBMSNAP_UOW"] = sor.conn.execute(
        "SELECT IBMSNAP_COMMITSEQ, IBMSNAP_UOWID FROM SHIPPING.IBMSNAP_UOW ORDER BY 1"
    ).fetchall()
    return found


def test_same_seed_gives_the_same_data(sor_factory: Callable[..., SystemOfRecord]) -> None:
    options = SimulationOptions(transactions=400, seed=42)
    first, second, other = sor_factory("a"), sor_factory("b"), sor_factory("c")
    summary = run_simulation(first, options)
    assert run_simulation(second, options).as_dict()["rows"] == summary.as_dict()["rows"]
    run_simulation(other, SimulationOptions(transactions=400, seed=43))
    assert _contents(first) == _contents(second)
    assert _contents(first) != _contents(other)
    assert summary.first_lsn is not None and summary.units_of_work == 400
    assert summary.last_lsn == summary.first_lsn + 399


def test_telemetry_stays_in_range_except_seeded_excursions_inside_loaded_windows(
    sor: SystemOfRecord,
) -> None:
    summary = run_simulation(sor, SimulationOptions(transactions=1500, seed=7))
    assert summary.excursions, "a run of this length gives excursions"
    legs = sor.conn.execute(
        "SELECT a.CONTAINER_ID, o.PRODUCT_ID, a.LOADED_AT, a.DISCHARGED_AT "
        "FROM SHIPPING.ORDER_ASSIGNMENTS a JOIN SHIPPING.ORDERS o ON o.ORDER_ID = a.ORDER_ID "
        "WHERE a.LOADED_AT IS NOT NULL"
    ).fetchall()
    readings = sor.conn.execute(
        "SELECT CONTAINER_ID, READING_TS, TEMPERATURE FROM SHIPPING.REEFER_TELEMETRY"
    ).fetchall()
    outside: dict[str, int] = {}
    for container, ts, temperature in readings:
        windows = [
            (p, lo, hi)
            for c, p, lo, hi in legs
            if c == container and lo <= ts and (hi is None or ts <= hi)
        ]
        assert len(windows) == 1, (container, ts)  # every reading is inside one loaded leg
        product = PRODUCTS_BY_ID[windows[0][0]]
        if not product.temp_min <= Decimal(temperature) <= product.temp_max:
            outside[container] = outside.get(container, 0) + 1
    assert outside == summary.excursions


def test_orders_refer_to_reference_keys(sor: SystemOfRecord) -> None:
    run_simulation(sor, SimulationOptions(transactions=300, seed=9))
    orders = sor.conn.execute(
        "SELECT PRODUCT_ID, ORIGIN_PORT, DESTINATION_PORT FROM SHIPPING.ORDERS"
    ).fetchall()
    assert orders
    assert all(
        p in PRODUCTS_BY_ID and o in PORTS_BY_LOCODE and d in PORTS_BY_LOCODE for p, o, d in orders
    )
    vessels = sor.conn.execute("SELECT DISTINCT VESSEL_ID FROM SHIPPING.VOYAGES").fetchall()
    assert all(v in VESSELS_BY_ID for (v,) in vessels)


def test_business_timestamps_come_from_the_simulated_clock(sor: SystemOfRecord) -> None:
    run_simulation(sor, SimulationOptions(transactions=50, seed=1))
    (first,) = sor.conn.execute("SELECT MIN(CREATED_AT) FROM SHIPPING.CUSTOMERS").fetchone()
    assert datetime.fromisoformat(first).year == 2024
