"""Derived views: declared in SQL files, kept current incrementally, rebuilt atomically.

A view NAME is two files in `projections/views/` (or the configured extra directory):

- `NAME.sql`: a header, then one SELECT that computes the view's rows for the view keys in
  the temp table `affected_keys` (it must join or filter on it). Header lines:
  `-- key: col, col` (the view's primary key, names as the SELECT outputs them) and
  `-- sources: schema.table, ...` (the mirrors it reads; lowercased DuckDB names).
- `NAME.keys.sql`: one SELECT returning the view keys a batch affects, reading the temp
  tables `delta_<schema>_<table>` (for each source mirror: the old and the new image of every
  row the batch changed, same columns as the mirror) and the mirrors (current state).

Per batch, inside the batch's transaction, a view whose sources the batch changed gets:
`affected_keys` ← its keys query; its rows for those keys deleted; its SELECT inserted.
Since the deltas hold both images, a row that moved (an assignment to another container, a
reading outside a changed window) updates both the old and the new view rows.

Optional third file, `NAME.incremental.sql`: a header line `-- incremental: schema.table`
(one of the sources), then one SELECT that returns the new rows (all columns, in the
view's column order) of the view rows that the new rows in `delta_<schema>_<table>` change,
computed from the view's current rows (it names the view table, `views.NAME`) and that delta
only. It is used when, in a batch, that source only gained rows (no update, no delete): the
keys query then runs with that delta empty (so `affected_keys` holds the rows that other
sources changed, recomputed from scratch as above), and the incremental SELECT's rows for
every other key replace the view's rows. Any other batch is recomputed from scratch. The
view's SELECT must therefore keep whatever the incremental SELECT needs (e.g. a sum and a
count rather than only an average), and both must give the same values.

Rebuild: the same two files with every delta standing for its whole mirror give every
view key and every row; they fill a fresh table `views."NAME.rebuild"`, swapped in with
`views.NAME` in one short transaction, so readers see the old table until the swap. A view
whose files changed (SHA-256 of both) or that has no table yet is rebuilt when the writer
starts: this is how a new view is backfilled while the others keep serving. The rebuild runs
in the writer's thread (ingestion pauses, readers do not).
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable, Sequence, Set
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import duckdb

from projections.changelog import NO_CHANGES, ViewChanges
from projections.errors import ViewDefinitionError
from projections.mirror import quote
from projections.sqlfiles import statements

logger = logging.getLogger(__name__)

_HEADER = re.compile(r"^--\s*(key|sources|incremental):\s*(.+?)\s*$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class ViewDefinition:
    """One derived view, as its SQL files declare it.

    Attributes:
        name: the view name; its table is `views.<name>`.
        key: the view's primary-key columns.
        sources: the mirrors it reads, "schema.table" lowercased.
        select_sql: the SELECT of the view's rows for the keys in `affected_keys`.
        keys_sql: the SELECT of the view keys affected by the `delta_*` tables.
        sha256: hash of the files: a changed definition is rebuilt.
        incremental_source: the source whose insert-only deltas `incremental_sql` handles,
            or None (the view is always recomputed from scratch).
        incremental_sql: the SELECT of the changed rows from that source's new rows.
    """

    name: str
    key: tuple[str, ...]
    sources: tuple[str, ...]
    select_sql: str
    keys_sql: str
    sha256: str
    incremental_source: str | None = None
    incremental_sql: str = ""

    @property
    def table(self) -> str:
        """The view's table, quoted."""
        return f"views.{quote(self.name)}"

    def whole_sql(self) -> str:
        """One SELECT of every row of the view computed from its mirrors as they are now (the
        rows a rebuild would write), with no temp table: each `delta_*` stands for its whole
        mirror and `affected_keys` for every key the keys query then gives, as common table
        expressions. Read-only: `offload reconcile` runs it on a reader's snapshot."""
        # Quoted identifiers and the view's own SQL files; no value is spliced in.
        deltas = [
            f"{delta_name(s)} AS (SELECT * FROM {'.'.join(quote(p) for p in s.split('.'))})"  # noqa: S608
            for s in self.sources
        ]
        affected = f"affected_keys AS (SELECT DISTINCT * FROM (\n{self.keys_sql}\n))"  # noqa: S608
        return f"WITH {', '.join([*deltas, affected])}\nSELECT * FROM (\n{self.select_sql}\n)"


def load_views(names: Sequence[str], extra_dir: Path | None = None) -> list[ViewDefinition]:
    """Read the named views' SQL files (`extra_dir` first, then the package's `views/`).

    Raises:
        ViewDefinitionError: a file is missing or its header lacks `key` or `sources`.
    """
    return [_load(name, extra_dir) for name in names]


