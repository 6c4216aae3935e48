"""`offload demo`: the whole gateway on one machine, end to end, with a report.

It starts the local Kafka, creates a fresh simulated Db2 with the shipping schema, loads the
reference extracts, starts `offload run` (CDC, projections + query API, reference scheduler),
drives the simulator at a steady rate with live progress, then reconciles and reports:
totals, end-to-end freshness (commit on the system of record → answer through the API),
lost and duplicated events (every capture row against the change topics), and whether the
non-compliant cold-chain legs are exactly the containers the simulator gave excursions.

Every demo run starts clean and never disturbs a previous one: its state lives in
`<data_dir>/demo` and its topics carry the prefix `<prefix>-demo-<run>`; old demo topics are
deleted first. The local broker (`<data_dir>/kafka`) is shared and left running.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from config import Settings, load_settings
from offload.demo_checks import (
    CommitClock,
    FreshnessProbe,
    catch_up,
    non_compliant_containers,
    percentiles,
    wait_ready,
)
from offload.reconcile import Reconciliation, reconcile
from plumbing.errors import OffloadError

if TYPE_CHECKING:
    from simulators.simulation import Summary

console = Console()


class DemoError(OffloadError):
    """A step of the demo failed; the message names the step and where its output is."""


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """How the demo drives the simulator."""

    duration_s: float = 60.0
    tps: float = 50.0
    seed: int = 42
    exit_after: bool = False


@dataclass(frozen=True, slots=True)
class DemoRun:
    """One demo run's identity: its settings, child environment and API key."""

    settings: Settings
    env: dict[str, str]
    api_key: str
    config_path: Path

    @property
    def base_url(self) -> str:
        """Where the demo's query API listens."""
        return f"http://{self.settings.api.host}:{self.settings.api.port}"

    def offload(self, *args: str) -> list[str]:
        """The argv of an `offload` command for this run."""
        return [sys.executable, "-m", "offload", "--config", str(self.config_path), *args]


def prepare(base: Settings, config_path: Path) -> DemoRun:
    """Derive the run's settings (own data dir, topic prefix, API key) from the user's."""
    run_id = time.strftime("%Y%m%d%H%M%S")
    api_key = secrets.token_urlsafe(24)
    keys = {"demo": {"role": "admin", "sha256": hashlib.sha256(api_key.encode()).hexdigest()}}
    env = {
        **os.environ,
        "OFFLOAD__RUNTIME__DATA_DIR": str(base.data_dir / "demo"),
        "OFFLOAD__KAFKA__TOPIC_PREFIX": f"{base.kafka.topic_prefix}-demo-{run_id}",
        "OFFLOAD__API__KEYS": json.dumps(keys),
    }
    return DemoRun(load_settings(config_path, env=env), env, api_key, config_path)


def _step(run: DemoRun, what: str, *args: str, log: Path) -> None:
    """Run one `offload` command of the run; stop the demo with its output when it fails."""
    console.print(f"[bold]·[/] {what}")
    started = time.monotonic()
    with log.open("ab") as out:
        code = subprocess.call(run.offload(*args), env=run.env, stdout=out, stderr=out)
    if code != 0:
        tail = log.read_text(errors="replace").splitlines()[-15:]
        raise DemoError(f"{what} failed (exit {code}); last lines of {log}:\n" + "\n".join(tail))
    console.print(f"  done in {time.monotonic() - started:.1f} s")


def _clean(run: DemoRun, base: Settings) -> None:
    """Remove the previous demo's state and topics so this run starts from nothing."""
    shutil.rmtree(run.settings.data_dir, ignore_errors=True)
    run.settings.data_dir.mkdir(parents=True)
    from confluent_kafka.admin import AdminClient

    admin = AdminClient(dict(base.kafka.client_config()))
    old = [
        t
        for t in admin.list_topics(timeout=15).topics
        if t.startswith(f"{base.kafka.topic_prefix}-demo-")
    ]
    if old:
        for future in admin.delete_topics(old, operation_timeout=30).values():
            future.result()
        console.print(f"  removed {len(old)} topics of earlier demo runs")


