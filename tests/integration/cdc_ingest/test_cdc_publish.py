"""Capture against the real broker, checked by a plain reader (no project code on the read
side): one event per capture row, per key in LSN order, END counts, exactly once across
kill -9 at injected points and at random times, a fenced zombie, exact values, schema changes.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from config import Settings

pytestmark = pytest.mark.kafka

REPO = Path(__file__).resolve().parents[3]
TABLES = [
    "SHIPPING.CONTAINERS",
    "SHIPPING.CUSTOMERS",
    "SHIPPING.ORDERS",
    "SHIPPING.ORDER_ASSIGNMENTS",
    "SHIPPING.REEFER_TELEMETRY",
    "SHIPPING.VOYAGES",
]


def _env(settings: Settings, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    settings_env = sys.modules[_conftest_name()].settings_env
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("OFFLOAD")}
    env["OFFLOAD_CONFIG"] = str(REPO / "config" / "offload.toml")
    env |= settings_env(settings)
    env |= dict(extra or {})
    return env


def _conftest_name() -> str:
    here = str(Path(__file__).with_name("conftest.py"))
    return next(n for n, m in sys.modules.items() if getattr(m, "__file__", None) == here)


class Proc:
    """A background `offload` process whose output goes to a file (no pipe to fill up)."""

    def __init__(self, settings: Settings, args: tuple[str, ...], crash: str | None) -> None:
        extra = {"OFFLOAD_CRASH_AT": crash} if crash else {}
        self.log = settings.data_dir / f"proc-{time.monotonic_ns()}.log"
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("w") as out:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "offload", *args],
                cwd=REPO,
                env=_env(settings, extra),
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def signal(self, sig: int) -> None:
        self.popen.send_signal(sig)

    def wait(self, timeout: float) -> int:
        return self.popen.wait(timeout=timeout)

    @property
    def output(self) -> str:
        return self.log.read_text()


_SPAWNED: list[Proc] = []


@pytest.fixture(autouse=True)
def _no_process_left_behind() -> Iterator[None]:
    """A failed test must not leave a capture running into the next one."""
    yield
    while _SPAWNED:
        proc = _SPAWNED.pop().popen
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _spawn(settings: Settings, *args: str, crash: str | None = None) -> Proc:
    proc = Proc(settings, args, crash)
    _SPAWNED.append(proc)
    return proc


STARTED = "continues after LSN"
"""What a capture logs once it has fenced older instances and read its position."""


def _wait_for(proc: Proc, text: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in proc.output:
        assert proc.popen.poll() is None, proc.output[-3000:]
        assert time.monotonic() < deadline, f"no {text!r} within {timeout_s} s"
        time.sleep(0.1)


def _ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def _check(plain: Any, settings: Settings, tables: list[str] = TABLES) -> dict[str, Any]:
    events, markers = plain.read_events(
        settings.kafka.bootstrap_servers, settings.kafka.topic_prefix, tables
    )
    return plain.compare(events, markers, plain.capture_rows(settings.sor_path))


def _assert_exact(report: dict[str, Any]) -> None:
    assert not report["missing"], f"missing: {list(report['missing'])[:10]}"
    assert not report["extra"], f"extra: {list(report['extra'])[:10]}"
    assert not report["order_errors"], report["order_errors"][:5]
    assert not report["end_errors"], report["end_errors"][:5]
    assert report["tombstone_errors"] == 0


def test_seeded_run_publishes_each_capture_row_once(
    kafka_settings: Settings, run_offload: Callable[..., Any], plain: Any
) -> None:
    settings = kafka_settings
    _ok(run_offload(settings, "sor", "init"))
    _ok(run_offload(settings, "cdc", "run", "--until-idle"))
    _ok(run_offload(settings, "simulate", "--transactions", "400", "--seed", "7", "--json"))
    _ok(run_offload(settings, "cdc", "run", "--until-idle"))
    report = _check(plain, settings)
    _assert_exact(report)
    assert report["events"] > 1000
    status = _ok(run_offload(settings, "cdc", "status", "--json")).stdout
    assert '"lag_lsn": 0' in status


def test_status_before_capture_first_ran_reports_the_whole_source_as_lag(
    kafka_settings: Settings, run_offload: Callable[..., Any]
) -> None:
    settings = kafka_settings
    _ok(run_offload(settings, "sor", "init"))
    _ok(run_offload(settings, "simulate", "--transactions", "5", "--seed", "7"))
    status = json.loads(_ok(run_offload(settings, "cdc", "status", "--json")).stdout)
    assert status["last_published_lsn"] == 0 and status["events_total"] == 0
    assert status["lag_lsn"] == status["source_newest_lsn"] > 0
    assert {t["table"] for t in status["tables"]} == set(TABLES)
    assert {t["state"] for t in status["tables"]} == {"not started"}
    resume = run_offload(settings, "cdc", "resume", "ORDERS", "--accept-incompatible")
    assert resume.returncode == 2
    assert "table SHIPPING.ORDERS is not waiting on an incompatible schema change" in (
        resume.stderr
    )


def test_kill_9_at_injected_points_and_random_times_loses_and_duplicates_nothing(
    settings_factory: Callable[..., Settings],
    kafka_broker: Settings,
    run_offload: Callable[..., Any],
    plain: Any,
) -> None:
    settings = settings_factory({"capture.max_events_per_transaction": 300})
    _ok(run_offload(settings, "sor", "init"))
    _ok(run_offload(settings, "simulate", "--transactions", "50", "--seed", "3"))
    writer = _spawn(settings, "simulate", "--duration", "60", "--tps", "40", "--seed", "11")
    points = ["cdc.after_produce", "cdc.after_commit"]
    rng = random.Random(5)
    kills = 0
    try:
        for i in range(24):
            if i % 3 == 2:
                proc = _spawn(settings, "cdc", "run")
                time.sleep(rng.uniform(0.8, 2.5))
                proc.signal(signal.SIGKILL)
            else:
                point = f"{points[i % 2]}:{rng.randint(1, 4)}"
                proc = _spawn(settings, "cdc", "run", crash=point)
            if proc.wait(timeout=120) == -signal.SIGKILL:
                kills += 1
    finally:
        writer.wait(timeout=120)
    _ok(run_offload(settings, "cdc", "run", "--until-idle"))
    assert kills >= 20
    _assert_exact(_check(plain, settings))


def test_snapshot_resumes_after_kill_mid_snapshot(
    settings_factory: Callable[..., Settings],
    kafka_broker: Settings,
    run_offload: Callable[..., Any],
    plain: Any,
) -> None:
    settings = settings_factory({"capture.snapshot_chunk_rows": 40})
    _ok(run_offload(settings, "sor", "init"))
    _ok(run_offload(settings, "simulate", "--transactions", "150", "--seed", "2"))
    # Capture starts after the tables hold rows, with a snapshot of each asked for; it is
    # killed twice midway.
    _ok(run_offload(settings, "cdc", "snapshot", *TABLES))
    for n in (2, 3):
        proc = _spawn(settings, "cdc", "run", "--until-idle", crash=f"cdc.mid_snapshot:{n}")
        assert proc.wait(timeout=120) == -signal.SIGKILL, proc.output[-3000:]
    writer = _spawn(settings, "simulate", "--transactions", "100", "--seed", "4")
    _ok(run_offload(settings, "cdc", "run", "--until-idle"))
    writer.wait(timeout=120)
    _ok(run_offload(settings, "cdc", "run", "--until-idle"))
    events, markers = plain.read_events(
        settings.kafka.bootstrap_servers, settings.kafka.topic_prefix, TABLES
    )
    report = plain.compare(events, markers, plain.capture_rows(settings.sor_path))
    _assert_exact(report)
    # Folding every event by the per-key LSN rule gives each table's final state.
    for table in TABLES:
        state: dict[str, tuple[tuple[int, int], Any]] = {}
        for m in events[table]:
            if m.value is None:
                continue
            src = m.value["source"]
            version = (src["commit_lsn"], 2**62 if m.value["op"] == "r" else src["change_lsn"])
            key = repr(sorted(m.key.items()))
            if key not in state or state[key][0] < version:
                state[key] = (version, m.value["after"])
        rows = {k: v for k, (_, v) in state.items() if v is not None}
        snap_keys = [m.key for m in events[table] if m.value and m.value["op"] == "r"]
        assert len(snap_keys) == len({repr(sorted(k.items())) for k in snap_keys}), table
        actual = _table_rows(settings, table)
        assert rows == actual, table


def _table_rows(settings: Settings, table: str) -> dict[str, Any]:
    from cdc_ingest.source import open_source

    out = {}
    with open_source(settings) as source:
        after = None
        while True:
            chunk = source.read_chunk(table, after, 1000)
            for row in chunk.rows:
                key = {k: row[k] for k in chunk.table.primary_key}
                out[repr(sorted(key.items()))] = dict(row)
            if chunk.done:
                return out
            after = chunk.last_key


def test_zombie_is_fenced_and_writes_nothing_more(
    kafka_settings: Settings, run_offload: Callable[..., Any], plain: Any
) -> None:
    settings = kafka_settings
    _ok(run_offload(settings, "sor", "init"))
    _ok(run_offload(settings, "cdc", "run", "--until-idle"))
    # The writer keeps committing until well after SIGCONT: a zombie learns that it was fenced
    # when it next writes, and on a loaded machine the second instance may take a while to
    # start, so the zombie must still have work when that happens.
    writer = _spawn(settings, "simulate", "--duration", "30", "--tps", "50", "--seed", "9")
    zombie = _spawn(settings, "cdc", "run")
    # Paused only once it has its transactional producer and position (on a loaded machine
    # that takes longer than any fixed sleep), and resumed only once the second instance has
    # initialised its transactions, which fences the zombie.
    _wait_for(zombie, STARTED)
    time.sleep(1)
    zombie.signal(signal.SIGSTOP)
    second = _spawn(settings, "cdc", "run")
    _wait_for(second, STARTED)
    time.sleep(1)
    zombie.signal(signal.SIGCONT)
    assert zombie.wait(timeout=120) == 1, zombie.output[-3000:]
    assert "this instance was fenced" in zombie.output
    writer.wait(timeout=60)
    time.sleep(2)
    second.signal(signal.SIGTERM)
    assert second.wait(timeout=60) == 0, second.output[-3000:]
    _ok(run_offload(settings, "cdc", "run", "--until-idle"))
    _assert_exact(_check(plain, settings))
