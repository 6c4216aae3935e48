"""Commands of the simulated mainframe: `offload sor ...` and `offload simulate`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from plumbing.cli_context import settings_of
from plumbing.errors import UsageError

if TYPE_CHECKING:
    from config import Settings
    from simulators.sor import SystemOfRecord

console = Console()
sor_app = typer.Typer(
    help="The simulated mainframe Db2 (system of record): tables, units of work, capture.",
    no_args_is_help=True,
)


def _open(settings: Settings, command: str) -> SystemOfRecord:
    from simulators.sor import SystemOfRecord

    if settings.source.kind != "sqlite":
        raise UsageError(
            f'`offload sor {command}` works on the simulated Db2 only (source.kind = "sqlite")'
        )
    source = settings.source
    # source.flavor chooses a new file's flavor; an existing file keeps its own, and only a
    # flavor set explicitly (file or environment) that differs from it is refused.
    flavor = source.flavor if "flavor" in source.model_fields_set else None
    return SystemOfRecord.open(
        settings.sor_path,
        source.schema_name,
        source.busy_timeout_ms,
        flavor=flavor,
        updates_as_delete_insert=source.updates_as_delete_insert,
    )


@sor_app.command("init")
def init(
    ctx: typer.Context,
    drop: Annotated[bool, typer.Option("--drop", help="Delete the file and start afresh.")] = False,
    empty: Annotated[
        bool,
        typer.Option(
            "--empty",
            help="No user tables: only the unit-of-work and capture machinery (create your "
            "own with `offload sor exec`).",
        ),
    ] = False,
) -> None:
    """Create the simulated Db2 (CD tables in `source.flavor`) with the SHIPPING tables, all
    registered for capture; with --empty, without any table."""
    from simulators.sor import install_shipping

    settings = settings_of(ctx)
    path = settings.sor_path
    if drop and settings.source.kind == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    with _open(settings, "init") as sor:
        if empty:
            count = len(sor.all_tables())
            note = f"{count} tables" if count else "no tables"
        else:
            created = install_shipping(sor)
            note = f"created {', '.join(created)}" if created else "tables already exist"
        console.print(
            f"simulated Db2 {path} (CD-table flavor {sor.flavor.name}): {note}; "
            f"newest LSN {sor.newest_lsn()}"
        )


@sor_app.command("exec")
def exec_sql(
    ctx: typer.Context,
    sql: Annotated[str | None, typer.Argument(help="Statements separated by ';'.")] = None,
    file: Annotated[Path | None, typer.Option("--file", "-f", help="Read SQL from a file.")] = None,
) -> None:
    """Run Db2 SQL statements (DDL, queries, INSERT, UPDATE, DELETE) as one unit of work;
    prints query rows and the unit's LSN."""
    if (sql is None) == (file is None):
        raise UsageError("give either SQL text or --file, not both or neither")
    text = sql if sql is not None else _read(file)
    with _open(settings_of(ctx), "exec") as sor:
        with sor.unit_of_work() as unit:
            results = sor.run_script(unit, text)
        for result in results:
            if result.columns:
                typer.echo("\t".join(result.columns))
                for row in result.rows:
                    typer.echo("\t".join("" if v is None else str(v) for v in row))
        typer.echo(f"committed unit of work {unit.uow_id} at LSN {unit.lsn}")


def _read(file: Path | None) -> str:
    assert file is not None
    try:
        return file.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read SQL file {file}: {exc.strerror}") from exc


