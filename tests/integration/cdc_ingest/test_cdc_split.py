"""Capture split by table group, against the real broker, checked by the plain reader: each
capture row published once, per key in LSN order, and every unit of work of the source marked
whole by every group (one BEGIN and one END each, first markers in LSN order), also across
kill -9 of any group at injected points and at random times while the others run on, and when
a group resumes while a killed group's transaction holds its position record open."""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import pytest

from cdc_ingest.offsets_log import offsets_topic
from config import Settings
from tests.integration.cdc_ingest.test_cdc_publish import (
    STARTED,
    TABLES,
    Proc,
    _assert_exact,
    _check,
    _no_process_left_behind,  # noqa: F401 - autouse: no capture left running after a failure
    _ok,
    _spawn,
    _wait_for,
)

pytestmark = pytest.mark.kafka

SPLIT = {
    "telemetry": ["SHIPPING.REEFER_TELEMETRY"],
    "orders": ["SHIPPING.ORDERS", "SHIPPING.ORDER_ASSIGNMENTS"],
}
GROUPS = ["default", "telemetry", "orders"]


def _assert_every_unit_whole(plain: Any, settings: Settings) -> int:
    """Every unit of work of IBMSNAP_UOW has one BEGIN and one END of each group, in LSN
    order of first appearance; returns the number of units."""
    _, markers = plain.read_events(
        settings.kafka.bootstrap_servers, settings.kafka.topic_prefix, []
    )
    conn = sqlite3.connect(settings.sor_path)
    try:
        lsns = [int(r[0]) for r in conn.execute("SELECT IBMSNAP_COMMITSEQ FROM IBMSNAP_UOW")]
    finally:
        conn.close()
    seen: dict[tuple[str, str, str], int] = defaultdict(int)
    first: dict[str, int] = {}
    for marker in markers:
        if marker["id"].startswith(("snapshot:", "resumed:")):
            continue
        assert marker["parts"] == len(GROUPS), marker
        seen[(marker["id"], marker["status"], marker["part"])] += 1
        first.setdefault(marker["id"], marker["commit_lsn"])
    assert sorted(first.values()) == sorted(lsns)  # every unit, empty ones too
    assert list(first.values()) == sorted(first.values())  # first markers in LSN order
    assert set(seen.values()) == {1}  # no marker twice
    assert len(seen) == len(lsns) * len(GROUPS) * 2
    return len(lsns)


def test_split_capture_publishes_each_row_once_and_marks_every_unit_by_every_group(
    settings_factory: Callable[..., Settings],
    kafka_broker: Settings,
    run_offload: Callable[..., Any],
    plain: Any,
) -> None:
    settings = settings_factory({"capture.split": SPLIT, "capture.max_events_per_transaction": 300})
    _ok(run_offload(settings, "sor", "init"))
    _ok(run_offload(settings, "simulate", "--transactions", "200", "--seed", "7"))
    run = _ok(run_offload(settings, "cdc", "run", "--until-idle"))
    for group in GROUPS:
        assert f"capture group {group} stopped at LSN" in run.stdout, run.stdout
    report = _check(plain, settings)
    _assert_exact(report)
    assert report["events"] > 1000
    assert _assert_every_unit_whole(plain, settings) > 200
    status = json.loads(_ok(run_offload(settings, "cdc", "status", "--json")).stdout)
    assert status["lag_lsn"] == 0
    assert [(g["group"], g["lag_lsn"]) for g in status["groups"]] == [(g, 0) for g in GROUPS]
    # Another split on the same topics would publish tables twice or not at all: refused.
    same = {"runtime.data_dir": str(settings.data_dir)}
    for other in ({}, {"telemetry": SPLIT["telemetry"]}):
        changed = settings_factory(
            {**same, "capture.split": other}, topic_prefix=settings.kafka.topic_prefix
        )
        refused = run_offload(changed, "cdc", "run", "--until-idle")
        assert refused.returncode == 2, refused.stderr[-3000:]
        assert (
            "capture group 'default' was publishing under capture.split {orders = "
            "SHIPPING.ORDERS, SHIPPING.ORDER_ASSIGNMENTS; telemetry = SHIPPING.REEFER_TELEMETRY}"
        ) in refused.stderr


