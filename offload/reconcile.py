"""`offload reconcile`: the system of record against the read models and the change topics.

Per captured table (all of them, or `--tables`):

- **mirror**: the table's rows in the system of record against its DuckDB mirror: row counts,
  an order-independent digest of the exact values (`reconcile_rows`), and the first keys that
  are missing, extra or different;
- **events**: the capture rows against the change topics: missing and extra events
  (`reconcile_events`);
- **view** (each configured derived view; with `--tables`, those reading a table named): its
  rows as the writer kept them, batch after batch, against the same view computed whole from
  the mirrors in the same snapshot (`ViewDefinition.whole_sql`, the rows a rebuild would
  write). With every mirror equal to its source table, that is the view computed on the system
  of record; a view whose mirrors do not exist yet is noted, not compared.

The read models are read as the query API reads them: through the running writer's read server
(one snapshot for every table) when a writer holds the database, else from the file read-only.
A running writer behind the source is first waited for (`--wait`). Read-only everywhere.
Exit 0 when everything is equal, 1 when anything differs (named), 2 for a table that is not
captured, 3 when Kafka, the source or the database cannot be reached.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Annotated, Any

import pyarrow as pa
import typer

from cdc_ingest.source import open_source
from config import Settings
from offload.reconcile_events import EventReconciliation, reconcile_events
from offload.reconcile_rows import TableDigest, differing_keys, digest_plain, digest_rows
from plumbing.cli_context import settings_of
from plumbing.errors import OffloadError, UsageError
from projections.mirror import quote
from projections.views import ViewDefinition, load_views

logger = logging.getLogger(__name__)

_SHOW = 10
_MAX_ROWS = 1 << 62

Query = Callable[[str, list[Any]], pa.Table]
"""Runs SQL with bound parameters on the read models' snapshot."""


class ReadModelMissing(OffloadError):
    """There is no projection database to compare with."""


@dataclass(slots=True)
class TableReport:
    """One table: its source rows against its mirror's."""

    table: str
    mirror: str
    equal: bool
    source_rows: int
    mirror_rows: int
    source_digest: str
    mirror_digest: str
    source_lsn: int
    first_differences: list[dict[str, Any]]
    kind: str = "mirror"


@dataclass(slots=True)
class Reconciliation:
    """The whole comparison; `equal` when every table and every event matches."""

    tables: list[TableReport]
    events: EventReconciliation
    watermark_lsn: int
    source_lsn: int
    notes: list[str] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        """Whether nothing differs."""
        return self.events.equal and all(t.equal for t in self.tables)

    def as_json(self) -> dict[str, Any]:
        """The report as JSON values."""
        events = asdict(self.events)
        events["equal"] = self.events.equal
        return {
            "equal": self.equal,
            "source_lsn": self.source_lsn,
            "watermark_lsn": self.watermark_lsn,
            "tables": [asdict(t) for t in self.tables],
            "events": events,
            "notes": self.notes,
        }


def reconcile(
    settings: Settings, tables: Sequence[str] | None = None, wait_s: float = 30.0
) -> Reconciliation:
    """Compare the system of record with the read models and the change topics.

    Args:
        settings: the configuration.
        tables: SCHEMA.TABLE names (any case); None: every captured table.
        wait_s: how long to wait for a running writer to reach the source's newest LSN.

    Raises:
        UsageError: a table named is not captured.
        ReadModelMissing: the projection database does not exist yet.
    """
    with open_source(settings) as source:
        captured = sorted(r.table for r in source.registrations())
        chosen = _chosen(captured, tables)
        newest = source.newest_lsn()
        notes: list[str] = []
        with _read_model(settings, newest, wait_s) as (query, watermark):
            reports = [_table(source, query, name) for name in chosen]
            reports += _views(settings, query, None if not tables else chosen, notes)
    if watermark != newest:
        notes.append(
            f"the read models are at LSN {watermark}, the system of record at LSN {newest}: "
            "differences may be changes not applied yet"
        )
    events = reconcile_events(settings, chosen, _SHOW)
    return Reconciliation(reports, events, watermark, newest, notes)


