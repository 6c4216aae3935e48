"""Query API latency under ingest, as a user of `offload serve`'s read tier sees it.

    .venv/bin/python benchmarks/bench_query_api.py --quick          # 2,000 orders, 200,000 readings
    .venv/bin/python benchmarks/bench_query_api.py --quick --workers 0,1,2 --repeat 2
    .venv/bin/python benchmarks/bench_query_api.py --data /tmp/qa-full   # 100,000 / 10,000,000

For each `--workers` setting (each of `--repeat` rounds runs every setting in turn), on a fresh
copy of the same built database:

- the server side as `offload serve` runs it (`query_api_serving`): a writer process that owns
  the database and applies `--rate` units of work per second (4 reefer readings and 1 order
  update each) through the real applier and view maintenance, serving snapshots over Arrow
  Flight to N real serving workers on one shared port; with 0 workers, the single-process
  design (the app served from the writer's own process);
- one load generator process (`query_api_load`, asyncio): `--clients` keep-alive connections
  cycling through the named queries with random ids; p50/p99 per named query and requests/s,
  over `--seconds` after `--warmup` seconds of the same load;
- this process reads, over the same window, the units of work the writer actually applied (the
  ingest rate reached, reported beside the latencies), the CPU of each process of the server
  side and of the load generator (/proc, `offload.bench_procs`), and the machine's CPU, so the
  share taken by other processes on the machine (noise on a shared host) shows.

Before the first measurement, while both sides hold the same rows: the offload ratio
(`query_api_ratio`), the cold-chain legs of a voyage computed from scratch on the SQLite system
of record vs served by the API, the answers compared.

Each setting's figures are the medians over the rounds. `--json-out FILE` writes them as JSON:
`configurations` (one per setting, in order), `runs` (every round), the offload ratio, and
under the keys earlier versions wrote (`queries`, `ingest_uow_per_s`, `errors`, ...) the last
setting's figures; `offload bench` runs it so.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import query_api_data as data
from query_api_ratio import offload_ratio
from query_api_serving import Serving, ServingPlan

from offload.bench_procs import ProcessSampler, read_peak_rss_kib

LOAD_SCRIPT = Path(__file__).resolve().parent / "query_api_load.py"


def main() -> None:
    args = parse_args()
    ctx = mp.get_context("spawn")  # serving processes start from nothing, as offload serve's
    runs: list[dict[str, Any]] = []
    ratio: dict[str, Any] | None = None
    with TemporaryDirectory() as tmp:
        built, sor_path, lsn = prepare(args, Path(tmp))
        for round_no in range(1, args.repeat + 1):
            for workers in args.workers:
                directory = Path(tmp) / f"run-{round_no}-{workers}"
                directory.mkdir()
                database = directory / "offload.duckdb"
                shutil.copyfile(built, database)
                plan = ServingPlan(database, lsn, args.orders, args.readings, args.rate,
                                   args.threads, _free_port(), workers)  # fmt: skip
                with Serving(plan, ctx) as serving:
                    if ratio is None:
                        ratio = offload_ratio(sor_path, plan.port, args.orders, args.ratio_runs)
                        ratio["served_by"] = serving_label(workers)
                    run = measure(serving, args, round_no)
                shutil.rmtree(directory)
                print_run(run)
                runs.append(run)
    configurations = [summarise(w, [r for r in runs if r["workers"] == w]) for w in args.workers]
    print_table(configurations, args)
    if args.json_out:
        args.json_out.write_text(json.dumps(results(args, configurations, runs, ratio), indent=2))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--readings", type=int, default=10_000_000)
    parser.add_argument("--rate", type=int, default=1000, help="units of work/s while measuring")
    parser.add_argument(
        "--workers", default="0,1,2", help="serving worker counts to compare (0: in-process)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="rounds of every --workers setting")
    parser.add_argument("--seconds", type=float, help="measuring time (20, or 8 with --quick)")
    parser.add_argument("--warmup", type=float, default=2.0, help="load before measuring (s)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent connections")
    parser.add_argument(
        "--http", choices=("raw", "httpx"), default="raw", help="the load generator's client"
    )
    parser.add_argument("--threads", type=int, default=2, help="DuckDB threads (api default 2)")
    parser.add_argument("--ratio-runs", type=int, default=5)
    parser.add_argument("--data", help="directory to keep the built data in and reuse")
    parser.add_argument("--only", help="comma-separated named queries to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="2,000 orders, 200,000 readings, 8 s")
    parser.add_argument("--json-out", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    if args.quick:
        args.orders, args.readings = 2_000, 200_000
    args.seconds = args.seconds or (8.0 if args.quick else 20.0)
    try:
        args.workers = [int(w) for w in args.workers.split(",")]
    except ValueError:
        parser.error(f"--workers {args.workers!r}: not a comma-separated list of counts")
    if any(w < 0 for w in args.workers):
        parser.error(f"--workers {args.workers}: counts are 0 or more")
    return args


def prepare(args: argparse.Namespace, scratch: Path) -> tuple[Path, Path, int]:
    """The built data, reused from `--data DIR` when it was built with the same sizes."""
    directory = Path(args.data) if args.data else scratch
    directory.mkdir(parents=True, exist_ok=True)
    meta_path = directory / "meta.json"
    wanted = {"orders": args.orders, "readings": args.readings}
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    if {k: meta.get(k) for k in wanted} != wanted:
        for name in ("projection.duckdb", "projection.duckdb.wal", "sor.sqlite"):
            (directory / name).unlink(missing_ok=True)
        started = time.perf_counter()
        _, _, lsn = data.build(directory, args.orders, args.readings)
        took = time.perf_counter() - started
        meta = {**wanted, "lsn": lsn, "build_s": round(took, 1)}
        meta_path.write_text(json.dumps(meta))
        print(f"built projection + system of record in {took:.1f}s")
    else:
        print(f"reusing {directory} (built in {meta['build_s']}s)")
    return directory / "projection.duckdb", directory / "sor.sqlite", int(meta["lsn"])


def measure(serving: Serving, args: argparse.Namespace, round_no: int) -> dict[str, Any]:
    """One round of one configuration: start the ingest and the load, read the window."""
    # Imported here: spawned serving processes re-import this module, and need none of it.
    from offload.bench_freshness import machine_busy_ticks

    load = start_load(serving.plan.port, args, seed=round_no * 1000)
    pids = serving.pids() | {"load generator": load.pid}
    sampler = ProcessSampler(list(pids.values()))
    load_before = os.getloadavg()[0]
    warm = time.monotonic()
    begin, end = warm + args.warmup, warm + args.warmup + args.seconds
    serving.start_ingest()
    assert load.stdin is not None
    load.stdin.write(json.dumps({"warm": warm, "begin": begin, "end": end}) + "\n")
    load.stdin.flush()
    _sleep_until(begin)
    mark, ticks0, ingest0 = sampler.mark(), machine_busy_ticks(), serving.ingested()
    _sleep_until(end)
    cpu, ticks1, ingest1 = sampler.cpu_percent(mark), machine_busy_ticks(), serving.ingested()
    peaks = {label: read_peak_rss_kib(pid) or 0 for label, pid in pids.items()}
    gen = finish_load(load, args.seconds + 120)
    workers = serving.plan.workers
    machine_pct = 100 * (ticks1[0] - ticks0[0]) / max(ticks1[1] - ticks0[1], 1)
    taken = ("seconds", "requests", "requests_per_s", "errors", "error_samples", "queries")
    return {
        "workers": workers,
        "serving": serving_label(workers),
        "round": round_no,
        **{key: gen[key] for key in taken},
        "requests_by_worker": sorted(gen["by_worker"].values(), reverse=True),
        **ingest_figures(ingest0, ingest1, args.rate),
        "cpu_pct": cpu_figures(
            {label: cpu.get(pid, 0.0) for label, pid in pids.items()}, workers, machine_pct
        ),
        "load_generator": {k: gen[k] for k in ("http", "loop", "cpu_pct", "cpu_us_per_request")},
        "peak_rss_mib": {label: round(kib / 1024, 1) for label, kib in peaks.items()},
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


def cpu_figures(by_label: dict[str, float], workers: int, machine_pct: float) -> dict[str, Any]:
    """CPU % (100 = one core) of each process, and of the rest of the machine (noise)."""
    rest = machine_pct * (os.cpu_count() or 1) - sum(by_label.values())
    return {
        "writer": by_label["writer"],
        "workers": [by_label[f"worker {n}"] for n in range(1, workers + 1)],
        "load_generator": by_label["load generator"],
        "rest_of_machine": round(max(rest, 0.0), 1),
        "machine_busy_pct": round(machine_pct, 1),
    }


def start_load(port: int, args: argparse.Namespace, seed: int) -> subprocess.Popen[str]:
    """The load generator, connected and waiting for its window (see query_api_load.py)."""
    argv = [sys.executable, str(LOAD_SCRIPT), "--port", str(port), "--orders", str(args.orders),
            "--clients", str(args.clients), "--seconds", str(args.seconds), "--warmup",
            str(args.warmup), "--seed", str(seed), "--http", args.http, "--handshake"]  # fmt: skip
    if args.only:
        argv += ["--only", args.only]
    load = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert load.stdout is not None
    if (line := load.stdout.readline().strip()) != "ready":
        load.kill()
        raise SystemExit(f"the load generator did not start: {line!r} (stderr above)")
    return load


def finish_load(load: subprocess.Popen[str], timeout_s: float) -> dict[str, Any]:
    """The load generator's result (its last line of output) once it has ended."""
    out, _ = load.communicate(timeout=timeout_s)
    if load.returncode != 0:
        raise SystemExit(f"the load generator failed (exit {load.returncode}, stderr above)")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def ingest_figures(
    before: tuple[float, float, float], after: tuple[float, float, float], target: int
) -> dict[str, Any]:
    """The ingest rate reached between the writer's commits nearest the window's ends."""
    units, busy, seconds = (a - b for a, b in zip(after, before, strict=True))
    reached = units / seconds if seconds > 0 else 0.0
    return {
        "ingest_target_uow_per_s": target,
        "ingest_uow_per_s": round(reached, 1),
        "writer_busy_pct": round(100 * busy / seconds, 1) if seconds > 0 else 0.0,
    }


