"""`offload bench`: the benchmark suite, with every ceiling measured in the same run.

Each benchmark runs as a subprocess (the scripts in `benchmarks/`, each writing its figures
with `--json-out`), then the suite assembles `results.json` and `summary.md` in `--out`
(default `bench-results/<timestamp>/`) and prints the summary. Figures with a natural
ceiling are reported next to it and as a ratio, because absolute figures drift on a noisy
machine; every figure is a median where the benchmark repeats.

Benchmarks and their sizes (full / --quick / --smoke):

- cdc_publish: `cdc run` events/s vs librdkafka's raw produce of same-sized messages;
  simulator units of work 4,000 (~240,000 events) x 3 runs / 1,000 x 1 / 300 x 1.
- projection_apply: applier events/s (mirrors + views) vs DuckDB's raw Arrow insert of the
  same rows; 200,000 events x 3 runs / 50,000 x 1 / 20,000 x 1.
- projection_loop: real Kafka loop events/s, view rebuild source rows/s, peak RSS;
  20,000 units of work / 1,000 / 500.
- reference_load: records/s of an EBCDIC extract end to end vs decode-only and raw produce;
  1,000,000 records x 3 runs / 100,000 x 1 / 20,000 x 1.
- query_api: p50/p99 of each named query, 8 client processes, while ingesting 1,000 uow/s,
  and the offload ratio; 100,000 orders and 10,000,000 readings for 20 s (the built data is
  cached in `<data_dir>/bench/cache`) / 2,000 and 100,000 for 5 s / 1,000 and 50,000 for 3 s.
- freshness: commit → API answer with `offload run` serving, 1,000 uow/s of 5 rows for 60 s,
  then up to 3 lower rates for 20 s each if it cannot keep up / 10 s, 1 lower rate for 5 s /
  4 s, none.

The local Kafka is started (or reused) as `offload demo` does. A run keeps its state in
`<data_dir>/bench/<run>` and its topics under `<prefix>-bench-<run>`; the next run deletes both.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from config import Settings
from plumbing.errors import OffloadError, Terminal, UsageError

REPO = Path(__file__).resolve().parent.parent
BENCHMARKS = REPO / "benchmarks"
console = Console(stderr=True)


class BenchError(OffloadError, Terminal):
    """The suite cannot run here (no benchmarks directory); the message says why."""


@dataclass(frozen=True, slots=True)
class Sizes:
    """The sizes of one suite (see the module docstring)."""

    cdc_transactions: int
    cdc_runs: int
    apply_events: int
    apply_runs: int
    loop_transactions: int
    reference_records: int
    reference_runs: int
    query_orders: int
    query_readings: int
    query_seconds: int
    query_ratio_runs: int
    fresh_rate: int
    fresh_seconds: int
    fresh_base_units: int
    fresh_fallback_steps: int
    fresh_fallback_seconds: int


SUITES = {
    "full": Sizes(4000, 3, 200_000, 3, 20_000, 1_000_000, 3, 100_000, 10_000_000, 20, 5,
                  1000, 60, 400, 3, 20),
    "quick": Sizes(1000, 1, 50_000, 1, 1000, 100_000, 1, 2000, 100_000, 5, 3,
                   1000, 10, 300, 1, 5),
    "smoke": Sizes(300, 1, 20_000, 1, 500, 20_000, 1, 1000, 50_000, 3, 2,
                   1000, 4, 300, 0, 4),
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class BenchRun:
    """One run of the suite: where its state, topics and results go."""

    suite: str
    sizes: Sizes
    directory: Path
    topic_prefix: str
    bootstrap: str
    out: Path

    def script_args(self) -> dict[str, list[str]]:
        """Each benchmark script and its arguments (without --json-out)."""
        s, kafka = self.sizes, ["--bootstrap", self.bootstrap]
        cache = self.directory.parent / "cache" / f"query-{s.query_orders}-{s.query_readings}"
        return {
            "cdc_publish": ["bench_cdc_publish.py", "--transactions", str(s.cdc_transactions),
                            "--runs", str(s.cdc_runs), *kafka,
                            "--topic-prefix", f"{self.topic_prefix}-cdc"],
            "projection_apply": ["bench_projection_apply.py", "--events", str(s.apply_events),
                                 "--runs", str(s.apply_runs)],
            "projection_loop": ["bench_projection_loop.py", "--transactions",
                                str(s.loop_transactions), *kafka,
                                "--topic-prefix", f"{self.topic_prefix}-loop"],
            "reference_load": ["bench_reference_load.py", "--records", str(s.reference_records),
                               "--runs", str(s.reference_runs), *kafka,
                               "--topic-prefix", f"{self.topic_prefix}-ref"],
            "query_api": ["bench_query_api.py", "--orders", str(s.query_orders), "--readings",
                          str(s.query_readings), "--seconds", str(s.query_seconds),
                          "--ratio-runs", str(s.query_ratio_runs), "--rate", "1000",
                          "--clients", "8", "--data", str(cache)],
        }  # fmt: skip


def run_script(run: BenchRun, name: str, args: list[str]) -> dict[str, Any]:
    """Run one benchmark script, sampling its processes; its entry for results.json."""
    from offload.bench_procs import ProcessSampler

    log = run.directory / "logs" / f"{name}.log"
    json_out = run.directory / f"{name}.json"
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("OFFLOAD")}
    tmp = run.directory / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    env |= {"TMPDIR": str(tmp), "PYTHONPATH": str(REPO)}
    argv = [sys.executable, str(BENCHMARKS / args[0]), *args[1:], "--json-out", str(json_out)]
    started = time.monotonic()
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
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


def run_freshness(run: BenchRun, base: Settings, config_path: Path) -> dict[str, Any]:
    """The end-to-end freshness benchmark with `offload run` serving; its results entry."""
    import hashlib
    import secrets

    from config import load_settings
    from offload.bench_freshness import FreshnessPlan, Gateway
    from offload.bench_freshness import run_freshness as drive_gateway
    from offload.bench_procs import ProcessSampler, broker_pid

    s = run.sizes
    plan = FreshnessPlan(s.fresh_rate, s.fresh_seconds, s.fresh_base_units,
                         s.fresh_fallback_steps, s.fresh_fallback_seconds)  # fmt: skip
    key = secrets.token_urlsafe(24)
    keys = {"bench": {"role": "admin", "sha256": hashlib.sha256(key.encode()).hexdigest()}}
    env = {
        **os.environ,
        "OFFLOAD__RUNTIME__DATA_DIR": str(run.directory / "freshness"),
        "OFFLOAD__RUNTIME__LOG_LEVEL": "WARNING",
        "OFFLOAD__KAFKA__TOPIC_PREFIX": f"{run.topic_prefix}-e2e",
        "OFFLOAD__API__KEYS": json.dumps(keys),
        "OFFLOAD__API__PORT": str(_free_port()),
        "OFFLOAD__RUN__REFERENCE": "false",
    }
    settings = load_settings(config_path, env=env)
    log = run.directory / "logs" / "freshness.log"
    argv = (sys.executable, "-m", "offload", "--config", str(config_path))
    gateway = Gateway(argv, env, settings, key, log)
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
                "capture.poll_interval_ms": settings.capture.poll_interval_ms,
                "projections.batch_max_ms": settings.projections.batch_max_ms,
            }
            entry |= {"status": "ok", "result": result}
        except (RuntimeError, TimeoutError, OSError) as exc:
            entry |= {"status": "failed", "error": str(exc).splitlines()[0][:300]}
    return entry | {"wall_s": round(time.monotonic() - started, 1), "processes": sampler.peaks()}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _say(message: str) -> None:
    console.print(f"  {message}", highlight=False)


def _step_progress(rate: float, duration: float) -> Any:
    console.print(f"  driving {rate:,.0f} units of work/s for {duration:.0f} s", highlight=False)
    last = {"shown": -5.0}

    def tick(elapsed: float) -> None:
        if console.is_terminal and elapsed - last["shown"] >= 5:
            last["shown"] = elapsed
            console.print(f"    {elapsed:.0f} s", highlight=False)

    return tick


def prepare(base: Settings, suite: str, out: Path | None) -> BenchRun:
    """Start (or reuse) the local broker, remove the previous run's topics and state."""
    from offload import broker
    from plumbing.kafka_errors import BrokerUnreachable
    from plumbing.topics import admin_client, ping

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
    admin = admin_client(base.kafka, quiet=True)
    old_topics = [t for t in admin.list_topics(timeout=15).topics if t.startswith(family)]
    if old_topics:
        for future in admin.delete_topics(old_topics, operation_timeout=60).values():
            future.result()
        console.print(f"  removed {len(old_topics)} topics of earlier bench runs")
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


