"""The named queries: each a parameterized .sql file under queries/, run on one snapshot.

Table and column names the SQL uses are those of projections/views/*.sql and of the
mirrors of simulators/sql/shipping.sql (adjust the .sql files, not this code, when they
change): `views.order_tracking` (order_id BIGINT, customer_id INTEGER, voyage_id CHAR(8),
container_id CHAR(11), product_id CHAR(4), product_name, status, ...), `views.cold_chain`
(order_id, container_id, voyage_id, product_id, readings, min_temperature, max_temperature,
avg_temperature, excursions, first_excursion_at, last_reading_at, compliant, ...), and the
mirrors `<source schema>.customers(customer_id)`, `.voyages(voyage_id)`,
`.containers(container_id)`, `.reefer_telemetry(container_id, reading_ts, temperature)`.
`__SOURCE__` in a file stands for the mirror schema (the source schema lowercased, quoted as
an identifier); every value is a bound parameter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

import pyarrow as pa

from query_api.errors import BadParameter, NotFound
from query_api.page import KeyTypes, PageRequest, page_of
from query_api.results import table_as_dicts
from query_api.snapshot import Snapshot

Row = dict[str, Any]
_BUCKET_RE = re.compile(r"^(\d{1,7})([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_BUCKET_S = 31 * 86400

LEG_KEY: KeyTypes = (int, str, str)
ORDER_KEY: KeyTypes = (int,)
TIME_KEY: KeyTypes = (datetime,)


@cache
def _sql_text(name: str) -> str:
    return (resources.files("query_api") / "queries" / f"{name}.sql").read_text(encoding="utf-8")


def bucket_seconds(text: str) -> int:
    """Seconds of a bucket width like `30s`, `15m`, `1h`, `1d`.

    Raises:
        BadParameter: naming `bucket`.
    """
    match = _BUCKET_RE.match(text.strip())
    seconds = int(match.group(1)) * _UNIT_S[match.group(2)] if match else 0
    if not 1 <= seconds <= MAX_BUCKET_S:
        raise BadParameter(
            "bucket", f"expected a duration from 1s to 31d like 15m or 1h, got {text!r}"
        )
    return seconds


@dataclass(frozen=True, slots=True)
class LegFilter:
    """Filters of the cold-chain leg list; None means no filter."""

    compliant: bool | None = None
    voyage_id: str | None = None
    product_id: str | None = None
    since: datetime | None = None


@dataclass(frozen=True, slots=True)
class TelemetryWindow:
    """Readings in [start, end), raw or as buckets of `bucket_s` seconds."""

    start: datetime | None = None
    end: datetime | None = None
    bucket_s: int | None = None


class Reads:
    """The named queries, bound to the mirror schema's name."""

    def __init__(self, source_schema: str) -> None:
        self._source = '"' + source_schema.lower().replace('"', '""') + '"'
        self._texts: dict[str, str] = {}

    def sql(self, name: str) -> str:
        """The text of queries/<name>.sql with the mirror schema filled in (once per name)."""
        text = self._texts.get(name)
        if text is None:
            text = self._texts[name] = _sql_text(name).replace("__SOURCE__", self._source)
        return text

    def rows(self, snap: Snapshot, name: str, params: dict[str, Any]) -> list[Row]:
        """Every row of a named SQL file, as JSON-safe dicts."""
        return table_as_dicts(snap.query(self.sql(name), params))

    def page(
        self,
        snap: Snapshot,
        name: str,
        params: dict[str, Any],
        key: tuple[str, ...],
        page: PageRequest,
    ) -> dict[str, Any]:
        """One page of a keyset-paginated SQL file: {"items", "next_cursor"}."""
        after = page.after or (None,) * len(key)
        bound = {**params, **{f"after_{k}": v for k, v in zip(key, after, strict=True)}}
        table = snap.query(self.sql(name), {**bound, "limit": page.size + 1})
        keys = _key_tuples(table, key)
        items, cursor = page_of(name, table_as_dicts(table), keys, page.size)
        return {"items": items, "next_cursor": cursor}

    def order(self, snap: Snapshot, order_id: int) -> Row:
        """The order_tracking row of one order."""
        found = self.rows(snap, "order", {"order_id": order_id})
        if not found:
            raise NotFound("order", order_id)
        return found[0]

    def customer_orders(
        self, snap: Snapshot, customer_id: int, page: PageRequest
    ) -> dict[str, Any]:
        """The customer's mirror row and a page of their orders."""
        customer = self.rows(snap, "customer", {"customer_id": customer_id})
        if not customer:
            raise NotFound("customer", customer_id)
        listing = self.page(
            snap, "customer_orders", {"customer_id": customer_id}, ("order_id",), page
        )
        return {"customer": customer[0], **listing}

    def voyage(self, snap: Snapshot, voyage_id: str, page: PageRequest) -> dict[str, Any]:
        """The voyage, its cold-chain summary, its containers and a page of its orders."""
        voyage = self.rows(snap, "voyage", {"voyage_id": voyage_id})
        if not voyage:
            raise NotFound("voyage", voyage_id)
        summary = self.rows(snap, "voyage_summary", {"voyage_id": voyage_id})[0]
        containers = self.rows(
            snap, "voyage_containers", {"voyage_id": voyage_id, "limit": page.size + 1}
        )
        orders = self.page(snap, "voyage_orders", {"voyage_id": voyage_id}, ("order_id",), page)
        return {
            "voyage": voyage[0],
            "cold_chain": summary,
            "containers": containers[: page.size],
            "containers_truncated": len(containers) > page.size,
            "orders": orders["items"],
            "next_cursor": orders["next_cursor"],
        }

    def cold_chain_legs(
        self, snap: Snapshot, where: LegFilter, page: PageRequest
    ) -> dict[str, Any]:
        """A page of cold-chain legs matching the filter."""
        params = {
            "compliant": where.compliant,
            "voyage_id": where.voyage_id,
            "product_id": where.product_id,
            "since": where.since,
        }
        key = ("order_id", "container_id", "voyage_id")
        return self.page(snap, "cold_chain_legs", params, key, page)

    def cold_chain_order(self, snap: Snapshot, order_id: int, limit: int) -> dict[str, Any]:
        """The order and every cold-chain leg of it."""
        order = self.order(snap, order_id)
        legs = self.rows(snap, "cold_chain_order", {"order_id": order_id, "limit": limit + 1})
        return {"order": order, "legs": legs[:limit], "legs_truncated": len(legs) > limit}

    def container_telemetry(
        self,
        snap: Snapshot,
        container_id: str,
        window: TelemetryWindow,
        page: PageRequest,
    ) -> dict[str, Any]:
        """The container and a page of its readings, or of min/avg/max per bucket."""
        container = self.rows(snap, "container", {"container_id": container_id})
        if not container:
            raise NotFound("container", container_id)
        params: dict[str, Any] = {
            "container_id": container_id,
            "from": window.start,
            "to": window.end,
        }
        if window.bucket_s is None:
            listing = self.page(snap, "telemetry_readings", params, ("reading_ts",), page)
        else:
            params["bucket_s"] = window.bucket_s
            listing = self.page(snap, "telemetry_buckets", params, ("bucket_start",), page)
        return {"container": container[0], "bucket_s": window.bucket_s, **listing}


def _key_tuples(table: pa.Table, key: tuple[str, ...]) -> list[tuple[Any, ...]]:
    """The raw key values of each row (for the next page's cursor)."""
    return list(zip(*(table.column(k).to_pylist() for k in key), strict=True))
