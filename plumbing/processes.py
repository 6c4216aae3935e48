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
