"""The simulated Db2's control tables, and CD-table flavors: how it writes its capture (CD)
and control tables.

A real ASN Capture writes IBMSNAP_COMMITSEQ and IBMSNAP_INTENTSEQ as binary log positions:
`CHAR(10) FOR BIT DATA` (the RBA or LRSN of Db2 for z/OS), `CHAR(16) FOR BIT DATA` (z/OS with
the extended 16-byte LRSN), `VARCHAR(16) FOR BIT DATA` (Db2 for LUW). The simulator writes the
flavor chosen when its file is created (`source.flavor`):

| flavor | sequences | IBMSNAP_UOW |
|---|---|---|
| `simulator` (default, every older file) | INTEGER | COMMITSEQ, UOWID (text), LOGMARKER |
| `zos` | 10 bytes | ASN's columns, UOWID CHAR(10) FOR BIT DATA |
| `zos-extended` | 16 bytes | as `zos` |
| `luw` | 16 bytes, VARCHAR | as `zos` |

The binary position of the n-th unit of work is n, big-endian (the RBA of a young subsystem),
its UOW id is n in 10 bytes (so its hexadecimal text is the `simulator` flavor's id). The file
records its flavor where a real Db2 does, in the catalog: SYSCOLUMNS' type of
IBMSNAP_UOW.IBMSNAP_COMMITSEQ, which is what the capture reader reads (`db2.catalog_reader`).
Whether updates are captured as `D` + `I` pairs is per registration, as on ASN
(IBMSNAP_REGISTER.CHG_UPD_TO_DEL_INS).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass

from db2.dialect import FLAVOR_LSN_BYTES, log_position, quote
from db2.errors import SourceConfigError
from simulators.ddl import split_statements
from simulators.errors import DdlError

REGISTER_COLUMNS = {
    "SYNCHPOINT": "INTEGER",
    "CD_OLD_SYNCHPOINT": "INTEGER",
    "REGISTERED_ROWS": "INTEGER NOT NULL DEFAULT 0",
    # The rest of ASN's IBMSNAP_REGISTER (Db2 for z/OS), with the values ASN gives a table
    # registered for SQL Replication with full before images.
    "GLOBAL_RECORD": "TEXT NOT NULL DEFAULT 'N'",
    "SOURCE_STRUCTURE": "INTEGER NOT NULL DEFAULT 1",
    "SOURCE_CONDENSED": "TEXT NOT NULL DEFAULT 'Y'",
    "SOURCE_COMPLETE": "TEXT NOT NULL DEFAULT 'Y'",
    "PHYS_CHANGE_OWNER": "TEXT",
    "PHYS_CHANGE_TABLE": "TEXT",
    "CD_NEW_SYNCHPOINT": "INTEGER",
    "DISABLE_REFRESH": "INTEGER NOT NULL DEFAULT 0",
    "CCD_OWNER": "TEXT",
    "CCD_TABLE": "TEXT",
    "CCD_OLD_SYNCHPOINT": "INTEGER",
    "SYNCHTIME": "TEXT",
    "CCD_CONDENSED": "TEXT",
    "CCD_COMPLETE": "TEXT",
    "ARCH_LEVEL": "TEXT NOT NULL DEFAULT '1001'",
    "DESCRIPTION": "TEXT",
    "CONFLICT_LEVEL": "TEXT NOT NULL DEFAULT '0'",
    "CHG_UPD_TO_DEL_INS": "TEXT NOT NULL DEFAULT 'N'",
    "CHGONLY": "TEXT NOT NULL DEFAULT 'N'",
    "RECAPTURE": "TEXT NOT NULL DEFAULT 'Y'",
    "OPTION_FLAGS": "TEXT NOT NULL DEFAULT 'NNNN'",
    "STOP_ON_ERROR": "TEXT NOT NULL DEFAULT 'Y'",
    "STATE_INFO": "TEXT",
}
"""Columns of IBMSNAP_REGISTER beyond its first version (see sql/control.sql), added to a file
that lacks them when it is opened."""


UOW_ID_BYTES = 10
"""Width of IBMSNAP_UOWID in the binary flavors (CHAR(10) FOR BIT DATA)."""


@dataclass(frozen=True, slots=True)
class Flavor:
    """A CD-table flavor.

    Attributes:
        name: "simulator", "zos", "zos-extended" or "luw".
        lsn_bytes: width of the binary sequences; None for integers.
        coltype: SYSCOLUMNS.COLTYPE of IBMSNAP_COMMITSEQ.
        length: SYSCOLUMNS.LENGTH of IBMSNAP_COMMITSEQ.
    """

    name: str
    lsn_bytes: int | None
    coltype: str
    length: int

    def position(self, n: int) -> object:
        """Sequence `n` as this flavor stores it."""
        return n if self.lsn_bytes is None else log_position(n, self.lsn_bytes)

    def uow_id(self, n: int) -> object:
        """The IBMSNAP_UOWID of unit of work `n` as this flavor stores it."""
        return f"{n:020X}" if self.lsn_bytes is None else log_position(n, UOW_ID_BYTES)


FLAVORS = {
    "simulator": Flavor("simulator", None, "INTEGER", 4),
    "zos": Flavor("zos", FLAVOR_LSN_BYTES["zos"], "CHAR", 10),
    "zos-extended": Flavor("zos-extended", FLAVOR_LSN_BYTES["zos-extended"], "CHAR", 16),
    "luw": Flavor("luw", FLAVOR_LSN_BYTES["luw"], "VARCHAR", 16),
}


def install_control(
    conn: sqlite3.Connection, sql: Mapping[str, str], home: str, wanted: str | None
) -> Flavor:
    """Create the control tables (the flavor's IBMSNAP_UOW when it does not exist yet), give an
    older file's IBMSNAP_REGISTER the columns it lacks, and return the file's flavor.

    Args:
        conn: the simulated Db2's connection.
        sql: the statements of `sql/control.sql`, schema filled in.
        home: the schema the file is attached as.
        wanted: the flavor asked for (`source.flavor`); None: the file's, or "simulator".

    Raises:
        SourceConfigError: the file was made with another flavor than `wanted`.
    """
    conn.execute("BEGIN IMMEDIATE")  # a file is created whole, flavor recorded, or not at all
    try:
        flavor = _install(conn, sql, home, wanted)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    if wanted is not None and wanted != flavor.name:
        raise SourceConfigError(
            "source.flavor",
            f"is {wanted!r}, but the simulated Db2 attached as {home} writes the CD-table "
            f"flavor {flavor.name!r} (set {flavor.name!r}, or start afresh: "
            "`offload sor init --drop`)",
        )
    return flavor


def _install(
    conn: sqlite3.Connection, sql: Mapping[str, str], home: str, wanted: str | None
) -> Flavor:
    exists = bool(conn.execute(sql["uow_columns"], (home,)).fetchall())
    if not exists:
        flavor = FLAVORS[wanted or "simulator"]
        conn.execute(sql["uow_binary" if flavor.lsn_bytes else "uow_integer"])
    for statement in split_statements(sql["control"]):
        conn.execute(statement)
    have = {row[0] for row in conn.execute(sql["register_columns"], (home,))}
    for column, decl in REGISTER_COLUMNS.items():
        if column not in have:
            conn.execute(f"ALTER TABLE {quote(home)}.IBMSNAP_REGISTER ADD COLUMN {column} {decl}")
    row = conn.execute(sql["lsn_type"], (home,)).fetchone()
    if not exists:
        conn.execute(
            sql["add_column"],
            (home, "IBMSNAP_UOW", "IBMSNAP_COMMITSEQ", 2, flavor.coltype, flavor.length, 0,
             "N", None, 0),
        )  # fmt: skip
    elif row is None:
        flavor = FLAVORS["simulator"]  # a file made before the flavors
    else:
        flavor = _of_type(str(row[0]), int(row[1]))
    return flavor


def _of_type(coltype: str, length: int) -> Flavor:
    for flavor in FLAVORS.values():
        if (flavor.coltype, flavor.length) == (coltype.strip().upper(), length):
            return flavor
    raise DdlError("IBMSNAP_UOW", "IBMSNAP_COMMITSEQ", f"type {coltype}({length}) is no flavor")