TITLES = {
    "cdc_publish": "CDC publish vs raw produce",
    "projection_apply": "projection apply vs raw Arrow insert",
    "projection_loop": "projection loop from Kafka and view rebuild",
    "reference_load": "reference load of an EBCDIC extract",
    "query_api": "query API under load and the offload ratio",
    "freshness": "end-to-end freshness with `offload run`",
}


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


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=REPO, text=True, capture_output=True, check=True)
    return done.stdout.strip()


def _git_version() -> str:
    try:
        head, dirty = _git("rev-parse", "--short", "HEAD"), _git("status", "--porcelain", "-uno")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}{' (uncommitted changes)' if dirty else ''}"


def results_of(
    run: BenchRun, entries: dict[str, Any], command: str, wall_s: float, load: float
) -> dict[str, Any]:
    """The whole results document."""
    from offload.bench_report import figures_of

    return {
        "schema_version": 1,
        "suite": run.suite,
        "command": command,
        "started_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(time.time() - wall_s)),
        "wall_s": round(wall_s, 1),
        "host": {
            "cpus": os.cpu_count(),
            "load_average_start": load,
            "python": platform.python_version(),
            "git": _git_version(),
        },
        "run_dir": str(run.directory),
        "topic_prefix": run.topic_prefix,
        "sizes": asdict(run.sizes),
        "figures": figures_of(entries),
        "benchmarks": entries,
        "ok": all(e["status"] == "ok" for e in entries.values()),
    }


