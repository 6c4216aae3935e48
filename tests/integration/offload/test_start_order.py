"""Every long-running part starts in any order on a fresh deployment.

A projector (`offload project run`) or a whole `offload run` started before capture has
created any topic waits, saying once what it waits for, and applies the data once capture
runs; the supervisor of `offload run` restarts nothing on the way, and `offload reconcile`
(through the running writer) finds every mirror equal. (The broker itself started after the
parts: `tests/integration/cdc_ingest/test_cdc_own_broker.py`.)
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from config import Settings
from projections.status import STATUS_FILE
from query_api.auth import hash_key
from simulators.sor import SystemOfRecord

ANALYST = f"analyst-{uuid.uuid4().hex}"
KEYS = {"analyst": {"role": "analyst", "sha256": hash_key(ANALYST)}}
WAITING_TOPICS = "projections.consumer: waiting for the change topics of prefix"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ok(proc: Any) -> str:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return str(proc.stdout)


def _source_rows(settings: Settings) -> dict[str, int]:
    """Rows of each captured table in the system of record, keyed as the mirrors are."""
    with SystemOfRecord.open(settings.sor_path) as sor:
        return {
            table.lower(): int(sor.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
            for table in sorted(sor.captured_tables())
        }


def _mirror_rows(settings: Settings) -> dict[str, int]:
    """Rows of each mirror as the running writer's status file last said."""
    path = settings.projections_path.parent / STATUS_FILE
    try:
        figures = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {k: int(v) for k, v in figures.get("mirrors", {}).items()}


def _eventually(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise AssertionError(f"not within {timeout_s} s: {what}")


def _log_of(tmp_path: Path, name: str) -> str:
    """The output of the `start_offload` processes whose command starts with `name`."""
    return "".join(p.read_text(errors="replace") for p in sorted(tmp_path.glob(f"{name}-*.log")))


def _mirrors_equal_source(settings: Settings) -> bool:
    source, mirrors = _source_rows(settings), _mirror_rows(settings)
    return all(mirrors.get(table) == rows for table, rows in source.items())


@pytest.mark.kafka
def test_projector_started_before_the_topics_waits_and_applies(
    kafka_settings: Settings,
    run_offload: Any,
    start_offload: Callable[..., subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    s = kafka_settings
    _ok(run_offload(s, "sor", "init"))
    _ok(run_offload(s, "simulate", "--transactions", "40", "--seed", "3"))
    projector = start_offload(s, "project", "run")
    _eventually(
        lambda: WAITING_TOPICS in _log_of(tmp_path, "project-run"),
        60,
        "the projector says it waits for the topics",
    )
    time.sleep(2)  # a few more looks at an empty deployment: still waiting, not exited
    assert projector.poll() is None, _log_of(tmp_path, "project-run")
    _ok(run_offload(s, "cdc", "run", "--until-idle"))
    _eventually(lambda: _mirrors_equal_source(s), 60, "every mirror holds its table's rows")
    projector.terminate()
    assert projector.wait(timeout=30) == 0
    log = _log_of(tmp_path, "project-run")
    assert log.count(WAITING_TOPICS) == 1, log
    assert "done waiting for the change topics" in log
    assert source_nonempty(s)


def source_nonempty(settings: Settings) -> bool:
    """The check above compared something: the seeded tables hold rows."""
    return sum(_source_rows(settings).values()) > 0


@pytest.mark.kafka
def test_offload_run_on_a_fresh_deployment_restarts_nothing(
    kafka_broker: Settings,
    settings_factory: Any,
    run_offload: Any,
    start_offload: Callable[..., subprocess.Popen[bytes]],
) -> None:
    s = settings_factory({"api.port": _free_port(), "api.keys": KEYS, "api.workers": 1})
    _ok(run_offload(s, "sor", "init"))
    _ok(run_offload(s, "simulate", "--transactions", "40", "--seed", "5"))
    start_offload(s, "run")
    base = f"http://127.0.0.1:{s.api.port}"

    def ready() -> bool:
        return httpx.get(f"{base}/readyz", timeout=10).status_code == 200

    _eventually(ready, 120, "the query API is ready")
    _eventually(lambda: _mirrors_equal_source(s), 120, "every mirror holds its table's rows")
    with SystemOfRecord.open(s.sor_path) as sor:
        orders = int(sor.conn.execute("SELECT COUNT(*) FROM SHIPPING.ORDERS").fetchone()[0])
    answer = httpx.post(
        f"{base}/sql",
        json={"sql": "SELECT COUNT(*) AS n FROM shipping.orders", "params": []},
        headers={"X-API-Key": ANALYST},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    assert orders > 0
    assert answer.json()["rows"] == [{"n": orders}], answer.text
    # The operator's check, through the running writer's read server (it holds the file).
    reconciled = run_offload(s, "reconcile", "--json")
    assert reconciled.returncode == 0, reconciled.stdout + reconciled.stderr
    assert json.loads(reconciled.stdout)["events"]["published"] > 0
    state = json.loads((s.data_dir / "run" / "state.json").read_text())
    parts = state["parts"]
    assert set(parts) >= {"cdc", "projection", "api-1", "reference"}
    for name, part in parts.items():
        assert part["restarts"] == 0, f"{name} was restarted: {part}"
        assert part["state"] == "running", f"{name}: {part}"
