"""Whether a process still runs, for the parts that manage or show processes by pid (the local
broker, the supervisor, `offload status` and the console's parts table)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def pid_alive(pid: int) -> bool:
    """Whether the process `pid` exists and has not exited (a zombie counts as exited)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path("/proc") / str(pid) / "stat"
    with contextlib.suppress(OSError, IndexError):
        # An exited process nobody has reaped yet is a zombie: it is gone for our purposes.
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def process_identity(pid: int) -> tuple[int, int] | None:
    """(pid, start time in clock ticks since boot) of a live process, None when there is none.

    Names one process for good: a pid is reused once the kernel wraps around (pid_max, 32768 by
    default, is reached in minutes by a soak that kills and restarts hundreds of processes), and
    the new process has another start time.
    """
    if not pid_alive(pid):
        return None
    stat = Path("/proc") / str(pid) / "stat"
    try:
        # Fields after the command's closing parenthesis: state is field 3, starttime field 22.
        return pid, int(stat.read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None
