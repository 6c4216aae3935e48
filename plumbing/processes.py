"""Whether a process still runs, for the parts that manage or show processes by pid (the local
broker, the supervisor, `offload status` and the console's parts table)."""

from __future__ import annotations

import os
from pathlib import Path


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
