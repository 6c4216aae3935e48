"""The offload ratio: one answer computed from scratch on the system of record vs served.

The cold-chain legs of a voyage, by SQL on the SQLite system of record
(`query_api_data.SOR_COLD_CHAIN`) and through the API from the pre-joined view, interleaved,
`runs` times on each of three voyages; the medians compared, and the answers too (same legs,
counts, temperatures to the cent and excursions). Measured before any ingest, while both sides
hold the same rows.
"""

from __future__ import annotations

import http.client
import json
import statistics
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import query_api_data as data
from query_api_load import KEY
from query_api_shape import voyage_id, voyages_of


def offload_ratio(sor_path: Path, port: int, orders: int, runs: int) -> dict[str, Any]:
    """Cold-chain legs of three voyages: SQL on the SQLite system of record vs the API."""
    sor = data.open_sor(sor_path, read_only=True)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    voyages = voyages_of(orders)
    picked = sorted({0, voyages // 2, voyages - 1})
    sor_s: list[float] = []
    api_s: list[float] = []
    same = True
    legs = 0
    for v in picked:
        voyage = voyage_id(v)
        path = f"/cold-chain/legs?voyage_id={voyage}&page_size=1000"
        for _ in range(runs):
            started = time.perf_counter()
            sor_rows = sor.execute(data.SOR_COLD_CHAIN, (voyage,)).fetchall()
            sor_s.append(time.perf_counter() - started)
            started = time.perf_counter()
            items = _api_get(conn, path)["items"]
            api_s.append(time.perf_counter() - started)
        legs = len(items)
        same = same and _same_legs(sor_rows, items)
    conn.close()
    sor.close()
    sor_ms, api_ms = statistics.median(sor_s) * 1000, statistics.median(api_s) * 1000
    print(
        f"offload ratio, cold-chain legs of a voyage ({legs} legs, voyages "
        f"{', '.join(voyage_id(v) for v in picked)}, same answer: {same}): "
        f"SQL on the SQLite system of record {sor_ms:.1f} ms, API {api_ms:.2f} ms "
        f"(medians of {len(sor_s)}) -> {sor_ms / api_ms:.0f}x"
    )
    return {
        "legs": legs,
        "same_answer": same,
        "sor_sql_ms": round(sor_ms, 3),
        "api_ms": round(api_ms, 3),
        "ratio": round(sor_ms / api_ms, 1),
        "samples": len(sor_s),
    }


def _api_get(conn: http.client.HTTPConnection, path: str) -> Any:
    conn.request("GET", path, headers={"X-API-Key": KEY})
    response = conn.getresponse()
    body = response.read()
    if response.status != 200:
        raise RuntimeError(f"{path}: {response.status} {body[:300]!r}")
    return json.loads(body)


def _same_legs(sor_rows: list[Any], items: list[dict[str, Any]]) -> bool:
    def two(x: Any) -> Any:
        return None if x is None else Decimal(str(x)).quantize(Decimal("0.01"))

    left = [(r[0], r[1], r[2], r[4], two(r[5]), two(r[6]), r[8]) for r in sor_rows]
    right = [(i["order_id"], i["container_id"], i["voyage_id"], i["readings"],
              two(i["min_temperature"]), two(i["max_temperature"]), i["excursions"])
             for i in items]  # fmt: skip
    return left == right