@sor_app.command("import")
def import_cmd(
    ctx: typer.Context,
    table: Annotated[
        str, typer.Argument(help="Target table, e.g. ACCT.LEDGER, or ORDERS of source.schema.")
    ],
    file: Annotated[Path, typer.Argument(help="CSV file with a header record.")],
    batch: Annotated[int, typer.Option("--batch", min=1, help="Records per unit of work.")] = 1000,
) -> None:
    """Bulk-load a CSV file, one unit of work per batch, with a progress bar."""
    from rich.progress import Progress

    from simulators.importer import count_records, import_csv

    with _open(settings_of(ctx), "import") as sor:
        total = count_records(file) if file.is_file() else 0
        with Progress(console=console, disable=not console.is_terminal) as progress:
            task = progress.add_task(f"import {table.upper()}", total=total)
            lsns = import_csv(sor, table, file, batch, lambda n, _lsn: progress.advance(task, n))
    span = f"LSN {lsns[0]}..{lsns[-1]}" if lsns else "nothing to import"
    typer.echo(
        f"imported {total} records into {table.upper()} in {len(lsns)} units of work, {span}"
    )


@sor_app.command("register")
def register(
    ctx: typer.Context,
    tables: Annotated[
        list[str],
        typer.Argument(
            help="Tables to put under capture: SCHEMA.TABLE, or TABLE of source.schema."
        ),
    ],
) -> None:
    """Put existing tables under capture (CD table, triggers, IBMSNAP_REGISTER), as ASN does;
    updates are captured as delete + insert pairs when `source.updates_as_delete_insert`."""
    with _open(settings_of(ctx), "register") as sor, sor.unit_of_work() as unit:
        done = {name.upper(): sor.register(name) for name in tables}
    for name, new in done.items():
        typer.echo(f"{name}: {'registered' if new else 'already captured'}")
    typer.echo(f"LSN {unit.lsn}")


@sor_app.command("tables")
def tables_cmd(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the tables of every schema and whether each is captured."""
    from db2.catalog_reader import open_catalog

    settings = settings_of(ctx)
    with open_catalog(settings) as source:
        captured = {r.table for r in source.registrations()}
        rows = [{"table": name, "captured": name in captured} for name in source.all_tables()]
    if as_json:
        typer.echo(json.dumps(rows))
        return
    for row in rows:
        typer.echo(f"{row['table']:<40} captured: {'yes' if row['captured'] else 'no'}")


def simulate_cmd(  # noqa: PLR0917 - Typer maps each parameter to an option
    ctx: typer.Context,
    transactions: Annotated[
        int | None, typer.Option("--transactions", "-n", min=1, help="Units of work to run.")
    ] = None,
    duration: Annotated[
        float | None, typer.Option("--duration", min=0.0, help="Seconds to run.")
    ] = None,
    tps: Annotated[
        float | None, typer.Option("--tps", min=0.001, help="Target units of work per second.")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Same seed and options: same data.")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Run the shipping workload against the simulated Db2 (orders, voyages, telemetry)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from simulators.simulation import SimulationOptions, run_simulation
    from simulators.sor import install_shipping

    if transactions is None and duration is None:
        raise UsageError("give --transactions N or --duration S")
    options = SimulationOptions(transactions, duration, tps, seed)
    with _open(settings_of(ctx), "simulate") as sor:
        install_shipping(sor)
        columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"))
        with Progress(
            *columns, TimeElapsedColumn(), console=console, disable=not console.is_terminal
        ) as progress:
            task = progress.add_task("simulate", total=transactions or duration, info="")

            def show(summary: object) -> None:
                done = getattr(summary, "units_of_work", 0)
                rows = getattr(summary, "total_rows", 0)
                progress.update(
                    task, completed=done if transactions else None, info=f"{done} UOW, {rows} rows"
                )

            summary = run_simulation(sor, options, show)
    result = summary.as_dict()
    if as_json:
        typer.echo(json.dumps(result, indent=2))
    else:
        span = f"LSN {result['first_lsn']}..{result['last_lsn']}"
        console.print(
            f"{result['units_of_work']} units of work ({span}), "
            f"{result['total_rows']} rows, {result['units_of_work_per_s']} UOW/s, "
            f"{result['rows_per_s']} rows/s; excursions in "
            f"{', '.join(e['container_id'] for e in result['excursion_containers']) or 'none'}"
        )
