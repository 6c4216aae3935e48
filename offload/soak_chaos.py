"""The soak's faults: SIGKILL of each long-running part, kill and restart of the broker, and
SIGSTOP pauses longer than the transaction timeouts, at moments drawn from a seeded RNG.

The parts run under `offload run`; their pids come from its state file, so each kill hits the
process the supervisor runs now and the supervisor's restart is part of what is tested. A
reference kill is aimed at a load: the extract is rewritten first, and the kill lands a
random instant after the scheduler's ledger shows the run begun (it still counts, as a plain
kill, when the load finished first).
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import os
import random
import signal
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from config import Settings
from offload import broker
from offload.broker_config import BrokerLayout
from offload.run_cli import state_path
from offload.supervisor import read_state
from plumbing.processes import pid_alive, process_identity

logger = logging.getLogger(__name__)

PARTS = ("cdc", "projection", "api", "reference")
"""The parts the soak kills; "api" is any one of the serving workers api-1..N."""

PAUSABLE = ("cdc", "reference", "projection")
"""The parts paused, in turn: capture first (the longest transaction timeout, 60 s)."""

Say = Callable[[str], None]


@dataclass(frozen=True, slots=True, order=True)
class Fault:
    """One planned fault: seconds after the chaos starts, what, and whom."""

    at_s: float
    kind: str  # kill, broker, pause
    target: str


@dataclass(slots=True)
class Tally:
    """What the chaos did."""

    kills: Counter[str] = field(default_factory=Counter)
    kills_mid_load: int = 0
    broker_restarts: int = 0
    pauses: int = 0
    skipped: list[str] = field(default_factory=list)


def plan(  # noqa: PLR0917 - each argument is one of the soak's documented parameters
    rng: random.Random,
    duration_s: float,
    kills_per_part: int,
    broker_restarts: int,
    pauses: int,
    pause_s: float,
) -> list[Fault]:
    """Every fault of the soak, in time order; times uniform over the chaos window (a pause
    starts early enough to end inside it); pauses take the parts of `PAUSABLE` in turn."""
    faults = [
        Fault(rng.uniform(0, duration_s), "kill", part)
        for part in PARTS
        for _ in range(kills_per_part)
    ]
    faults += [
        Fault(rng.uniform(0, duration_s), "broker", "broker") for _ in range(broker_restarts)
    ]
    latest_pause = max(duration_s - pause_s, 0.0)
    faults += [
        Fault(rng.uniform(0, latest_pause), "pause", PAUSABLE[n % len(PAUSABLE)])
        for n in range(pauses)
    ]
    return sorted(faults)


class Chaos:
    """Carries out a plan against one `offload run` and the soak's own broker.

    Args:
        settings: the soak's settings (data dir, broker).
        rng: the seeded RNG (delays inside a fault come from it too).
        pause_s: how long a SIGSTOP lasts before SIGCONT.
        rewrite_extract: writes the next version of the chaotic reference extract.
        say: where progress lines go.
    """

    def __init__(
        self,
        settings: Settings,
        rng: random.Random,
        pause_s: float,
        rewrite_extract: Callable[[], None],
        say: Say,
    ) -> None:
        self._settings, self._rng, self._pause_s = settings, rng, pause_s
        self._rewrite, self._say = rewrite_extract, say
        self._paused: dict[int, tuple[float, str]] = {}
        self._killed_runs: set[str] = set()
        self._killed: set[tuple[int, int]] = set()  # (pid, start time): pids are reused
        self._broker_thread: threading.Thread | None = None
        self._broker_error: BaseException | None = None
        self._started = time.monotonic()
        self.tally = Tally()

    def run(self, faults: list[Fault], started: float) -> None:
        """Carry out `faults` (times relative to `started`, monotonic); resume every pause.

        A kill or pause aimed at a part that is paused now is put back to a random moment
        just after its pause ends, so a pause lasts its whole length and blocks no other fault.
        """
        self._started = started
        queue = list(faults)
        heapq.heapify(queue)
        while queue:
            fault = heapq.heappop(queue)
            while time.monotonic() - started < fault.at_s:
                self._resume_due()
                time.sleep(0.05)
            self._resume_due()
            pause_end = self._paused_until(fault.target)
            if fault.kind != "broker" and pause_end is not None:
                later = pause_end - started + self._rng.uniform(0.5, 3.0)
                heapq.heappush(queue, Fault(later, fault.kind, fault.target))
                continue
            self._do(fault)
        while self._paused:
            self._resume_due()
            time.sleep(0.1)
        self._join_broker()

    def resume_all(self) -> None:
        """SIGCONT every part still paused (the soak is stopping early)."""
        for pid, (_until, _name) in list(self._paused.items()):
            del self._paused[pid]
            if pid_alive(pid):
                os.kill(pid, signal.SIGCONT)

    def _paused_until(self, part: str) -> float | None:
        """When the pause of `part` ends (monotonic), if it is paused now."""
        ends = [until for until, name in self._paused.values() if name == part]
        return max(ends) if ends else None

    def _stamp(self) -> str:
        """Seconds since the chaos began, for progress lines."""
        return f"{time.monotonic() - self._started:7.1f} s"

    def _do(self, fault: Fault) -> None:
        stamp = self._stamp()
        if fault.kind == "broker":
            self._restart_broker(stamp)
        elif fault.kind == "pause":
            self._pause(fault.target, stamp)
        else:
            self._kill(fault.target, stamp)

    def _kill(self, part: str, stamp: str) -> None:
        run_id = self._load_begun() if part == "reference" else None
        name, pid = self._wait_running(part)
        if pid is None:
            self.tally.skipped.append(f"{stamp} kill {part}: not running within 60 s")
            self._say(f"{stamp} kill {part}: skipped, not running within 60 s")
            return
        if part != "reference":
            time.sleep(self._rng.uniform(0, 0.3))
        mid_load = run_id is not None and self._ledger_status(run_id) == "running"
        identity = process_identity(pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        if identity is not None:
            self._killed.add(identity)
        self._paused.pop(pid, None)
        self.tally.kills[part] += 1
        if mid_load and run_id is not None:
            self.tally.kills_mid_load += 1
            self._killed_runs.add(run_id)
        note = " during a load" if mid_load else ""
        self._say(f"{self._stamp()} SIGKILL {name} (pid {pid}){note}")

    def _wait_running(self, part: str, timeout_s: float = 60.0) -> tuple[str, int | None]:
        """The name and pid of the part (a random serving worker for "api") once it runs."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            running = _running_parts(self._settings)
            names = sorted(
                n
                for n, pid in running.items()
                if (n == part or n.startswith(f"{part}-"))
                and pid not in self._paused
                and process_identity(pid) not in self._killed  # the state file can lag a kill
            )
            if names:
                name = self._rng.choice(names)
                return name, running[name]
            self._resume_due()
            time.sleep(0.1)
        return part, None

    def _load_begun(self, timeout_s: float = 20.0) -> str | None:
        """Rewrite the extract and wait for the scheduler to begin loading it; its run id."""
        self._rewrite()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            run_id = self._newest_running()
            if run_id is not None:
                time.sleep(self._rng.uniform(0, 0.15))
                return run_id
            self._resume_due()
            time.sleep(0.01)
        return None

    def _ledger(self) -> Path:
        return self._settings.data_dir / "reference" / "ledger.sqlite"

    def _newest_running(self) -> str | None:
        row = self._query("SELECT run_id, status FROM runs ORDER BY started_at DESC LIMIT 1", ())
        if row is None or row[1] != "running" or row[0] in self._killed_runs:
            return None
        return str(row[0])

    def _ledger_status(self, run_id: str) -> str | None:
        row = self._query("SELECT run_id, status FROM runs WHERE run_id = ?", (run_id,))
        return None if row is None else str(row[1])

    def _query(self, sql: str, params: tuple[str, ...]) -> tuple[object, ...] | None:
        """One row from the reference ledger, opened read-only (None while it does not exist)."""
        if not self._ledger().is_file():
            return None
        try:
            conn = sqlite3.connect(f"file:{self._ledger()}?mode=ro", uri=True, timeout=1)
            try:
                row: tuple[object, ...] | None = conn.execute(sql, params).fetchone()
                return row
            finally:
                conn.close()
        except sqlite3.Error:
            return None

    def _pause(self, part: str, stamp: str) -> None:
        name, pid = self._wait_running(part)
        if pid is None:
            self.tally.skipped.append(f"{stamp} pause {part}: not running within 60 s")
            return
        os.kill(pid, signal.SIGSTOP)
        self._paused[pid] = (time.monotonic() + self._pause_s, name)
        self.tally.pauses += 1
        self._say(f"{self._stamp()} SIGSTOP {name} (pid {pid}) for {self._pause_s:.0f} s")

    def _resume_due(self) -> None:
        now = time.monotonic()
        for pid, (until, name) in list(self._paused.items()):
            if now >= until:
                del self._paused[pid]
                if pid_alive(pid):
                    os.kill(pid, signal.SIGCONT)
                    self._say(f"{self._stamp()} SIGCONT {name} (pid {pid})")

    def _restart_broker(self, stamp: str) -> None:
        """SIGKILL the broker now; a thread brings it back after a random outage, so the
        other faults go on meanwhile (a part killed while the broker is down must cope)."""
        self._join_broker()
        layout = BrokerLayout(self._settings.kafka_dir)
        pid = broker.running_pid(layout)
        if pid is None:
            self.tally.skipped.append(f"{stamp} broker restart: no broker running")
            return
        os.kill(pid, signal.SIGKILL)
        while pid_alive(pid):
            time.sleep(0.05)
        down_s = self._rng.uniform(1.0, 5.0)
        self._say(f"{stamp} SIGKILL the broker (pid {pid}); down for {down_s:.1f} s")
        self._broker_thread = threading.Thread(
            target=self._bring_broker_back, args=(down_s,), name="soak-broker", daemon=True
        )
        self._broker_thread.start()

    def _bring_broker_back(self, down_s: float) -> None:
        try:
            time.sleep(down_s)
            began = time.monotonic()
            result = broker.up(self._settings)
            self.tally.broker_restarts += 1
            took = time.monotonic() - began
            self._say(f"{self._stamp()} broker back (pid {result.pid}) after {took:.1f} s")
        except BaseException as exc:  # re-raised in the chaos loop by _join_broker
            self._broker_error = exc

    def _join_broker(self) -> None:
        """Wait for a broker restart in progress; raise what it raised."""
        if self._broker_thread is not None:
            self._broker_thread.join()
            self._broker_thread = None
        if self._broker_error is not None:
            error, self._broker_error = self._broker_error, None
            raise error


def _running_parts(settings: Settings) -> dict[str, int]:
    """Parts `offload run` reports running, with a live pid."""
    doc = read_state(state_path(settings)) or {}
    parts = doc.get("parts")
    out: dict[str, int] = {}
    for name, info in (parts if isinstance(parts, dict) else {}).items():
        pid = info.get("pid") if isinstance(info, dict) else None
        if info.get("state") == "running" and isinstance(pid, int) and pid_alive(pid):
            out[str(name)] = pid
    return out
