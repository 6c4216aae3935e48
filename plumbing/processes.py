"""Whether a process still runs, for the parts that manage or show processes by pid (the local
broker, the supervisor, `offload status` and the console's parts table).

A pid alone does not name a process for good: the kernel reuses pids once it wraps around
(pid_max), and after a reboot the pid in a state file left by a killed supervisor is soon some
other process's. The supervisor therefore records each pid with its start time
(`process_identity`), and readers check both with `same_process`.
"""

from __future__ import annotations

import ctypes
import os
import signal
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command's closing parenthesis (state first),
    or None when they cannot be read."""
    stat = Path("/proc") / str(pid) / "stat"
    try:
        return stat.read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def pid_alive(pid: int) -> bool:
    """Whether the process `pid` exists and has not exited (a zombie counts as exited)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    fields = _stat_fields(pid)
    # An exited process nobody has reaped yet is a zombie: it is gone for our purposes.
    return not fields or fields[0] != "Z"


def process_identity(pid: int) -> tuple[int, int] | None:
    """(pid, start time in clock ticks since boot) of a live process, None when there is none.

    Names one process for good: a pid is reused once the kernel wraps around (pid_max, 32768 by
    default, is reached in minutes by a soak that kills and restarts hundreds of processes), and
    the new process has another start time.
    """
    fields = _stat_fields(pid)
    # State is field 3 of stat, the start time field 22 (indexes 0 and 19 here).
    if fields is None or len(fields) < 20 or fields[0] == "Z" or not fields[19].isdigit():
        return None
    return pid, int(fields[19])


def start_ticks(pid: int) -> int | None:
    """The start time of live process `pid` in clock ticks since boot, None when there is none."""
    identity = process_identity(pid)
    return None if identity is None else identity[1]


def same_process(pid: object, started: object) -> bool:
    """Whether `pid` (as read from a state file) still names the process started at `started`
    clock ticks since boot. A `started` of None (a state file written before start times were
    kept) falls back to `pid_alive`."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    if not isinstance(started, int) or isinstance(started, bool):
        return pid_alive(pid)
    return process_identity(pid) == (pid, started)


def die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask the kernel for SIGTERM when the parent dies (PR_SET_PDEATHSIG): pass as `preexec_fn`
    so a killed parent leaves no child writing on."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
