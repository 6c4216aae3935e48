"""`offload run` (every long-running part, supervised) and `offload status` (their state)."""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from config import Settings
from offload.serve import fresh_worker_metrics, serving_parts
from offload.supervisor import PartSpec, PartState, Supervisor, read_state
from plumbing.cli_context import config_path_of, settings_of
from plumbing.errors import UsageError
from plumbing.processes import same_process

console = Console()

# Each part and the command that runs it on its own (the read tier's parts: offload.serve).
PART_COMMANDS: dict[str, tuple[str, ...]] = {
    "cdc": ("cdc", "run"),
    "reference": ("reference", "schedule"),
}


def state_path(settings: Settings) -> Path:
    """Where the supervisor of this data dir writes its state."""
    return settings.data_dir / "run" / "state.json"


def part_specs(settings: Settings, config_path: Path) -> list[PartSpec]:
    """The enabled parts, each as `python -m offload --config <file> <command>`: capture (a
    part per group when split by table group), the projection writer and the serving workers
    (`offload.serve`), the reference scheduler."""
    base = (sys.executable, "-m", "offload", "--config", str(config_path))
    parts = []
    if settings.run.cdc and settings.capture.split:  # a part per capture group
        parts += [
            PartSpec(f"cdc-{group}", (*base, *PART_COMMANDS["cdc"], "--group", group))
            for group in settings.capture.groups()
        ]
    elif settings.run.cdc:
        parts.append(PartSpec("cdc", base + PART_COMMANDS["cdc"]))
    if settings.run.serve:
        parts += serving_parts(settings, config_path)
    if settings.run.reference and settings.reference.enabled:
        parts.append(PartSpec("reference", base + PART_COMMANDS["reference"]))
    return parts


def run_cmd(ctx: typer.Context) -> None:
    """Run every long-running part (CDC capture, the projection writer, the serving workers,
    the reference scheduler) as supervised child processes until Ctrl-C or SIGTERM.

    A part that crashes is restarted with exponential backoff; stopping sends each part SIGTERM
    so it finishes or aborts its transaction. Switch parts off in the [run] config section;
    each part can also run on its own (`offload cdc run`, `offload serve`,
    `offload reference schedule`). Logs: <data_dir>/logs/<part>.log.
    """
    settings = settings_of(ctx)
    parts = part_specs(settings, config_path_of(ctx))
    if not parts:
        raise UsageError("every part is switched off in the [run] config section: nothing to run")
    previous = read_state(state_path(settings))
    other = previous.get("supervisor_pid") if previous else None
    if previous and same_process(other, previous.get("supervisor_started")):
        raise UsageError(
            f"`offload run` is already running for data dir {settings.data_dir} (pid {other}); "
            "stop it first or use another runtime.data_dir"
        )
    if settings.run.serve:
        fresh_worker_metrics(settings)
    supervisor = Supervisor(parts, settings.run, state_path(settings), settings.data_dir / "logs")

    def _stop(signum: int, _frame: FrameType | None) -> None:
        console.print(f"received {signal.Signals(signum).name}: stopping every part")
        supervisor.stop()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)

    def _show(state: PartState) -> None:
        pid = f" pid {state.pid}" if state.pid else ""
        code = f" (last exit {state.last_exit_code})" if state.last_exit_code is not None else ""
        console.print(f"{time.strftime('%H:%M:%S')} {state.name:<10} {state.state}{pid}{code}")

    console.print(f"supervising {', '.join(p.name for p in parts)}; Ctrl-C stops all")
    supervisor.run(on_change=_show)


def _lag_figures(settings: Settings) -> dict[str, object]:
    """Each part's progress and lag, from where that part publishes it; a figure that cannot
    be read says why instead of failing the whole status."""
    figures: dict[str, object] = {}
    try:
        from cdc_ingest.capture_status import capture_status

        cdc = capture_status(settings, int(time.time() * 1000))
        figures["cdc"] = {
            "last_published_lsn": cdc.last_published_lsn,
            "source_newest_lsn": cdc.source_newest_lsn,
            "lag_lsn": cdc.lag_lsn,
            "lag_seconds": cdc.lag_seconds,
            "events_per_second": cdc.events_per_second,
        }
    except Exception as exc:  # a status must show what it can; the reason is shown instead
        figures["cdc"] = {"unavailable": str(exc).splitlines()[0]}
    from projections.status import STATUS_FILE, read_file

    projection = read_file(settings.projections_path.parent / STATUS_FILE)
    if projection is None:
        figures["projection"] = {"unavailable": "no projection status written yet"}
    else:
        watermark = projection.get("watermark")
        figures["projection"] = {
            "watermark_lsn": watermark.get("lsn") if isinstance(watermark, dict) else None,
            "lag_lsn": projection.get("lag_lsn"),
            "lag_seconds": projection.get("lag_seconds"),
            "events_per_second": projection.get("events_per_s"),
            "errors_open": projection.get("errors_open"),
            "written_at": projection.get("written_at"),
        }
    return figures


def _lag_text(info: object) -> str:
    if not isinstance(info, dict):
        return "-"
    if "unavailable" in info:
        return f"unavailable: {info['unavailable']}"
    lsn, seconds = info.get("lag_lsn"), info.get("lag_seconds")
    rate = info.get("events_per_second")
    text = f"{lsn if lsn is not None else '?'} LSNs"
    if isinstance(seconds, int | float):
        text += f", {seconds:.1f} s"
    if isinstance(rate, int | float):
        text += f", {rate:,.0f} events/s"
    return text


def status_cmd(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Show each part of `offload run`: state, pid, restarts, last exit code and lag
    (cdc: behind the system of record; projection: the read models behind what CDC published).

    Exits 0 when a supervisor is running and every part is running, 1 otherwise.
    """
    settings = settings_of(ctx)
    doc = read_state(state_path(settings)) or {}
    supervisor_pid = doc.get("supervisor_pid")
    alive = same_process(supervisor_pid, doc.get("supervisor_started"))
    raw_parts = doc.get("parts")
    parts: dict[str, dict[str, object]] = raw_parts if isinstance(raw_parts, dict) else {}
    for info in parts.values():
        pid = info.get("pid")
        if not alive or (isinstance(pid, int) and not same_process(pid, info.get("pid_started"))):
            info["state"] = "stopped" if not alive else "gone"
    healthy = alive and bool(parts) and all(p.get("state") == "running" for p in parts.values())
    lag = _lag_figures(settings) if alive else {}
    if as_json:
        doc = {"supervisor_running": alive, "supervisor_pid": supervisor_pid, "parts": parts}
        typer.echo(json.dumps({**doc, "lag": lag}, indent=2, default=str))
    elif not parts:
        console.print(f"no `offload run` has run for data dir {settings.data_dir}")
    else:
        table = Table(title=f"offload run ({'running' if alive else 'not running'})")
        for column in ("part", "state", "pid", "restarts", "last exit", "lag", "log"):
            table.add_column(column)
        for name, info in parts.items():
            table.add_row(
                name,
                str(info.get("state")),
                str(info.get("pid") or "-"),
                str(info.get("restarts")),
                str(info.get("last_exit_code") if info.get("last_exit_code") is not None else "-"),
                _lag_text(lag.get(name)),
                str(info.get("log_file")),
            )
        console.print(table)
    raise typer.Exit(0 if healthy else 1)
