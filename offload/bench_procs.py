"""What each process of a benchmark costs: peak resident memory and CPU, read from /proc.

A `ProcessSampler` watches process trees (a root pid and every descendant, found through
/proc/<pid>/task/<tid>/children) from a background thread: for each process it keeps the
peak resident set (VmHWM, the kernel's own high-water mark, so a short peak between two samples
is not missed) and the CPU time used between two marks (utime + stime). Linux only; on other
systems the figures are empty rather than wrong.

A process read in its first instants (while it execs, before the kernel has folded its per-CPU
memory counters) shows a VmHWM of 0 or a few pages: of 300 `/bin/true` children read right after
their spawn, 257 showed 0 kB. A process never read above `MEASURED_KIB` is therefore left out
of `ProcessSampler.peaks` rather than reported with a peak it never had.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from itertools import takewhile
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
MEASURED_KIB = 1024
"""The least VmHWM taken as a process's measured peak (no Python or Java process is smaller)."""


@dataclass(slots=True)
class ProcessFigures:
    """One process seen by the sampler.

    Attributes:
        pid: the process id.
        label: a short name from its command line (e.g. "offload cdc run").
        peak_rss_kib: the highest VmHWM read, KiB.
        cpu_s: CPU seconds (user + system) at the last sample.
        cpu_mark_s: CPU seconds when `ProcessSampler.mark` was last called (or first seen).
    """

    pid: int
    label: str
    peak_rss_kib: int = 0
    cpu_s: float = 0.0
    cpu_mark_s: float | None = None


def read_peak_rss_kib(pid: int) -> int | None:
    """VmHWM of `pid` in KiB, or None when the process is gone (or not on Linux)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def read_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of `pid`, or None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces: split after the last ')'.
    fields = stat[stat.rfind(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def children_of(pid: int) -> list[int]:
    """Direct children of `pid` (every thread's children)."""
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text()
            found.extend(int(p) for p in text.split())
    except OSError:
        pass
    return found


def label_of(pid: int) -> str:
    """A short, readable name of a process from its command line."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return f"pid {pid}"
    args = [a.decode(errors="replace") for a in raw.split(b"\0") if a]
    return label_from_args(args) or f"pid {pid}"


def broker_pid(host: str, port: int) -> int | None:
    """The pid of a Java Kafka broker on this machine whose listeners include host:port."""
    wanted = f"//{host}:{port}"
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            args = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
            if "kafka.Kafka" not in args:
                continue
            props = Path(args[args.index("kafka.Kafka") + 1]).read_text()
        except (OSError, IndexError):
            continue
        for line in props.splitlines():
            if line.startswith("listeners=") and any(
                listener.strip().endswith(wanted) for listener in line[10:].split(",")
            ):
                return int(proc.name)
    return None


def label_from_args(args: list[str]) -> str:
    """`python -m offload --config X cdc run` → "offload cdc run"; a script → its file name."""
    if not args:
        return ""
    if "kafka.Kafka" in args:
        return "kafka broker (java)"
    if "-m" in args and args.index("-m") + 1 < len(args):
        module = args[args.index("-m") + 1]
        rest = args[args.index("-m") + 2 :]
        if module == "offload":
            if rest[:1] == ["--config"]:
                rest = rest[2:]
            words = list(takewhile(lambda w: not w.startswith("-"), rest))[:2]
            return " ".join(["offload", *words])
        return module
    if any("multiprocessing" in a for a in args):
        return "resource tracker" if any("resource_tracker" in a for a in args) else "worker"
    if len(args) > 1 and args[1].endswith(".py"):
        return Path(args[1]).name
    return Path(args[0]).name


@dataclass
class ProcessSampler:
    """Samples the trees under `roots` every `interval_s` seconds in a background thread.

    Use as a context manager; `figures` holds every process seen, by pid.
    """

    roots: list[int]
    interval_s: float = 0.2
    figures: dict[int, ProcessFigures] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> ProcessSampler:
        self.sample()
        self._thread = threading.Thread(target=self._run, name="process-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.sample()

    def rename(self, pid: int, label: str) -> None:
        """Give a watched process a clearer label than its command line."""
        self._read(pid)
        with self._lock:
            if pid in self.figures:
                self.figures[pid].label = label

    def relabel(self) -> None:
        """Read every live process's label again: one first seen between its fork and its
        exec was labelled from the parent's command line (or not at all)."""
        with self._lock:
            pids = list(self.figures)
        labels = {pid: label_of(pid) for pid in pids if Path(f"/proc/{pid}").exists()}
        with self._lock:
            for pid, label in labels.items():
                self.figures[pid].label = label

    def add_root(self, pid: int) -> None:
        """Watch one more tree from now on."""
        with self._lock:
            self.roots.append(pid)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def sample(self) -> None:
        """Read every watched process once."""
        with self._lock:
            pending = list(self.roots)
        seen: set[int] = set()
        while pending:
            pid = pending.pop()
            if pid in seen:
                continue
            seen.add(pid)
            pending.extend(children_of(pid))
            self._read(pid)

    def _read(self, pid: int) -> None:
        rss, cpu = read_peak_rss_kib(pid), read_cpu_s(pid)
        if rss is None or cpu is None:
            return
        with self._lock:
            entry = self.figures.get(pid)
            if entry is None:
                entry = self.figures[pid] = ProcessFigures(pid, label_of(pid), cpu_mark_s=cpu)
            entry.peak_rss_kib = max(entry.peak_rss_kib, rss)
            entry.cpu_s = cpu

    def mark(self) -> float:
        """Start a CPU measuring window now; returns the monotonic time of the mark."""
        self.sample()
        with self._lock:
            for entry in self.figures.values():
                entry.cpu_mark_s = entry.cpu_s
        return time.monotonic()

    def cpu_percent(self, since: float) -> dict[int, float]:
        """CPU % of each process (100 = one core) from the mark at `since` until now."""
        self.sample()
        wall = max(time.monotonic() - since, 1e-6)
        with self._lock:
            return {
                pid: round(100 * (e.cpu_s - (e.cpu_mark_s or 0.0)) / wall, 1)
                for pid, e in self.figures.items()
            }

    def peaks(self) -> list[dict[str, object]]:
        """Peak RSS per process label (the largest when several processes share a label).

        Processes only ever read below `MEASURED_KIB` (caught while they started) are left out.
        """
        by_label: dict[str, list[int]] = {}
        with self._lock:
            for entry in self.figures.values():
                if entry.peak_rss_kib >= MEASURED_KIB:
                    by_label.setdefault(entry.label, []).append(entry.peak_rss_kib)
        return [
            {"process": label, "count": len(values), "peak_rss_mib": round(max(values) / 1024, 1)}
            for label, values in sorted(by_label.items())
        ]