def _load(name: str, extra_dir: Path | None) -> ViewDefinition:
    select_sql = _read(name, f"{name}.sql", extra_dir)
    keys_sql = _read(name, f"{name}.keys.sql", extra_dir)
    header = {m.group(1): m.group(2) for m in _HEADER.finditer(select_sql)}
    for needed in ("key", "sources"):
        if needed not in header:
            raise ViewDefinitionError(name, f"{name}.sql", f"header line '-- {needed}:' missing")
    incremental_sql = _read_optional(f"{name}.incremental.sql", extra_dir)
    digest = hashlib.sha256((select_sql + "\0" + keys_sql).encode())
    sources = tuple(p.strip().lower() for p in header["sources"].split(","))
    incremental_source = None
    if incremental_sql is not None:
        digest.update(("\0" + incremental_sql).encode())
        incremental_source = _incremental_source(name, incremental_sql, sources)
    return ViewDefinition(
        name=name,
        key=tuple(p.strip().lower() for p in header["key"].split(",")),
        sources=sources,
        select_sql=select_sql.strip().rstrip(";"),
        keys_sql=keys_sql.strip().rstrip(";"),
        sha256=digest.hexdigest(),
        incremental_source=incremental_source,
        incremental_sql=(incremental_sql or "").strip().rstrip(";"),
    )


def _incremental_source(view: str, sql: str, sources: tuple[str, ...]) -> str:
    header = {m.group(1): m.group(2) for m in _HEADER.finditer(sql)}
    file = f"{view}.incremental.sql"
    if "incremental" not in header:
        raise ViewDefinitionError(view, file, "header line '-- incremental:' missing")
    source = header["incremental"].strip().lower()
    if source not in sources:
        raise ViewDefinitionError(view, file, f"'{source}' is not one of the view's sources")
    return source


def _read(view: str, file: str, extra_dir: Path | None) -> str:
    if extra_dir is not None and (extra_dir / file).is_file():
        return (extra_dir / file).read_text(encoding="utf-8")
    packaged = resources.files("projections").joinpath("views", file)
    if not packaged.is_file():
        where = f"{extra_dir} or projections/views" if extra_dir else "projections/views"
        raise ViewDefinitionError(view, file, f"file not found in {where}")
    return packaged.read_text(encoding="utf-8")


def _read_optional(file: str, extra_dir: Path | None) -> str | None:
    if extra_dir is not None and (extra_dir / file).is_file():
        return (extra_dir / file).read_text(encoding="utf-8")
    packaged = resources.files("projections").joinpath("views", file)
    return packaged.read_text(encoding="utf-8") if packaged.is_file() else None


def delta_name(source: str) -> str:
    """The delta table of a source mirror "schema.table", quoted."""
    return quote("delta_" + source.replace(".", "_"))


