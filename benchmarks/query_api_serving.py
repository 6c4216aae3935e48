"""The query API benchmark's server side, as `offload serve` runs it: a writer and N workers.

- **The writer** (one process) owns the DuckDB database: it opens it with the real projection
  code, locks it down after its own settings (`query_api.database.lock_down`), and applies
  `rate` units of work per second on a thread, in batches of `projections.batch_max_ms`,
  through the real applier and view maintenance, telling a `CommitSignal` after each batch
  (the read-your-writes feed of `DuckDBReadStore`, as the real writer does). With workers it
  serves snapshots over Arrow Flight (`query_api.read_server.ReadServer`, the address file
  beside the database); without (`workers == 0`, the single-process design that
  `offload serve --no-projection` keeps) it also serves the app itself with uvicorn.
- **A serving worker** is the real `offload serve-worker` (`offload.read_tier.run_worker`):
  uvicorn over `create_app(..., RemoteReadStore(address file), ...)` on a socket bound with
  SO_REUSEPORT, so N workers share one port and the kernel spreads the connections.

`Serving` starts one such configuration from the benchmark process and stops it again (SIGTERM:
uvicorn drains, the writer stops its read server and closes the database).
"""

from __future__ import annotations

import http.client
import signal
import threading
import time
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import TYPE_CHECKING

import query_api_data as data
from query_api_load import KEY
from query_api_shape import ingest_units

from config import ApiKey, ApiSettings, ProjectionSettings, Settings

if TYPE_CHECKING:
    from multiprocessing.context import SpawnContext
    from multiprocessing.sharedctypes import SynchronizedArray
    from multiprocessing.synchronize import Event as MpEvent

    from projections.commit_signal import CommitSignal
    from query_api.store import ReadStore

UP_TIMEOUT_S = 600.0
"""How long a configuration may take to answer (a full-size database opens slowly)."""


@dataclass(frozen=True, slots=True)
class ServingPlan:
    """One configuration of the server side.

    Attributes:
        database: the DuckDB file (a fresh copy of the built one).
        lsn: the last LSN of the built data.
        orders: orders in the data set.
        readings: readings in the data set.
        rate: units of work per second the writer applies once ingest starts (0: none).
        threads: DuckDB threads (`api.duckdb_threads`).
        port: the API's port on 127.0.0.1.
        workers: serving worker processes; 0 serves from the writer's own process.
    """

    database: Path
    lsn: int
    orders: int
    readings: int
    rate: int
    threads: int
    port: int
    workers: int


@dataclass(frozen=True)
class WriterControl:
    """What the benchmark process and the writer share.

    Attributes:
        ready: set by the writer once its read server is up (workers may start).
        ingest: set by the benchmark when the writer is to start applying.
        failed: set by the writer when its ingest thread failed (traceback on stderr).
        counters: units of work applied, seconds spent applying, and the time.monotonic() of
            the last commit (of the ingest's start before the first), updated after each batch.
    """

    ready: MpEvent
    ingest: MpEvent
    failed: MpEvent
    counters: SynchronizedArray[float]


def settings_of(plan: ServingPlan) -> Settings:
    """The settings `offload serve` would run with: one reader key, the plan's port."""
    from query_api.auth import hash_key

    keys = {"bench": ApiKey(role="reader", sha256=hash_key(KEY))}
    api = ApiSettings(keys=keys, page_size_max=1000, host="127.0.0.1", port=plan.port,
                      duckdb_threads=plan.threads)  # fmt: skip
    return Settings(api=api, projections=ProjectionSettings(path=plan.database))


def writer_main(plan: ServingPlan, control: WriterControl) -> None:
    """The writer process: projection writer + read server (+ the app itself with 0 workers)."""
    from projections.commit_signal import CommitSignal
    from projections.store import open_database
    from query_api.database import DuckDBLimits, lock_down
    from query_api.store import DuckDBReadStore

    settings = settings_of(plan)
    projector = data.Projector(open_database(plan.database), plan.lsn)
    lock_down(projector.con, DuckDBLimits(settings.api.duckdb_memory_limit, plan.threads))
    commits = CommitSignal()
    store = DuckDBReadStore(projector.con, feed=commits)
    stop = threading.Event()
    feeder = threading.Thread(
        target=ingest,
        args=(projector, commits, plan, control, stop),
        kwargs={"batch_ms": settings.projections.batch_max_ms},
        name="ingest",
    )
    feeder.start()
    try:
        if plan.workers == 0:
            _serve_app(settings, store)
        else:
            _serve_snapshots(plan, store, control)
    finally:
        stop.set()
        feeder.join()
        projector.con.close()


def _serve_snapshots(plan: ServingPlan, store: ReadStore, control: WriterControl) -> None:
    """Serve snapshots to the workers over Arrow Flight until SIGTERM."""
    from query_api.read_link import address_path
    from query_api.read_server import ReadServer

    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    server = ReadServer(store)
    server.start(address_path(plan.database))
    control.ready.set()
    stopped.wait()
    server.stop()


