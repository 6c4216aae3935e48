"""End-to-end freshness at a steady rate: commit on the system of record → answer through the API.

With `offload run` serving (CDC capture, projections + query API), this process commits units
of work of 5 rows at a steady rate through the simulator's `SystemOfRecord.unit_of_work()`:
4 reefer readings of loaded containers and 1 status update of an order (the base data, with
customers, voyages and loaded containers, comes from the simulator's own workload first).
`PROBES` copies of `offload.demo_checks.FreshnessProbe`, started 25 ms apart, each ask the API
for an answer at or after the newest committed LSN (`min_lsn`) and time commit → answer, then
wait 100 ms and ask again (several, so that a long wait for one answer does not leave the
next commits unmeasured).

A rate is *kept up* when the driver reached 95 % of it, no probe timed out, the backlog left when
the drive stopped drained within `CATCH_UP_LIMIT_S`, and the latency did not grow during the
drive (median of the last quarter of samples ≤ twice the first quarter's + 250 ms). When the target
is not kept up, lower rates (each half the one before) are tried for a shorter time, and the
highest one kept up is reported as the sustained rate. The CPU share of every process during
each rate (100 % = one core) names the bottleneck.
"""

from __future__ import annotations

import logging
import signal
import statistics
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from offload.bench_procs import ProcessSampler
from offload.demo_checks import CommitClock, FreshnessProbe, percentiles, wait_ready

logger = logging.getLogger(__name__)

CATCH_UP_LIMIT_S = 3.0
PROBES = 4
READINGS_PER_UNIT = 4


@dataclass(frozen=True, slots=True)
class FreshnessPlan:
    """How the freshness benchmark drives the gateway.

    Attributes:
        rate: target units of work per second (5 rows each).
        duration_s: seconds at the target rate.
        base_units: simulator units of work committed before `offload run` starts.
        fallback_steps: lower rates to try when the target is not kept up.
        fallback_duration_s: seconds at each lower rate.
    """

    rate: float = 1000.0
    duration_s: float = 60.0
    base_units: int = 400
    fallback_steps: int = 3
    fallback_duration_s: float = 20.0


class UnitWriter:
    """Commits the benchmark's units of work: 4 readings + 1 order status update each."""

    def __init__(self, sor: Any, workload: Any) -> None:
        from simulators.reference_data import PRODUCTS_BY_ID

        self._sor = sor
        self._telemetry = workload.t["REEFER_TELEMETRY"]
        self._orders = workload.t["ORDERS"]
        loaded = [
            (c.container_id, workload.orders[c.order_id])
            for c in sorted(workload.containers.values(), key=lambda c: c.container_id)
            if c.status == "LOADED" and c.order_id is not None
        ]
        if len(loaded) < READINGS_PER_UNIT:
            raise ValueError(f"only {len(loaded)} loaded containers; raise base_units")
        self._loaded = [
            (cid, order.order_id, order.status, _middle(PRODUCTS_BY_ID[order.product_id]))
            for cid, order in loaded
        ]
        self._t0 = workload.now + timedelta(days=1)
        self.count = 0

    @property
    def containers(self) -> int:
        """Loaded containers the readings rotate over."""
        return len(self._loaded)

    def commit(self) -> int:
        """Commit one unit of work; returns its LSN."""
        n = self.count
        at = self._t0 + timedelta(milliseconds=n)
        picked = [self._loaded[(n * READINGS_PER_UNIT + k) % len(self._loaded)] for k in range(4)]
        rows = [
            {
                "CONTAINER_ID": cid,
                "READING_TS": at,
                "TEMPERATURE": temperature,
                "HUMIDITY": Decimal("80.00"),
                "POWER_STATE": "ON",
                "LATITUDE": 10.0,
                "LONGITUDE": 20.0,
            }
            for cid, _, _, temperature in picked
        ]
        _, order_id, status, _ = picked[0]
        with self._sor.unit_of_work() as unit:
            unit.insert(self._telemetry, rows)
            unit.update(self._orders, {"ORDER_ID": order_id}, {"STATUS": status, "UPDATED_AT": at})
        self.count += 1
        return int(unit.lsn)


