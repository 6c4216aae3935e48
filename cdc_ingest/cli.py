"""Commands of change capture: `offload schemas list` and `offload schemas export DIR`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from offload.cli import settings_of

schemas_app = typer.Typer(
    help="Show and export the Avro schemas of the gateway's topics.", no_args_is_help=True
)


@schemas_app.command("list")
def schemas_list(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List every subject with its versions and the latest schema id."""
    from rich.console import Console
    from rich.table import Table

    from cdc_ingest.schema_stores import store_from_settings

    store = store_from_settings(settings_of(ctx))
    rows: list[dict[str, Any]] = []
    for subject in store.subjects():
        latest = store.latest(subject)
        versions = store.versions(subject)
        rows.append(
            {
                "subject": subject,
                "versions": versions,
                "latest_version": latest.version if latest else None,
                "latest_id": latest.id if latest else None,
            }
        )
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("subject", "versions", "latest id")
    for row in rows:
        table.add_row(row["subject"], ", ".join(map(str, row["versions"])), str(row["latest_id"]))
    Console().print(table)


@schemas_app.command("export")
def schemas_export(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="Where to write <subject>/v<N>.avsc files.")],
) -> None:
    """Write every subject version as DIR/<subject>/v<version>.avsc."""
    from cdc_ingest.registry import export
    from cdc_ingest.schema_stores import store_from_settings

    written = export(store_from_settings(settings_of(ctx)), directory)
    typer.echo(f"wrote {len(written)} schema files under {directory}")
