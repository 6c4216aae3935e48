"""`offload query` (named queries and gated SQL from a terminal) and `offload serve`.

This module is the query API's entry point and the only place that composes it with other
parts: `offload serve` opens the projection database (projections), starts the projection
loop when one exists, locks the database down after the writer is set up, adapts the schema
store (cdc_ingest's `store_from_settings`) to `SchemaSource`, and serves the app with
uvicorn in the same process (see README, "Design decisions"). The library modules of
query_api import neither cdc_ingest nor projections.

`offload query` sends the request to the API running at api.host:api.port (key from the
environment variable OFFLOAD_API_KEY), else opens the DuckDB file read-only and runs the
same app in process; it says which on stderr, with the answer's watermark.
"""

from __future__ import annotations

import json
import logging
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, Protocol

import typer
from rich.console import Console
from rich.table import Table

from query_api.commands import NAMED, as_csv, cell_text, freshness_line, parse_params, request_for
from query_api.commands import rows_of as _rows_of
from query_api.errors import QueryRefused, QueryUsage, SchemaSourceUnavailable

if TYPE_CHECKING:
    import duckdb

    from config import Settings
    from query_api.client import Answer, QueryClient

log = logging.getLogger(__name__)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
API_KEY_ENV = "OFFLOAD_API_KEY"


class Format(StrEnum):
    """Output formats of `offload query`."""

    table = "table"
    json = "json"
    csv = "csv"


def query_cmd(  # noqa: PLR0917 - Typer maps each parameter to an option
    ctx: typer.Context,
    name: Annotated[
        str | None,
        typer.Argument(help=f"Named query: {', '.join(NAMED)}.", show_default=False),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="K=V parameter of the named query (repeatable)."),
    ] = None,
    sql: Annotated[
        str | None, typer.Option("--sql", help="One read-only SELECT, gated as POST /sql.")
    ] = None,
    arg: Annotated[
        list[str] | None,
        typer.Option("--arg", help="Positional parameter of --sql (JSON value or text)."),
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """Run a named query or gated SQL over the projections, and print its freshness.

    Examples: `offload query order -p order_id=42`, `offload query cold-chain-legs -p
    compliant=false -f csv`, `offload query --sql "SELECT count(*) FROM views.cold_chain"`.
    """
    from offload.cli import settings_of

    settings = settings_of(ctx)
    if (name is None) == (sql is None):
        raise QueryUsage("NAME", "give a named query or --sql, not both and not neither")
    if sql is not None and param:
        raise QueryUsage("--param", "--sql takes positional --arg values, not --param")
    if name is not None and arg:
        raise QueryUsage("--arg", "named queries take --param K=V, not --arg")
    if name is not None:
        path, query = request_for(name, parse_params(param or []))
        method, body = "GET", None
    else:
        path, query, method = "/sql", {}, "POST"
        body = {"sql": sql, "params": [_sql_arg(a) for a in arg or []]}
    from query_api.client import ClientScope

    with ClientScope(_client(settings)) as client:
        answer = client.request(method, path, query, body)
        via = client.via
    _print(answer, name, fmt, via)


def _sql_arg(text: str) -> Any:
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, int | float | str | bool) or value is None else text


def _client(settings: Settings) -> QueryClient:
    from query_api.client import HttpQueryClient, LocalQueryClient, api_answers, api_url

    url = api_url(settings)
    if api_answers(url):
        timeout = settings.api.sql_timeout_s + settings.api.max_wait_ms / 1000 + 10
        return HttpQueryClient(url, os.environ.get(API_KEY_ENV), timeout)
    return LocalQueryClient(settings, settings.projections_path)