def _chosen(captured: list[str], tables: Sequence[str] | None) -> list[str]:
    if not tables:
        return captured
    wanted = [t.strip().upper() for t in tables if t.strip()]
    unknown = [t for t in wanted if t not in captured]
    if unknown:
        raise UsageError(
            f"--tables: {', '.join(unknown)} is not a captured table; captured tables are "
            f"{', '.join(captured) or '(none)'}"
        )
    return wanted


def _table(source: Any, query: Query, name: str) -> TableReport:
    chunk = source.read_chunk(name, None, _MAX_ROWS)
    table = chunk.table
    columns, key = table.columns, table.primary_key
    ours = digest_rows(chunk.rows, columns, key, lower=False)
    mirror = f"{table.schema.lower()}.{table.name.lower()}"
    theirs = _mirror_digest(query, mirror, [c.name.lower() for c in columns], columns, key)
    equal = ours.rows == theirs.rows and ours.digest == theirs.digest
    return TableReport(
        table=name,
        mirror=mirror,
        equal=equal,
        source_rows=ours.rows,
        mirror_rows=theirs.rows,
        source_digest=ours.digest,
        mirror_digest=theirs.digest,
        source_lsn=chunk.lsn,
        first_differences=[] if equal else differing_keys(ours, theirs, _SHOW),
    )


def _views(
    settings: Settings, query: Query, chosen: list[str] | None, notes: list[str]
) -> list[TableReport]:
    """The configured views (those reading a `chosen` table, when given), each compared."""
    wanted = None if chosen is None else {t.lower() for t in chosen}
    tables = query("SELECT schema_name || '.' || table_name FROM duckdb_tables()", [])
    present = {str(v) for v in tables.column(0).to_pylist()}
    out = []
    for view in load_views(settings.projections.views, settings.projections.views_dir):
        if wanted is not None and not wanted.intersection(view.sources):
            continue
        report = _view(query, view, present, notes)
        if report is not None:
            out.append(report)
    return out


def _view(
    query: Query, view: ViewDefinition, present: set[str], notes: list[str]
) -> TableReport | None:
    missing = sorted(set(view.sources) - present)
    if missing:
        notes.append(f"view {view.name} not compared: mirrors {', '.join(missing)} do not exist")
        return None
    kept = f"views.{view.name}" in present
    whole = query(view.whole_sql(), [])
    names = whole.column_names
    rows = query(f"SELECT * FROM {view.table}", []) if kept else whole.slice(0, 0)  # noqa: S608
    ours = digest_plain(whole.to_pylist(), names, view.key)
    shape = [n for n in names if n not in rows.column_names]
    theirs = digest_plain(rows.to_pylist(), names, view.key)
    equal = kept and not shape and ours.rows == theirs.rows and ours.digest == theirs.digest
    differences = [] if equal else differing_keys(ours, theirs, _SHOW)
    if not kept:
        differences.insert(0, {"key": None, "difference": f"table {view.table} does not exist"})
    elif shape:
        differences.insert(0, {"key": None, "difference": f"columns missing: {shape}"})
    return TableReport(
        table=f"VIEW {view.name}",
        mirror=f"views.{view.name}",
        equal=equal,
        source_rows=ours.rows,
        mirror_rows=theirs.rows,
        source_digest=ours.digest,
        mirror_digest=theirs.digest,
        source_lsn=0,
        first_differences=differences,
        kind="view",
    )


def _mirror_digest(
    query: Query, mirror: str, names: list[str], columns: Any, key: Any
) -> TableDigest:
    schema, table = mirror.split(".", 1)
    present = query(
        "SELECT column_name FROM duckdb_columns() WHERE schema_name = ? AND table_name = ?",
        [schema, table],
    ).column(0)
    have = {str(v) for v in present.to_pylist()}
    if not have:
        return digest_rows([], columns, key, lower=True)  # no mirror yet: every row missing
    selected = ", ".join(quote(n) for n in names if n in have)
    # Identifiers from the source's catalog, quoted; no value is spliced in.
    sql = f"SELECT {selected} FROM {quote(schema)}.{quote(table)}"  # noqa: S608
    return digest_rows(query(sql, []).to_pylist(), columns, key, lower=True)


