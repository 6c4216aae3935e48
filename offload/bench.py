"""`offload bench`: the benchmark suite, with every ceiling measured in the same run.

The command picks the suite (full, --quick or --smoke; `offload.bench_suite` lists the
benchmarks and their sizes) and the benchmarks (--only), runs them (`offload.bench_runner`:
the local Kafka started or reused, each benchmark sampled for the memory of its processes), then
writes `results.json` and `summary.md` in `--out` (default `bench-results/<timestamp>/`;
`offload.bench_results`) and prints the summary. Figures with a natural ceiling are reported
next to it and as a ratio, because absolute figures drift on a noisy machine; every figure is a
median where the benchmark repeats.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated

import typer

from offload.bench_suite import TITLES
from plumbing.errors import UsageError


def selected_benchmarks(only: str | None) -> set[str]:
    """The benchmarks named by `--only` (empty: all of them).

    Raises:
        UsageError: naming the unknown benchmarks and the known ones.
    """
    selected = {n.strip() for n in (only or "").split(",") if n.strip()}
    if unknown := selected - set(TITLES):
        raise UsageError(
            f"--only: unknown benchmark {', '.join(sorted(unknown))}; known: {', '.join(TITLES)}"
        )
    return selected


def bench_cmd(
    ctx: typer.Context,
    quick: Annotated[
        bool, typer.Option("--quick", help="Small sizes: the whole suite in about two minutes.")
    ] = False,
    smoke: Annotated[
        bool, typer.Option("--smoke", help="Smallest sizes, for the smoke test.", hidden=True)
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Directory for results.json and summary.md (default bench-results/<timestamp>).",
            show_default=False,
        ),
    ] = None,
    only: Annotated[
        str | None,
        typer.Option("--only", help=f"Comma-separated benchmarks to run: {', '.join(TITLES)}."),
    ] = None,
) -> None:
    """Run the benchmark suite; write results.json and summary.md, print the summary.

    Full sizes: CDC publish 4,000 units of work x 3 runs; projection apply
    200,000 events x 3; projection loop 20,000 units of work; batch window
    1,000,000 updates in units of 10,000; reference load
    1,000,000 EBCDIC records x 3; query API 100,000 orders and 10,000,000
    readings, 8 clients for 20 s; freshness 1,000 units of work/s for 60 s
    (then lower rates when that is not kept up).

    Ceilings are measured in the same run and reported as ratios. State in
    <data_dir>/bench/<run>, topics <prefix>-bench-<run>, both removed by the
    next run. Exits 1 when a benchmark failed.
    """
    from offload.bench_results import results_of, write_results
    from offload.bench_runner import console, prepare, run_suite
    from plumbing.cli_context import config_path_of, settings_of

    selected = selected_benchmarks(only)
    suite = "smoke" if smoke else "quick" if quick else "full"
    started, load = time.monotonic(), os.getloadavg()[0]
    base = settings_of(ctx)
    run = prepare(base, suite, out)
    entries = run_suite(run, base, config_path_of(ctx), selected)
    results = results_of(run, entries, time.monotonic() - started, load)
    summary = write_results(run.out, results)
    console.print(f"[bold]·[/] results in {run.out}/results.json and summary.md", highlight=False)
    typer.echo(summary)
    raise typer.Exit(0 if results["ok"] else 1)
