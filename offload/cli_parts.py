"""The parts' commands under `offload`, each imported only when it runs or its own help shows.

Each part owns its commands in its own cli module; the entry point only names them here.
Importing them all took 1.5-2.5 s (FastAPI, DuckDB, numpy, ...) before any command did
anything, `offload --help` included.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperCommand, TyperGroup

if TYPE_CHECKING:
    # Typer's own copy of click (it vendors one); its command and group classes derive from these.
    from typer._click import Command, Context, HelpFormatter


@dataclass(frozen=True)
class Part:
    """A part's command, mounted by name and imported only when it runs or its own help shows.

    `help` is the first paragraph of the command's help, what `offload --help` lists for it: the
    root help shows it without importing the part (a unit test checks it against the real one).
    """

    name: str
    """The command's name under `offload`."""
    module: str
    """The part's cli module, imported when the command is resolved."""
    attr: str
    """The Typer app (a group) or the function (a command) in that module."""
    help: str
    """The first paragraph of the command's help, as the root help lists it."""
    group: bool = False
    """A sub-app with commands of its own (`offload cdc run`), mounted like `app.add_typer`."""
    hidden: bool = False
    """Left out of the root help (the processes `offload serve` starts)."""

    def load(self) -> Command:
        """Import the part's cli module and build its command as `app.add_typer`/`command` would."""
        target = getattr(importlib.import_module(self.module), self.attr)
        mount = typer.Typer()
        if self.group:
            mount.add_typer(target, name=self.name)
        else:
            mount.command(self.name, hidden=self.hidden)(target)
        return listed_on_one_paragraph(typer.main.get_group(mount).commands[self.name])


PARTS: tuple[Part, ...] = (
    Part(
        "run",
        "offload.run_cli",
        "run_cmd",
        "Run every long-running part (CDC capture, the projection writer, the serving workers,\n"
        "the reference scheduler) as supervised child processes until Ctrl-C or SIGTERM.",
    ),
    Part(
        "demo",
        "offload.demo",
        "demo_cmd",
        "The whole gateway end to end: local Kafka, simulated Db2, reference loads, "
        "`offload run`,\na steady simulated workload with live progress, then a report (lost "
        "and duplicated events,\nfreshness p50/p99, cold-chain verdict) and commands to try. "
        "Keeps serving until Ctrl-C\nunless --exit. Each run starts clean in <data_dir>/demo "
        "with its own topic prefix.",
    ),
    Part(
        "bench",
        "offload.bench",
        "bench_cmd",
        "Run the benchmark suite; write results.json and summary.md, print the summary.",
    ),
    Part(
        "soak",
        "offload.soak_cli",
        "soak_cmd",
        "Chaos soak: the whole gateway under `offload run` on a Kafka broker of its own (free\n"
        "ports, <data_dir>/soak), the simulator writing and the reference scheduler loading, "
        "while\neach part is killed with SIGKILL at seeded random moments, the broker is killed "
        "and\nrestarted and parts are paused beyond their transaction timeouts. Then it waits "
        "for\nconvergence and checks: missing and extra events against the capture rows, "
        "per-key order,\nevery unit of work against its END marker, every reference topic "
        "against its extract, and\nmirrors and views against the system of record "
        "(`offload reconcile`).",
    ),
    Part(
        "status",
        "offload.run_cli",
        "status_cmd",
        "Show each part of `offload run`: state, pid, restarts, last exit code and lag\n(cdc: "
        "behind the system of record; projection: the read models behind what CDC published).",
    ),
    Part(
        "reconcile",
        "offload.reconcile",
        "reconcile_cmd",
        "Compare the system of record with the read models (rows, digests, first differing\n"
        "keys), each derived view with the same view computed whole from the mirrors, and "
        "the\ncapture tables with the change topics (missing and extra events).",
    ),
    Part(
        "simulate",
        "simulators.cli",
        "simulate_cmd",
        "Run the shipping workload against the simulated Db2 (orders, voyages, telemetry).",
    ),
    Part(
        "query",
        "query_api.cli",
        "query_cmd",
        "Run a named query or gated SQL over the projections, and print its freshness.",
    ),
    Part(
        "serve",
        "offload.serve",
        "serve_cmd",
        "Serve the query API on api.host:api.port: the projection writer in one process, the\n"
        "HTTP answers in `api.workers` others, each restarted if it dies.",
    ),
    Part(
        "serve-writer",
        "offload.serve",
        "serve_writer_cmd",
        "The projection writer and its read server (one process of `offload serve`).",
        hidden=True,
    ),
    Part(
        "serve-worker",
        "offload.serve",
        "serve_worker_cmd",
        "One serving worker (a process of `offload serve`).",
        hidden=True,
    ),
    Part(
        "kafka",
        "offload.kafka_cli",
        "kafka_app",
        "The local single-node Apache Kafka (KRaft) the gateway uses by default. Needs Java 17+ "
        "and Maven; its data and log live in <data_dir>/kafka.",
        group=True,
    ),
    Part(
        "schemas",
        "cdc_ingest.cli",
        "schemas_app",
        "Show and export the Avro schemas of the gateway's topics.",
        group=True,
    ),
    Part(
        "cdc",
        "cdc_ingest.cli",
        "cdc_app",
        "Change capture: publish the system of record's units of work to Kafka, exactly once.",
        group=True,
    ),
    Part(
        "sor",
        "simulators.cli",
        "sor_app",
        "The simulated mainframe Db2 (system of record): tables, units of work, capture.",
        group=True,
    ),
    Part(
        "reference",
        "reference_loader.cli",
        "reference_app",
        "Scheduled loads of reference extracts into compacted topics.",
        group=True,
    ),
    Part(
        "project",
        "projections.cli",
        "project_app",
        "Apply the topics to the DuckDB read models.",
        group=True,
    ),
    Part(
        "errors",
        "projections.cli",
        "errors_app",
        "Inspect and replay records that failed.",
        group=True,
    ),
)