def test_kill_9_of_any_group_while_the_others_run_loses_and_duplicates_nothing(
    settings_factory: Callable[..., Settings],
    kafka_broker: Settings,
    run_offload: Callable[..., Any],
    plain: Any,
) -> None:
    settings = settings_factory({"capture.split": SPLIT, "capture.max_events_per_transaction": 200})
    _ok(run_offload(settings, "sor", "init"))
    _ok(run_offload(settings, "simulate", "--transactions", "50", "--seed", "3"))
    writer = _spawn(settings, "simulate", "--duration", "45", "--tps", "40", "--seed", "11")
    points = ["cdc.after_produce", "cdc.after_commit"]
    rng = random.Random(8)
    kills = 0
    try:
        for i in range(10):
            crashing = GROUPS[i % len(GROUPS)]
            procs: dict[str, Proc] = {}
            for group in GROUPS:
                crash = f"{points[i % 2]}:{rng.randint(1, 4)}" if group == crashing else None
                procs[group] = _spawn(settings, "cdc", "run", "--group", group, crash=crash)
            time.sleep(rng.uniform(1.0, 3.0))
            for group in rng.sample(GROUPS, rng.randint(1, len(GROUPS))):
                if procs[group].popen.poll() is None:
                    procs[group].signal(signal.SIGKILL)
            for proc in procs.values():
                if proc.popen.poll() is None:
                    proc.signal(signal.SIGTERM)
                if proc.wait(timeout=120) == -signal.SIGKILL:
                    kills += 1
    finally:
        writer.wait(timeout=120)
    _ok(run_offload(settings, "cdc", "run", "--until-idle"))
    assert kills >= 15
    _assert_exact(_check(plain, settings, TABLES))
    _assert_every_unit_whole(plain, settings)


def test_a_group_resumes_past_a_killed_groups_open_transaction_and_duplicates_nothing(
    settings_factory: Callable[..., Settings],
    kafka_broker: Settings,
    run_offload: Callable[..., Any],
    plain: Any,
) -> None:
    """The orders group is frozen (SIGSTOP) inside a transaction whose position record reached
    the broker, and killed there: its transaction stays open until the broker's timeout. The
    telemetry group commits on past it, is killed and restarted: it must resume from its own
    newest position, which a read_committed reader cannot see until that transaction ends."""
    settings = settings_factory(
        {
            "capture.split": SPLIT,
            "capture.max_events_per_transaction": 200,
            "capture.transaction_timeout_s": 20,  # the broker aborts the killed group's soon
        }
    )
    _ok(run_offload(settings, "sor", "init"))
    _ok(run_offload(settings, "simulate", "--transactions", "50", "--seed", "3"))
    writer = _spawn(settings, "simulate", "--duration", "30", "--tps", "40", "--seed", "11")
    procs = {group: _spawn(settings, "cdc", "run", "--group", group) for group in GROUPS}
    for proc in procs.values():
        _wait_for(proc, STARTED)
    orders, telemetry = procs["orders"].popen, procs["telemetry"].popen
    bootstrap, topic = settings.kafka.bootstrap_servers, offsets_topic(settings.kafka)

    def keys_from(start: int) -> list[tuple[int, bytes | None]]:
        """(offset, key) of the cdc-offsets records from `start`, committed or not."""
        records = plain.read_topic(bootstrap, topic, isolation="read_uncommitted", start=start)
        return [(offset, key) for _, offset, key, _ in records]

    open_at = -1
    for _ in range(1000):  # freeze orders until its position record is in an open transaction
        orders.send_signal(signal.SIGSTOP)
        time.sleep(0.2)
        stable = plain.end_offset(bootstrap, topic)
        if keys_from(stable)[:1] == [(stable, b"position:orders")]:
            open_at = stable
            break
        orders.send_signal(signal.SIGCONT)
        time.sleep(random.uniform(0.0, 0.05))
    assert open_at >= 0, "orders was never frozen inside a transaction"
    orders.kill()
    orders.wait(timeout=30)
    # telemetry commits past it: two position records after it, so one is committed
    deadline = time.monotonic() + 60
    while sum(k == b"position:telemetry" for _, k in keys_from(open_at)) < 2:
        assert time.monotonic() < deadline, "telemetry published nothing after orders froze"
        time.sleep(0.2)
    telemetry.kill()
    telemetry.wait(timeout=30)
    assert plain.end_offset(bootstrap, topic) == open_at  # orders' transaction is still open
    again = _spawn(settings, "cdc", "run", "--group", "telemetry")
    _wait_for(again, STARTED)
    assert "a transaction open since offset" in again.output
    try:
        assert writer.wait(timeout=120) == 0
    finally:
        for proc in (again, procs["default"]):
            proc.signal(signal.SIGTERM)
            proc.wait(timeout=120)
    _ok(run_offload(settings, "cdc", "run", "--until-idle"))
    _assert_exact(_check(plain, settings, TABLES))
    _assert_every_unit_whole(plain, settings)
