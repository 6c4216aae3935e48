"""`offload reference ...`: list jobs, load now, run the scheduler."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from rich.progress import Progress as RichProgress

    from reference_loader.load import RunReport

logger = logging.getLogger(__name__)

reference_app = typer.Typer(
    help="Scheduled loads of reference extracts into compacted topics.", no_args_is_help=True
)


class _LogProgress:
    """Progress as log lines (not a terminal)."""

    def __init__(self) -> None:
        self.job = ""
        self.total: int | None = None

    def start(self, job: str, source: Path, total: int | None) -> None:
        self.job, self.total = job, total
        logger.info("reference job %s: reading %s (%s records)", job, source, total or "?")

    def advance(self, read: int) -> None:
        logger.info("reference job %s: %d records read", self.job, read)


class _BarProgress:
    """Progress as a rich bar on the terminal."""

    def __init__(self, bar: RichProgress) -> None:
        self.bar = bar
        self.task: Any = None

    def start(self, job: str, source: Path, total: int | None) -> None:
        self.task = self.bar.add_task(f"{job} ({source.name})", total=total)

    def advance(self, read: int) -> None:
        self.bar.update(self.task, completed=read)


def _report_line(report: RunReport) -> str:
    c = report.counts
    return (
        f"{report.job}: {report.status} (read {c.read}, new {c.new}, changed {c.changed}, "
        f"deleted {c.deleted}, unchanged {c.unchanged}, rejected {c.rejected}; "
        f"kafka {report.kafka_outcome})"
        + (f"; rejects in {report.reject_file}" if report.reject_file else "")
    )


@reference_app.command("load")
def load_cmd(
    ctx: typer.Context,
    jobs: Annotated[list[str] | None, typer.Argument(help="Jobs to run (default: all).")] = None,
) -> None:
    """Run reference jobs now, one after the other; exit 1 if one failed."""
    from rich.console import Console
    from rich.progress import Progress as RichProgress

    from plumbing.cli_context import settings_of
    from plumbing.crash import CRASH_ENV, crash_hook
    from plumbing.errors import OffloadError
    from reference_loader.jobs import select_jobs
    from reference_loader.load import RunOptions, run_job

    settings = settings_of(ctx)
    crash = crash_hook(os.environ.get(CRASH_ENV))  # crash tests only; read here, passed down
    failed = 0
    console = Console(stderr=True)
    with RichProgress(console=console, disable=not console.is_terminal) as bar:
        progress = _BarProgress(bar) if console.is_terminal else _LogProgress()
        for job in select_jobs(settings, jobs or []):
            try:
                report = run_job(settings, job, RunOptions(progress=progress, crash=crash))
            except OffloadError as exc:
                failed += 1
                console.print(
                    f"{job.name}: failed: {exc}", markup=False, highlight=False, soft_wrap=True
                )
                continue
            typer.echo(_report_line(report))
    if failed:
        raise typer.Exit(1)


@reference_app.command("jobs")
def jobs_cmd(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    runs: Annotated[int, typer.Option(help="Runs shown per job.", min=1)] = 3,
) -> None:
    """Show each job: its source, topic, schedule, next fire time and last runs."""
    from plumbing.cli_context import settings_of
    from reference_loader.jobs import jobs_of, next_fire_time
    from reference_loader.ledger import Ledger
    from reference_loader.load import reference_dir

    settings = settings_of(ctx)
    out: list[dict[str, Any]] = []
    with Ledger(reference_dir(settings) / "ledger.sqlite") as ledger:
        for job in jobs_of(settings).values():
            spec = job.spec
            fire = next_fire_time(job)
            out.append(
                {
                    "job": job.name,
                    "topic": job.topic,
                    "format": spec.format,
                    "source": str(spec.source or Path(str(spec.directory)) / str(spec.glob)),
                    "schedule": spec.cron
                    or (f"every {spec.interval_s} s" if spec.interval_s else None),
                    "next_fire_time": fire.isoformat() if fire is not None else None,
                    "last_runs": [r.as_dict() for r in ledger.last_runs(job.name, runs)],
                }
            )
    if as_json:
        typer.echo(json.dumps(out, indent=2))
        return
    for entry in out:
        typer.echo(
            f"{entry['job']}: {entry['format']} {entry['source']} → {entry['topic']}; "
            f"schedule {entry['schedule'] or 'none'}; next {entry['next_fire_time'] or '-'}"
        )
        last_runs: list[dict[str, Any]] = entry["last_runs"]
        for run in last_runs:
            typer.echo(
                f"  {run['started_at']} {run['status']:<9} read {run['records_read']} "
                f"new {run['records_new']} changed {run['records_changed']} "
                f"deleted {run['records_deleted']} rejected {run['records_rejected']} "
                f"kafka {run['kafka_outcome']}" + (f" — {run['error']}" if run["error"] else "")
            )


@reference_app.command("schedule")
def schedule_cmd(ctx: typer.Context) -> None:
    """Run the scheduler until SIGTERM/SIGINT; a running load aborts or finishes its commit."""
    from plumbing.cli_context import settings_of
    from reference_loader.scheduler import run_scheduler

    settings = settings_of(ctx)
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        logger.info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    run_scheduler(settings, stop)
    sys.stderr.write("reference scheduler stopped\n")
