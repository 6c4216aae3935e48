"""The job ledger: every run of every reference job, and each job's last committed state.

One SQLite file, `<data_dir>/reference/ledger.sqlite` (WAL; a commit survives a process
crash). A run is inserted as `running` before anything is produced and finished after its
Kafka transaction ended; the state (encoded key → value hash) is replaced in the same SQLite
transaction that finishes a committed run. So a `running` row left behind means "crashed,
Kafka outcome unknown": the next run of the job rebuilds the state from the topic itself
(read_committed) and resolves the row (see `load`).

Statuses: running, loaded (committed), unchanged (nothing to publish), failed (nothing
published), cancelled (stopped, aborted), crashed (recovered; `kafka_outcome` says whether its
transaction committed).
"""

from __future__ import annotations

import logging
import sqlite3
import sys
from array import array
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from itertools import accumulate, islice
from pathlib import Path
from typing import Any

from plumbing.sqlfiles import read_sections
from reference_loader.delta import HASH_NAME, Counts, State

logger = logging.getLogger(__name__)

SQL_FILE = Path(__file__).parent / "sql" / "ledger.sql"


def _queries() -> dict[str, str]:
    """The named statements of ledger.sql."""
    return read_sections(SQL_FILE)


def now_iso() -> str:
    """The current UTC time as ISO 8601 with microseconds."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True, slots=True)
class RunRow:
    """One run as the ledger holds it."""

    run_id: str
    job: str
    started_at: str
    ended_at: str | None
    status: str
    source: str | None
    source_sha256: str | None
    records_read: int
    records_new: int
    records_changed: int
    records_deleted: int
    records_unchanged: int
    records_rejected: int
    kafka_outcome: str
    topic: str
    reject_file: str | None
    error: str | None

    def as_dict(self) -> dict[str, Any]:
        """The row as a JSON-able dict."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class RunEnd:
    """How a run ended: status, counts, Kafka outcome, reject file and error text."""

    status: str
    counts: Counts
    kafka_outcome: str
    reject_file: str | None = None
    error: str | None = None