def _print(answer: Answer, name: str | None, fmt: Format, via: str) -> None:
    lsn = answer.headers.get("x-offload-watermark-lsn")
    stamp = answer.headers.get("x-offload-watermark-time")
    err.print(freshness_line(lsn, stamp, via), highlight=False, markup=False)
    if answer.status >= 400:
        detail = answer.body.get("detail", answer.body)
        hint = f"; set {API_KEY_ENV}" if answer.status == 401 else ""
        raise QueryRefused(answer.status, f"{cell_text(detail)}{hint}", via)
    if fmt is Format.json:
        typer.echo(json.dumps(answer.body, indent=2))
        return
    rows = _rows_of(name, answer.body)
    if fmt is Format.csv:
        typer.echo(as_csv(rows), nl=False)
    else:
        out.print(_table(rows))
    next_cursor = answer.body.get("next_cursor")
    if next_cursor:
        err.print(f"more rows: -p cursor={next_cursor}", highlight=False, markup=False)
    if answer.body.get("truncated"):
        err.print(f"truncated at {answer.body.get('row_count')} rows (api.sql_row_cap)")


def _table(rows: list[dict[str, Any]]) -> Table | str:
    """Rows as a table; as one field/value table per row when the columns would not fit."""
    if not rows:
        return "(no rows)"
    if len(rows[0]) > max(out.width // 12, 4):
        return _records(rows)
    table = Table(show_lines=False)
    for column in rows[0]:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(cell_text(v) for v in row.values()))
    return table


def _records(rows: list[dict[str, Any]]) -> Table:
    table = Table(show_header=False, show_lines=False, box=None, padding=(0, 1))
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for n, row in enumerate(rows, start=1):
        if n > 1:
            table.add_row("", "")
        table.add_row(f"-- row {n}", "")
        for column, value in row.items():
            table.add_row(column, cell_text(value))
    return table


def serve_cmd(
    ctx: typer.Context,
    no_projection: Annotated[
        bool,
        typer.Option(
            "--no-projection",
            help="Serve the DuckDB file read-only as it is (a replica on a snapshot copy).",
        ),
    ] = False,
) -> None:
    """Serve the query API on api.host:api.port, with the projection writer in this process.

    Stops on Ctrl-C or SIGTERM: the HTTP server drains, then the projection loop stops
    (finishing or rolling back its batch) and the database is closed.
    """
    from offload.cli import settings_of

    settings = settings_of(ctx)
    if no_projection:
        from query_api.store import DuckDBReadStore, open_read_only

        connection = open_read_only(settings.projections_path)
        try:
            _lock(settings, connection)
            _serve(settings, DuckDBReadStore(connection), None)
        finally:
            connection.close()
        return
    _serve_with_projection(settings)


def _lock(settings: Settings, connection: duckdb.DuckDBPyConnection) -> None:
    from query_api.store import DuckDBLimits, lock_down

    api = settings.api
    # Database-wide and final (lock_configuration): the writer's own SETs come before it.
    lock_down(connection, DuckDBLimits(api.duckdb_memory_limit, api.duckdb_threads))


class _ProjectionThread:
    """The projection's Kafka loop in a background thread of the serving process.

    A failure of the loop stops the HTTP server (so a supervisor restarts the whole part
    rather than serving answers that silently stop getting fresher) and is re-raised by
    `stop()`.
    """

    def __init__(self, consumer: Any, on_failure: Any) -> None:
        import threading

        self._consumer = consumer
        self._on_failure = on_failure
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="projection", daemon=True)

    def start(self) -> None:
        """Start consuming."""
        self._thread.start()

    def _run(self) -> None:
        try:
            self._consumer.run(self._stop)
        except BaseException as exc:  # re-raised in the serving thread by stop()
            log.error("the projection loop failed: %s", exc)
            self._error = exc
            self._on_failure()

    def stop(self) -> None:
        """Stop consuming (the open batch finishes or rolls back); re-raise a loop failure."""
        self._stop.set()
        self._thread.join(timeout=60)
        if self._error is not None:
            raise self._error


