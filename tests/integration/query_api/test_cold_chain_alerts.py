"""Live cold-chain alerts over the real pipeline (capture, Kafka, `offload serve` with two
serving workers): an excursion committed on the system of record reaches a connected client
once; a client that reconnects with its last event id, or starts at the LSN it had, misses
nothing and gets nothing twice, whichever worker answers."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from config import Settings
from query_api.auth import hash_key
from simulators.sor import SystemOfRecord

READER = f"reader-{uuid.uuid4().hex}"
KEYS = {"reader": {"role": "reader", "sha256": hash_key(READER)}}
HOT = Decimal("150.00")  # far above every product's range


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


class Alerts:
    """One SSE connection to /cold-chain/alerts, read event by event."""

    def __init__(self, base: str, params: dict[str, Any], headers: dict[str, str]) -> None:
        self._client = httpx.Client(
            base_url=base, headers={"X-API-Key": READER}, timeout=httpx.Timeout(10, read=60)
        )
        self._scope = self._client.stream(
            "GET", "/cold-chain/alerts", params=params, headers=headers
        )
        self.response = self._scope.__enter__()
        assert self.response.status_code == 200, self.response.read()
        assert self.response.headers["content-type"].startswith("text/event-stream")
        self._lines = self.response.iter_lines()

    def next(self) -> dict[str, Any]:
        """The next event: its fields, `data` parsed."""
        event: dict[str, Any] = {}
        for line in self._lines:
            if not line:
                if "event" in event:
                    return event
                continue
            name, _, value = line.partition(": ")
            event[name] = json.loads(value) if name == "data" else value
        raise AssertionError(f"the stream ended; last fields {event}")

    def next_alerts(self) -> dict[str, Any]:
        """The next `alerts` event (heartbeats skipped)."""
        while True:
            event = self.next()
            assert event["event"] in {"alerts", "heartbeat"}, event
            if event["event"] == "alerts":
                return event

    def close(self) -> None:
        self._scope.__exit__(None, None, None)
        self._client.close()


def _ours(event: dict[str, Any], legs: dict[tuple[Any, ...], str]) -> list[tuple[str, str]]:
    """(leg name, kind) of the event's alerts about the legs the test follows."""
    out = []
    for alert in event["data"]["alerts"]:
        key = alert["key"]
        name = legs.get((key["order_id"], key["container_id"], key["voyage_id"]))
        if name is not None:
            out.append((name, alert["kind"]))
    return out


@pytest.fixture
def tier(
    kafka_broker: Settings,
    settings_factory: Any,
    run_offload: Any,
    start_offload: Callable[..., Any],
) -> Iterator[tuple[Settings, httpx.Client]]:
    """Capture and `offload serve` with two workers over a seeded workload, caught up."""
    s = settings_factory({"api.port": _free_port(), "api.keys": KEYS, "api.workers": 2})
    _ok(run_offload(s, "sor", "init"))
    _ok(run_offload(s, "simulate", "--transactions", "300", "--seed", "21"))
    _ok(run_offload(s, "reference", "load"))
    start_offload(s, "cdc", "run")
    start_offload(s, "serve")
    base = f"http://127.0.0.1:{s.api.port}"
    with SystemOfRecord.open(s.sor_path) as sor:
        ((newest,),) = sor.conn.execute("SELECT max(IBMSNAP_COMMITSEQ) FROM SHIPPING.IBMSNAP_UOW")
    with httpx.Client(base_url=base, headers={"X-API-Key": READER}, timeout=90) as client:
        deadline = time.monotonic() + 90
        while True:
            try:
                fresh = client.get("/freshness", params={"min_lsn": newest, "wait_ms": 10000})
                if fresh.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the read tier did not catch up in 90 s"
            time.sleep(0.5)
        yield s, client


def _reading(s: Settings, container: str, at: datetime) -> int:
    """Commit one HOT reading of `container` at `at`; its LSN."""
    with SystemOfRecord.open(s.sor_path) as sor, sor.unit_of_work() as unit:
        row = {"CONTAINER_ID": container, "READING_TS": at, "TEMPERATURE": HOT, "HUMIDITY": None,
               "POWER_STATE": "ON", "LATITUDE": None, "LONGITUDE": None}  # fmt: skip
        unit.insert(sor.table("REEFER_TELEMETRY"), [row])
        return int(unit.lsn)


