"""The freshness benchmark's source side: units of work committed on the system of record.

The base data (customers, voyages, orders, loaded containers) comes from the simulator's own
workload (`seed_source`). Then a `SourceCommitter` commits the benchmark's units of work of 5
rows through `SystemOfRecord.unit_of_work()`: 4 reefer readings of loaded containers and 1
status update of an order, and `drive` paces those commits at a steady rate.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from offload.demo_checks import CommitClock

READINGS_PER_UNIT = 4


class SourceCommitter:
    """Commits the benchmark's units of work: 4 readings + 1 order status update each.

    Attributes:
        count: units of work committed so far.
    """

    def __init__(self, sor: Any, workload: Any) -> None:
        from simulators.reference_data import PRODUCTS_BY_ID

        self._sor = sor
        self._telemetry = workload.t["REEFER_TELEMETRY"]
        self._orders = workload.t["ORDERS"]
        loaded = [
            (c.container_id, workload.orders[c.order_id])
            for c in sorted(workload.containers.values(), key=lambda c: c.container_id)
            if c.status == "LOADED" and c.order_id is not None
        ]
        if len(loaded) < READINGS_PER_UNIT:
            raise ValueError(f"only {len(loaded)} loaded containers; raise base_units")
        self._loaded = [
            (cid, order.order_id, order.status, _middle(PRODUCTS_BY_ID[order.product_id]))
            for cid, order in loaded
        ]
        self._t0 = workload.now + timedelta(days=1)
        self.count = 0

    @property
    def containers(self) -> int:
        """Loaded containers the readings rotate over."""
        return len(self._loaded)

    def commit(self) -> int:
        """Commit one unit of work; returns its LSN."""
        n = self.count
        at = self._t0 + timedelta(milliseconds=n)
        picked = [self._loaded[(n * READINGS_PER_UNIT + k) % len(self._loaded)] for k in range(4)]
        rows = [
            {
                "CONTAINER_ID": cid,
                "READING_TS": at,
                "TEMPERATURE": temperature,
                "HUMIDITY": Decimal("80.00"),
                "POWER_STATE": "ON",
                "LATITUDE": 10.0,
                "LONGITUDE": 20.0,
            }
            for cid, _, _, temperature in picked
        ]
        _, order_id, status, _ = picked[0]
        with self._sor.unit_of_work() as unit:
            unit.insert(self._telemetry, rows)
            unit.update(self._orders, {"ORDER_ID": order_id}, {"STATUS": status, "UPDATED_AT": at})
        self.count += 1
        return int(unit.lsn)


def _middle(product: Any) -> Decimal:
    return ((product.temp_min + product.temp_max) / 2).quantize(Decimal("0.01"))


def seed_source(sor: Any, units: int, seed: int = 42) -> SourceCommitter:
    """Commit `units` of the simulator's workload (set-up, orders, loading); return a committer."""
    from simulators.workload import Workload

    workload = Workload(sor, seed)
    for _ in range(units):
        with sor.unit_of_work() as unit:
            workload.step(unit)
    return SourceCommitter(sor, workload)


@dataclass(frozen=True, slots=True)
class Drive:
    """What one drive at a steady rate committed."""

    units: int
    seconds: float
    last_lsn: int


def drive(
    committer: SourceCommitter,
    clock: CommitClock,
    rate: float,
    duration_s: float,
    on_tick: Callable[[float], None] | None = None,
) -> Drive:
    """Commit units at `rate` per second for `duration_s` seconds (paced, never bursting)."""
    start = time.monotonic()
    committed, lsn, next_tick = 0, 0, start
    while True:
        now = time.monotonic()
        if now - start >= duration_s:
            break
        ahead = start + committed / rate - now
        if ahead > 0:
            time.sleep(ahead)
        lsn = committer.commit()
        clock.record(lsn)
        committed += 1
        if on_tick is not None and now >= next_tick:
            on_tick(now - start)
            next_tick = now + 0.25
    return Drive(committed, time.monotonic() - start, lsn)