def _serve_with_projection(settings: Settings) -> None:
    """Host the projection writer and the API on one DuckDB database (see the README's
    design decisions): the loop applies batches on the writer's connection, each request
    reads a snapshot through its own cursor."""
    from projections.runtime import open_projection
    from query_api.store import Watermark

    with open_projection(settings) as projection:
        consumer = projection.consumer()
        _lock(settings, projection.con)
        store = projection.read_store(Watermark)
        holder: dict[str, Any] = {}
        loop = _ProjectionThread(consumer, lambda: _stop_server(holder))
        loop.start()
        try:
            _serve(settings, store, holder, (projection.metrics.registry,))
        finally:
            loop.stop()
            log.info("query API stopped; projection database %s closed", settings.projections_path)


def _stop_server(holder: dict[str, Any]) -> None:
    server = holder.get("server")
    if server is not None:
        server.should_exit = True


def _serve(
    settings: Settings, store: Any, holder: dict[str, Any] | None, registries: tuple[Any, ...] = ()
) -> None:
    import uvicorn

    from cdc_ingest.schema_stores import store_from_settings
    from query_api.app import create_app

    app = create_app(settings, store, RegistrySchemas(store_from_settings(settings)), registries)
    config = uvicorn.Config(
        app,
        host=settings.api.host,
        port=settings.api.port,
        log_config=None,
        timeout_graceful_shutdown=10,
    )
    err.print(
        f"query API on http://{settings.api.host}:{settings.api.port} over "
        f"{settings.projections_path}"
        + ("" if holder is not None else " (read-only, no projection loop)")
    )
    server = uvicorn.Server(config)
    if holder is not None:
        holder["server"] = server
    # uvicorn re-raises the stop signal once it has drained; a no-op handler underneath lets
    # this process then stop the projection loop, close the database and exit 0.
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, lambda _signum, _frame: None)
    server.run()


class _SchemaStore(Protocol):
    def by_id(self, schema_id: int) -> dict[str, Any] | None: ...
    def subjects(self) -> list[str]: ...
    def versions(self, subject: str) -> list[int]: ...
    def version(self, subject: str, version: int) -> Any: ...


@dataclass(frozen=True, slots=True)
class _Version:
    subject: str
    version: int
    id: int
    schema: str


class RegistrySchemas:
    """cdc_ingest's schema store (the `<prefix>._schemas` topic, or the external registry)
    as the API's `SchemaSource`: schemas as the JSON text the ids were derived from.

    An unreachable store (Kafka or the external registry) is reported as
    `SchemaSourceUnavailable`, which the registry endpoints answer with 503.
    """

    def __init__(self, schemas: _SchemaStore) -> None:
        self._schemas = schemas

    def by_id(self, schema_id: int) -> str | None:
        """The schema text of an id, or None."""
        from cdc_ingest.registry import canonical_text

        with _store_reachable():
            found = self._schemas.by_id(schema_id)
        return None if found is None else canonical_text(found)

    def subjects(self) -> list[str]:
        """Every subject, sorted."""
        with _store_reachable():
            return self._schemas.subjects()

    def versions(self, subject: str) -> list[int]:
        """The versions of a subject, ascending."""
        with _store_reachable():
            return self._schemas.versions(subject)

    def get(self, subject: str, version: int) -> _Version | None:
        """One version of a subject, or None."""
        from cdc_ingest.registry import canonical_text

        with _store_reachable():
            found = self._schemas.version(subject, version)
        if found is None:
            return None
        return _Version(found.subject, found.version, found.id, canonical_text(found.schema))


@contextmanager
def _store_reachable() -> Iterator[None]:
    """Translate cdc_ingest's "unreachable" errors into the API's `SchemaSourceUnavailable`."""
    from cdc_ingest.errors import KafkaUnavailable, SchemaStoreUnavailable

    try:
        yield
    except (SchemaStoreUnavailable, KafkaUnavailable) as exc:
        raise SchemaSourceUnavailable(str(exc)) from exc