def serving_label(workers: int) -> str:
    if workers == 0:
        return "in-process"
    return f"{workers} serving worker" + ("s" if workers > 1 else "")


def summarise(workers: int, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One setting's figures: the medians over its rounds (counts summed)."""

    def med(values: list[float]) -> float:
        return round(statistics.median(values), 3)

    queries = {
        name: {
            "n": sum(r["queries"][name]["n"] for r in runs),
            "p50_ms": med([r["queries"][name]["p50_ms"] for r in runs]),
            "p99_ms": med([r["queries"][name]["p99_ms"] for r in runs]),
        }
        for name in runs[0]["queries"]
        if all(name in r["queries"] for r in runs)
    }
    keys = ("writer", "load_generator", "rest_of_machine", "machine_busy_pct")
    cpu = {key: med([r["cpu_pct"][key] for r in runs]) for key in keys}
    cpu["workers"] = med([sum(r["cpu_pct"]["workers"]) for r in runs])
    return {
        "workers": workers,
        "serving": serving_label(workers),
        "rounds": len(runs),
        "queries": queries,
        "requests_per_s": med([r["requests_per_s"] for r in runs]),
        "ingest_uow_per_s": med([r["ingest_uow_per_s"] for r in runs]),
        "writer_busy_pct": med([r["writer_busy_pct"] for r in runs]),
        "errors": sum(r["errors"] for r in runs),
        "cpu_pct": cpu,
        "load_generator_cpu_us_per_request": med(
            [r["load_generator"]["cpu_us_per_request"] for r in runs]
        ),
        "requests_by_worker": [r["requests_by_worker"] for r in runs],
        "load_average": [r["load_average"] for r in runs],
    }


def results(
    args: argparse.Namespace,
    configurations: list[dict[str, Any]],
    runs: list[dict[str, Any]],
    ratio: dict[str, Any] | None,
) -> dict[str, Any]:
    """The JSON of `--json-out` (see the module docstring)."""
    last = configurations[-1]
    return {
        "clients": args.clients,
        "seconds": args.seconds,
        "warmup_s": args.warmup,
        "rounds": args.repeat,
        "orders": args.orders,
        "readings": args.readings,
        "cpus": os.cpu_count(),
        "ingest_target_uow_per_s": args.rate,
        "load_average_before": runs[0]["load_average"][0],
        "load_generator": {
            "http": args.http,
            "loop": runs[0]["load_generator"]["loop"],
            "processes": 1,
        },
        "offload_ratio": ratio,
        "configurations": configurations,
        "runs": runs,
        "queries": last["queries"],
        "ingest_uow_per_s": last["ingest_uow_per_s"],
        "writer_busy_pct": last["writer_busy_pct"],
        "errors": sum(c["errors"] for c in configurations),
        "server_peak_rss_mib": max(r["peak_rss_mib"]["writer"] for r in runs),
    }


def print_run(run: dict[str, Any]) -> None:
    cpu = run["cpu_pct"]
    workers = "+".join(f"{c:.0f}" for c in cpu["workers"]) or "-"
    print(f"round {run['round']}, {run['serving']}: {run['requests_per_s']:,.0f} requests/s, "
          f"ingest {run['ingest_uow_per_s']:,.0f} uow/s (target {run['ingest_target_uow_per_s']:,}"
          f"); CPU % writer {cpu['writer']:.0f}, workers {workers}, load generator "
          f"{cpu['load_generator']:.0f}, rest of machine {cpu['rest_of_machine']:.0f}; "
          f"requests by worker {run['requests_by_worker']}; load average "
          f"{run['load_average'][0]:.1f} -> {run['load_average'][1]:.1f}; "
          f"{run['errors']} errors")  # fmt: skip
    for sample in run["error_samples"]:
        print("  error:", sample)


def print_table(configurations: list[dict[str, Any]], args: argparse.Namespace) -> None:
    """Per named query p50/p99 in each setting, then throughput, ingest and CPU."""
    width = 18
    print(f"\n{args.clients} connections from one asyncio load generator, {args.seconds:.0f} s "
          f"after {args.warmup:.0f} s warm-up, ingest target {args.rate:,} uow/s; medians of "
          f"{args.repeat} round(s); {os.cpu_count()} CPUs")  # fmt: skip
    print(f"{'':<22}" + "".join(f"{c['serving']:>{width}}" for c in configurations))
    print(f"{'p50 / p99 ms':<22}" + "".join(f"{'':>{width}}" for _ in configurations))
    for name in configurations[0]["queries"]:
        cells = [c["queries"].get(name) for c in configurations]
        row = [f"{q['p50_ms']:.2f} / {q['p99_ms']:.2f}" if q else "-" for q in cells]
        print(f"{name:<22}" + "".join(f"{cell:>{width}}" for cell in row))
    rows = [
        ("requests/s", lambda c: f"{c['requests_per_s']:,.0f}"),
        ("ingest reached uow/s", lambda c: f"{c['ingest_uow_per_s']:,.0f}"),
        ("writer busy %", lambda c: f"{c['writer_busy_pct']:.0f}"),
        ("CPU % writer", lambda c: f"{c['cpu_pct']['writer']:.0f}"),
        ("CPU % workers (sum)", lambda c: f"{c['cpu_pct']['workers']:.0f}"),
        ("CPU % load generator", lambda c: f"{c['cpu_pct']['load_generator']:.0f}"),
        ("  us CPU per request", lambda c: f"{c['load_generator_cpu_us_per_request']:.0f}"),
        ("CPU % rest of machine", lambda c: f"{c['cpu_pct']['rest_of_machine']:.0f}"),
        ("errors", lambda c: f"{c['errors']}"),
    ]
    for label, cell in rows:
        print(f"{label:<22}" + "".join(f"{cell(c):>{width}}" for c in configurations))
    print("(CPU %: 100 = one core, over the measuring window)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _sleep_until(moment: float) -> None:
    time.sleep(max(moment - time.monotonic(), 0.0))


if __name__ == "__main__":
    main()
