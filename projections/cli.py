"""`offload project ...` and `offload errors ...`: run, inspect and repair the projections.

The environment variable OFFLOAD_CRASH_AT (crash tests only, e.g.
`project.before_commit:3`) is read here, in the entry point, and handed down as a hook.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from typing import Annotated, Any

import typer

from plumbing.cli_context import settings_of
from plumbing.crash import CRASH_ENV, crash_hook

project_app = typer.Typer(help="Apply the topics to the DuckDB read models.", no_args_is_help=True)
errors_app = typer.Typer(help="Inspect and replay records that failed.", no_args_is_help=True)


@project_app.command("run")
def run(
    ctx: typer.Context,
    until_idle: Annotated[
        bool, typer.Option("--until-idle", help="Apply everything available, then exit 0.")
    ] = False,
) -> None:
    """Consume the change, transaction and reference topics and apply them in batches."""
    from projections.runtime import open_projection

    settings = settings_of(ctx)
    hook = crash_hook(os.environ.get(CRASH_ENV))
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with open_projection(settings, hook=hook) as projection:
        consumer = projection.consumer()
        summary = consumer.run(stop, until_idle=until_idle)
        projection.write_status(consumer)
    rate = summary.events / summary.seconds if summary.seconds else 0.0
    typer.echo(
        f"applied {summary.units} units of work, {summary.events} events in "
        f"{summary.batches} batches ({rate:,.0f} events/s); {summary.errors} errors; "
        f"watermark LSN {summary.lsn}"
    )


@project_app.command("status")
def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Per view: watermark LSN and commit time, lag behind the source, rates, rows, errors."""
    figures = _status_figures(settings_of(ctx))
    if as_json:
        typer.echo(json.dumps(figures, indent=2, default=str))
        return
    mark = figures["watermark"]
    typer.echo(
        f"watermark  LSN {mark['lsn']} committed {mark['commit_time']} ({figures['source']})"
    )
    head = figures["published"]
    typer.echo(
        "published  none read (no END marker in Kafka yet, or Kafka did not answer)"
        if head is None
        else f"published  LSN {head['lsn']} committed {head['commit_time']} (Kafka)"
    )
    lag = "unknown" if figures["lag_lsn"] is None else f"{figures['lag_lsn']} LSNs"
    lag_s = "" if figures["lag_seconds"] is None else f", {figures['lag_seconds']} s"
    typer.echo(f"lag        {lag}{lag_s}")
    rate = figures["events_per_s"]
    shown = "unknown" if rate is None else f"{rate:,.0f}"
    typer.echo(f"rate       {shown} events/s; open errors {figures['errors_open']}")
    for view in figures["views"]:
        typer.echo(
            f"view {view['name']:<16} {view['status']:<10} LSN {view['lsn']:<10} "
            f"rows {view['rows']:<10} lag {view['lag_lsn']} LSNs"
        )
    for name, rows in figures["mirrors"].items():
        typer.echo(f"mirror {name:<30} rows {rows}")


def _status_figures(settings: Any) -> dict[str, Any]:
    from event_contract.codec import Codec
    from event_contract.schema_stores import store_from_settings
    from projections.errors import DatabaseBusy, ProjectionError
    from projections.status import STATUS_FILE, collect, published_head, read_file
    from projections.store import open_read_only

    path = settings.projections_path
    try:
        con = open_read_only(path)
    except DatabaseBusy:
        figures = read_file(path.parent / STATUS_FILE)
        if figures is None:
            raise
        return {**figures, "source": f"status file of the running writer (pid {figures['pid']})"}
    if con is None:
        raise ProjectionError(f"projection database {path} does not exist yet (run `project run`)")
    try:
        store = store_from_settings(settings)
        head = published_head(settings.kafka, Codec(store.by_id))
        last = read_file(path.parent / STATUS_FILE) or {}
        return {**collect(con, head, last.get("events_per_s")), "source": "database"}
    finally:
        con.close()