def bench_cmd(
    ctx: typer.Context,
    quick: Annotated[
        bool, typer.Option("--quick", help="Small sizes: the whole suite in under two minutes.")
    ] = False,
    smoke: Annotated[
        bool, typer.Option("--smoke", help="Smallest sizes, for the smoke test.", hidden=True)
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Directory for results.json and summary.md (default bench-results/<timestamp>).",
            show_default=False,
        ),
    ] = None,
    only: Annotated[
        str | None,
        typer.Option("--only", help=f"Comma-separated benchmarks to run: {', '.join(TITLES)}."),
    ] = None,
) -> None:
    """Run the benchmark suite; write results.json and summary.md, print the summary.

    Full sizes: CDC publish 4,000 units of work x 3 runs; projection apply
    200,000 events x 3; projection loop 20,000 units of work; reference load
    1,000,000 EBCDIC records x 3; query API 100,000 orders and 10,000,000
    readings, 8 clients for 20 s; freshness 1,000 units of work/s for 60 s
    (then lower rates when that is not kept up).

    Ceilings are measured in the same run and reported as ratios. State in
    <data_dir>/bench/<run>, topics <prefix>-bench-<run>, both removed by the
    next run. Exits 1 when a benchmark failed.
    """
    from offload.bench_report import markdown
    from plumbing.cli_context import config_path_of, settings_of

    selected = {n.strip() for n in (only or "").split(",") if n.strip()}
    if unknown := selected - set(TITLES):
        raise UsageError(
            f"--only: unknown benchmark {', '.join(sorted(unknown))}; known: {', '.join(TITLES)}"
        )
    suite = "smoke" if smoke else "quick" if quick else "full"
    command = "offload bench" + {"full": "", "quick": " --quick", "smoke": " --smoke"}[suite]
    started, load = time.monotonic(), os.getloadavg()[0]
    base = settings_of(ctx)
    run = prepare(base, suite, out)
    entries = run_suite(run, base, config_path_of(ctx), selected)
    results = results_of(run, entries, command, time.monotonic() - started, load)
    run.out.mkdir(parents=True, exist_ok=True)
    (run.out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    summary = markdown(results)
    (run.out / "summary.md").write_text(summary)
    console.print(f"[bold]·[/] results in {run.out}/results.json and summary.md", highlight=False)
    typer.echo(summary)
    raise typer.Exit(0 if results["ok"] else 1)
