"""Connecting to the system of record: the simulated Db2 file, or a real Db2 through ibm_db_dbi.

`cdc_ingest.source.open_source` picks one by `source.kind`; the simulated Db2 in `simulators`
opens its file with `connect_sqlite` too, so writer and reader see the file the same way.
"""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path
from typing import Any

from config import Settings
from db2.dialect import SQLITE, Dialect, db2_dialect, log_position, quote
from db2.errors import SourceConfigError, SourceUnavailable


def connect_sqlite(
    path: Path, schema: str, busy_timeout_ms: int = 10_000, create: bool = False
) -> sqlite3.Connection:
    """Open the simulated Db2: an in-memory main database with `path` attached as `schema`.

    The file is put in WAL mode (readers never block the writer) with synchronous=NORMAL
    (durable across a process crash; the last commits may be lost on power loss). The
    connection is in autocommit mode: callers issue BEGIN/COMMIT themselves. It has the SQL
    function `ASN_POSITION(n, width)` (n as a `width`-byte binary log position, see
    `dialect.log_position`), which the capture triggers of the binary CD-table flavors call.

    Raises:
        SourceUnavailable: the file does not exist (and `create` is false) or cannot be opened.
    """
    if not create and not path.is_file():
        raise SourceUnavailable(str(path), "the file does not exist (run `offload sor init`)")
    try:
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        conn.create_function("ASN_POSITION", 2, log_position, deterministic=True)
        conn.execute("ATTACH DATABASE ? AS " + quote(schema), (str(path),))
        conn.execute(f"PRAGMA {quote(schema)}.journal_mode = WAL")
        conn.execute(f"PRAGMA {quote(schema)}.synchronous = NORMAL")
    except (sqlite3.Error, OSError) as exc:
        raise SourceUnavailable(str(path), str(exc)) from exc
    return conn


def parse_dsn(dsn: str) -> tuple[str, int]:
    """HOSTNAME and PORT of a Db2 connection string ("KEY=VALUE;..." pairs).

    Raises:
        SourceConfigError: either is missing, or the port is not a number.
    """
    pairs = dict(
        (key.strip().upper(), value.strip())
        for key, _, value in (part.partition("=") for part in dsn.split(";"))
        if key.strip()
    )
    host, port = pairs.get("HOSTNAME"), pairs.get("PORT")
    if not host or not port or not port.isdigit():
        raise SourceConfigError("source.dsn", "must name HOSTNAME and a numeric PORT")
    return host, int(port)


def connect_db2(settings: Settings) -> Any:
    """Connect to a real Db2 through ibm_db_dbi, failing fast when it is unreachable.

    A plain TCP connect to HOSTNAME:PORT comes first, bounded by `source.connect_timeout_s`,
    so an unreachable host fails in that time with a clear message, not a CLI driver dump.

    Raises:
        SourceConfigError: source.dsn is missing or incomplete.
        SourceUnavailable: the host and port do not answer, or Db2 refuses the connection.
    """
    source = settings.source
    if not source.dsn:
        raise SourceConfigError("source.dsn", 'is required when source.kind = "db2"')
    host, port = parse_dsn(source.dsn)
    where = f"Db2 at {host}:{port}"
    timeout = source.connect_timeout_s
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        raise SourceUnavailable(where, exc.strerror or str(exc)) from exc
    import ibm_db_dbi  # heavy: only when a real Db2 is configured

    conn_str = f"{source.dsn.rstrip(';')};CONNECTTIMEOUT={timeout}"
    if source.password is not None:
        conn_str += f";PWD={source.password.get_secret_value()}"
    try:
        return ibm_db_dbi.connect(conn_str)
    except Exception as exc:  # ibm_db_dbi raises its own Error tree or plain Exception
        raise SourceUnavailable(where, str(exc).splitlines()[0]) from exc


def connect_source(settings: Settings) -> tuple[Any, Dialect]:
    """Connect to the configured system of record (`source.kind`), with its dialect.

    Raises:
        SourceConfigError: the source settings cannot be used.
        SourceUnavailable: the file or the Db2 server cannot be reached.
    """
    if settings.source.kind == "db2":
        return connect_db2(settings), db2_dialect(settings.source.capture_schema)
    conn = connect_sqlite(
        settings.sor_path, settings.source.schema_name, settings.source.busy_timeout_ms
    )
    return conn, SQLITE
