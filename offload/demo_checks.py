"""What the demo measures and reconciles: end-to-end freshness as a user sees it, every change
event against the capture tables (`offload.reconcile_events`, the implementation of
`offload reconcile`), and the cold-chain verdict against the injected excursions.

Each check talks to the gateway the way a user or an independent auditor would: freshness and
cold-chain legs through the HTTP API, events by reading the change topics to their end with
read_committed (`plumbing.topic_reader`), the source through its capture tables.
"""

from __future__ import annotations

import statistics
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

# The event reconciliation is `offload reconcile`'s (one implementation); re-exported here.
from offload.reconcile_events import (
    EventReconciliation,
    capture_rows,
    published_events,
    reconcile_events,
)

__all__ = [
    "CommitClock",
    "EventReconciliation",
    "FreshnessProbe",
    "capture_rows",
    "catch_up",
    "non_compliant_containers",
    "percentiles",
    "published_events",
    "reconcile_events",
    "wait_ready",
]


@dataclass
class CommitClock:
    """The newest unit of work the demo committed and when (monotonic seconds)."""

    lsn: int = 0
    at: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, lsn: int) -> None:
        """Note that `lsn` has just committed."""
        with self.lock:
            self.lsn, self.at = lsn, time.monotonic()

    def latest(self) -> tuple[int, float]:
        """The newest (lsn, commit time)."""
        with self.lock:
            return self.lsn, self.at


class FreshnessProbe:
    """Measures commit-to-query latency: after each commit it asks the API for an answer at or
    after that LSN (`min_lsn`) and times how long until the answer arrives."""

    def __init__(self, client: httpx.Client, clock: CommitClock, interval_s: float = 0.1) -> None:
        self._client = client
        self._clock = clock
        self._interval_s = interval_s
        self._stop = threading.Event()
        self.samples_ms: list[float] = []
        self.samples: list[tuple[int, float, float]] = []
        self.failures: int = 0
        self._thread = threading.Thread(target=self._run, name="freshness-probe", daemon=True)

    def start(self) -> None:
        """Start probing in a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop probing and wait for the thread."""
        self._stop.set()
        self._thread.join(timeout=15)

    def _run(self) -> None:
        last, _ = self._clock.latest()  # units committed before the probe started are not timed
        while not self._stop.wait(self._interval_s):
            lsn, committed_at = self._clock.latest()
            if lsn <= last:
                continue
            last = lsn
            try:
                answer = self._client.get(
                    "/freshness", params={"min_lsn": lsn, "wait_ms": 10_000}, timeout=15
                )
            except httpx.HTTPError:
                self.failures += 1
                continue
            if answer.status_code == 200:
                self.samples_ms.append((time.monotonic() - committed_at) * 1000)
                self.samples.append((lsn, committed_at, time.monotonic()))
            else:
                self.failures += 1


def percentiles(samples: list[float]) -> dict[str, float | None]:
    """p50, p99 and max of `samples` (None when there are none)."""
    if not samples:
        return {"p50": None, "p99": None, "max": None, "count": 0}
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {
        "p50": round(statistics.median(ordered), 1),
        "p99": round(p99, 1),
        "max": round(ordered[-1], 1),
        "count": len(ordered),
    }


def non_compliant_containers(client: httpx.Client) -> set[str]:
    """Containers of every cold-chain leg the API reports as non-compliant (all pages)."""
    containers: set[str] = set()
    params: dict[str, Any] = {"compliant": "false", "page_size": 500}
    while True:
        answer = client.get("/cold-chain/legs", params=params, timeout=30)
        answer.raise_for_status()
        body = answer.json()
        for leg in body.get("items", []):
            containers.add(str(leg["container_id"]))
        cursor = body.get("next_cursor")
        if not cursor:
            return containers
        params["cursor"] = cursor


def wait_ready(client: httpx.Client, proc: subprocess.Popen[bytes], timeout_s: float = 120) -> None:
    """Wait until the API answers /healthz; RuntimeError when `proc` exits or time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"`offload run` exited with {proc.returncode}")
        try:
            if client.get("/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"the query API did not answer within {timeout_s:.0f} s")


def catch_up(client: httpx.Client, lsn: int, timeout_s: float = 120.0) -> float:
    """Seconds until the API answers at or after `lsn` (raises TimeoutError past `timeout_s`)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        try:
            answer = client.get("/freshness", params={"min_lsn": lsn, "wait_ms": 5000}, timeout=10)
        except httpx.HTTPError:
            time.sleep(0.2)
            continue
        if answer.status_code == 200:
            return time.monotonic() - started
    raise TimeoutError(f"the API did not reach LSN {lsn} within {timeout_s:.0f} s")
