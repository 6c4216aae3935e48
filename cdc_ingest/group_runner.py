"""`offload cdc run` with capture split by table group: each group in a child process.

The children are `offload cdc run --group NAME` (what `offload run` supervises one by one,
and what runs a group on a machine of its own). The parent forwards SIGINT/SIGTERM to them as
SIGTERM, so each finishes or aborts its Kafka transaction; a child that overruns
`run.stop_timeout_s` is killed (its open transaction is aborted by the broker, nothing is
lost). Children ask for SIGTERM when the parent dies. The first child to fail stops the
others, and its exit code is the parent's: a split deployment needs every group running.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from types import FrameType

from plumbing.processes import die_with_parent

logger = logging.getLogger(__name__)

_POLL_S = 0.2


def run_groups(
    argv: Callable[[str, int], Sequence[str]], groups: Sequence[str], stop_timeout_s: float
) -> int:
    """Run each group's `argv(group, index)` until all exit; returns the exit code.

    0 when every child exited 0; else the code of the first child that failed (the others
    are stopped then).
    """
    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    procs: dict[str, subprocess.Popen[bytes]] = {}
    failed: tuple[str, int] | None = None
    try:
        for index, group in enumerate(groups):
            procs[group] = subprocess.Popen(  # argv built by the CLI, no shell
                list(argv(group, index)),
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=die_with_parent,  # noqa: PLW1509 - only prctl, async-signal-safe
            )
        while any(p.poll() is None for p in procs.values()) and not stop.is_set():
            failed = failed or _first_failure(procs)
            if failed is not None:
                print(
                    f"offload: capture group {failed[0]} exited with code {failed[1]}; "
                    "stopping the other groups",
                    file=sys.stderr,
                )
                break
            stop.wait(_POLL_S)
    finally:
        _stop_all(procs, stop_timeout_s)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    failed = failed or _first_failure(procs)
    return 0 if failed is None else max(failed[1], 1)  # killed by a signal: 1


def _first_failure(procs: dict[str, subprocess.Popen[bytes]]) -> tuple[str, int] | None:
    for group, proc in procs.items():
        code = proc.poll()
        if code not in (None, 0):
            return group, code
    return None


def _stop_all(procs: dict[str, subprocess.Popen[bytes]], timeout_s: float) -> None:
    running = {g: p for g, p in procs.items() if p.poll() is None}
    for proc in running.values():
        proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for group, proc in running.items():
        try:
            proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            logger.warning(
                "capture group %s did not stop within %.0f s; killing it", group, timeout_s
            )
            proc.kill()
            proc.wait()