def _wait_ready(client: httpx.Client, supervisor: subprocess.Popen[bytes], log_dir: Path) -> None:
    try:
        wait_ready(client, supervisor)
    except RuntimeError as exc:
        raise DemoError(f"{exc}; logs in {log_dir}") from exc


def _drive(
    run: DemoRun,
    options: DemoOptions,
    clock: CommitClock,
    client: httpx.Client,
    probe: FreshnessProbe,
) -> Any:
    """Run the simulator in this process at the demo's rate, with live progress.

    The first unit of work (the set-up of customers, containers and voyages) warms the
    pipeline up: the drive waits until the API reflects it, then starts the freshness probe,
    so that the figures describe the steady state, not topic and mirror creation.
    """
    from simulators.simulation import SimulationOptions, run_simulation
    from simulators.sor import SystemOfRecord

    simulation = SimulationOptions(
        duration_s=options.duration_s, tps=options.tps, seed=options.seed
    )
    with SystemOfRecord.open(run.settings.sor_path, run.settings.source.schema_name) as sor:
        started = time.monotonic()
        with Live(console=console, refresh_per_second=4, transient=False) as live:
            progress = _Progress(live, client, clock, probe, options.tps, started)
            return run_simulation(sor, simulation, on_step=progress.on_step)


class _Progress:
    """The drive's live view: each commit noted, the warm-up awaited, the applied LSN polled."""

    def __init__(  # noqa: PLR0917 - one call site, each argument a part of the view
        self,
        live: Live,
        client: httpx.Client,
        clock: CommitClock,
        probe: FreshnessProbe,
        tps: float,
        started: float,
    ) -> None:
        self._live, self._client, self._clock, self._probe = live, client, clock, probe
        self._tps, self._started = tps, started
        self._applied, self._last_poll = 0, 0.0

    def on_step(self, summary: Summary) -> None:
        """After each unit of work: record it; redraw at most every 0.5 s."""
        self._clock.record(summary.last_lsn or 0)
        if summary.units_of_work == 1:
            waited = _catch_up(self._client, summary.last_lsn or 0)
            self._live.console.print(f"  warm-up unit of work reflected after {waited:.1f} s")
            self._probe.start()
        now = time.monotonic()
        if now - self._last_poll >= 0.5:
            self._last_poll = now
            try:
                fresh = self._client.get("/freshness", timeout=2).json()
                self._applied = int(fresh["watermark"]["lsn"])
            except (httpx.HTTPError, KeyError, ValueError):
                pass
            self._live.update(self._table(summary))

    def _table(self, summary: Summary) -> Table:
        table = Table(title=f"driving the simulator at {self._tps:g} units of work/s")
        for column in ("elapsed", "units of work", "rows", "applied LSN", "lag (LSNs)"):
            table.add_column(column, justify="right")
        last = summary.last_lsn or 0
        table.add_row(
            f"{time.monotonic() - self._started:.0f} s",
            str(summary.units_of_work),
            str(summary.total_rows),
            str(self._applied),
            str(max(last - self._applied, 0)),
        )
        return table


def _catch_up(client: httpx.Client, lsn: int, timeout_s: float = 180) -> float:
    """Wait until the API answers at or after `lsn`; the seconds it took."""
    try:
        return catch_up(client, lsn, timeout_s)
    except TimeoutError as exc:
        raise DemoError(f"the projection did not reach LSN {lsn} within {timeout_s:.0f} s") from exc


