"""The read tier as `offload serve` runs it: a projection writer and two serving workers.

Checked against the system of record while capture and the writer apply: answers from either
worker are whole units of work; read-your-writes holds whichever worker answers; a worker
killed with SIGKILL is restarted without disturbing the writer or the other worker; while the
writer is down the workers answer 503 (never a stale answer as fresh) and serve again once it is
back; two replicas built from the same topics agree.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from config import Settings
from query_api.auth import hash_key
from simulators.sor import SystemOfRecord

ANALYST = f"analyst-{uuid.uuid4().hex}"
KEYS = {"analyst": {"role": "analyst", "sha256": hash_key(ANALYST)}}
PAIR_SQL = (
    "SELECT (SELECT status FROM shipping.orders WHERE order_id = ?) AS status, "
    "(SELECT name FROM shipping.customers WHERE customer_id = ?) AS name"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ok(proc: Any) -> str:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return str(proc.stdout)


@dataclass
class Tier:
    """One `offload serve` over the shared topics."""

    settings: Settings
    base: str

    def get(self, path: str, **params: Any) -> httpx.Response:
        """A GET on a new connection (so the kernel may pick either worker)."""
        with httpx.Client(base_url=self.base, headers={"X-API-Key": ANALYST}, timeout=60) as c:
            return c.get(path, params=params)

    def sql(self, sql: str, *params: Any) -> httpx.Response:
        """POST /sql on a new connection."""
        with httpx.Client(base_url=self.base, headers={"X-API-Key": ANALYST}, timeout=60) as c:
            return c.post("/sql", json={"sql": sql, "params": list(params)})

    def pids(self) -> dict[str, dict[str, Any]]:
        """The serve supervisor's view of its parts."""
        state = self.settings.data_dir / "serve" / "state.json"
        parts: dict[str, dict[str, Any]] = json.loads(state.read_text())["parts"]
        return parts


def _start_tier(settings: Settings, start_offload: Callable[..., Any]) -> Tier:
    start_offload(settings, "serve")
    tier = Tier(settings, f"http://127.0.0.1:{settings.api.port}")
    _eventually(lambda: tier.get("/readyz").status_code == 200, 90, "the read tier is ready")
    return tier


def _eventually(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout_s} s: {what}")


def _kill(pid: int) -> None:
    """SIGKILL `pid` and wait until it has exited (its sockets closed; a zombie at most)."""
    os.kill(pid, signal.SIGKILL)
    status = Path(f"/proc/{pid}/status")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if "\nState:\tZ" in status.read_text():
                return
        except FileNotFoundError:
            return
        time.sleep(0.01)
    raise AssertionError(f"pid {pid} still runs 10 s after SIGKILL")


def _write_pair(sor_path: Path, order_id: int, customer_id: int, value: str) -> int:
    """One unit of work changing an order and a customer together; its LSN."""
    with SystemOfRecord.open(sor_path) as sor, sor.unit_of_work() as unit:
        unit.execute("UPDATE SHIPPING.ORDERS SET STATUS = ? WHERE ORDER_ID = ?", (value, order_id))
        unit.execute(
            "UPDATE SHIPPING.CUSTOMERS SET NAME = ? WHERE CUSTOMER_ID = ?", (value, customer_id)
        )
        return int(unit.lsn)


@pytest.fixture
def pipeline(
    kafka_broker: Settings,
    settings_factory: Any,
    run_offload: Any,
    start_offload: Callable[..., Any],
) -> Iterator[tuple[Settings, int, int]]:
    """A seeded system of record with capture running; (settings, an order, a customer)."""
    s = settings_factory({"api.port": _free_port(), "api.keys": KEYS, "api.workers": 2})
    _ok(run_offload(s, "sor", "init"))
    _ok(run_offload(s, "simulate", "--transactions", "60", "--seed", "7"))
    _ok(run_offload(s, "reference", "load"))
    start_offload(s, "cdc", "run")
    with SystemOfRecord.open(s.sor_path) as sor:
        ((order_id, customer_id),) = sor.conn.execute(
            "SELECT ORDER_ID, CUSTOMER_ID FROM SHIPPING.ORDERS ORDER BY ORDER_ID LIMIT 1"
        ).fetchall()
    yield s, int(order_id), int(customer_id)