class ViewSet:
    """The configured derived views of one projection database.

    Args:
        views: the definitions, in configuration order.
        hook: called with "project.mid_rebuild" between a rebuild's fill and its swap (crash
            injection in tests); a no-op by default.
    """

    def __init__(
        self, views: Sequence[ViewDefinition], hook: Callable[[str], None] | None = None
    ) -> None:
        self._views = list(views)
        self._hook = hook
        self._current: set[str] = set()
        self._sql = statements("view_maintenance.sql")
        self.changes: ViewChanges = NO_CHANGES  # the change log (projections/changelog.py)

    @property
    def definitions(self) -> list[ViewDefinition]:
        """The views, in configuration order."""
        return list(self._views)

    def ensure(self, con: duckdb.DuckDBPyConnection, mirrors: set[str]) -> list[str]:
        """Rebuild every view that is new or changed and whose sources all exist.

        Args:
            con: the writer's connection (no transaction open).
            mirrors: the existing mirrors, "schema.table" lowercased.

        Returns:
            the names of the views rebuilt now.
        """
        built = []
        state = dict(con.execute(self._sql["state_hashes"]).fetchall())
        for view in self._views:
            missing = [s for s in view.sources if s not in mirrors]
            if missing:
                logger.info("view %s waits for mirrors %s", view.name, ", ".join(missing))
                self._current.discard(view.name)
                continue
            exists = con.execute(self._sql["table_exists"], {"name": view.name}).fetchone()
            if state.get(view.name) != view.sha256 or not (exists and exists[0]):
                self.rebuild(con, view.name)
                built.append(view.name)
            self._current.add(view.name)
        return built

    def refresh(
        self,
        con: duckdb.DuckDBPyConnection,
        touched: set[str],
        lsn: int,
        commit: datetime | None,
        inserted_only: Set[str] = frozenset(),
    ) -> int:
        """Recompute the rows of the views the batch touched, inside its open transaction.

        Args:
            con: the writer's connection, the batch's transaction open.
            touched: the mirrors the batch changed, "schema.table" lowercased.
            lsn: the batch's highest LSN (0: none).
            commit: that LSN's commit time.
            inserted_only: the touched mirrors that only gained rows in the batch (no row
                updated or deleted): a view's incremental SELECT may handle those.

        Returns:
            view rows written.
        """
        written = 0
        for view in self._views:
            if view.name not in self._current or not touched.intersection(view.sources):
                continue
            source = view.incremental_source
            if source is not None and source in touched and source in inserted_only:
                written += self._refresh_incremental(con, view, source, touched)
            else:
                written += self._recompute(con, view)
        self.changes.flush(con, lsn, commit)
        if lsn:
            params = {"lsn": lsn, "commit_time": commit, "now": _now()}
            con.execute(self._sql["state_lsn"], params)
        return written

    def _recompute(self, con: duckdb.DuckDBPyConnection, view: ViewDefinition) -> int:
        """Recompute from scratch the view rows of the keys the batch's deltas affect."""
        con.execute(self._format("affected", view))
        self.changes.before(con, view, "affected_keys")
        deleted = _count(con.execute(self._format("delete_affected", view)))
        inserted = _count(con.execute(self._format("insert_affected", view)))
        self.changes.after(con, view, "affected_keys")
        params = {"deleted": deleted, "inserted": inserted, "name": view.name}
        con.execute(self._sql["state_rows"], params)
        return inserted

    def _refresh_incremental(
        self, con: duckdb.DuckDBPyConnection, view: ViewDefinition, source: str, touched: set[str]
    ) -> int:
        """Recompute the keys other sources affect, then fold the source's new rows into the
        view rows of every other key (see the module docstring)."""
        written = 0
        if touched.intersection(view.sources) - {source}:
            delta = delta_name(source)
            con.execute(self._sql["hold_delta"].format(delta=delta))
            con.execute(self._sql["clear_delta"].format(delta=delta))
            written = self._recompute(con, view)
            con.execute(self._sql["restore_delta"].format(delta=delta))
        else:  # only new rows of the source: nothing to recompute from scratch
            con.execute(self._format("no_affected", view))
        con.execute(self._format("incremental_rows", view))
        self.changes.before(con, view, "incremental_rows")
        con.execute(self._format("incremental_delete", view))
        written += _count(con.execute(self._format("incremental_insert", view)))
        self.changes.after(con, view, "incremental_rows")
        return written

    def rebuild(self, con: duckdb.DuckDBPyConnection, name: str) -> tuple[int, float]:
        """Recompute view `name` whole into a fresh table and swap it in atomically.

        Runs on a cursor of its own (its temp `delta_*` names stand for the whole mirrors and
        do not disturb the writer's). Call between batches.

        Returns:
            (rows, seconds).
        """
        view = next(v for v in self._views if v.name == name)
        started = time.perf_counter()
        cur = con.cursor()
        try:
            for source in view.sources:
                schema, table = source.split(".")
                mirror = f"{quote(schema)}.{quote(table)}"
                cur.execute(self._sql["delta_view"].format(delta=delta_name(source), mirror=mirror))
            cur.execute("BEGIN TRANSACTION")
            cur.execute(self._format("affected", view))
            for step in ("fresh_drop", "fresh_create", "fresh_key"):
                cur.execute(self._format(step, view))
            rows = _count(cur.execute(self._format("fresh_count", view)))
            cur.execute("COMMIT")
            seconds = time.perf_counter() - started
            if self._hook is not None:
                self._hook("project.mid_rebuild")
            cur.execute("BEGIN TRANSACTION")
            cur.execute(self._format("swap_drop", view))
            cur.execute(self._format("swap_rename", view))
            params = {"name": name, "rows": rows, "sha": view.sha256, "now": _now()}
            cur.execute(self._sql["state_rebuilt"], {**params, "seconds": seconds})
            cur.execute("COMMIT")
        finally:
            cur.close()
        self._current.add(name)
        logger.info("rebuilt view %s: %d rows in %.2fs", name, rows, seconds)
        return rows, seconds

    def _format(self, name: str, view: ViewDefinition) -> str:
        match = " AND ".join(f"v.{quote(k)} IS NOT DISTINCT FROM a.{quote(k)}" for k in view.key)
        return self._sql[name].format(
            view=view.table,
            fresh=f"views.{quote(view.name + '.rebuild')}",
            bare_name=quote(view.name),
            keys_sql=view.keys_sql,
            select_sql=view.select_sql,
            incremental_sql=view.incremental_sql,
            key_match=match,
            key_columns=", ".join(quote(k) for k in view.key),
        )


def _count(cursor: duckdb.DuckDBPyConnection) -> int:
    row = cursor.fetchone()
    return int(row[0]) if row else 0


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