def run_demo(base: Settings, config_path: Path, options: DemoOptions) -> int:
    """The whole demo; returns the exit code (0 when every check passed)."""
    run = prepare(base, config_path)
    log = run.settings.data_dir.parent / "demo-steps.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    console.rule("Offload demo")
    from offload import broker

    local_kafka = broker.local_address(base) in base.kafka.bootstrap_servers
    if local_kafka:
        console.print("[bold]·[/] starting the local Kafka (reused when it already runs)")
        broker.up(base, on_step=lambda message: console.print(f"  {message}", highlight=False))
    _clean(run, base)
    _step(run, "creating the simulated Db2 with the shipping schema", "sor", "init", log=log)
    _step(
        run,
        "loading the reference extracts (products, ports, vessels)",
        "reference",
        "load",
        log=log,
    )
    supervisor = subprocess.Popen(
        run.offload("run"), env=run.env, stdout=log.open("ab"), stderr=subprocess.STDOUT
    )
    try:
        return _run_with_gateway(run, options, supervisor)
    finally:
        if supervisor.poll() is None:
            supervisor.send_signal(signal.SIGTERM)
            supervisor.wait(timeout=60)
        if local_kafka:
            console.print(
                "The local Kafka keeps running for the next run; "
                "`.venv/bin/offload kafka down` stops it.",
                highlight=False,
            )


def _run_with_gateway(
    run: DemoRun, options: DemoOptions, supervisor: subprocess.Popen[bytes]
) -> int:
    headers = {"X-API-Key": run.api_key}
    with httpx.Client(base_url=run.base_url, headers=headers) as client:
        console.print("[bold]·[/] starting `offload run` (CDC, projections + query API, scheduler)")
        _wait_ready(client, supervisor, run.settings.data_dir / "logs")
        clock = CommitClock()
        probe = FreshnessProbe(client, clock)
        summary = _drive(run, options, clock, client, probe)
        probe.stop()
        (run.settings.data_dir / "freshness-samples.json").write_text(json.dumps(probe.samples))
        caught_up_s = _catch_up(client, summary.last_lsn or 0)
        console.print(
            f"[bold]·[/] caught up with LSN {summary.last_lsn} "
            f"{caught_up_s:.1f} s after the last commit"
        )
        console.print(
            "[bold]·[/] reconciling (`offload reconcile`): every change event against the "
            "capture tables, every mirror against its table, every view recomputed whole"
        )
        reconciliation = reconcile(run.settings)
        flagged = non_compliant_containers(client)
        injected = set(summary.excursions)
        ok = _report(run, summary, reconciliation, percentiles(probe.samples_ms), flagged, injected)
        _print_commands(run, summary, serving=not options.exit_after)
        if options.exit_after:
            return 0 if ok else 1
        console.print("\nThe gateway keeps serving; Ctrl-C stops it.")
        _wait_for_interrupt(supervisor)
        return 0 if ok else 1


def _wait_for_interrupt(supervisor: subprocess.Popen[bytes]) -> None:
    stop = {"now": False}

    def _handler(_signum: int, _frame: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGINT, _handler)
    signal.signal(signal.SIGTERM, _handler)
    while not stop["now"] and supervisor.poll() is None:
        time.sleep(0.5)


def _report(  # noqa: PLR0917 - one call site, every argument a figure of the report
    run: DemoRun,
    summary: Any,
    reconciliation: Reconciliation,
    freshness: dict[str, float | None],
    flagged: set[str],
    injected: set[str],
) -> bool:
    events = reconciliation.events
    table = Table(title="Offload demo report", show_header=False)
    table.add_column("what")
    table.add_column("figure", justify="right")
    add: Callable[[str, object], None] = lambda k, v: table.add_row(k, str(v))  # noqa: E731
    add("units of work committed", summary.units_of_work)
    add("rows changed", summary.total_rows)
    add("change events expected (capture rows)", events.expected)
    add("change events published", events.published)
    add("lost events", events.missing)
    add("duplicated events", events.duplicated)
    mirrors = [t for t in reconciliation.tables if t.kind == "mirror"]
    views = [t for t in reconciliation.tables if t.kind == "view"]
    same = sum(t.equal for t in mirrors)
    add("mirrors equal to their Db2 table (rows, exact values)", f"{same} of {len(mirrors)}")
    same = sum(t.equal for t in views)
    add("views equal to the view recomputed whole", f"{same} of {len(views)}")
    add("freshness p50 (commit → API answer)", f"{freshness['p50']} ms")
    add("freshness p99", f"{freshness['p99']} ms")
    add("freshness max", f"{freshness['max']} ms ({freshness['count']} probes)")
    add("containers given excursions", ", ".join(sorted(injected)) or "none")
    add("containers in non-compliant legs", ", ".join(sorted(flagged)) or "none")
    exact = flagged == injected
    add("non-compliant legs = injected excursions", "yes" if exact else "NO")
    console.print(table)
    ok = reconciliation.equal and exact
    console.print("[bold green]all checks passed[/]" if ok else "[bold red]a check failed[/]")
    return ok