@pytest.mark.kafka
def test_two_workers_answer_whole_units_and_read_your_writes(
    pipeline: tuple[Settings, int, int], start_offload: Callable[..., Any]
) -> None:
    s, order_id, customer_id = pipeline
    tier = _start_tier(s, start_offload)
    stop = threading.Event()
    written: list[int] = []

    def write() -> None:
        for i in range(1, 1000):
            if stop.is_set():
                return
            written.append(_write_pair(s.sor_path, order_id, customer_id, f"S{i:04d}"))
            time.sleep(0.01)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    seen: set[str] = set()
    workers: set[str] = set()
    try:
        for _ in range(300):
            answer = tier.sql(PAIR_SQL, order_id, customer_id)
            assert answer.status_code == 200, answer.text
            (row,) = answer.json()["rows"]
            assert row["status"].rstrip() == row["name"] or not row["name"].startswith("S"), row
            seen.add(row["name"])
            workers.add(answer.headers["X-Offload-Worker"])
    finally:
        stop.set()
        writer.join(timeout=30)
    assert len({v for v in seen if v.startswith("S")}) > 5, "the writer was not applying"
    assert len(workers) == 2, workers

    # Read-your-writes through whichever worker answers.
    workers.clear()
    for i in range(30):
        value = f"R{i:04d}"
        lsn = _write_pair(s.sor_path, order_id, customer_id, value)
        answer = tier.get(f"/orders/{order_id}", min_lsn=lsn, wait_ms=30000)
        assert answer.status_code == 200, answer.text
        assert answer.json()["order"]["status"].rstrip() == value
        assert int(answer.headers["X-Offload-Watermark-LSN"]) >= lsn
        workers.add(answer.headers["X-Offload-Worker"])
    assert len(workers) == 2, workers

    # /metrics counts the requests of both workers, whichever answers the scrape.
    counts = []
    for _ in range(10):
        answer = tier.get("/metrics")
        assert answer.status_code == 200, answer.text
        found = re.search(
            r'^offload_api_requests_total\{method="POST",route="/sql",status="200"\} (\S+)$',
            answer.text,
            re.MULTILINE,
        )
        assert found, answer.text
        counts.append(float(found.group(1)))
    assert counts == [300.0] * 10, counts


@pytest.mark.kafka
def test_killed_worker_and_writer_are_restarted_without_disturbing_the_rest(
    pipeline: tuple[Settings, int, int], start_offload: Callable[..., Any]
) -> None:
    s, order_id, customer_id = pipeline
    tier = _start_tier(s, start_offload)
    before = tier.pids()
    _kill(before["api-1"]["pid"])
    for _ in range(40):  # the other worker answers every new connection meanwhile
        assert tier.get("/readyz").status_code == 200
    _eventually(
        lambda: (
            tier.pids()["api-1"]["restarts"] == 1 and tier.pids()["api-1"]["state"] == "running"
        ),
        60,
        "api-1 restarted",
    )
    after = tier.pids()
    assert after["api-1"]["pid"] != before["api-1"]["pid"]
    assert after["projection"]["pid"] == before["projection"]["pid"]
    assert after["api-2"]["pid"] == before["api-2"]["pid"]

    _kill(before["projection"]["pid"])
    lsn = _write_pair(s.sor_path, order_id, customer_id, "OUTAGE")
    statuses = set()
    while tier.pids()["projection"]["restarts"] == 0:
        answer = tier.get(f"/orders/{order_id}")
        statuses.add(answer.status_code)
        if answer.status_code == 503:
            assert answer.json()["error"] == "WriterUnavailable"
        else:
            assert answer.status_code == 200
        time.sleep(0.05)
    # A client that waits for its write gets it once the writer is back. The API waits at most
    # 10 s per request; a restarted writer on a loaded machine can take longer to apply, so the
    # client asks again, as one would, and every answer until then is an honest 503.
    deadline = time.monotonic() + 120
    while True:
        answer = tier.get(f"/orders/{order_id}", min_lsn=lsn, wait_ms=10000)
        if answer.status_code == 200 or time.monotonic() > deadline:
            break
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"] in {"NotFreshEnough", "WriterUnavailable"}, answer.text
    assert answer.status_code == 200, answer.text
    assert answer.json()["order"]["status"].rstrip() == "OUTAGE"
    final = tier.pids()
    assert final["api-1"]["pid"] == after["api-1"]["pid"]
    assert final["api-2"]["pid"] == after["api-2"]["pid"]
    assert 503 in statuses, "the writer's outage was never seen"


@pytest.mark.kafka
def test_two_replicas_built_from_the_topics_agree(
    pipeline: tuple[Settings, int, int],
    settings_factory: Any,
    start_offload: Callable[..., Any],
) -> None:
    s, order_id, customer_id = pipeline
    other = settings_factory(
        {"api.port": _free_port(), "api.keys": KEYS, "api.workers": 1},
        topic_prefix=s.kafka.topic_prefix,
    )
    one_worker = s.model_copy(update={"api": s.api.model_copy(update={"workers": 1})})
    first = _start_tier(one_worker, start_offload)
    second = _start_tier(other, start_offload)
    lsn = _write_pair(s.sor_path, order_id, customer_id, "REPLICA")
    answers = [
        tier.get(f"/cold-chain/orders/{order_id}", min_lsn=lsn, wait_ms=60000)
        for tier in (first, second)
    ]
    for answer in answers:
        assert answer.status_code == 200, answer.text
        assert answer.json()["order"]["status"].rstrip() == "REPLICA"
    with SystemOfRecord.open(s.sor_path) as sor:
        ((newest,),) = sor.conn.execute(
            "SELECT max(IBMSNAP_COMMITSEQ) FROM SHIPPING.IBMSNAP_UOW"
        ).fetchall()
    for tier in (first, second):
        caught_up = tier.get("/freshness", min_lsn=newest, wait_ms=60000)
        assert caught_up.status_code == 200, caught_up.text
    same = [tier.sql("SELECT * FROM shipping.orders ORDER BY order_id") for tier in (first, second)]
    assert same[0].json() == same[1].json()
    assert same[0].json()["watermark"]["lsn"] == newest
