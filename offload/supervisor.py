"""A small process supervisor: runs each long-running part of the gateway as a child process,
restarts a part that crashes with exponential backoff, and stops them all cleanly.

Parts are separate processes (not threads) so that a crash or a kill -9 of one part never takes
another down, and each part keeps the exactly-once guarantees it has when run on its own: a
stopping part gets SIGTERM and finishes or aborts its transaction; only one that overruns
`stop_timeout_s` is killed. Children ask the kernel for SIGTERM when the supervisor dies
(PR_SET_PDEATHSIG), so a killed supervisor leaves no orphan writing on.

The supervisor writes its view of the parts to a JSON state file that `offload status` reads.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO

from config import RunSettings
from plumbing.processes import die_with_parent, start_ticks

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PartSpec:
    """A part to supervise: its name, the command that runs it in the foreground, and
    environment variables it gets beside the supervisor's own."""

    name: str
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()


@dataclass(slots=True)
class PartState:
    """What the supervisor knows of one part; written to the state file."""

    name: str
    state: str = "starting"  # starting, running, backoff, stopping, stopped
    pid: int | None = None
    pid_started: int | None = None  # start time in clock ticks: with pid, names the process
    restarts: int = 0
    crashes_in_row: int = 0
    last_exit_code: int | None = None
    since: float = field(default_factory=time.time)
    log_file: str = ""


def backoff_delay(crashes_in_row: int, settings: RunSettings) -> float:
    """Seconds to wait before restarting a part that crashed `crashes_in_row` times in a row."""
    exponent = max(crashes_in_row - 1, 0)
    return float(
        min(settings.restart_backoff_initial_s * 2**exponent, settings.restart_backoff_max_s)
    )


class Supervisor:
    """Runs `parts` until `stop()` is called, restarting the ones that crash.

    Args:
        parts: the parts to run.
        settings: backoff and stop timing.
        state_path: JSON file describing the parts, rewritten on every change.
        log_dir: each part's stdout and stderr go to `<log_dir>/<name>.log`; None: to this
            process's own (a foreground `offload serve`).
        env: the children's environment (default: this process's).
    """

    def __init__(
        self,
        parts: Sequence[PartSpec],
        settings: RunSettings,
        state_path: Path,
        log_dir: Path | None,
        env: dict[str, str] | None = None,
    ) -> None:
        self._parts = {p.name: p for p in parts}
        self._settings = settings
        self._state_path = state_path
        self._log_dir = log_dir
        self._env = dict(os.environ) if env is None else env
        self._states = {p.name: PartState(p.name) for p in parts}
        self._started = start_ticks(os.getpid())
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: dict[str, IO[bytes]] = {}
        self._restart_at: dict[str, float] = {}
        self._started_at: dict[str, float] = {}
        self._stop = threading.Event()

    def stop(self) -> None:
        """Ask the supervisor to stop every part and return from `run`."""
        self._stop.set()

    def run(self, on_change: Callable[[PartState], None] | None = None) -> None:
        """Start every part and supervise them until `stop()`; then stop them all."""
        if self._log_dir is not None:
            self._log_dir.mkdir(parents=True, exist_ok=True)
        self._state_path.parent.mkdir(parents=True, exist_ok=True)
        notify = on_change or (lambda _state: None)
        for name in self._parts:
            self._start(name)
            notify(self._states[name])
        self._write_state()
        try:
            while not self._stop.wait(0.2):
                for name in self._parts:
                    if self._tick(name):
                        notify(self._states[name])
                        self._write_state()
        finally:
            self._stop_all()
            for state in self._states.values():
                notify(state)
            self._write_state(finished=True)

    def _start(self, name: str) -> None:
        spec = self._parts[name]
        log_path = None if self._log_dir is None else self._log_dir / f"{name}.log"
        if log_path is not None and name not in self._logs:
            self._logs[name] = log_path.open("ab")
        proc = subprocess.Popen(  # argv built by the entry point, no shell
            spec.argv,
            stdout=self._logs.get(name),
            stderr=None if log_path is None else subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**self._env, **dict(spec.env)} if spec.env else self._env,
            start_new_session=True,
            preexec_fn=die_with_parent,  # noqa: PLW1509 - only prctl, async-signal-safe
        )
        self._procs[name] = proc
        self._started_at[name] = time.monotonic()
        state = self._states[name]
        state.state, state.pid, state.since, state.log_file = (
            "running",
            proc.pid,
            time.time(),
            "" if log_path is None else str(log_path),
        )
        state.pid_started = start_ticks(proc.pid)
        logger.info("started %s (pid %d), log %s", name, proc.pid, log_path or "inherited")

    def _tick(self, name: str) -> bool:
        """Advance one part's state; True when it changed."""
        state = self._states[name]
        if state.state == "backoff":
            if time.monotonic() >= self._restart_at[name]:
                state.restarts += 1
                self._start(name)
                return True
            return False
        proc = self._procs[name]
        code = proc.poll()
        if code is None:
            if time.monotonic() - self._started_at[name] >= self._settings.stable_after_s:
                state.crashes_in_row = 0
            return False
        state.crashes_in_row += 1
        state.last_exit_code = code
        delay = backoff_delay(state.crashes_in_row, self._settings)
        logger.warning(
            "%s exited with code %d; restarting in %.1f s (crash %d in a row, see %s)",
            name,
            code,
            delay,
            state.crashes_in_row,
            state.log_file,
        )
        state.state, state.pid, state.since = "backoff", None, time.time()
        state.pid_started = None
        self._restart_at[name] = time.monotonic() + delay
        return True

    def _stop_all(self) -> None:
        running = {n: p for n, p in self._procs.items() if p.poll() is None}
        for name, proc in running.items():
            self._states[name].state = "stopping"
            logger.info("stopping %s (pid %d)", name, proc.pid)
            proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self._settings.stop_timeout_s
        for name, proc in running.items():
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                logger.warning(
                    "%s did not stop within %.0f s; killing it", name, self._settings.stop_timeout_s
                )
                proc.kill()
                proc.wait()
            self._states[name].last_exit_code = proc.returncode
        for state in self._states.values():
            state.state, state.pid, state.since = "stopped", None, time.time()
            state.pid_started = None
        for handle in self._logs.values():
            handle.close()

    def _write_state(self, finished: bool = False) -> None:
        doc = {
            "supervisor_pid": None if finished else os.getpid(),
            "supervisor_started": None if finished else self._started,
            "updated_at": time.time(),
            "parts": {n: asdict(s) for n, s in self._states.items()},
        }
        tmp = self._state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, indent=2), encoding="utf-8")
        tmp.replace(self._state_path)


def read_state(state_path: Path) -> dict[str, object] | None:
    """The last state file written by a supervisor, or None when there is none."""
    try:
        data = json.loads(state_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
