"""`plumbing.crash`: the one syntax of OFFLOAD_CRASH_AT, and the kill at the planned pass."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from plumbing.crash import CrashPlan, CrashSpecError, crash_hook, no_crash

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("spec", "at"),
    [
        ("reference.after_produce", {"reference.after_produce": 1}),
        ("cdc.after_produce:3", {"cdc.after_produce": 3}),
        (
            "project.before_commit:2, project.mid_rebuild",
            {"project.before_commit": 2, "project.mid_rebuild": 1},
        ),
    ],
)
def test_points_with_and_without_a_count(spec: str, at: dict[str, int]) -> None:
    assert CrashPlan.parse(spec).at == at


@pytest.mark.parametrize("spec", [None, "", " , "])
def test_no_points_is_the_inert_hook(spec: str | None) -> None:
    assert crash_hook(spec) is no_crash


@pytest.mark.parametrize(
    ("spec", "part"),
    [
        ("cdc.after_commit:0", "cdc.after_commit:0"),
        ("cdc.after_commit:x", "cdc.after_commit:x"),
        ("cdc.after_commit:", "cdc.after_commit:"),
        ("a.b,:2", ":2"),
    ],
)
def test_a_malformed_spec_names_the_variable_and_the_part(spec: str, part: str) -> None:
    with pytest.raises(CrashSpecError) as caught:
        crash_hook(spec)
    assert str(caught.value) == (
        f"OFFLOAD_CRASH_AT={spec}: {part!r} is not <point>[:<n>] with n a whole number >= 1"
    )
    assert caught.value.exit_code == 2


def test_the_process_is_killed_at_the_planned_pass_only() -> None:
    script = (
        "from plumbing.crash import crash_hook\n"
        "hook = crash_hook('p.q:2')\n"
        "hook('other'); hook('p.q'); print('first pass', flush=True)\n"
        "hook('p.q'); print('second pass', flush=True)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert proc.stdout == "first pass\n"
