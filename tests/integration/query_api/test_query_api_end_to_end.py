"""The query API end to end over a projection built by the real pipeline, with capture and the
projection running: read-your-writes with the simulator's LSN, the stale-answer refusal,
pagination, 404/422, 401/403 and gated SQL, each checked against the system of record."""

from __future__ import annotations

import re
import socket
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from config import Settings
from query_api.auth import hash_key

READER = f"reader-{uuid.uuid4().hex}"
ANALYST = f"analyst-{uuid.uuid4().hex}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def _sor(settings: Settings, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(":memory:")
    try:
        con.execute("ATTACH DATABASE ? AS SHIPPING", (str(settings.sor_path),))
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


@pytest.fixture
def gateway(
    kafka_broker: Settings, settings_factory: Any, run_offload: Any, start_offload: Any
) -> Iterator[tuple[Settings, httpx.Client, httpx.Client]]:
    """Capture and `offload serve` (projection + API) running over a seeded workload."""
    keys = {
        "reader": {"role": "reader", "sha256": hash_key(READER)},
        "analyst": {"role": "analyst", "sha256": hash_key(ANALYST)},
    }
    s = settings_factory({"api.port": _free_port(), "api.keys": keys})
    _ok(run_offload(s, "sor", "init"))
    _ok(run_offload(s, "cdc", "run", "--until-idle"))
    _ok(run_offload(s, "simulate", "--transactions", "300", "--seed", "21"))
    _ok(run_offload(s, "reference", "load"))
    capture = start_offload(s, "cdc", "run")
    serve = start_offload(s, "serve")
    base = f"http://{s.api.host}:{s.api.port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert serve.poll() is None, "offload serve exited"
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    with (
        httpx.Client(base_url=base, headers={"X-API-Key": READER}, timeout=30) as reader,
        httpx.Client(base_url=base, headers={"X-API-Key": ANALYST}, timeout=30) as analyst,
    ):
        yield s, reader, analyst
    for proc in (serve, capture):
        proc.terminate()
        assert proc.wait(timeout=60) == 0, f"{proc.args} did not stop cleanly on SIGTERM"


@pytest.mark.kafka
def test_reads_over_the_real_pipeline(
    gateway: tuple[Settings, httpx.Client, httpx.Client], run_offload: Any
) -> None:
    s, reader, analyst = gateway
    ((newest,),) = _sor(s, "SELECT max(IBMSNAP_COMMITSEQ) FROM SHIPPING.IBMSNAP_UOW")
    caught_up = reader.get("/freshness", params={"min_lsn": newest, "wait_ms": 30000})
    assert caught_up.status_code == 200, caught_up.text

    # Read-your-writes: a write on the mainframe, read back with the LSN it committed at.
    ((order_id, customer_id),) = _sor(
        s, "SELECT ORDER_ID, CUSTOMER_ID FROM SHIPPING.ORDERS ORDER BY ORDER_ID LIMIT 1"
    )
    out = _ok(
        run_offload(
            s,
            "sor",
            "exec",
            f"UPDATE SHIPPING.ORDERS SET STATUS = 'HELD' WHERE ORDER_ID = {order_id}",
        )
    )
    match = re.search(r"at LSN (\d+)", out)
    assert match, out
    lsn = int(match.group(1))
    answer = reader.get(f"/orders/{order_id}", params={"min_lsn": lsn, "wait_ms": 30000})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["order"]["status"] == "HELD", body
    assert int(answer.headers["X-Offload-Watermark-LSN"]) >= lsn
    assert answer.json()["watermark"]["lsn"] >= lsn

    # Never a stale answer presented as fresh: a future LSN is refused after the wait.
    future = reader.get(f"/orders/{order_id}", params={"min_lsn": lsn + 10_000, "wait_ms": 200})
    assert future.status_code == 503
    assert "Retry-After" in future.headers
    assert int(future.headers["X-Offload-Watermark-LSN"]) >= lsn

    # Pagination: every order of the customer exactly once, in a stable order.
    expected = [
        r[0]
        for r in _sor(
            s,
            "SELECT ORDER_ID FROM SHIPPING.ORDERS WHERE CUSTOMER_ID = ? ORDER BY ORDER_ID",
            (customer_id,),
        )
    ]
    seen: list[int] = []
    params: dict[str, Any] = {"page_size": 2}
    while True:
        page = reader.get(f"/customers/{customer_id}/orders", params=params)
        assert page.status_code == 200, page.text
        seen += [item["order_id"] for item in page.json()["items"]]
        if not page.json()["next_cursor"]:
            break
        params["cursor"] = page.json()["next_cursor"]
    assert seen == expected

    assert reader.get("/orders/999999999").status_code == 404
    bad = reader.get("/orders/not-a-number")
    assert bad.status_code == 422
    assert "order_id" in bad.text
    assert httpx.get(f"{reader.base_url}/orders/{order_id}").status_code == 401
    assert reader.post("/sql", json={"sql": "SELECT 1"}).status_code == 403

    counted = analyst.post(
        "/sql",
        json={
            "sql": "SELECT count(*) AS n FROM shipping.orders WHERE status = ?",
            "params": ["HELD"],
        },
    )
    assert counted.status_code == 200, counted.text
    ((held,),) = _sor(s, "SELECT count(*) FROM SHIPPING.ORDERS WHERE STATUS = 'HELD'")
    assert counted.json()["rows"][0]["n"] == held
    refused = analyst.post("/sql", json={"sql": "DELETE FROM shipping.orders"})
    assert refused.status_code == 400
    ((total,),) = _sor(s, "SELECT count(*) FROM SHIPPING.ORDERS")
    after = analyst.post("/sql", json={"sql": "SELECT count(*) AS n FROM shipping.orders"})
    assert after.json()["rows"][0]["n"] == total