def _serve_app(settings: Settings, store: ReadStore) -> None:
    """Serve the app from this process (the single-process design) until SIGTERM."""
    import uvicorn

    from query_api import create_app
    from query_api.routes_registry import NoSchemas

    app = create_app(settings, store, NoSchemas())
    config = uvicorn.Config(app, host=settings.api.host, port=settings.api.port, log_config=None,
                            timeout_graceful_shutdown=10)  # fmt: skip
    # As offload.read_tier: uvicorn re-raises the stop signal once drained; a no-op handler
    # underneath lets this process stop its ingest and close the database.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: None)
    uvicorn.Server(config).run()


def ingest(
    projector: data.Projector,
    commits: CommitSignal,
    plan: ServingPlan,
    control: WriterControl,
    stop: threading.Event,
    *,
    batch_ms: int,
) -> None:
    """Once `control.ingest` is set, apply `plan.rate` units of work per second until `stop`."""
    while not control.ingest.wait(0.1):
        if stop.is_set():
            return
    if plan.rate <= 0:
        return
    per_batch = max(int(plan.rate * batch_ms / 1000), 1)
    n, busy, started = 0, 0.0, time.perf_counter()
    with control.counters.get_lock():
        control.counters[:] = [0, 0.0, time.monotonic()]
    try:
        while not stop.is_set():
            units = ingest_units(n, per_batch, plan.orders, plan.readings)
            t0 = time.perf_counter()
            projector.apply(units)
            commits.committed(projector.lsn)
            busy += time.perf_counter() - t0
            n += per_batch
            with control.counters.get_lock():
                control.counters[:] = [n, busy, time.monotonic()]
            ahead = started + n / plan.rate - time.perf_counter()
            if ahead > 0:
                stop.wait(ahead)
    except BaseException:
        control.failed.set()  # the thread's traceback goes to stderr as it ends
        raise


def worker_main(plan: ServingPlan) -> None:
    """One serving worker: the real `offload serve-worker` with the plan's settings."""
    from offload.read_tier import run_worker

    run_worker(settings_of(plan))


class Serving:
    """One configuration running: start with `with`, stopped (SIGTERM) on leaving.

    Args:
        plan: the configuration.
        ctx: the multiprocessing context (spawn: nothing of this process is inherited).
    """

    def __init__(self, plan: ServingPlan, ctx: SpawnContext) -> None:
        self.plan = plan
        self.ctx = ctx
        self.control = WriterControl(ctx.Event(), ctx.Event(), ctx.Event(), ctx.Array("d", 3))
        self.writer: BaseProcess = ctx.Process(target=writer_main, args=(plan, self.control),
                                               name="bench-writer")  # fmt: skip
        self.workers: list[BaseProcess] = []

    def __enter__(self) -> Serving:
        try:
            self._start()
        except BaseException:
            self.__exit__()  # no process of a failed start outlives it
            raise
        return self

    def _start(self) -> None:
        self.writer.start()
        if self.plan.workers:
            while not self.control.ready.wait(0.2):
                self._check_alive()
            for n in range(1, self.plan.workers + 1):
                worker = self.ctx.Process(target=worker_main, args=(self.plan,),
                                          name=f"bench-worker-{n}")  # fmt: skip
                worker.start()
                self.workers.append(worker)
        self._wait_until_up()

    def __exit__(self, *exc: object) -> None:
        for process in [*self.workers, self.writer]:
            if process.pid is None:
                continue
            if process.is_alive():
                process.terminate()
            process.join(30)
            if process.is_alive():
                process.kill()
                process.join()

    def pids(self) -> dict[str, int]:
        """Each process's pid by label ("writer", "worker 1", ...)."""
        found = {"writer": int(self.writer.pid or 0)}
        found |= {f"worker {n}": int(w.pid or 0) for n, w in enumerate(self.workers, start=1)}
        return found

    def start_ingest(self) -> None:
        self.control.ingest.set()

    def ingested(self) -> tuple[float, float, float]:
        """(units of work applied, seconds spent applying, time.monotonic() then) at the
        writer's last commit."""
        if self.control.failed.is_set():
            raise SystemExit("the writer's ingest failed (traceback above)")
        with self.control.counters.get_lock():
            units, busy, at = self.control.counters[:]
        return float(units), float(busy), float(at)

    def _check_alive(self) -> None:
        for name, process in [("writer", self.writer), *((w.name, w) for w in self.workers)]:
            if not process.is_alive():
                raise SystemExit(f"the {name} process died (exit {process.exitcode})")

    def _wait_until_up(self) -> None:
        """Until every serving process has answered a named query (a new connection each)."""
        expected = max(self.plan.workers, 1)
        seen: set[str] = set()
        deadline = time.monotonic() + UP_TIMEOUT_S
        while len(seen) < expected:
            if time.monotonic() > deadline:
                raise SystemExit(f"{len(seen)} of {expected} serving processes answered in time")
            self._check_alive()
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.plan.port, timeout=10)
                conn.request("GET", "/orders/1", headers={"X-API-Key": KEY})
                response = conn.getresponse()
                response.read()
                conn.close()
            except OSError:
                time.sleep(0.2)
                continue
            if response.status == 200:
                seen.add(response.getheader("X-Offload-Worker", "?"))
            else:
                time.sleep(0.1)
