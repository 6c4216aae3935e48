"""Commands of change capture: `offload schemas list` and `offload schemas export DIR`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from plumbing.cli_context import settings_of

schemas_app = typer.Typer(
    help="Show and export the Avro schemas of the gateway's topics.", no_args_is_help=True
)


@schemas_app.command("list")
def schemas_list(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List every subject with its versions and the latest schema id."""
    from rich.console import Console
    from rich.table import Table

    from event_contract.schema_stores import store_from_settings

    store = store_from_settings(settings_of(ctx))
    rows: list[dict[str, Any]] = []
    for subject in store.subjects():
        latest = store.latest(subject)
        versions = store.versions(subject)
        rows.append(
            {
                "subject": subject,
                "versions": versions,
                "latest_version": latest.version if latest else None,
                "latest_id": latest.id if latest else None,
            }
        )
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("subject", "versions", "latest id")
    for row in rows:
        table.add_row(row["subject"], ", ".join(map(str, row["versions"])), str(row["latest_id"]))
    Console().print(table)


@schemas_app.command("export")
def schemas_export(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="Where to write <subject>/v<N>.avsc files.")],
) -> None:
    """Write every subject version as DIR/<subject>/v<version>.avsc."""
    from event_contract.registry import export
    from event_contract.schema_stores import store_from_settings

    written = export(store_from_settings(settings_of(ctx)), directory)
    typer.echo(f"wrote {len(written)} schema files under {directory}")


cdc_app = typer.Typer(
    help="Change capture: publish the system of record's units of work to Kafka, exactly once.",
    no_args_is_help=True,
)


@cdc_app.command("run")
def cdc_run(
    ctx: typer.Context,
    until_idle: Annotated[
        bool,
        typer.Option(
            "--until-idle",
            help="Publish everything committed, then exit 0 once read_committed readers see "
            "all of it (the last commit's markers are on every partition).",
        ),
    ] = False,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            help="Serve Prometheus metrics on this port (split: the groups on this port and "
            "the next ones, in the order of `capture.group` then [capture.split]).",
        ),
    ] = None,
    group: Annotated[
        str | None,
        typer.Option(
            "--group",
            help="Run only this capture group (capture split by table group, [capture.split]); "
            "default: every group, each in a process of its own.",
        ),
    ] = None,
) -> None:
    """Publish committed units of work until SIGINT/SIGTERM (or until idle)."""
    import os
    import signal
    import threading

    from cdc_ingest.groups import capture_group
    from cdc_ingest.metrics import CaptureMetrics
    from cdc_ingest.publisher import Publisher
    from plumbing.crash import CRASH_ENV, crash_hook

    settings = settings_of(ctx)
    if group is None and settings.capture.split:
        raise typer.Exit(_run_every_group(ctx, until_idle, metrics_port))
    capture = capture_group(settings, group)
    crash = crash_hook(os.environ.get(CRASH_ENV))  # the only place the variable is read
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    metrics = CaptureMetrics()
    if metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, registry=metrics.registry)
    with _CaptureProgress() as progress:
        publisher: Publisher

        def observe(state: Any, newest: int) -> None:
            paths = publisher.transactions
            declined = sum(paths.declined.values())
            metrics.observe(state, newest, publisher.table_versions(), paths.bulk_pieces, declined)
            progress.update(state, newest)

        publisher = Publisher(settings, crash, observe, capture)
        publisher.run(until_idle=until_idle, stop=stop)
    state = publisher.committed
    named = f"capture group {capture.name}" if capture.is_split else "capture"
    typer.echo(f"{named} stopped at LSN {state.lsn}; {state.events} events published in total")
    done = publisher.transactions
    declined = sum(done.declined.values())
    if done.bulk_pieces or declined:
        typer.echo(
            f"large units of work (or their pieces): {done.bulk_pieces} encoded a column at a "
            f"time, {declined} event by event (the column path declined them, reasons logged)"
        )


def _run_every_group(ctx: typer.Context, until_idle: bool, metrics_port: int | None) -> int:
    """Each capture group as `offload cdc run --group NAME`, a child process; the exit code."""
    import sys

    from cdc_ingest.group_runner import run_groups
    from plumbing.cli_context import config_path_of

    settings = settings_of(ctx)
    base = [sys.executable, "-m", "offload", "--config", str(config_path_of(ctx)), "cdc", "run"]

    def argv(name: str, index: int) -> list[str]:
        extra = ["--until-idle"] if until_idle else []
        if metrics_port is not None:
            extra += ["--metrics-port", str(metrics_port + index)]
        return [*base, "--group", name, *extra]

    groups = settings.capture.groups()
    typer.echo(f"capture split by table group: {', '.join(groups)}, a process each")
    return run_groups(argv, groups, settings.run.stop_timeout_s)