def flowed(text: str) -> str:
    """The first paragraph of a help text on one line: the words joined by single spaces."""
    return " ".join(inspect.cleandoc(text).split("\n\n")[0].split())


def listed_on_one_paragraph(command: Command) -> Command:
    """`command` and every command under it listed by their first paragraph, reflowed.

    A docstring's first paragraph spans several source lines; Typer's rich help keeps those
    line breaks in a group's command list, which then shows ragged half-empty lines at any
    width. A command's own help (its full docstring) is left as it is.
    """
    if command.short_help is None and command.help:
        command.short_help = flowed(command.help)
    for sub in getattr(command, "commands", {}).values():
        listed_on_one_paragraph(sub)
    return command


class _Unloaded(TyperCommand):
    """Stands in for a part's command in the root help: its name, first paragraph, hidden flag."""

    def __init__(self, part: Part) -> None:
        super().__init__(
            part.name, help=part.help, short_help=flowed(part.help), hidden=part.hidden
        )
        self.part = part


class LazyGroup(TyperGroup):
    """The root group: imports a part's commands when they are resolved, not to list them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Typer lists commands before groups, each in the order they were added; `config` is
        # the one group defined here, added before the parts.
        here = {name: listed_on_one_paragraph(cmd) for name, cmd in self.commands.items()}
        self.commands = {p.name: _Unloaded(p) for p in PARTS if not p.group}
        self.commands.update(here)
        self.commands.update({p.name: _Unloaded(p) for p in PARTS if p.group})
        self._listing = False

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        cmd = self.commands.get(cmd_name)
        if isinstance(cmd, _Unloaded) and not self._listing:
            cmd = self.commands[cmd_name] = cmd.part.load()
        return cmd

    def format_help(self, ctx: Context, formatter: HelpFormatter) -> None:
        # The command list needs only names and first paragraphs: list the stand-ins.
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False