def _print_commands(run: DemoRun, summary: Any, serving: bool) -> None:
    """Commands to try on the demo's read models: over HTTP while the gateway keeps serving,
    and the CLI's (which read the DuckDB file itself once the gateway stopped)."""
    key = run.api_key
    env = (
        f"OFFLOAD__RUNTIME__DATA_DIR={run.settings.data_dir} "
        f"OFFLOAD__KAFKA__TOPIC_PREFIX={run.settings.kafka.topic_prefix} OFFLOAD_API_KEY={key}"
    )
    lsn = summary.last_lsn
    order = _an_order(run.settings)
    sql = json.dumps({"sql": "SELECT status, count(*) AS n FROM shipping.orders GROUP BY status"})
    http = [
        f"curl -s -H 'X-API-Key: {key}' '{run.base_url}/freshness'",
        f"curl -s -H 'X-API-Key: {key}' '{run.base_url}/cold-chain/legs?compliant=false'",
        f"curl -s -H 'X-API-Key: {key}' '{run.base_url}/orders/{order}?min_lsn={lsn}&wait_ms=2000'",
        f"curl -s -H 'X-API-Key: {key}' -H 'Content-Type: application/json' "
        f"-d '{sql}' '{run.base_url}/sql'",
    ]
    cli = [
        f"{env} .venv/bin/offload query cold-chain-legs -p compliant=false",
        f"{env} .venv/bin/offload query order -p order_id={order}",
    ]
    if serving:
        console.print("\nTry it (the API key is this demo run's own):", highlight=False)
        console.print(f"  console: {run.base_url}/console (enter the key there)", highlight=False)
    else:
        console.print("\nThe gateway stops now (--exit); its read models stay. Try:")
    for line in [*http, *cli] if serving else cli:
        console.print(f"  {line}", highlight=False, markup=False, soft_wrap=True)


def _an_order(settings: Settings) -> int:
    """An order that exists on the system of record now (the workload deletes some)."""
    from db2.dialect import quote
    from simulators.sor import SystemOfRecord

    schema = settings.source.schema_name
    sql = f"SELECT max(ORDER_ID) FROM {quote(schema)}.ORDERS"  # noqa: S608 - a quoted identifier
    with SystemOfRecord.open(settings.sor_path, schema) as sor:
        (newest,) = sor.conn.execute(sql).fetchone()
    return int(newest) if newest is not None else 1


def demo_cmd(
    ctx: typer.Context,
    duration: Annotated[
        float, typer.Option("--duration", "-d", help="Seconds to drive the simulator.")
    ] = 60.0,
    tps: Annotated[float, typer.Option("--tps", help="Units of work per second.")] = 50.0,
    seed: Annotated[int, typer.Option("--seed", help="Simulator seed.")] = 42,
    exit_after: Annotated[
        bool, typer.Option("--exit", help="Stop the gateway after the report.")
    ] = False,
) -> None:
    """The whole gateway end to end: local Kafka, simulated Db2, reference loads, `offload run`,
    a steady simulated workload with live progress, then a report (lost and duplicated events,
    freshness p50/p99, cold-chain verdict) and commands to try. Keeps serving until Ctrl-C
    unless --exit. Each run starts clean in <data_dir>/demo with its own topic prefix.
    """
    from plumbing.cli_context import config_path_of, settings_of

    options = DemoOptions(duration_s=duration, tps=tps, seed=seed, exit_after=exit_after)
    raise typer.Exit(run_demo(settings_of(ctx), config_path_of(ctx), options))
