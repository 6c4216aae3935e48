"""The derived views' change log: every view row a batch changed, in the batch's transaction.

What a subscriber of a view (`GET /views/{name}/changes`, the cold-chain alerts) reads. The
view maintenance (`projections/views.py`) calls a `ViewChanges` around each replacement of a
view's rows: `before` with the keys about to be replaced (their rows are copied, as JSON),
`after` once the new rows are in (copied too), and `flush` at the end of the batch, which
writes one row per key whose JSON changed into `_offload.view_changes`: its key, the row
before (NULL: the row is new) and after (NULL: the row is gone). All of it runs inside the
batch's DuckDB transaction, so the log holds a change exactly when the view holds it: a
crash before COMMIT loses both, and a reader's snapshot sees both or neither.

Positions. A batch's changes carry the position (lsn, n): lsn is the watermark after the
batch; n is 0, or 1, 2, ... for a later batch that did not advance the watermark (reference
records, replays). Positions only grow, with gaps (a batch that recomputed view rows but
changed none takes a position too); `_offload.view_changes_state` keeps the newest one and
the horizon: every change after the horizon is in the log. Changes older than the retention
are compacted away (the horizon moves up to them); a subscriber that asks for changes from
before the horizon is told so instead of getting a gap.

JSON values are those the API renders: DECIMAL, DATE and TIME as strings (exact), TIMESTAMP
as ISO text (no fraction when it is zero), the rest as JSON numbers, booleans, strings.

Not logged: a rebuild (`offload project rebuild`, or a view whose definition changed) swaps
the whole table without per-row changes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Protocol

import duckdb

from projections.mirror import quote
from projections.sqlfiles import statements

logger = logging.getLogger(__name__)

DEFAULT_RETENTION_S = 3600.0
"""How long a change stays in the log (a disconnected subscriber can resume within it)."""
COMPACT_EVERY_S = 60.0
"""How often the writer deletes changes past the retention."""


class ViewLike(Protocol):
    """What the log needs of a view definition (`projections.views.ViewDefinition`)."""

    @property
    def name(self) -> str: ...

    @property
    def key(self) -> tuple[str, ...]: ...

    @property
    def sha256(self) -> str: ...

    @property
    def table(self) -> str: ...


class ViewChanges(Protocol):
    """What the view maintenance calls to log its changes (inside the batch's transaction)."""

    def before(self, con: duckdb.DuckDBPyConnection, view: ViewLike, keys: str) -> None:
        """Copy the view's rows of the keys in temp table `keys`, about to be replaced."""

    def after(self, con: duckdb.DuckDBPyConnection, view: ViewLike, keys: str) -> None:
        """Copy the view's rows of the keys in temp table `keys`, just written."""

    def flush(self, con: duckdb.DuckDBPyConnection, lsn: int, commit: datetime | None) -> int:
        """Log the batch's changed rows at its position; return how many."""


class NoChanges:
    """A `ViewChanges` that logs nothing (views maintained without a change log)."""

    def before(self, con: duckdb.DuckDBPyConnection, view: ViewLike, keys: str) -> None:
        """Nothing."""

    def after(self, con: duckdb.DuckDBPyConnection, view: ViewLike, keys: str) -> None:
        """Nothing."""

    def flush(self, con: duckdb.DuckDBPyConnection, lsn: int, commit: datetime | None) -> int:
        """Nothing logged."""
        return 0


NO_CHANGES = NoChanges()


class ChangeLog:
    """The change log of every view of one projection database.

    Creates its tables (and the writer connection's temp tables) at once: call it on the
    writer's connection with no transaction open.

    Args:
        con: the writer's connection.
        retention_s: how long a change is kept.
        views: the views whose changes are logged (`projections.change_log_views`); None:
            every view. The others cost nothing.
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        retention_s: float = DEFAULT_RETENTION_S,
        views: Collection[str] | None = None,
    ) -> None:
        self._logged = None if views is None else frozenset(views)
        self._sql = statements("changelog.sql")
        self._retention = timedelta(seconds=retention_s)
        self._captures: dict[tuple[str, str], str] = {}
        self._pending = False
        self._compacted_at = time.monotonic()
        for name in ("create_log", "create_state", "init_state", "create_captured"):
            con.execute(self._sql[name])

    def before(self, con: duckdb.DuckDBPyConnection, view: ViewLike, keys: str) -> None:
        """Copy the rows of `keys` (a temp table of view keys) before they are replaced."""
        if self._logged is not None and view.name not in self._logged:
            return
        con.execute(self._capture(con, view, keys), {"side": "before", "view": view.name})
        self._pending = True

    def after(self, con: duckdb.DuckDBPyConnection, view: ViewLike, keys: str) -> None:
        """Copy the rows of `keys` once they are written."""
        if self._logged is not None and view.name not in self._logged:
            return
        con.execute(self._capture(con, view, keys), {"side": "after", "view": view.name})
        self._pending = True

    def flush(self, con: duckdb.DuckDBPyConnection, lsn: int, commit: datetime | None) -> int:
        """Write the batch's changed rows at its position, then empty the copies.

        Args:
            con: the writer's connection, the batch's transaction open.
            lsn: the batch's highest LSN (0: none; the watermark stays).
            commit: that LSN's commit time.

        Returns:
            changes logged.
        """
        if not self._pending:
            return 0
        self._pending = False
        params = {"lsn": lsn, "commit_time": commit, "now": _now()}
        logged = _count(con.execute(self._sql["log"], params))
        con.execute(self._sql["advance"], {"lsn": lsn})  # a position without changes: a gap
        con.execute(self._sql["clear"])
        if time.monotonic() - self._compacted_at >= COMPACT_EVERY_S:
            self.compact(con)
        return logged

    def compact(self, con: duckdb.DuckDBPyConnection) -> int:
        """Delete the changes older than the retention and move the horizon up to them.

        Runs inside the caller's transaction (the batch's), so a reader sees the log and its
        horizon move together.

        Returns:
            the position's LSN the horizon moved to, or 0 when nothing was old enough.
        """
        self._compacted_at = time.monotonic()
        cutoff = _now() - self._retention
        row = con.execute(self._sql["horizon"], {"cutoff": cutoff}).fetchone()
        if row is None:
            return 0
        params = {"lsn": int(row[0]), "n": int(row[1])}
        con.execute(self._sql["compact"], params)
        con.execute(self._sql["set_horizon"], params)
        logger.info("view change log compacted up to position %d.%d", params["lsn"], params["n"])
        return params["lsn"]

    def _capture(self, con: duckdb.DuckDBPyConnection, view: ViewLike, keys: str) -> str:
        cache_key = (view.sha256, keys)
        sql = self._captures.get(cache_key)
        if sql is None:
            columns = con.execute(self._sql["view_columns"], {"name": view.name}).fetchall()
            types = {str(name): str(kind) for name, kind in columns}
            match = " AND ".join(
                f"v.{quote(k)} IS NOT DISTINCT FROM a.{quote(k)}" for k in view.key
            )
            sql = self._sql["capture"].format(
                view=view.table,
                keys=keys,
                key_match=match,
                key_json=json_object({k: types[k] for k in view.key}),
                row_json=json_object(types),
            )
            self._captures[cache_key] = sql
        return sql


def json_object(columns: dict[str, str]) -> str:
    """A DuckDB expression of the JSON text of a row of `v` with these columns (name → type).

    Raises:
        ValueError: no columns (a view table that does not exist).
    """
    if not columns:
        raise ValueError("a view change needs the view's columns; the view table has none")
    fields = ", ".join(
        f"{quote(name)} := {_json_value(name, kind)}" for name, kind in columns.items()
    )
    return f"CAST(to_json(struct_pack({fields})) AS VARCHAR)"


def _json_value(name: str, kind: str) -> str:
    column = f"v.{quote(name)}"
    if kind.startswith("TIMESTAMP") and "TIME ZONE" not in kind:
        return rf"regexp_replace(strftime({column}, '%Y-%m-%dT%H:%M:%S.%f'), '\.000000$', '')"
    if kind.startswith(("DECIMAL", "DATE", "TIME", "HUGEINT", "UHUGEINT", "UUID", "INTERVAL")):
        return f"CAST({column} AS VARCHAR)"
    return column


def _count(cursor: duckdb.DuckDBPyConnection) -> int:
    row = cursor.fetchone()
    return int(row[0]) if row else 0


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
