"""Query API latency under load, and the offload ratio against the system of record.

    .venv/bin/python benchmarks/bench_query_api.py --quick          # 2,000 orders, 200,000 readings
    .venv/bin/python benchmarks/bench_query_api.py --data /tmp/qa-full   # 100,000 / 10,000,000

Three kinds of process, as in production:

- the server: the projection database opened by the real projection code, locked down, the
  app served by a real uvicorn on localhost configured as `offload serve` configures it, and
  in the same process a writer thread applying `--rate` units of work per second (4 reefer
  readings and 1 order update each) in batches of `projections.batch_max_ms`, through the
  real applier and view maintenance, while the clients query;
- `--clients` client processes, each one keep-alive HTTP connection, cycling through the
  named queries with random ids; p50/p99 per named query;
- this process: builds the data (or reuses `--data DIR`), then, before the ingest starts so
  both sides hold the same rows, measures the offload ratio: the cold-chain legs of a voyage
  computed from scratch by SQL on the SQLite system of record (benchmarks/query_api_data.py)
  vs served by the API from the pre-joined view, interleaved, median of `--ratio-runs` runs
  on each of three voyages, the answers compared.

`--json-out FILE` also writes the figures as JSON (per query n/p50/p99 ms, the offload ratio,
the ingest rate reached, the server's peak RSS); `offload bench` runs it so.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import random
import shutil
import socket
import statistics
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import query_api_data as data

KEY = "bench-reader"
Times = dict[str, list[float]]


def server_main(path: Path, args: Any) -> None:
    """The server process: projection writer + locked-down store + uvicorn, as `offload serve`."""
    import uvicorn

    from config import ApiKey, ApiSettings, Settings
    from projections.store import open_database
    from query_api import DuckDBLimits, DuckDBReadStore, create_app, lock_down
    from query_api.auth import hash_key
    from query_api.routes_registry import NoSchemas

    projector = data.Projector(open_database(path), args.lsn)
    keys = {"bench": ApiKey(role="reader", sha256=hash_key(KEY))}
    settings = Settings(api=ApiSettings(keys=keys, page_size_max=1000))
    api = settings.api
    lock_down(projector.con, DuckDBLimits(api.duckdb_memory_limit, args.threads))
    store = DuckDBReadStore(projector.con)
    app = create_app(settings, store, NoSchemas())
    feeder = threading.Thread(
        target=ingest,
        args=(projector, store, args, settings.projections.batch_max_ms),
        daemon=True,
    )
    feeder.start()
    # As query_api/cli.py `_serve` configures it (one process, one worker, default loop/http).
    config = uvicorn.Config(
        app, host="127.0.0.1", port=args.port, log_config=None, timeout_graceful_shutdown=10
    )
    uvicorn.Server(config).run()


def ingest(projector: data.Projector, store: Any, args: Any, batch_ms: int) -> None:
    """Wait for the start signal, then apply `args.rate` units of work per second."""
    orders, readings = args.orders, args.readings
    args.start.wait()
    if args.rate <= 0:
        args.stop.wait()
        args.results.put({"units": 0, "seconds": 1.0, "busy": 0.0})
        return
    containers = data.containers_of(orders)
    first_step = max(readings // containers, 1)
    per_batch = max(int(args.rate * batch_ms / 1000), 1)
    n, busy, started = 0, 0.0, time.perf_counter()
    while not args.stop.is_set():
        units = []
        for _ in range(per_batch):
            rows: list[data.Row] = []
            for k in range(4):
                slot = n * 4 + k
                reading = data.reading_row(slot % containers, first_step + slot // containers, 0.1)
                rows.append(("SHIPPING.REEFER_TELEMETRY", reading))
            status = "IN_TRANSIT" if n % 2 else "LOADED"
            order = data.order_row(1 + n % orders, status, data.T0 + timedelta(seconds=n))
            rows.append(("SHIPPING.ORDERS", order))
            units.append(rows)
            n += 1
        t0 = time.perf_counter()
        projector.apply(units)
        store.notify_committed()
        busy += time.perf_counter() - t0
        ahead = started + n / args.rate - time.perf_counter()
        if ahead > 0:
            args.stop.wait(ahead)
    args.results.put({"units": n, "seconds": time.perf_counter() - started, "busy": busy})


def queries(orders: int, rnd: random.Random) -> dict[str, Callable[[], str]]:
    """The named queries with random ids (paths)."""
    containers, voyages = data.containers_of(orders), max(orders // 500, 1)
    r = rnd.randrange
    return {
        "order": lambda: f"/orders/{r(1, orders + 1)}",
        "cold-chain-order": lambda: f"/cold-chain/orders/{r(1, orders + 1)}",
        "cold-chain-legs": lambda: (
            f"/cold-chain/legs?voyage_id={data.voyage_id(r(voyages))}&compliant=false&page_size=50"
        ),
        "customer-orders": lambda: f"/customers/{r(1, 101)}/orders?page_size=50",
        "voyage": lambda: f"/voyages/{data.voyage_id(r(voyages))}?page_size=50",
        "telemetry-readings": lambda: (
            f"/containers/{data.container_id(r(containers))}/telemetry?page_size=100"
        ),
        "telemetry-1h": lambda: (
            f"/containers/{data.container_id(r(containers))}/telemetry?bucket=1h&page_size=100"
        ),
    }


def client_main(
    port: int,
    orders: int,
    *,
    seed: int,
    begin: float,
    seconds: float,
    out: Any,
    only: list[str],
) -> None:
    """One client process: one keep-alive connection, the named queries in turn."""
    paths = queries(orders, random.Random(seed))
    if only:
        paths = {name: make for name, make in paths.items() if name in only}
    times: Times = {name: [] for name in paths}
    errors: list[str] = []
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    time.sleep(max(begin - time.time(), 0))
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        for name, make in paths.items():
            path = make()
            started = time.perf_counter()
            conn.request("GET", path, headers={"X-API-Key": KEY})
            response = conn.getresponse()
            body = response.read()
            took = time.perf_counter() - started
            if response.status not in (200, 404):
                errors.append(f"{path}: {response.status} {body[:200]!r}")
            times[name].append(took)
    conn.close()
    out.put((times, errors))


def api_get(conn: http.client.HTTPConnection, path: str) -> Any:
    conn.request("GET", path, headers={"X-API-Key": KEY})
    response = conn.getresponse()
    body = response.read()
    if response.status != 200:
        raise RuntimeError(f"{path}: {response.status} {body[:300]!r}")
    return json.loads(body)


def offload_ratio(sor_path: Path, port: int, orders: int, runs: int) -> dict[str, Any]:
    """Cold-chain legs of three voyages: SQL on the SQLite system of record vs the API."""
    sor = data.open_sor(sor_path, read_only=True)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    voyages = max(orders // 500, 1)
    picked = sorted({0, voyages // 2, voyages - 1})
    sor_s: list[float] = []
    api_s: list[float] = []
    same = True
    legs = 0
    for v in picked:
        voyage = data.voyage_id(v)
        path = f"/cold-chain/legs?voyage_id={voyage}&page_size=1000"
        for _ in range(runs):
            started = time.perf_counter()
            sor_rows = sor.execute(data.SOR_COLD_CHAIN, (voyage,)).fetchall()
            sor_s.append(time.perf_counter() - started)
            started = time.perf_counter()
            items = api_get(conn, path)["items"]
            api_s.append(time.perf_counter() - started)
        legs = len(items)
        same = same and _same_legs(sor_rows, items)
    conn.close()
    sor.close()
    sor_ms, api_ms = statistics.median(sor_s) * 1000, statistics.median(api_s) * 1000
    print(
        f"offload ratio, cold-chain legs of a voyage ({legs} legs, voyages "
        f"{', '.join(data.voyage_id(v) for v in picked)}, same answer: {same}): "
        f"SQL on the SQLite system of record {sor_ms:.1f} ms, API {api_ms:.2f} ms "
        f"(medians of {len(sor_s)}) -> {sor_ms / api_ms:.0f}x"
    )
    return {
        "legs": legs,
        "same_answer": same,
        "sor_sql_ms": round(sor_ms, 3),
        "api_ms": round(api_ms, 3),
        "ratio": round(sor_ms / api_ms, 1),
        "samples": len(sor_s),
    }


def _same_legs(sor_rows: list[Any], items: list[dict[str, Any]]) -> bool:
    def two(x: Any) -> Any:
        return None if x is None else Decimal(str(x)).quantize(Decimal("0.01"))

    left = [(r[0], r[1], r[2], r[4], two(r[5]), two(r[6]), r[8]) for r in sor_rows]
    right = [(i["order_id"], i["container_id"], i["voyage_id"], i["readings"],
              two(i["min_temperature"]), two(i["max_temperature"]), i["excursions"])
             for i in items]  # fmt: skip
    return left == right


def prepare(args: Any, scratch: Path) -> tuple[Path, Path, int]:
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
    work = scratch / "serve.duckdb"
    shutil.copyfile(directory / "projection.duckdb", work)
    return work, directory / "sor.sqlite", int(meta["lsn"])


def report(times: Times, errors: list[str], ingest: dict[str, float], args: Any) -> dict[str, Any]:
    """Print the latency table; return the figures."""
    rate = ingest["units"] / ingest["seconds"]
    figures: dict[str, Any] = {
        "clients": args.clients,
        "seconds": args.seconds,
        "orders": args.orders,
        "readings": args.readings,
        "ingest_target_uow_per_s": args.rate,
        "ingest_uow_per_s": round(rate, 1),
        "writer_busy_pct": round(100 * ingest["busy"] / ingest["seconds"], 1),
        "load_average_before": round(args.load, 2),
        "errors": len(errors),
        "queries": {},
    }
    print(f"\n{args.clients} client processes for {args.seconds:.0f}s while ingesting "
          f"{rate:,.0f} units of work/s (target {args.rate}, 5 events each; writer busy "
          f"{100 * ingest['busy'] / ingest['seconds']:.0f}% of the time); load average before: "
          f"{args.load:.1f} on {os.cpu_count()} CPUs")  # fmt: skip
    print(f"{'query':<20}{'n':>8}{'p50 ms':>10}{'p99 ms':>10}")
    for name, values in times.items():
        ordered = sorted(values)
        p50 = ordered[len(ordered) // 2] * 1000
        p99 = ordered[min(int(0.99 * len(ordered)), len(ordered) - 1)] * 1000
        print(f"{name:<20}{len(values):>8}{p50:>10.2f}{p99:>10.2f}")
        figures["queries"][name] = {
            "n": len(values),
            "p50_ms": round(p50, 3),
            "p99_ms": round(p99, 3),
        }
    for error in errors[:5]:
        print("error:", error)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--readings", type=int, default=10_000_000)
    parser.add_argument("--rate", type=int, default=1000, help="units of work/s while measuring")
    parser.add_argument("--seconds", type=float, help="measuring time (20, or 8 with --quick)")
    parser.add_argument("--clients", type=int, default=8)
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
    ctx = mp.get_context("spawn")
    with TemporaryDirectory() as tmp:
        work, sor_path, lsn = prepare(args, Path(tmp))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        args.start, args.stop, args.results = ctx.Event(), ctx.Event(), ctx.Queue()
        args.lsn, args.port = lsn, port
        server = ctx.Process(target=server_main, args=(work, args))
        server.start()
        _wait_until_up(port, server)
        ratio = offload_ratio(sor_path, port, args.orders, args.ratio_runs)
        args.load = os.getloadavg()[0]
        out = ctx.Queue()
        begin = time.time() + 2.0
        clients = [
            ctx.Process(
                target=client_main,
                args=(port, args.orders),
                kwargs={
                    "seed": i,
                    "begin": begin,
                    "seconds": args.seconds,
                    "out": out,
                    "only": args.only.split(",") if args.only else [],
                },
            )
            for i in range(args.clients)
        ]
        for c in clients:
            c.start()
        time.sleep(max(begin - time.time() - 0.5, 0))
        args.start.set()
        results = [out.get() for _ in clients]
        args.stop.set()
        ingest_result = args.results.get(timeout=120)
        for c in clients:
            c.join()
        server_rss_mib = _peak_rss_mib(server.pid)
        server.terminate()  # SIGTERM: uvicorn drains and stops, as under `offload run`
        server.join(30)
        times: Times = {name: [] for name in results[0][0]}
        for client_times, _ in results:
            for name, values in client_times.items():
                times[name] += values
        figures = report(times, [e for _, errs in results for e in errs], ingest_result, args)
    if args.json_out:
        figures |= {"offload_ratio": ratio, "server_peak_rss_mib": server_rss_mib}
        args.json_out.write_text(json.dumps(figures, indent=2))


def _peak_rss_mib(pid: int | None) -> float | None:
    """VmHWM of a live process in MiB (Linux), else None."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError):
        pass
    return None


def _wait_until_up(port: int, server: Any) -> None:
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if not server.is_alive():
            raise SystemExit("the server process died")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the server did not come up")


if __name__ == "__main__":
    main()
