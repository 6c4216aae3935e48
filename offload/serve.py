"""`offload serve`: the query API composed with the projection writer and the schema store.

This is the only place that composes the query API with other parts: it opens the projection
database (projections), starts the projection loop when one exists, locks the database down
after the writer is set up, hands the schema store (event_contract's `store_from_settings`) to
the app as its `SchemaSource`, and serves the app with uvicorn in the same process (see README,
"Design decisions").
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from plumbing.cli_context import settings_of

if TYPE_CHECKING:
    import duckdb

    from config import Settings

logger = logging.getLogger(__name__)
err = Console(stderr=True, soft_wrap=True)


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
            logger.error("the projection loop failed: %s", exc)
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

    with open_projection(settings) as projection:
        consumer = projection.consumer()
        _lock(settings, projection.con)
        store = projection.read_store()
        holder: dict[str, Any] = {}
        loop = _ProjectionThread(consumer, lambda: _stop_server(holder))
        loop.start()
        try:
            _serve(settings, store, holder, (projection.metrics.registry,))
        finally:
            loop.stop()
            logger.info(
                "query API stopped; projection database %s closed", settings.projections_path
            )


def _stop_server(holder: dict[str, Any]) -> None:
    server = holder.get("server")
    if server is not None:
        server.should_exit = True


def _serve(
    settings: Settings, store: Any, holder: dict[str, Any] | None, registries: tuple[Any, ...] = ()
) -> None:
    import uvicorn

    from event_contract.schema_stores import store_from_settings
    from query_api.app import create_app
    from query_api.registry_schemas import RegistrySchemas

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
