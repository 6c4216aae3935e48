"""The live streams over the sample projection with its change log: a stream read as a client
reads it (resume after the last event id: nothing lost, nothing twice; live events as the
writer commits), and the routes' refusals (key, view, Last-Event-ID, compacted position)."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import datetime, timedelta
from decimal import Decimal as D
from typing import Any

import pytest

from projections.changelog import ChangeLog
from query_api.reads import Reads
from query_api.subscriptions import ChangeFeed, ChangeLogReader, Position, change_stream

T0 = datetime(2025, 3, 1, 8, 0, 0)  # the sample projection's (tests/unit/query_api/conftest.py)
C1_LEGS = {2, 4, 6}  # the sample's loaded legs on MSCU0000001 (P100, -2..2 °C, all compliant)
C2_LEGS = {1, 3, 5, 7}  # on MSCU0000002, which had readings of 4.5 °C: non-compliant


def reading(container: str, minutes: int, temperature: str) -> tuple[str, dict[str, Any]]:
    row = {"CONTAINER_ID": container, "READING_TS": T0 + timedelta(minutes=minutes),
           "TEMPERATURE": D(temperature), "HUMIDITY": None, "POWER_STATE": "ON",
           "LATITUDE": None, "LONGITUDE": None}  # fmt: skip
    return ("SHIPPING.REEFER_TELEMETRY", row)


def product(temp_max: str) -> tuple[str, dict[str, Any]]:
    return ("REFERENCE.PRODUCTS", {"product_id": "P100", "product_name": "Salmon",
            "temp_min": D("-2.00"), "temp_max": D(temp_max)})  # fmt: skip


@pytest.fixture
def logged(projection: Any) -> Any:
    """The sample projection (watermark 50) with the change log the writer keeps."""
    projection.applier._views.changes = ChangeLog(projection.connection)
    return projection


def parse(text: str) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for line in text.strip("\n").split("\n"):
        name, _, value = line.partition(": ")
        fields[name] = json.loads(value) if name == "data" else value
    return fields


async def take(store: Any, start: Position, count: int, during: Any = None) -> list[dict[str, Any]]:
    """The first `count` alert events after `start`; `during` runs in a thread once the
    stream waits for news (the writer committing while a client is connected)."""

    async def connected() -> bool:
        return False

    reader = ChangeLogReader(Reads("SHIPPING"), "cold_chain_alerts")
    feed = ChangeFeed(store, Reads("SHIPPING"), idle_s=0.2, linger_s=0)
    stream = change_stream(
        reader, feed, store, start=start, name="alerts", event="alerts", disconnected=connected
    )
    events: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(20):
            async for text in stream:
                event = parse(text)
                if event["event"] == "alerts":
                    events.append(event)
                    if len(events) == count:
                        break
                if during is not None and len(events) == count - 1:
                    threading.Thread(target=during).start()
                    during = None
    finally:
        await stream.aclose()
    return events


def kinds(event: dict[str, Any]) -> dict[int, str]:
    return {a["key"]["order_id"]: a["kind"] for a in event["data"]["alerts"]}


def test_alerts_resume_exactly_and_arrive_live(logged: Any) -> None:
    p = logged
    p.apply(60, T0 + timedelta(hours=3), [reading("MSCU0000001", 200, "3.00")])
    p.apply(61, T0 + timedelta(hours=3), [reading("MSCU0000001", 201, "0.00")])  # no flip
    p.apply(70, T0 + timedelta(hours=4), [product("5.00")])  # every leg recovers

    first = asyncio.run(take(p.store, Position(50), 1))
    assert [e["id"] for e in first] == ["60"]
    assert kinds(first[0]) == dict.fromkeys(C1_LEGS, "non_compliant")
    leg = first[0]["data"]["alerts"][0]["leg"]
    assert leg["compliant"] is False and leg["max_temperature"] == "3.00"
    assert first[0]["data"]["lsn"] == 60

    # Reconnect with the last id: the next batch only, then one committed while connected.
    def hot_again() -> None:
        p.apply(80, T0 + timedelta(hours=5), [product("2.00")])

    rest = asyncio.run(take(p.store, Position.parse(first[-1]["id"], "id"), 2, during=hot_again))
    assert [e["id"] for e in rest] == ["70", "80"]
    assert kinds(rest[0]) == dict.fromkeys(C1_LEGS | C2_LEGS, "recovered")
    assert kinds(rest[1]) == dict.fromkeys(C1_LEGS | C2_LEGS, "non_compliant")


def test_a_view_change_stream_carries_before_and_after(logged: Any) -> None:
    p = logged
    p.apply(60, T0 + timedelta(hours=3), [reading("MSCU0000001", 200, "1.00")])
    reader_ = ChangeLogReader(Reads("SHIPPING"), "view_changes", {"view": "cold_chain"})
    with p.store.snapshot() as snap:
        got = reader_.read(snap, Position(50))
    assert [b.position for b in got.batches] == [Position(60)]
    items = [json.loads(i) for i in got.batches[0].items]
    assert {i["key"]["order_id"] for i in items} == C1_LEGS
    assert all(i["after"]["readings"] == i["before"]["readings"] + 1 for i in items)
    assert got.scanned == Position(60) and got.horizon == Position(50)


def test_the_routes_refuse_what_they_cannot_serve(logged: Any, make_client: Any) -> None:
    client = make_client("reader")
    assert make_client(None).get("/cold-chain/alerts").status_code == 401
    unknown = client.get("/views/nope/changes")
    assert unknown.status_code == 404 and "view nope not found" in unknown.text
    bad = client.get("/cold-chain/alerts", headers={"Last-Event-ID": "12x"})
    assert bad.status_code == 422 and bad.json()["parameter"] == "Last-Event-ID"
    old = client.get("/views/cold_chain/changes", params={"since_lsn": 49})
    assert old.status_code == 410, old.text
    assert "after 50" in old.json()["detail"] and old.json()["reason"] == "compacted"