def _open_legs(client: httpx.Client) -> list[dict[str, Any]]:
    """Two compliant legs at sea on different containers."""
    page = client.get("/cold-chain/legs", params={"compliant": "true", "page_size": 500})
    assert page.status_code == 200, page.text
    chosen: dict[str, dict[str, Any]] = {}
    for leg in page.json()["items"]:
        if leg["discharged_at"] is None and leg["temp_max"] is not None:
            chosen.setdefault(leg["container_id"], leg)
    assert len(chosen) >= 2, "the seeded workload has fewer than two compliant legs at sea"
    return list(chosen.values())[:2]


def _after(leg: dict[str, Any]) -> datetime:
    newest = leg["last_reading_at"] or leg["loaded_at"]
    return datetime.fromisoformat(newest) + timedelta(seconds=1)


@pytest.mark.kafka
def test_alerts_arrive_once_and_resume_exactly(
    tier: tuple[Settings, httpx.Client], run_offload: Any
) -> None:
    s, client = tier
    base = str(client.base_url)
    leg1, leg2 = _open_legs(client)
    names = {(leg["order_id"], leg["container_id"], leg["voyage_id"]): f"leg{i}"
             for i, leg in enumerate((leg1, leg2), start=1)}  # fmt: skip
    watermark = int(client.get("/freshness").headers["X-Offload-Watermark-LSN"])

    # A connected client gets the excursion once, within the pipeline's freshness.
    first = Alerts(base, {"since_lsn": watermark}, {})
    assert first.next()["event"] == "subscribed"
    committed = time.monotonic()
    lsn1 = _reading(s, leg1["container_id"], _after(leg1))
    event = first.next_alerts()
    latency = time.monotonic() - committed
    assert _ours(event, names) == [("leg1", "non_compliant")], event
    assert int(event["id"].split(".")[0]) >= lsn1
    assert all(a["leg"]["compliant"] is False for a in event["data"]["alerts"])
    print(f"alert latency after the commit: {latency * 1000:.0f} ms")
    assert latency < 10, latency
    last_id = event["id"]
    first.close()

    # Disconnected: leg1 recovers (its hot reading deleted), leg2 goes out of range.
    hot1 = f"CONTAINER_ID = '{leg1['container_id']}' AND TEMPERATURE >= 150"
    out = _ok(run_offload(s, "sor", "exec", f"DELETE FROM SHIPPING.REEFER_TELEMETRY WHERE {hot1}"))
    assert "at LSN" in out, out
    _reading(s, leg2["container_id"], _after(leg2))

    # Reconnect with Last-Event-ID (as EventSource does): exactly what followed, in order;
    # then one more excursion while connected arrives next.
    resumed = Alerts(base, {"since_lsn": watermark}, {"Last-Event-ID": last_id})
    assert resumed.next()["event"] == "subscribed"
    seen: list[tuple[str, str]] = []
    ids: list[str] = []
    while len(seen) < 2:
        event = resumed.next_alerts()
        seen += _ours(event, names)
        ids.append(event["id"])
    assert seen == [("leg1", "recovered"), ("leg2", "non_compliant")], seen
    lsn4 = _reading(s, leg1["container_id"], _after(leg1) + timedelta(seconds=1))
    event = resumed.next_alerts()
    assert _ours(event, names) == [("leg1", "non_compliant")], event
    assert int(event["id"].split(".")[0]) >= lsn4
    ids.append(event["id"])
    workers = {resumed.response.headers["X-Offload-Worker"]}
    resumed.close()

    # The same from since_lsn alone: the LSN of the first alert.
    again = Alerts(base, {"since_lsn": int(last_id.split(".")[0])}, {})
    assert again.next()["event"] == "subscribed"
    replay = [again.next_alerts() for _ in ids]
    assert [e["id"] for e in replay] == ids
    assert [x for e in replay for x in _ours(e, names)] == [*seen, ("leg1", "non_compliant")]
    workers.add(again.response.headers["X-Offload-Worker"])
    again.close()
    print(f"served by workers {sorted(workers)}")