@contextmanager
def _read_model(settings: Settings, newest: int, wait_s: float) -> Iterator[tuple[Query, int]]:
    """(run a query, the watermark LSN) over one snapshot of the read models."""
    from projections.errors import DatabaseBusy
    from projections.store import open_read_only, read_watermark

    path = settings.projections_path
    try:
        con = open_read_only(path)
    except DatabaseBusy:
        con = None
    else:
        if con is None:
            raise ReadModelMissing(
                f"projection database {path} does not exist yet; run `offload run`, "
                "`offload serve` or `offload project run` first"
            )
    if con is not None:
        try:
            # No writer holds the file (opened read-only): it cannot change while we read.
            lsn = read_watermark(con.cursor()).lsn

            def query(sql: str, params: list[Any]) -> pa.Table:
                return con.cursor().sql(sql, params=params).to_arrow_table()

            yield query, lsn
        finally:
            con.close()
        return
    yield from _remote(settings, newest, wait_s)


def _remote(settings: Settings, newest: int, wait_s: float) -> Iterator[tuple[Query, int]]:
    from query_api.read_link import address_path
    from query_api.remote_store import RemoteReadStore

    store = RemoteReadStore(address_path(settings.projections_path), timeout_s=wait_s + 60)
    try:
        if store.watermark().lsn < newest:
            logger.info("waiting up to %g s for the read models to reach LSN %d", wait_s, newest)
            store.wait_for_lsn(newest, wait_s)
        with store.snapshot() as snap:
            yield snap.query, snap.watermark.lsn
    finally:
        store.close()


def _print(report: Reconciliation) -> None:
    for t in report.tables:
        verdict = "equal" if t.equal else "DIFFERENT"
        sides = ("recomputed", "kept") if t.kind == "view" else ("source", "mirror")
        typer.echo(
            f"{t.table:<28} {verdict:<9} rows {t.source_rows} {sides[0]} / {t.mirror_rows} "
            f"{sides[1]} {t.mirror}; digest {t.source_digest[:12]} / {t.mirror_digest[:12]}"
        )
        for diff in t.first_differences:
            typer.echo(f"    key {diff['key']}: {diff['difference']}")
    e = report.events
    verdict = "equal" if e.equal else "DIFFERENT"
    typer.echo(
        f"{'change events':<28} {verdict:<9} {e.published} published for {e.expected} "
        f"expected: {e.missing} missing, {e.duplicated} extra"
    )
    for name, found in (("missing", e.first_missing), ("extra", e.first_extra)):
        for table, lsn, seq, op in found:
            typer.echo(f"    {name}: {table} commit LSN {lsn} change {seq} op {op}")
    for note in report.notes:
        typer.echo(f"note: {note}")
    typer.echo("reconciled: equal" if report.equal else "reconciled: DIFFERENCES FOUND")


def reconcile_cmd(
    ctx: typer.Context,
    tables: Annotated[
        str | None,
        typer.Option("--tables", help="Only these tables: SCHEMA.TABLE[,SCHEMA.TABLE...]."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    wait: Annotated[
        float,
        typer.Option("--wait", help="Seconds to wait for a running writer to catch up.", min=0),
    ] = 30.0,
) -> None:
    """Compare the system of record with the read models (rows, digests, first differing
    keys), each derived view with the same view computed whole from the mirrors, and the
    capture tables with the change topics (missing and extra events).

    Exit 0 when equal, 1 when anything differs.
    """
    names = None if tables is None else tables.split(",")
    started = time.monotonic()
    report = reconcile(settings_of(ctx), names, wait)
    logger.info("reconciled in %.1f s", time.monotonic() - started)
    if as_json:
        typer.echo(json.dumps(report.as_json(), indent=2, default=str))
    else:
        _print(report)
    if not report.equal:
        raise typer.Exit(1)