def _middle(product: Any) -> Decimal:
    return ((product.temp_min + product.temp_max) / 2).quantize(Decimal("0.01"))


def seed_source(sor: Any, units: int, seed: int = 42) -> UnitWriter:
    """Commit `units` of the simulator's workload (set-up, orders, loading); return a writer."""
    from simulators.workload import Workload

    workload = Workload(sor, seed)
    for _ in range(units):
        with sor.unit_of_work() as unit:
            workload.step(unit)
    return UnitWriter(sor, workload)


@dataclass(frozen=True, slots=True)
class Drive:
    """What one drive at a steady rate committed."""

    units: int
    seconds: float
    last_lsn: int


def drive(
    writer: UnitWriter,
    clock: CommitClock,
    rate: float,
    duration_s: float,
    on_tick: Callable[[float], None] | None = None,
) -> Drive:
    """Commit units at `rate` per second for `duration_s` seconds (paced, never bursting)."""
    start = time.monotonic()
    committed, lsn, next_tick = 0, 0, start
    while True:
        now = time.monotonic()
        if now - start >= duration_s:
            break
        ahead = start + committed / rate - now
        if ahead > 0:
            time.sleep(ahead)
        lsn = writer.commit()
        clock.record(lsn)
        committed += 1
        if on_tick is not None and now >= next_tick:
            on_tick(now - start)
            next_tick = now + 0.25
    return Drive(committed, time.monotonic() - start, lsn)


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


def machine_busy_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine from /proc/stat ((0, 0) elsewhere)."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def _stagger(probes: list[FreshnessProbe]) -> None:
    for probe in probes:
        probe.start()
        time.sleep(0.025)


def growing(samples_ms: list[float]) -> bool:
    """Whether latency grew during the drive (the pipeline falling behind)."""
    if len(samples_ms) < 8:
        return False
    quarter = len(samples_ms) // 4
    first = statistics.median(samples_ms[:quarter])
    last = statistics.median(samples_ms[-quarter:])
    return last > 2 * first + 250


