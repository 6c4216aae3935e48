"""End-to-end freshness at a steady rate: commit on the system of record → answer through the API.

With `offload run` serving (CDC capture, projections + query API; `offload.bench_gateway`), this
process commits units of work of 5 rows at a steady rate (`offload.bench_source`): 4 reefer
readings of loaded containers and 1 status update of an order (the base data, with customers,
voyages and loaded containers, comes from the simulator's own workload first). `PROBES` copies of
`offload.demo_checks.FreshnessProbe`, started 25 ms apart, each ask the API for an answer at or
after the newest committed LSN (`min_lsn`) and time commit → answer, then wait 100 ms and ask
again (several, so that a long wait for one answer does not leave the next commits unmeasured).

A rate is *kept up* when the driver reached 95 % of it, no probe timed out, the backlog left when
the drive stopped drained within `CATCH_UP_LIMIT_S`, and the latency did not grow during the
drive (median of the last quarter of samples ≤ twice the first quarter's + 250 ms). When the target
is not kept up, lower rates (each half the one before) are tried for a shorter time, and the
highest one kept up is reported as the sustained rate. The CPU share of every process during
each rate (100 % = one core) names the bottleneck.
"""

from __future__ import annotations

import logging
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from offload.bench_gateway import Gateway, serving
from offload.bench_procs import ProcessSampler
from offload.bench_source import READINGS_PER_UNIT, Drive, SourceCommitter, drive, seed_source
from offload.demo_checks import CommitClock, FreshnessProbe, catch_up, percentiles, wait_ready

logger = logging.getLogger(__name__)

CATCH_UP_LIMIT_S = 3.0
PROBES = 4

StepProgress = Callable[[float, float], Callable[[float], None]]
"""`on_step(rate, duration)`: told about each step, returns that step's progress callback."""


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


def machine_busy_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine from /proc/stat ((0, 0) elsewhere)."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def growing(samples_ms: list[float]) -> bool:
    """Whether latency grew during the drive (the pipeline falling behind)."""
    if len(samples_ms) < 8:
        return False
    quarter = len(samples_ms) // 4
    first = statistics.median(samples_ms[:quarter])
    last = statistics.median(samples_ms[-quarter:])
    return last > 2 * first + 250


def _stagger(probes: list[FreshnessProbe]) -> None:
    for probe in probes:
        probe.start()
        time.sleep(0.025)


def _probed_drive(
    client: httpx.Client,
    committer: SourceCommitter,
    rate: float,
    duration_s: float,
    on_tick: Callable[[float], None] | None,
) -> tuple[Drive, list[FreshnessProbe]]:
    """Drive at `rate` with the probes asking the API; the drive and the stopped probes."""
    clock = CommitClock()
    probes = [FreshnessProbe(client, clock) for _ in range(PROBES)]
    start_probes = threading.Thread(target=_stagger, args=(probes,), daemon=True)
    start_probes.start()
    done = drive(committer, clock, rate, duration_s, on_tick)
    start_probes.join()
    for probe in probes:
        probe.stop()
    return done, probes


def _cpu_by_process(sampler: ProcessSampler, mark: float) -> list[dict[str, Any]]:
    """Each watched process's CPU % since `mark`, busiest first."""
    cpu = sampler.cpu_percent(mark)
    processes = [
        {"process": sampler.figures[pid].label, "pid": pid, "cpu_pct": pct}
        for pid, pct in cpu.items()
        if pid in sampler.figures
    ]
    return sorted(processes, key=lambda p: -float(p["cpu_pct"]))


def measure_rate(
    client: httpx.Client,
    committer: SourceCommitter,
    sampler: ProcessSampler,
    rate: float,
    duration_s: float,
    *,
    on_tick: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """Drive at `rate` for `duration_s` with the probe on; the step's figures."""
    mark = sampler.mark()
    busy0, total0 = machine_busy_ticks()
    done, probes = _probed_drive(client, committer, rate, duration_s, on_tick)
    processes = _cpu_by_process(sampler, mark)
    busy1, total1 = machine_busy_ticks()
    drained_s = catch_up(client, done.last_lsn)
    achieved = done.units / done.seconds
    timeline = sorted(s for probe in probes for s in probe.samples)
    samples_ms = [(answered - committed) * 1000 for _, committed, answered in timeline]
    failures = sum(probe.failures for probe in probes)
    rising = growing(samples_ms)
    kept_up = (
        achieved >= 0.95 * rate
        and failures == 0
        and drained_s <= CATCH_UP_LIMIT_S
        and not rising
        and bool(samples_ms)
    )
    return {
        "target_uow_per_s": rate,
        "achieved_uow_per_s": round(achieved, 1),
        "units": done.units,
        "seconds": round(done.seconds, 2),
        "events_per_unit": READINGS_PER_UNIT + 1,
        "freshness_ms": percentiles(samples_ms),
        "probe_failures": failures,
        "latency_growing": rising,
        "backlog_drained_s": round(drained_s, 2),
        "kept_up": kept_up,
        "machine_cpu_busy_pct": round(100 * (busy1 - busy0) / max(total1 - total0, 1), 1),
        "processes_cpu_pct": processes,
    }


def run_rates(
    client: httpx.Client,
    committer: SourceCommitter,
    sampler: ProcessSampler,
    plan: FreshnessPlan,
    on_step: StepProgress,
) -> dict[str, Any]:
    """The target rate, then lower ones while it is not kept up; the summary of all steps."""
    tick = on_step(plan.rate, plan.duration_s)
    steps = [measure_rate(client, committer, sampler, plan.rate, plan.duration_s, on_tick=tick)]
    rate = plan.rate
    for _ in range(plan.fallback_steps):
        if steps[-1]["kept_up"]:
            break
        rate /= 2
        tick = on_step(rate, plan.fallback_duration_s)
        steps.append(
            measure_rate(client, committer, sampler, rate, plan.fallback_duration_s, on_tick=tick)
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
        "containers": committer.containers,
    }


def run_freshness(
    gateway: Gateway,
    plan: FreshnessPlan,
    sampler: ProcessSampler,
    say: Callable[[str], None],
    on_step: StepProgress,
) -> dict[str, Any]:
    """The whole freshness benchmark: source, `offload run`, warm-up, the rates; its figures."""
    from simulators.sor import SystemOfRecord

    settings = gateway.settings
    gateway.call("sor", "init")
    gateway.call("reference", "load")
    with SystemOfRecord.open(settings.sor_path, settings.source.schema_name) as sor:
        committer = seed_source(sor, plan.base_units)
        base_lsn = sor.newest_lsn()
        say(f"base data: {plan.base_units} simulator units of work, {committer.containers} loaded")
        with serving(gateway) as supervisor:
            sampler.add_root(supervisor.pid)
            headers = {"X-API-Key": gateway.api_key}
            with httpx.Client(base_url=gateway.base_url, headers=headers) as client:
                wait_ready(client, supervisor)
                say(f"`offload run` answering; base data reflected after "
                    f"{catch_up(client, base_lsn):.1f} s")  # fmt: skip
                return run_rates(client, committer, sampler, plan, on_step)
