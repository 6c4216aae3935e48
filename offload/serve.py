"""`offload serve`: the read tier, a projection writer and `api.workers` serving workers.

`offload serve` supervises one writer process and N worker processes (`offload.read_tier`),
restarting any that dies; `offload run` runs the same processes as parts of its own. The
`serve-writer` and `serve-worker` commands are those processes' entry points (hidden: a user
runs `offload serve`).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sys
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.console import Console

from config import Settings
from offload.supervisor import PartSpec, PartState, Supervisor
from plumbing.cli_context import config_path_of, settings_of
from plumbing.errors import UsageError

console = Console(stderr=True)


def worker_count(settings: Settings) -> int:
    """How many serving workers: `api.workers`, or one per core when it is 0."""
    return settings.api.workers or os.cpu_count() or 1


def worker_metrics_dir(settings: Settings) -> Path:
    """Where the serving workers keep the API metrics they sum for /metrics."""
    return settings.data_dir / "serve" / "worker-metrics"


def fresh_worker_metrics(settings: Settings) -> None:
    """Empty the workers' metrics directory: a read tier starting counts from zero."""
    path = worker_metrics_dir(settings)
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)


def serving_parts(settings: Settings, config_path: Path) -> list[PartSpec]:
    """The writer and the workers, each as `python -m offload --config <file> <command>`; the
    workers share their API metrics in `worker_metrics_dir` (`query_api.metrics`)."""
    from query_api.metrics import MULTIPROCESS_ENV  # the query API's imports: only here

    base = (sys.executable, "-m", "offload", "--config", str(config_path))
    parts = [PartSpec("projection", (*base, "serve-writer"))]
    shared = ((MULTIPROCESS_ENV, str(worker_metrics_dir(settings))),)
    parts += [
        PartSpec(f"api-{n}", (*base, "serve-worker"), shared)
        for n in range(1, worker_count(settings) + 1)
    ]
    return parts


def serve_cmd(
    ctx: typer.Context,
    no_projection: Annotated[
        bool,
        typer.Option(
            "--no-projection",
            help="Serve the DuckDB file read-only as it is, in one process (a replica on a "
            "snapshot copy).",
        ),
    ] = False,
    host: Annotated[
        str | None, typer.Option("--host", help="Listen address (default api.host).")
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", help="Listen port (default api.port).", min=1, max=65535)
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", help="Serving processes (default api.workers; 0: one per core).", min=0
        ),
    ] = None,
) -> None:
    """Serve the query API on api.host:api.port: the projection writer in one process, the
    HTTP answers in `api.workers` others, each restarted if it dies.

    Stops on Ctrl-C or SIGTERM: the workers drain, the writer finishes or rolls back its
    batch and closes the database.
    """
    settings = settings_of(ctx)
    overrides = _api_overrides(host, port, workers)
    if overrides:
        for key, value in overrides.items():
            os.environ[f"OFFLOAD__API__{key.upper()}"] = str(value)
        settings = settings.model_copy(update={"api": settings.api.model_copy(update=overrides)})
    if no_projection:
        from offload.read_tier import run_read_only

        run_read_only(settings)
        return
    _check_port_free(settings.api.host, settings.api.port)
    parts = serving_parts(settings, config_path_of(ctx))
    fresh_worker_metrics(settings)
    supervisor = Supervisor(
        parts, settings.run, settings.data_dir / "serve" / "state.json", log_dir=None
    )

    def _stop(signum: int, _frame: FrameType | None) -> None:
        console.print(f"received {signal.Signals(signum).name}: stopping the read tier")
        supervisor.stop()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)

    def _show(state: PartState) -> None:
        if state.state in ("backoff", "stopped") or state.restarts:
            pid = f" pid {state.pid}" if state.pid else ""
            console.print(f"{state.name}: {state.state}{pid} (restarts {state.restarts})")

    console.print(
        f"query API on http://{settings.api.host}:{settings.api.port}: projection writer and "
        f"{len(parts) - 1} serving workers over {settings.projections_path}"
    )
    supervisor.run(on_change=_show)


def serve_writer_cmd(ctx: typer.Context) -> None:
    """The projection writer and its read server (one process of `offload serve`)."""
    from offload.read_tier import run_writer

    run_writer(settings_of(ctx))


def serve_worker_cmd(ctx: typer.Context) -> None:
    """One serving worker (a process of `offload serve`)."""
    from offload.read_tier import run_worker

    run_worker(settings_of(ctx))


def _api_overrides(host: str | None, port: int | None, workers: int | None) -> dict[str, str | int]:
    found: dict[str, str | int | None] = {"host": host, "port": port, "workers": workers}
    return {key: value for key, value in found.items() if value is not None}


def _check_port_free(host: str, port: int) -> None:
    """Fail fast, with the config key, when another process holds the port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise UsageError(
                f"cannot listen on {host}:{port} (api.host, api.port, or --host/--port): "
                f"{exc.strerror or exc}"
            ) from exc
