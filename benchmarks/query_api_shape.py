"""The shape of the query API benchmark's data set: its ids, counts and rows (pure, no I/O).

One container per 5 orders (orders of one product share a container), one voyage per 500
orders, 100 customers, readings every 15 minutes from T0. The load generator imports only this
module, so it stays a small process; `query_api_data` writes the rows into the two databases.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

T0 = datetime(2025, 3, 1)
READING_STEP = timedelta(minutes=15)
PRODUCTS = [("P001", "Bananas", "13.00", "14.50"), ("P005", "Chilled beef", "-1.50", "0.50")]
CUSTOMERS = 100
READINGS_PER_UNIT = 4
"""Reefer readings in one unit of work applied while measuring (plus one order update)."""
Row = tuple[str, dict[str, Any]]


def container_id(n: int) -> str:
    return f"MSCU{n:07d}"


def voyage_id(n: int) -> str:
    return f"V{n:07d}"


def containers_of(orders: int) -> int:
    return max(orders // 5, 1)


def voyages_of(orders: int) -> int:
    return max(orders // 500, 1)


def order_row(o: int, status: str, updated: datetime) -> dict[str, Any]:
    return {"ORDER_ID": o, "CUSTOMER_ID": 1 + o % CUSTOMERS, "PRODUCT_ID": PRODUCTS[o % 2][0],
            "QUANTITY": 10, "AMOUNT": Decimal("100.00"), "CURRENCY": "USD",
            "ORIGIN_PORT": "NLRTM", "DESTINATION_PORT": "USNYC", "REQUESTED_DATE": T0.date(),
            "STATUS": status, "CREATED_AT": T0, "UPDATED_AT": updated}  # fmt: skip


def reading_row(container: int, step: int, temp: float) -> dict[str, Any]:
    return {"CONTAINER_ID": container_id(container), "READING_TS": T0 + READING_STEP * step,
            "TEMPERATURE": Decimal(f"{temp:.2f}"), "HUMIDITY": None, "POWER_STATE": "ON",
            "LATITUDE": None, "LONGITUDE": None}  # fmt: skip


def ingest_units(first: int, count: int, orders: int, readings: int) -> list[list[Row]]:
    """Units of work `first` .. `first + count - 1` of the writes applied while measuring.

    Each unit holds 4 new reefer readings (the fleet's next readings after the built ones,
    time-major) and one status update of an order (orders in turn).
    """
    containers = containers_of(orders)
    first_step = max(readings // containers, 1)
    units: list[list[Row]] = []
    for n in range(first, first + count):
        rows: list[Row] = []
        for k in range(READINGS_PER_UNIT):
            slot = n * READINGS_PER_UNIT + k
            reading = reading_row(slot % containers, first_step + slot // containers, 0.1)
            rows.append(("SHIPPING.REEFER_TELEMETRY", reading))
        status = "IN_TRANSIT" if n % 2 else "LOADED"
        rows.append(
            ("SHIPPING.ORDERS", order_row(1 + n % orders, status, T0 + timedelta(seconds=n)))
        )
        units.append(rows)
    return units
