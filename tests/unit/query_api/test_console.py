"""The console's routes, chart history, part states and schema changes (no browser, no Kafka)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from plumbing.processes import start_ticks
from query_api import ReadStore, create_app
from query_api.console.history import History, parse_sample, series
from query_api.console.parts import supervised_parts
from query_api.console.schema_diff import schema_changes

from .conftest import KEYS, MemorySchemas, make_settings


def _metrics(applied: int, requests: int, errors5xx: int, lag: float, fast: int) -> bytes:
    """A /metrics text: `fast` requests under 5 ms, the rest (of `requests`) under 100 ms."""
    lines = [
        f"offload_projection_events_applied_total {applied}",
        f"offload_projection_units_applied_total {applied // 5}",
        f"offload_projection_head_lsn {applied * 2}",
        f"offload_projection_lag_seconds {lag}",
        f'offload_api_requests_total{{route="/orders/{{order_id}}",method="GET",status="200"}} '
        f"{requests - errors5xx}",
        f'offload_api_requests_total{{route="/sql",method="POST",status="503"}} {errors5xx}',
        f'offload_api_request_seconds_bucket{{route="/x",le="0.005"}} {fast}',
        f'offload_api_request_seconds_bucket{{route="/x",le="0.1"}} {requests}',
        f'offload_api_request_seconds_bucket{{route="/x",le="+Inf"}} {requests}',
        f'offload_api_request_seconds_sum{{route="/x"}} {requests * 0.01}',
        f'offload_api_request_seconds_count{{route="/x"}} {requests}',
    ]
    return ("\n".join(lines) + "\n").encode()


def test_history_rates_latency_and_freshness_quantiles() -> None:
    texts = iter(
        [
            _metrics(0, 0, 0, 0.1, 0),
            _metrics(1000, 50, 0, 0.3, 50),  # 10 s later: 100 events/s, 5 requests/s, all fast
            _metrics(1500, 150, 2, 0.2, 60),  # 10 s later: 90 of 100 requests slow, 2 errors
        ]
    )
    now = iter([100.0, 110.0, 120.0, 120.0])
    history = History(lambda: next(texts), interval_s=10, clock=lambda: next(now))
    for _ in range(3):
        history.sample()
    first, second = history.points()
    assert first["applied_events_s"] == 100.0
    assert first["applied_units_s"] == 20.0
    assert first["captured_lsn_s"] == 200.0
    assert first["requests_s"] == 5.0
    assert first["latency_p99_ms"] == 5.0
    assert first["errors"] == 0
    assert second["applied_events_s"] == 50.0
    assert second["requests_s"] == 10.0
    assert second["latency_p99_ms"] == 100.0
    assert second["latency_mean_ms"] == pytest.approx(10.0)
    assert second["errors"] == 2
    assert (second["freshness_p50_s"], second["freshness_p99_s"]) == (0.2, 0.3)


def test_history_keeps_only_the_last_hour() -> None:
    clock = [0.0]
    history = History(lambda: _metrics(int(clock[0]), 0, 0, 0.0, 0), clock=lambda: clock[0])
    for step in range(800):  # 800 samples 5 s apart: 4,000 s
        clock[0] = step * 5.0
        history.sample()
    points = history.points()
    # The samples at 395 .. 3995 s are inside the hour: 721 of them, 720 rates between them.
    assert len(points) == 720
    assert points[0]["t"] == 400.0 and points[-1]["t"] == 3995.0


def test_a_counter_reset_gives_no_negative_rate() -> None:
    older = parse_sample(_metrics(500, 10, 0, 0.0, 10).decode(), 0.0)
    restarted = parse_sample(_metrics(20, 1, 0, 0.0, 1).decode(), 5.0)
    (point,) = series([older, restarted])
    assert point["applied_events_s"] == 0.0 and point["requests_s"] == 0.0


def test_schema_changes_name_added_removed_and_retyped_fields() -> None:
    dec9 = {"type": "bytes", "logicalType": "decimal", "precision": 9}
    dec11 = {**dec9, "precision": 11, "scale": 2}
    old = json.dumps(
        {
            "type": "record",
            "name": "V",
            "fields": [
                {"name": "A", "type": "long"},
                {"name": "B", "type": dec9},
                {"name": "C", "type": "string"},
            ],
        }
    )
    new = json.dumps(
        {
            "type": "record",
            "name": "V",
            "fields": [
                {"name": "A", "type": "long"},
                {"name": "B", "type": dec11},
                {"name": "D", "type": ["null", "string"]},
            ],
        }
    )
    assert schema_changes(old, new) == [
        "changed B: decimal(9,0) -> decimal(11,2)",
        "added D: null | string",
        "removed C",
    ]
    assert schema_changes(old, old) == []


def _state(path: Path, supervisor_pid: int, parts: dict[str, Any]) -> None:
    path.mkdir(parents=True, exist_ok=True)
    doc = {"supervisor_pid": supervisor_pid, "updated_at": 0, "parts": parts}
    (path / "state.json").write_text(json.dumps(doc))


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                          capture_output=True, text=True)  # fmt: skip
    return int(done.stdout)


def test_parts_of_the_live_supervisor_win(tmp_path: Path) -> None:
    assert supervised_parts(tmp_path)["parts"] == []
    dead = _dead_pid()
    _state(tmp_path / "run", dead, {"cdc": {"state": "running", "pid": dead, "restarts": 4}})
    _state(
        tmp_path / "serve",
        os.getpid(),
        {
            "projection": {"state": "running", "pid": os.getpid(), "restarts": 2},
            "api-1": {"state": "running", "pid": dead, "restarts": 0, "last_exit_code": -9},
        },
    )
    found = supervised_parts(tmp_path)
    assert found["supervisor"] == "serve" and found["supervisor_running"]
    states = {p["name"]: (p["state"], p["restarts"]) for p in found["parts"]}
    assert states == {"projection": ("running", 2), "api-1": ("gone", 0)}
    (tmp_path / "serve" / "state.json").unlink()
    found = supervised_parts(tmp_path)
    assert found["supervisor"] == "run" and not found["supervisor_running"]
    assert [(p["name"], p["state"]) for p in found["parts"]] == [("cdc", "stopped")]


def test_a_reused_supervisor_pid_is_not_a_live_supervisor(tmp_path: Path) -> None:
    started = start_ticks(os.getpid())
    assert started is not None
    part = {"state": "running", "pid": os.getpid(), "pid_started": started, "restarts": 0}
    _state(tmp_path / "serve", os.getpid(), {"projection": part})
    doc = json.loads((tmp_path / "serve" / "state.json").read_text())
    (tmp_path / "serve" / "state.json").write_text(
        json.dumps({**doc, "supervisor_started": started})
    )
    assert supervised_parts(tmp_path)["supervisor_running"]
    # The pid now belongs to a process started at another time: the supervisor is gone.
    (tmp_path / "serve" / "state.json").write_text(
        json.dumps({**doc, "supervisor_started": started - 1})
    )
    found = supervised_parts(tmp_path)
    assert not found["supervisor_running"]
    assert [p["state"] for p in found["parts"]] == ["stopped"]


def _client(store: ReadStore, tmp_path: Path, role: str | None) -> TestClient:
    settings = make_settings()
    settings = settings.model_copy(
        update={"runtime": settings.runtime.model_copy(update={"data_dir": tmp_path})}
    )
    headers = {"X-API-Key": KEYS[role]} if role else {}
    return TestClient(create_app(settings, store, MemorySchemas()), headers=headers)


def test_console_routes_keys_and_roles(served_store: ReadStore, tmp_path: Path) -> None:
    _state(tmp_path / "serve", os.getpid(), {"projection": {"state": "running", "pid": 1}})
    anonymous = _client(served_store, tmp_path, None)
    page = anonymous.get("/console")
    assert page.status_code == 200 and "<svg" in page.text and "console.key" in page.text
    assert "http://" not in page.text and "https://" not in page.text  # nothing from a CDN
    for path in ("parts", "history", "errors", "schemas"):
        assert anonymous.get(f"/console/api/{path}").status_code == 401, path
    reader = _client(served_store, tmp_path, "reader")
    parts = reader.get("/console/api/parts").json()
    assert [p["name"] for p in parts["parts"]] == ["projection"]
    assert parts["watermark"]["lsn"] == 50
    assert reader.get("/console/api/errors").json()["errors"] == []
    schemas = {s["subject"]: s for s in reader.get("/console/api/schemas").json()["subjects"]}
    value = schemas["offload.shipping.orders-value"]["versions"]
    assert [v["changes"] for v in value] == [[], ["added NOTE: null | string"]]
    assert reader.post("/console/api/errors/1/replay").status_code == 403
    admin = _client(served_store, tmp_path, "admin")
    refused = admin.post("/console/api/errors/1/replay")
    assert refused.status_code == 501
    assert "offload errors replay 1" in refused.json()["detail"]
    assert "/console/api/parts" not in admin.get("/openapi.json").text


def _envelope(row_fields: list[dict[str, Any]]) -> str:
    """A value schema shaped as the capture's envelope: the row record defined in "before"."""
    value = {"type": "record", "name": "Value", "fields": row_fields}
    return json.dumps(
        {
            "type": "record",
            "name": "Envelope",
            "fields": [
                {"name": "before", "type": ["null", value], "default": None},
                {"name": "after", "type": ["null", "Value"], "default": None},
                {"name": "op", "type": "string"},
            ],
        }
    )


def test_schema_changes_of_an_envelope_compare_its_rows() -> None:
    v1 = _envelope([{"name": "ORDER_ID", "type": "long"}])
    v2 = _envelope([{"name": "ORDER_ID", "type": "long"}, {"name": "NOTE", "type": "string"}])
    assert schema_changes(v1, v2) == ["added NOTE: string"]
