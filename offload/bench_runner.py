"""Running the benchmark suite: the run's workspace, then each benchmark in turn, sampled.

`prepare` starts (or reuses) the local Kafka as `offload demo` does and clears the previous run:
a run keeps its state in `<data_dir>/bench/<run>` and its topics under `<prefix>-bench-<run>`,
and the next run deletes both (the query API's built data in `<data_dir>/bench/cache` stays).
`run_suite` then runs every selected benchmark, each under a `ProcessSampler` for the peak
memory of its processes, and returns one results entry per benchmark: "ok" with the
benchmark's own figures, or "failed" with the first line of the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from config import Settings
from offload.bench_suite import BENCHMARKS, REPO, SUITES, TITLES, BenchRun
from plumbing.errors import OffloadError, Terminal

console = Console(stderr=True)


class BenchError(OffloadError, Terminal):
    """The suite cannot run here (no benchmarks directory); the message says why."""


def prepare(base: Settings, suite: str, out: Path | None) -> BenchRun:
    """Start (or reuse) the local broker, remove the previous run's topics and state."""
    from offload import broker
    from plumbing.kafka_errors import BrokerUnreachable
    from plumbing.topics import ping

    if not BENCHMARKS.is_dir():
        raise BenchError(f"{BENCHMARKS} not found: `offload bench` runs from a source checkout")
    if broker.local_address(base) in base.kafka.bootstrap_servers:
        console.print("[bold]·[/] starting the local Kafka (reused when it already runs)")
        broker.up(base, on_step=_say)
    elif not ping(base.kafka, timeout=10.0):
        raise BrokerUnreachable(base.kafka.bootstrap_servers, 10.0)
    run_id = time.strftime("%Y%m%d%H%M%S")
    root = base.data_dir / "bench"
    for old in root.glob("*") if root.is_dir() else []:
        if old.name != "cache":
            shutil.rmtree(old, ignore_errors=True)
    family = f"{base.kafka.topic_prefix}-bench-"
    _delete_topics(base, family)
    directory = root / run_id
    (directory / "logs").mkdir(parents=True)
    return BenchRun(
        suite=suite,
        sizes=SUITES[suite],
        directory=directory,
        topic_prefix=f"{family}{run_id}",
        bootstrap=base.kafka.bootstrap_servers,
        out=out or Path("bench-results") / run_id,
    )


def _delete_topics(base: Settings, family: str) -> None:
    """Delete every topic whose name starts with `family` (the earlier runs' topics)."""
    from plumbing.topics import admin_client

    admin = admin_client(base.kafka, quiet=True)
    old_topics = [t for t in admin.list_topics(timeout=15).topics if t.startswith(family)]
    if old_topics:
        for future in admin.delete_topics(old_topics, operation_timeout=60).values():
            future.result()
        console.print(f"  removed {len(old_topics)} topics of earlier bench runs")


def run_suite(run: BenchRun, base: Settings, config_path: Path, only: set[str]) -> dict[str, Any]:
    """Run every selected benchmark in turn; their results entries by name."""
    scripts = run.script_args()
    entries: dict[str, Any] = {}
    for name, title in TITLES.items():
        if only and name not in only:
            continue
        console.print(f"[bold]·[/] {title}", highlight=False)
        with console.status(f"{name} running", spinner="dots"):
            if name == "freshness":
                entry = run_freshness(run, base, config_path)
            else:
                entry = run_script(run, name, scripts[name])
        entries[name] = entry
        verdict = "done" if entry["status"] == "ok" else f"[red]failed[/]: {entry['error']}"
        console.print(f"  {verdict} in {entry['wall_s']:.1f} s", highlight=False)
    return entries


def run_script(run: BenchRun, name: str, args: list[str]) -> dict[str, Any]:
    """Run one benchmark script, sampling its processes; its entry for results.json."""
    from offload.bench_procs import ProcessSampler

    log = run.directory / "logs" / f"{name}.log"
    json_out = run.directory / f"{name}.json"
    argv = [sys.executable, str(BENCHMARKS / args[0]), *args[1:], "--json-out", str(json_out)]
    started = time.monotonic()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, cwd=REPO, env=_script_env(run), stdout=out, stderr=subprocess.STDOUT
        )
        with ProcessSampler([proc.pid]) as sampler:
            code = proc.wait()
    entry: dict[str, Any] = {
        "argv": ["python", f"benchmarks/{args[0]}", *args[1:]],
        "wall_s": round(time.monotonic() - started, 1),
        "log": str(log),
        "processes": sampler.peaks(),
    }
    if code != 0 or not json_out.exists():
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
        return entry | {"status": "failed", "error": f"exit {code}: {tail[0][:300]}"}
    result = json.loads(json_out.read_text())
    if isinstance(server := result.get("server_peak_rss_mib"), int | float):
        # The query API's server is one of several identical multiprocessing children.
        entry["processes"].append({"process": "query API server", "count": 1,
                                   "peak_rss_mib": server})  # fmt: skip
    return entry | {"status": "ok", "result": result}


def _script_env(run: BenchRun) -> dict[str, str]:
    """A script's environment: no OFFLOAD* settings of the user, the run's own TMPDIR."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("OFFLOAD")}
    tmp = run.directory / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    return env | {"TMPDIR": str(tmp), "PYTHONPATH": str(REPO)}


def run_freshness(run: BenchRun, base: Settings, config_path: Path) -> dict[str, Any]:
    """The end-to-end freshness benchmark with `offload run` serving; its results entry."""
    from offload.bench_freshness import FreshnessPlan
    from offload.bench_freshness import run_freshness as drive_gateway
    from offload.bench_gateway import gateway_for
    from offload.bench_procs import ProcessSampler, broker_pid

    s = run.sizes
    plan = FreshnessPlan(s.fresh_rate, s.fresh_seconds, s.fresh_base_units,
                         s.fresh_fallback_steps, s.fresh_fallback_seconds)  # fmt: skip
    log = run.directory / "logs" / "freshness.log"
    state, topics = run.directory / "freshness", f"{run.topic_prefix}-e2e"
    gateway = gateway_for(state, topics, config_path, log)
    started = time.monotonic()
    local = base.kafka.local
    roots = [os.getpid(), *([b] if (b := broker_pid(local.host, local.port)) else [])]
    entry: dict[str, Any] = {"log": str(log)}
    with ProcessSampler(roots) as sampler:
        sampler.rename(os.getpid(), "offload bench (driver + probe)")
        try:
            result = drive_gateway(gateway, plan, sampler, _say, _step_progress)
            # The two waits that bound the latency by design, for the reader of the figures.
            result["config"] = {
                "capture.poll_interval_ms": gateway.settings.capture.poll_interval_ms,
                "projections.batch_max_ms": gateway.settings.projections.batch_max_ms,
            }
            entry |= {"status": "ok", "result": result}
        except (RuntimeError, TimeoutError, OSError) as exc:
            entry |= {"status": "failed", "error": str(exc).splitlines()[0][:300]}
    return entry | {"wall_s": round(time.monotonic() - started, 1), "processes": sampler.peaks()}


def _say(message: str) -> None:
    console.print(f"  {message}", highlight=False)


def _step_progress(rate: float, duration: float) -> Callable[[float], None]:
    console.print(f"  driving {rate:,.0f} units of work/s for {duration:.0f} s", highlight=False)
    last = {"shown": -5.0}

    def tick(elapsed: float) -> None:
        if console.is_terminal and elapsed - last["shown"] >= 5:
            last["shown"] = elapsed
            console.print(f"    {elapsed:.0f} s", highlight=False)

    return tick
