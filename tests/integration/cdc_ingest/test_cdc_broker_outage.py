"""The broker stopped for 30 s in the middle of a capture run, then restarted: capture resumes
by itself, and the topics hold every capture row exactly once. Uses its own broker (other
ports, its own data dir), never the session broker."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from config import Settings

pytestmark = pytest.mark.kafka

REPO = Path(__file__).resolve().parents[3]
OUTAGE_S = 30


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def own_broker(settings_factory: Callable[..., Settings]) -> Iterator[Settings]:
    """Settings on a broker started for this test alone; stopped at the end."""
    from offload.broker import down, up

    # Free ports, so that a broker another run left behind can never stand in for this one.
    port, controller_port = _free_port(), _free_port()
    settings = settings_factory(
        {
            "kafka.bootstrap_servers": f"127.0.0.1:{port}",
            "kafka.local.port": port,
            "kafka.local.controller_port": controller_port,
            "kafka.local.heap_mb": 384,
        }
    )
    assert up(settings).started
    try:
        yield settings
    finally:
        down(settings)


def _spawn(settings: Settings, name: str, *args: str) -> subprocess.Popen[bytes]:
    conftest = str(Path(__file__).with_name("conftest.py"))
    module = next(m for m in sys.modules.values() if getattr(m, "__file__", None) == conftest)
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("OFFLOAD")}
    env |= {"OFFLOAD_CONFIG": str(REPO / "config" / "offload.toml")}
    env |= module.settings_env(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with (settings.data_dir / f"{name}.log").open("w") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "offload", *args], cwd=REPO, env=env, stdout=log, stderr=log
        )


def _ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    return result


def test_broker_down_for_30_s_loses_and_duplicates_nothing(
    own_broker: Settings, run_offload: Callable[..., Any], plain: Any
) -> None:
    from offload.broker import down, up

    settings = own_broker
    _ok(run_offload(settings, "sor", "init"))
    capture = _spawn(settings, "cdc", "cdc", "run")
    writer = _spawn(settings, "simulate", "simulate", "--duration", "45", "--tps", "25")
    try:
        time.sleep(6)
        assert down(settings).stopped_pid is not None
        time.sleep(OUTAGE_S)
        assert capture.poll() is None, "capture exited while the broker was down"
        up(settings)
        assert writer.wait(timeout=120) == 0
        deadline = time.monotonic() + 120
        while True:
            status = json.loads(_ok(run_offload(settings, "cdc", "status", "--json")).stdout)
            if status["lag_lsn"] == 0 and status["last_published_lsn"] > 0:
                break
            assert time.monotonic() < deadline, status
            time.sleep(1)
    finally:
        capture.send_signal(signal.SIGTERM)
        code = capture.wait(timeout=60)
        writer.kill()
        writer.wait(timeout=10)
    log = (settings.data_dir / "cdc.log").read_text()
    assert code == 0, log[-3000:]
    assert "Connection refused" in log  # capture did see the outage (librdkafka's log)
    rows = plain.capture_rows(settings.sor_path)
    events, markers = plain.read_events(
        settings.kafka.bootstrap_servers, settings.kafka.topic_prefix, list(rows)
    )
    report = plain.compare(events, markers, rows)
    assert not report["missing"], list(report["missing"])[:10]
    assert not report["extra"], list(report["extra"])[:10]
    assert not report["order_errors"] and not report["end_errors"]
    assert report["tombstone_errors"] == 0
    assert report["events"] > 1000