@project_app.command("rebuild")
def rebuild(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="The view to rebuild.")] = None,
    all_views: Annotated[bool, typer.Option("--all", help="Rebuild every view.")] = False,
) -> None:
    """Rebuild a view (or all) into a fresh table and swap it in atomically."""
    from rich.console import Console

    from projections.runtime import open_projection

    if (name is None) == (not all_views):
        raise typer.BadParameter("give a view NAME or --all, not both")
    settings = settings_of(ctx)
    console = Console(stderr=True)
    with open_projection(settings, crash_hook(os.environ.get(CRASH_ENV))) as projection:
        projection.decoder()  # mirrors of every known topic exist before views read them
        names = [v.name for v in projection.writer.views.definitions] if all_views else [name]
        for view in names:
            assert view is not None
            with console.status(f"rebuilding {view} ..."):
                rows, seconds, source_rows = projection.writer.rebuild(view)
            rate = source_rows / seconds if seconds else 0.0
            typer.echo(
                f"rebuilt {view}: {rows} rows from {source_rows} source rows in {seconds:.2f} s "
                f"({rate:,.0f} source rows/s)"
            )


@errors_app.command("list")
def errors_list(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    every: Annotated[bool, typer.Option("--all", help="Replayed entries too.")] = False,
) -> None:
    """The records that could not be decoded or applied (open ones by default)."""
    from projections.errorlog import list_errors

    with _reader(ctx) as con:
        entries = list_errors(con, None if every else "open")
    if as_json:
        typer.echo(json.dumps([e.as_json() for e in entries], indent=2))
        return
    for e in entries:
        r = e.record
        typer.echo(
            f"{e.id:>5} {e.status:<8} {r.kind:<7} {r.topic}[{r.partition}]@{r.offset} "
            f"key={r.key_text} {r.reason}"
        )
    typer.echo(f"{len(entries)} entries")


@errors_app.command("show")
def errors_show(ctx: typer.Context, entry_id: Annotated[int, typer.Argument()]) -> None:
    """One entry with its original bytes (base64) and headers."""
    from projections.errorlog import get_error

    with _reader(ctx) as con:
        entry = get_error(con, entry_id)
    typer.echo(json.dumps(entry.as_json(with_bytes=True), indent=2))


@errors_app.command("replay")
def errors_replay(
    ctx: typer.Context,
    ids: Annotated[list[int] | None, typer.Argument(help="Entry ids.")] = None,
    every: Annotated[bool, typer.Option("--all", help="Every open entry.")] = False,
) -> None:
    """Decode and apply entries again (a record older than its row changes nothing)."""
    from projections.errorlog import get_error, list_errors
    from projections.replay import replay
    from projections.runtime import open_projection

    if bool(ids) == every:
        raise typer.BadParameter("give entry IDs or --all, not both")
    with open_projection(settings_of(ctx)) as projection:
        decoder = projection.decoder()
        con = projection.con
        entries = list_errors(con, "open") if every else [get_error(con, i) for i in ids or []]
        outcomes = replay(projection.writer, decoder, entries)
    for outcome in outcomes:
        typer.echo(f"{outcome.entry_id:>5} {outcome.outcome} {outcome.reason}".rstrip())
    failed = sum(o.outcome == "failed" for o in outcomes)
    typer.echo(f"{len(outcomes)} replayed, {failed} still failing")
    if failed:
        raise typer.Exit(1)


@errors_app.command("search")
def errors_search(
    ctx: typer.Context,
    key: Annotated[str, typer.Option("--key", help="A key value, e.g. an ORDER_ID.")],
    table: Annotated[str | None, typer.Option("--table", help="Only SCHEMA.TABLE.")] = None,
    apply: Annotated[bool, typer.Option("--apply/--no-apply", help="Re-apply them.")] = True,
) -> None:
    """Find a key's events in the change topics and re-apply them (older ones are no-ops)."""
    from projections.replay import search_key
    from projections.runtime import open_projection

    settings = settings_of(ctx)
    with open_projection(settings) as projection:
        decoder = projection.decoder()
        found = list(search_key(settings.kafka, decoder, key, table))
        for e in found:
            typer.echo(
                f"{e.topic}[{e.partition}]@{e.offset} {e.table} op={e.op} LSN {e.commit_lsn} "
                f"key={list(e.key)}"
            )
        changed = 0
        if apply and found:
            changed = projection.writer.replay(found, within=lambda _con: None).changed
    typer.echo(f"{len(found)} events found; {changed} rows changed")


class _reader:
    """The database read-only (errors list/show)."""

    def __init__(self, ctx: typer.Context) -> None:
        self._path = settings_of(ctx).projections_path
        self._con: Any = None

    def __enter__(self) -> Any:
        from projections.errors import ProjectionError
        from projections.store import open_read_only

        self._con = open_read_only(self._path)
        if self._con is None:
            raise ProjectionError(f"projection database {self._path} does not exist yet")
        return self._con

    def __exit__(self, *exc: object) -> None:
        self._con.close()
