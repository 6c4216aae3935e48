"""`offload soak`: the command line of the chaos soak (`offload.soak`): progress lines, the
final table or JSON, exit 0 only when nothing was lost, duplicated, reordered or mismatched."""

from __future__ import annotations

import json
import signal
import time
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from offload.soak import CDC_TRANSACTION_TIMEOUT_S, SoakOptions, SoakReport, run_soak
from plumbing.cli_context import config_path_of, settings_of

console = Console(stderr=True, highlight=False)


def soak_cmd(  # noqa: PLR0917 - Typer maps each parameter to an option
    ctx: typer.Context,
    duration: Annotated[
        float, typer.Option("--duration", min=10.0, help="Seconds of chaos (and of writes).")
    ] = 600.0,
    seed: Annotated[
        int, typer.Option("--seed", help="Seeds the fault times and the workload.")
    ] = 1,
    kills_per_part: Annotated[
        int,
        typer.Option(
            "--kills-per-part",
            min=0,
            help="SIGKILLs of each part: cdc, projection (the writer), api (a serving worker), "
            "reference (aimed at a load in progress).",
        ),
    ] = 10,
    broker_restarts: Annotated[
        int, typer.Option("--broker-restarts", min=0, help="SIGKILLs and restarts of the broker.")
    ] = 2,
    pauses: Annotated[
        int,
        typer.Option("--pauses", min=0, help="SIGSTOPs of a part (cdc, reference, projection)."),
    ] = 1,
    pause_s: Annotated[
        float,
        typer.Option(
            "--pause-s",
            min=1.0,
            help="Length of a pause; the default outlasts capture's 60 s transaction timeout.",
        ),
    ] = CDC_TRANSACTION_TIMEOUT_S + 5,
    tps: Annotated[float, typer.Option("--tps", min=0.1, help="Simulator units of work/s.")] = 20.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Chaos soak: the whole gateway under `offload run` on a Kafka broker of its own (free
    ports, <data_dir>/soak), the simulator writing and the reference scheduler loading, while
    each part is killed with SIGKILL at seeded random moments, the broker is killed and
    restarted and parts are paused beyond their transaction timeouts. Then it waits for
    convergence and checks: missing and extra events against the capture rows, per-key order,
    every unit of work against its END marker, every reference topic against its extract, and
    mirrors and views against the system of record (`offload reconcile`).

    Exits 0 only when every count is zero; 1 otherwise. Logs stay in <data_dir>/soak.
    """
    options = SoakOptions(
        duration_s=duration,
        seed=seed,
        kills_per_part=kills_per_part,
        broker_restarts=broker_restarts,
        pauses=pauses,
        pause_s=pause_s,
        tps=tps,
    )
    started = time.monotonic()

    def say(line: str) -> None:
        console.print(f"{time.strftime('%H:%M:%S')} {line}", markup=False)

    signal.signal(signal.SIGTERM, _interrupt)
    report = run_soak(settings_of(ctx), config_path_of(ctx), options, say)
    say(f"soak finished in {time.monotonic() - started:.0f} s")
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    else:
        _print_table(report)
    raise typer.Exit(0 if report.ok else 1)


def _interrupt(_signum: int, _frame: object) -> None:
    """SIGTERM ends the soak as Ctrl-C does: its cleanup stops `offload run`, the simulator and
    the soak's broker (Python's default action would leave them running, orphaned)."""
    raise KeyboardInterrupt


def _print_table(report: SoakReport) -> None:
    table = Table(title="Offload chaos soak", show_header=False)
    table.add_column("what")
    table.add_column("figure", justify="right")
    for part, count in report.kills.items():
        table.add_row(f"SIGKILL {part}", str(count))
    table.add_row("  of which reference kills during a load", str(report.kills_mid_load))
    table.add_row("broker kills and restarts", str(report.broker_restarts))
    table.add_row("pauses (SIGSTOP … SIGCONT)", str(report.pauses))
    table.add_row("faults skipped", str(len(report.skipped_faults)))
    table.add_row("chaos / converge (s)", f"{report.chaos_s} / {report.converge_s}")
    table.add_row("converged", "yes" if report.converged else f"NO: {report.not_converged}")
    table.add_row("units of work written", str(report.units_of_work))
    table.add_row(
        "events captured (expected)", f"{report.events_captured} ({report.events_expected})"
    )
    table.add_row("missing events", str(report.missing))
    table.add_row("extra events", str(report.extra))
    table.add_row("per-key order violations", str(report.order_violations))
    table.add_row(
        f"incomplete units of work (of {report.units_checked})", str(report.incomplete_units)
    )
    table.add_row(f"mirror mismatches (of {report.mirrors_checked})", str(report.mirror_mismatches))
    table.add_row(f"view mismatches (of {report.views_checked})", str(report.view_mismatches))
    table.add_row("reference topic mismatches", str(report.reference_mismatches))
    console.print(table)
    for what, lines in report.samples.items():
        for line in lines:
            console.print(f"  {what}: {line}", markup=False)
    verdict = "[bold green]0 lost, 0 duplicated: all checks passed[/]"
    console.print(verdict if report.ok else "[bold red]a check failed[/]")
