"""The chaos soak's short version: `offload soak` as a user runs it, on a broker of its own
(free ports, never the session test broker), with a few SIGKILLs of every part, a broker kill
and restart and a pause beyond capture's transaction timeout; then nothing lost, duplicated,
reordered, left incomplete or mismatched.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from config import Settings

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


def _conftest_name() -> str:
    here = str(REPO / "tests" / "conftest.py")
    return next(n for n, m in sys.modules.items() if getattr(m, "__file__", None) == here)