class Ledger:
    """The ledger file; use as a context manager (`with Ledger(path) as ledger:`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._con: sqlite3.Connection | None = None

    def __enter__(self) -> Ledger:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")
        q = _queries()
        tables = ("create_runs", "create_runs_index", "create_state", "create_state_chunks")
        for name in (*tables, "create_state_meta"):
            con.execute(q[name])
        if "value_hash" not in {row[0] for row in con.execute(q["state_meta_columns"])}:
            add_value_hash(con)  # a ledger from before it was kept
        self._con = con
        return self

    def __exit__(self, *exc: object) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    @property
    def con(self) -> sqlite3.Connection:
        """The open connection (autocommit; transactions are explicit)."""
        if self._con is None:
            raise RuntimeError("the ledger is not open")
        return self._con

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        con = self.con
        con.execute("BEGIN IMMEDIATE")
        try:
            yield con
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")

    def begin_run(self, run_id: str, job: str, topic: str) -> None:
        """Record a run as `running` (before anything is produced)."""
        self.con.execute(_queries()["begin_run"], (run_id, job, now_iso(), topic))

    def set_source(self, run_id: str, source: str, sha256: str) -> None:
        """Record the extract file a run reads and its checksum."""
        self.con.execute(_queries()["set_source"], (source, sha256, run_id))

    def finish_run(self, run_id: str, end: RunEnd) -> None:
        """Record how a run that changed no state ended."""
        with self._transaction() as con:
            self._finish(con, run_id, end)

    def finish_committed(
        self, run_id: str, job: str, topic: str, end: RunEnd, state: Iterable[tuple[bytes, int]]
    ) -> None:
        """Record a committed run and replace the job's state, in one SQLite transaction."""
        with self._transaction() as con:
            self._finish(con, run_id, end)
            self._replace_state(con, job, topic, run_id, state)

    def recover(
        self,
        job: str,
        topic: str,
        state: Iterable[tuple[bytes, int]],
        resolved: dict[str, str],
        run_id: str,
    ) -> None:
        """Replace the job's state with one rebuilt from its topic and resolve crashed runs.

        Args:
            resolved: crashed run id → its Kafka outcome ("committed" or "aborted").
            run_id: the run that rebuilt the state.
        """
        q = _queries()
        with self._transaction() as con:
            for crashed, outcome in resolved.items():
                note = (
                    "crashed after its Kafka transaction committed; state rebuilt from the topic"
                    if outcome == "committed"
                    else "crashed before its Kafka transaction committed; the transaction was "
                    "aborted, nothing of it is visible"
                )
                con.execute(q["resolve_run"], (now_iso(), "crashed", outcome, note, crashed))
            self._replace_state(con, job, topic, run_id, state)

    def unfinished(self, job: str) -> list[str]:
        """Ids of the job's runs still marked `running` (crashed, when the job lock is held)."""
        return [row[0] for row in self.con.execute(_queries()["unfinished"], (job,))]

    def trusted_state(self, job: str, topic: str) -> State | None:
        """The job's last committed state, or None when it cannot be trusted (never loaded
        here, another topic, a crashed run pending) or was kept with another value hash (a
        ledger from before `HASH_NAME`: its old `state` rows are blake2b's): the load then
        rebuilds the state from the topic, publishing nothing that did not change."""
        q = _queries()
        meta = self.con.execute(q["state_meta"], (job,)).fetchone()
        if meta is None or meta[0] != topic or self.unfinished(job):
            return None
        if meta[2] != HASH_NAME:
            logger.info(
                "reference job %s: the ledger's state was kept with another value hash (%s); "
                "rebuilding it from the topic once",
                job,
                meta[2] or "blake2b",
            )
            return None
        state: State = {}
        for ends, keys, hashes in self.con.execute(q["state_chunk_rows"], (job,)):
            state.update(_unpack_chunk(ends, keys, hashes))
        return state

    def last_runs(self, job: str, limit: int = 5) -> list[RunRow]:
        """The job's latest runs, newest first."""
        rows = self.con.execute(_queries()["last_runs"], (job, limit)).fetchall()
        return [RunRow(*row) for row in rows]

    def _finish(self, con: sqlite3.Connection, run_id: str, end: RunEnd) -> None:
        c = end.counts
        con.execute(
            _queries()["finish_run"],
            (
                now_iso(),
                end.status,
                c.read,
                c.new,
                c.changed,
                c.deleted,
                c.unchanged,
                c.rejected,
                end.kafka_outcome,
                end.reject_file,
                end.error,
                run_id,
            ),
        )

    def _replace_state(
        self,
        con: sqlite3.Connection,
        job: str,
        topic: str,
        run_id: str,
        state: Iterable[tuple[bytes, int]],
    ) -> None:
        q = _queries()
        con.execute(q["state_clear"], (job,))
        con.execute(q["state_chunks_clear"], (job,))
        entries = iter(state)
        for number, chunk in enumerate(iter(lambda: list(islice(entries, STATE_CHUNK)), [])):
            con.execute(q["state_chunk_insert"], (job, number, *_pack_chunk(chunk)))
        con.execute(q["state_meta_upsert"], (job, topic, run_id, HASH_NAME))


def add_value_hash(con: sqlite3.Connection) -> None:
    """Add `state_meta.value_hash` to a ledger from before it; another process opening the
    same ledger at the same moment (the scheduler runs jobs in parallel) may add it first."""
    try:
        con.execute(_queries()["state_meta_add_value_hash"])
    except sqlite3.OperationalError as exc:
        if "duplicate column" not in str(exc):
            raise


STATE_CHUNK = 65_536
"""State entries per row of `state_chunks`."""


def _int64s(values: Iterable[int]) -> bytes:
    packed = array("q", values)
    if sys.byteorder == "big":
        packed.byteswap()
    return packed.tobytes()


def _from_int64s(data: bytes) -> list[int]:
    packed = array("q")
    packed.frombytes(data)
    if sys.byteorder == "big":
        packed.byteswap()
    return packed.tolist()


def _pack_chunk(chunk: list[tuple[bytes, int]]) -> tuple[bytes, bytes, bytes]:
    """(key end offsets, keys back to back, hashes) of some state entries."""
    keys = [key for key, _ in chunk]
    hashes = [h for _, h in chunk]
    return _int64s(accumulate(map(len, keys))), b"".join(keys), _int64s(hashes)


def _unpack_chunk(ends: bytes, keys: bytes, hashes: bytes) -> Iterator[tuple[bytes, int]]:
    """The state entries of a row of `state_chunks`."""
    stops = _from_int64s(ends)
    starts = [0, *stops[:-1]]
    split = [keys[a:b] for a, b in zip(starts, stops, strict=True)]
    return zip(split, _from_int64s(hashes), strict=True)