def measure_rate(
    client: httpx.Client,
    writer: UnitWriter,
    sampler: ProcessSampler,
    rate: float,
    duration_s: float,
    *,
    on_tick: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """Drive at `rate` for `duration_s` with the probe on; the step's figures."""
    clock = CommitClock()
    probes = [FreshnessProbe(client, clock) for _ in range(PROBES)]
    mark = sampler.mark()
    busy0, total0 = machine_busy_ticks()
    start_probes = threading.Thread(target=_stagger, args=(probes,), daemon=True)
    start_probes.start()
    done = drive(writer, clock, rate, duration_s, on_tick)
    start_probes.join()
    for probe in probes:
        probe.stop()
    cpu = sampler.cpu_percent(mark)
    busy1, total1 = machine_busy_ticks()
    drained_s = catch_up(client, done.last_lsn)
    achieved = done.units / done.seconds
    timeline = sorted(s for probe in probes for s in probe.samples)
    samples_ms = [(answered - committed) * 1000 for _, committed, answered in timeline]
    failures = sum(probe.failures for probe in probes)
    figures = percentiles(samples_ms)
    rising = growing(samples_ms)
    kept_up = (
        achieved >= 0.95 * rate
        and failures == 0
        and drained_s <= CATCH_UP_LIMIT_S
        and not rising
        and bool(samples_ms)
    )
    processes = sorted(
        (
            {"process": sampler.figures[pid].label, "pid": pid, "cpu_pct": pct}
            for pid, pct in cpu.items()
            if pid in sampler.figures
        ),
        key=lambda p: -float(p["cpu_pct"]),  # type: ignore[arg-type]
    )
    return {
        "target_uow_per_s": rate,
        "achieved_uow_per_s": round(achieved, 1),
        "units": done.units,
        "seconds": round(done.seconds, 2),
        "events_per_unit": READINGS_PER_UNIT + 1,
        "freshness_ms": figures,
        "probe_failures": failures,
        "latency_growing": rising,
        "backlog_drained_s": round(drained_s, 2),
        "kept_up": kept_up,
        "machine_cpu_busy_pct": round(100 * (busy1 - busy0) / max(total1 - total0, 1), 1),
        "processes_cpu_pct": processes,
    }


def run_rates(
    client: httpx.Client,
    writer: UnitWriter,
    sampler: ProcessSampler,
    plan: FreshnessPlan,
    on_step: Callable[[float, float], Callable[[float], None]],
) -> dict[str, Any]:
    """The target rate, then lower ones while it is not kept up; the summary of all steps.

    `on_step(rate, duration)` is told about each step and returns its progress callback.
    """
    steps = [
        measure_rate(
            client, writer, sampler, plan.rate, plan.duration_s,
            on_tick=on_step(plan.rate, plan.duration_s),
        )
    ]  # fmt: skip
    rate = plan.rate
    for _ in range(plan.fallback_steps):
        if steps[-1]["kept_up"]:
            break
        rate /= 2
        tick = on_step(rate, plan.fallback_duration_s)
        steps.append(
            measure_rate(client, writer, sampler, rate, plan.fallback_duration_s, on_tick=tick)
        )
    kept = [s for s in steps if s["kept_up"]]
    first = steps[0]
    busiest = first["processes_cpu_pct"][0] if first["processes_cpu_pct"] else None
    return {
        "target_uow_per_s": plan.rate,
        "at_target": first,
        "steps": steps,
        "sustained_uow_per_s": max(s["achieved_uow_per_s"] for s in kept) if kept else None,
        "busiest_process_at_target": busiest,
        "base_units": plan.base_units,
        "containers": writer.containers,
    }


@dataclass(frozen=True, slots=True)
class Gateway:
    """How to run `offload` commands for the freshness benchmark: argv prefix and environment.

    Attributes:
        argv: `python -m offload --config FILE`.
        env: the environment of every child (its own data dir, topic prefix, API port and key).
        settings: the settings that environment gives.
        api_key: the admin key the probe uses.
        log: where the children's output goes.
    """

    argv: tuple[str, ...]
    env: dict[str, str]
    settings: Any
    api_key: str
    log: Path

    def call(self, *args: str) -> None:
        """Run one `offload` command to completion; raise RuntimeError with its log on failure."""
        with self.log.open("ab") as out:
            code = subprocess.call([*self.argv, *args], env=self.env, stdout=out, stderr=out)
        if code:
            tail = "\n".join(self.log.read_text(errors="replace").splitlines()[-15:])
            raise RuntimeError(f"offload {' '.join(args)} failed (exit {code}):\n{tail}")

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        """Start a long-running `offload` command in the background."""
        with self.log.open("ab") as out:
            return subprocess.Popen(
                [*self.argv, *args], env=self.env, stdout=out, stderr=subprocess.STDOUT
            )


def run_freshness(
    gateway: Gateway,
    plan: FreshnessPlan,
    sampler: ProcessSampler,
    say: Callable[[str], None],
    on_step: Callable[[float, float], Callable[[float], None]],
) -> dict[str, Any]:
    """The whole freshness benchmark: source, `offload run`, warm-up, the rates; its figures."""
    from simulators.sor import SystemOfRecord

    settings = gateway.settings
    gateway.call("sor", "init")
    gateway.call("reference", "load")
    with SystemOfRecord.open(settings.sor_path, settings.source.schema_name) as sor:
        writer = seed_source(sor, plan.base_units)
        base_lsn = sor.newest_lsn()
        say(f"base data: {plan.base_units} simulator units of work, {writer.containers} loaded")
        supervisor = gateway.start("run")
        sampler.add_root(supervisor.pid)
        try:
            url = f"http://{settings.api.host}:{settings.api.port}"
            with httpx.Client(base_url=url, headers={"X-API-Key": gateway.api_key}) as client:
                wait_ready(client, supervisor)
                say(f"`offload run` answering; base data reflected after "
                    f"{catch_up(client, base_lsn):.1f} s")  # fmt: skip
                return run_rates(client, writer, sampler, plan, on_step)
        finally:
            supervisor.send_signal(signal.SIGTERM)
            try:
                supervisor.wait(timeout=60)
            except subprocess.TimeoutExpired:
                supervisor.kill()
                supervisor.wait()
