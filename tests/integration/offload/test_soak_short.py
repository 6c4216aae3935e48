"""The chaos soak's short version: `offload soak` as a user runs it, on a broker of its own
(free ports, never the session test broker), with a few SIGKILLs of every part, a broker kill
and restart and a pause beyond capture's transaction timeout; then nothing lost, duplicated,
reordered, left incomplete or mismatched.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from config import Settings
from offload.broker import running_pid
from offload.broker_config import BrokerLayout
from plumbing.processes import pid_alive

pytestmark = pytest.mark.kafka

REPO = Path(__file__).resolve().parents[3]
KILLS_PER_PART = 3


def _reuse_test_broker_jars(settings: Settings) -> None:
    """Hand the soak the test broker's resolved classpath (it copies it), sparing a Maven run."""
    source = REPO / ".offload-test" / "kafka"
    settings.kafka_dir.mkdir(parents=True, exist_ok=True)
    for cached in source.glob("classpath-*.txt"):
        shutil.copyfile(cached, settings.kafka_dir / cached.name)


def _soak(settings: Settings, offload_env: Any, *args: str) -> dict[str, Any]:
    log = settings.data_dir / "soak-command.log"
    with log.open("wb") as err:
        done = subprocess.run(
            [sys.executable, "-m", "offload", "soak", "--json", *args],
            cwd=REPO,
            env=offload_env(settings),
            stdout=subprocess.PIPE,
            stderr=err,
            timeout=600,
            check=False,
        )
    output = log.read_text(errors="replace")
    assert done.returncode in (0, 1) and done.stdout.strip(), output[-4000:]
    report: dict[str, Any] = json.loads(done.stdout)
    report["exit_code"] = done.returncode
    report["progress"] = output
    return report


def test_short_soak_loses_and_duplicates_nothing(settings_factory: Any) -> None:
    offload_env = sys.modules[_conftest_name()].offload_env
    settings = settings_factory()
    _reuse_test_broker_jars(settings)
    report = _soak(
        settings,
        offload_env,
        "--duration",
        "70",
        "--seed",
        "7",
        "--kills-per-part",
        str(KILLS_PER_PART),
        "--broker-restarts",
        "1",
        "--pauses",
        "1",
    )
    context = report["progress"][-3000:]
    assert report["converged"], f"{report['not_converged']}\n{context}"
    # The faults happened as planned: each part killed, the broker restarted, a long pause.
    assert report["kills"] == dict.fromkeys(("cdc", "projection", "api", "reference"), 3), context
    assert report["broker_restarts"] == 1, context
    assert report["pauses"] == 1, context
    assert report["skipped_faults"] == [], context
    assert "SIGSTOP" in report["progress"] and "SIGCONT" in report["progress"]
    # Work flowed through the faults and was checked.
    assert report["units_of_work"] > 100
    assert report["events_expected"] > 1000
    assert report["units_checked"] >= report["units_of_work"]
    # The verdict: every count zero, and the command says so with its exit code.
    zeros = (
        "missing",
        "extra",
        "order_violations",
        "incomplete_units",
        "mirror_mismatches",
        "view_mismatches",
        "reference_mismatches",
    )
    assert {k: report[k] for k in zeros} == dict.fromkeys(zeros, 0), report["samples"]
    assert report["events_captured"] == report["events_expected"]
    assert report["mirrors_checked"] == 6  # every captured table's mirror, by `offload reconcile`
    assert report["views_checked"] == 2  # order_tracking and cold_chain, recomputed whole
    assert report["ok"] is True
    assert report["exit_code"] == 0


def test_sigterm_stops_everything_the_soak_started(settings_factory: Any) -> None:
    offload_env = sys.modules[_conftest_name()].offload_env
    settings = settings_factory()
    _reuse_test_broker_jars(settings)
    deployment = settings.data_dir / "soak"
    log = settings.data_dir / "soak-command.log"
    quiet = ("--kills-per-part", "0", "--broker-restarts", "0", "--pauses", "0")
    with log.open("wb") as err:
        soak = subprocess.Popen(
            [sys.executable, "-m", "offload", "soak", "--duration", "600", *quiet],
            cwd=REPO,
            env=offload_env(settings),
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        try:
            deadline = time.monotonic() + 300
            while "gateway up" not in log.read_text(errors="replace"):
                assert soak.poll() is None, log.read_text(errors="replace")[-3000:]
                assert time.monotonic() < deadline, "the soak's gateway did not come up"
                time.sleep(0.5)
            state = json.loads((deployment / "run" / "state.json").read_text())
            started = [state["supervisor_pid"], *(p["pid"] for p in state["parts"].values())]
            broker_pid = running_pid(BrokerLayout(deployment / "kafka"))
            assert broker_pid is not None and all(pid_alive(p) for p in started), state
            soak.send_signal(signal.SIGTERM)
            assert soak.wait(timeout=180) != 0
        finally:
            if soak.poll() is None:
                soak.kill()
                soak.wait()
    left = [p for p in [*started, broker_pid] if pid_alive(p)]
    assert left == [], f"still running after the soak's SIGTERM: {left}"


def _conftest_name() -> str:
    here = str(REPO / "tests" / "conftest.py")
    return next(n for n, m in sys.modules.items() if getattr(m, "__file__", None) == here)
