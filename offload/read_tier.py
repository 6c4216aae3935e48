"""The read tier's processes: the projection writer with its read server, and serving workers.

This is the only place that composes the query API with other parts (see README, "Design
decisions"):

- **the writer** (`offload serve-writer`) owns the DuckDB database: it runs the projection
  loop (projections), locks the database down after the writer's own settings, and serves
  snapshots of it to the workers over Arrow Flight (`query_api.read_server`);
- **a serving worker** (`offload serve-worker`, `api.workers` of them) answers HTTP on
  api.host:api.port (every worker binds it with SO_REUSEPORT, so the kernel spreads the
  connections), reading through the writer's read server (`query_api.remote_store`), with the
  schema store (event_contract) behind the registry endpoints;
- **read-only serving** (`offload serve --no-projection`): one process over the DuckDB file as
  it is, for a replica on a snapshot copy, or a database no writer holds.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console

from plumbing.crash import CRASH_ENV, crash_hook

if TYPE_CHECKING:
    import duckdb
    from prometheus_client import CollectorRegistry

    from config import Settings
    from query_api.read_link import Replayer
    from query_api.store import ReadStore

logger = logging.getLogger(__name__)
err = Console(stderr=True, soft_wrap=True)


def run_writer(settings: Settings) -> None:
    """Apply the topics to the projection database and serve it to the workers until SIGTERM.

    A failure of the projection loop ends the process (non-zero), so the supervisor restarts
    the writer; the workers answer 503 meanwhile.
    """
    from projections.runtime import open_projection
    from query_api.read_link import address_path
    from query_api.read_server import ReadServer
    from query_api.store import DuckDBReadStore

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    hook = crash_hook(os.environ.get(CRASH_ENV))
    address = address_path(settings.projections_path)
    with open_projection(settings, hook=hook) as projection:
        consumer = projection.consumer()
        _lock(settings, projection.con)
        store = DuckDBReadStore(projection.con, feed=projection.writer.signal)
        server = ReadServer(store, (projection.metrics.registry,), replayer=consumer.replay_entry)
        server.start(address)
        try:
            consumer.run(stop)
        finally:
            address.unlink(missing_ok=True)
            server.stop()
            projection.write_status(consumer)
            logger.info("projection writer stopped; database %s closed", settings.projections_path)


def run_worker(settings: Settings) -> None:
    """Answer HTTP on api.host:api.port through the writer's read server until SIGTERM."""
    from query_api.read_link import address_path
    from query_api.remote_store import RemoteReadStore

    api = settings.api
    store = RemoteReadStore(
        address_path(settings.projections_path),
        timeout_s=api.sql_timeout_s + api.max_wait_ms / 1000 + 30,
    )
    try:
        sock = shared_port_socket(api.host, api.port)
        _serve(settings, store, sock, store.metrics, replayer=store.replay)
    finally:
        store.close()


def run_read_only(settings: Settings) -> None:
    """Serve the DuckDB file read-only, in this one process, until SIGTERM."""
    from query_api.database import open_read_only
    from query_api.store import DuckDBReadStore

    connection = open_read_only(settings.projections_path)
    try:
        _lock(settings, connection)
        err.print(f"read-only over {settings.projections_path} (no projection loop)")
        _serve(settings, DuckDBReadStore(connection), None)
    finally:
        connection.close()


def shared_port_socket(host: str, port: int) -> socket.socket:
    """A listening socket on host:port that other workers may bind too (SO_REUSEPORT)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


def _lock(settings: Settings, connection: duckdb.DuckDBPyConnection) -> None:
    from query_api.database import DuckDBLimits, lock_down

    api = settings.api
    # Database-wide and final (lock_configuration): the writer's own SETs come before it.
    lock_down(connection, DuckDBLimits(api.duckdb_memory_limit, api.duckdb_threads))


def _serve(
    settings: Settings,
    store: ReadStore,
    sock: socket.socket | None,
    writer_metrics: Any = None,
    registries: Sequence[CollectorRegistry] = (),
    *,
    replayer: Replayer | None = None,
) -> None:
    import uvicorn

    from event_contract.schema_stores import store_from_settings
    from query_api.app import create_app
    from query_api.registry_schemas import RegistrySchemas

    schemas = RegistrySchemas(store_from_settings(settings))
    app = create_app(settings, store, schemas, registries, writer_metrics, replayer=replayer)
    config = uvicorn.Config(
        app,
        host=settings.api.host,
        port=settings.api.port,
        log_config=None,
        timeout_graceful_shutdown=10,
        ssl_certfile=settings.api.tls_cert_file,  # api.tls_cert_file/tls_key_file: HTTPS
        ssl_keyfile=settings.api.tls_key_file,
    )
    where = f"{settings.api.scheme}://{settings.api.host}:{settings.api.port}"
    err.print(f"query API on {where} (pid {os.getpid()})")
    server = uvicorn.Server(config)
    # uvicorn re-raises the stop signal once it has drained; a no-op handler underneath lets
    # this process then close its store and exit 0.
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, lambda _signum, _frame: None)
    server.run(sockets=None if sock is None else [sock])