class _CaptureProgress:
    """A rich progress display on a terminal: events published and snapshot chunks."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn

        console = Console(stderr=True)
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TextColumn("{task.fields[info]}"),
            console=console,
            disable=not console.is_terminal,
        )
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> _CaptureProgress:
        self._progress.__enter__()
        self._tasks["capture"] = self._progress.add_task("capture", info="starting", total=None)
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.__exit__(None, None, None)

    def update(self, state: Any, newest: int) -> None:
        info = f"LSN {state.lsn if state.lsn < 2**62 else 0} of {newest}, {state.events} events"
        self._progress.update(self._tasks["capture"], info=info)
        for name, snap in state.snapshots.items():
            task = self._tasks.get(name)
            if task is None:
                task = self._tasks[name] = self._progress.add_task(
                    f"snapshot {name}", info="", total=None
                )
            self._progress.update(task, info=f"{snap.rows} rows in {snap.chunks} chunks")
        for name in [n for n in self._tasks if n != "capture" and n not in state.snapshots]:
            self._progress.update(self._tasks.pop(name), info="done")


@cdc_app.command("snapshot")
def cdc_snapshot(
    ctx: typer.Context,
    tables: Annotated[list[str], typer.Argument(help="Captured tables, SCHEMA.TABLE or TABLE.")],
) -> None:
    """Ask for a snapshot of tables: the running (or next) `cdc run` publishes their rows."""
    import time

    from cdc_ingest.capture_topics import ensure_control_topics
    from cdc_ingest.offsets_log import write_record
    from cdc_ingest.positions import SNAPSHOT_KEY, record_key
    from cdc_ingest.source import open_source
    from plumbing.errors import UsageError

    settings = settings_of(ctx)
    with open_source(settings) as source:
        captured = {r.table for r in source.registrations()}
        schema = source.schema
    names = [t.upper() if "." in t else f"{schema}.{t.upper()}" for t in tables]
    missing = [n for n in names if n not in captured]
    if missing:
        raise UsageError(f"table {missing[0]} is not captured (see `offload sor tables`)")
    ensure_control_topics(settings.kafka)  # asked for before the first `cdc run`
    for name in names:
        value = json.dumps({"table": name, "requested_ms": time.time_ns() // 1_000_000})
        key = record_key(SNAPSHOT_KEY, settings.capture.owner(name), name)  # its group's
        write_record(settings.kafka, key, value.encode())
        typer.echo(f"snapshot of {name} requested; `offload cdc run` carries it out")


@cdc_app.command("resume")
def cdc_resume(
    ctx: typer.Context,
    table: Annotated[str, typer.Argument(help="The table waiting on an incompatible change.")],
    accept_incompatible: Annotated[
        bool,
        typer.Option("--accept-incompatible", help="Accept its new, incompatible schema."),
    ] = False,
) -> None:
    """Let a table that waits on an incompatible schema change continue where it stopped."""
    import time

    from cdc_ingest.offsets_log import read_log, write_record
    from cdc_ingest.positions import DECISION_KEY, Decision, record_key
    from plumbing.errors import UsageError

    settings = settings_of(ctx)
    name = table.upper() if "." in table else f"{settings.source.schema_name}.{table.upper()}"
    group = settings.capture.owner(name)
    log = read_log(settings.kafka, group, missing_ok=True)
    state = log.position.tables.get(name) if log.position else None
    if state is None or state.status != "blocked" or state.refused_schema_id is None:
        raise UsageError(f"table {name} is not waiting on an incompatible schema change")
    if not accept_incompatible:
        raise UsageError(
            f"table {name} waits: {state.reason}; give --accept-incompatible to accept the new "
            "schema, or revert the change (capture then continues by itself)"
        )
    decision = Decision(name, state.refused_schema_id, time.time_ns() // 1_000_000)
    write_record(settings.kafka, record_key(DECISION_KEY, group, name), decision.to_json())
    typer.echo(
        f"accepted schema id {decision.schema_id} for {name}; capture continues where it stopped"
    )


@cdc_app.command("status")
def cdc_status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Last published LSN, the source's newest LSN, lag, events/s and each table's state."""
    import time

    from cdc_ingest.capture_status import capture_status

    status = capture_status(settings_of(ctx), time.time_ns() // 1_000_000)
    if as_json:
        typer.echo(json.dumps(status.as_dict(), indent=2))
        return
    typer.echo(
        f"last published LSN {status.last_published_lsn}, source newest LSN "
        f"{status.source_newest_lsn}, lag {status.lag_lsn} LSNs / {status.lag_seconds:.1f} s, "
        f"{status.events_per_second} events/s, {status.events_total} events in total"
    )
    if len(status.groups) > 1:
        for g in status.groups:
            typer.echo(
                f"  group {g.group:<26} last published LSN {g.last_published_lsn}, lag "
                f"{g.lag_lsn} LSNs / {g.lag_seconds:.1f} s, {g.events_per_second} events/s"
            )
    for t in status.tables:
        reason = f": {t.reason}" if t.reason else ""
        typer.echo(f"  {t.table:<32} schema v{t.schema_version or '-'}  {t.state}{reason}")
