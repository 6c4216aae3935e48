"""`offload query`: the named queries and gated SQL from a terminal.

`offload query` sends the request to the API running at api.host:api.port (key from the
environment variable OFFLOAD_API_KEY), else opens the DuckDB file read-only and runs the
same app in process; it says which on stderr, with the answer's watermark.
"""

from __future__ import annotations

import json
import logging
import os
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from query_api.commands import NAMED, as_csv, cell_text, freshness_line, parse_params, request_for
from query_api.commands import rows_of as _rows_of
from query_api.errors import QueryRefused, QueryUsage

if TYPE_CHECKING:
    from config import Settings
    from query_api.client import Answer, QueryClient

logger = logging.getLogger(__name__)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
API_KEY_ENV = "OFFLOAD_API_KEY"


class Format(StrEnum):
    """Output formats of `offload query`."""

    table = "table"
    json = "json"
    csv = "csv"


def query_cmd(  # noqa: PLR0917 - Typer maps each parameter to an option
    ctx: typer.Context,
    name: Annotated[
        str | None,
        typer.Argument(help=f"Named query: {', '.join(NAMED)}.", show_default=False),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="K=V parameter of the named query (repeatable)."),
    ] = None,
    sql: Annotated[
        str | None, typer.Option("--sql", help="One read-only SELECT, gated as POST /sql.")
    ] = None,
    arg: Annotated[
        list[str] | None,
        typer.Option("--arg", help="Positional parameter of --sql (JSON value or text)."),
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """Run a named query or gated SQL over the projections, and print its freshness.

    Examples: `offload query order -p order_id=42`, `offload query cold-chain-legs -p
    compliant=false -f csv`, `offload query --sql "SELECT count(*) FROM views.cold_chain"`.
    """
    from plumbing.cli_context import settings_of

    settings = settings_of(ctx)
    if (name is None) == (sql is None):
        raise QueryUsage("NAME", "give a named query or --sql, not both and not neither")
    if sql is not None and param:
        raise QueryUsage("--param", "--sql takes positional --arg values, not --param")
    if name is not None and arg:
        raise QueryUsage("--arg", "named queries take --param K=V, not --arg")
    if name is not None:
        path, query = request_for(name, parse_params(param or []))
        method, body = "GET", None
    else:
        path, query, method = "/sql", {}, "POST"
        body = {"sql": sql, "params": [_sql_arg(a) for a in arg or []]}
    from query_api.client import ClientScope

    with ClientScope(_client(settings)) as client:
        answer = client.request(method, path, query, body)
        via = client.via
    _print(answer, name, fmt, via)


def _sql_arg(text: str) -> Any:
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, int | float | str | bool) or value is None else text


def _client(settings: Settings) -> QueryClient:
    from query_api.client import HttpQueryClient, LocalQueryClient, api_answers, api_url

    url = api_url(settings)
    if api_answers(url):
        timeout = settings.api.sql_timeout_s + settings.api.max_wait_ms / 1000 + 10
        return HttpQueryClient(url, os.environ.get(API_KEY_ENV), timeout)
    return LocalQueryClient(settings, settings.projections_path)


def _print(answer: Answer, name: str | None, fmt: Format, via: str) -> None:
    lsn = answer.headers.get("x-offload-watermark-lsn")
    stamp = answer.headers.get("x-offload-watermark-time")
    err.print(freshness_line(lsn, stamp, via), highlight=False, markup=False)
    if answer.status >= 400:
        detail = answer.body.get("detail", answer.body)
        hint = f"; set {API_KEY_ENV}" if answer.status == 401 else ""
        raise QueryRefused(answer.status, f"{cell_text(detail)}{hint}", via)
    if fmt is Format.json:
        typer.echo(json.dumps(answer.body, indent=2))
        return
    rows = _rows_of(name, answer.body)
    if fmt is Format.csv:
        typer.echo(as_csv(rows), nl=False)
    else:
        out.print(_table(rows))
    next_cursor = answer.body.get("next_cursor")
    if next_cursor:
        err.print(f"more rows: -p cursor={next_cursor}", highlight=False, markup=False)
    if answer.body.get("truncated"):
        err.print(f"truncated at {answer.body.get('row_count')} rows (api.sql_row_cap)")


def _table(rows: list[dict[str, Any]]) -> Table | str:
    """Rows as a table; as one field/value table per row when the columns would not fit."""
    if not rows:
        return "(no rows)"
    if len(rows[0]) > max(out.width // 12, 4):
        return _records(rows)
    table = Table(show_lines=False)
    for column in rows[0]:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(cell_text(v) for v in row.values()))
    return table


def _records(rows: list[dict[str, Any]]) -> Table:
    table = Table(show_header=False, show_lines=False, box=None, padding=(0, 1))
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for n, row in enumerate(rows, start=1):
        if n > 1:
            table.add_row("", "")
        table.add_row(f"-- row {n}", "")
        for column, value in row.items():
            table.add_row(column, cell_text(value))
    return table
