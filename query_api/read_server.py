"""The read server: the database owner's `ReadStore`, served to serving workers over Arrow Flight.

It runs in the projection writer's process, beside the writer, on the same DuckDB database
(DuckDB allows no reader in another process while it writes). A worker's snapshot is a
*session* here: a cursor in a read-only transaction, opened by the worker's first query (or an
explicit `open`), used by its next ones, closed by `close` or after `SESSION_IDLE_S` without
use (a worker killed mid-answer leaves nothing open for long).

Defence in depth: the worker gates analyst SQL before sending it, and the server gates it
again; named queries are this package's own files. Every statement runs inside a read-only
transaction on a database whose configuration `lock_down` has frozen.

Requests (JSON; see `read_link` for the address file, metadata and errors):
- DoGet `{"token", "sql", "params", "session"?, "keep"?, "capped"?: {"row_cap",
  "timeout_s", "max_concurrent_per_key", "key"}}` → the rows, with the watermark (and the
  session id when kept, and "truncated" for a capped query) in the schema metadata.
- DoAction `open` → `{"session", "watermark"}`; `close` `{"session"}`; `watermark`; `head`;
  `wait` `{"lsn", "timeout_s"}` → `{"reached", "watermark"}`; `metrics` → text exposition of the
  writer's Prometheus registries; `replay` `{"entry_id"}` → the outcome of replaying one
  error-table entry in the writer (`{"entry_id", "outcome", "reason"}`; outcome "unavailable"
  where the server was given no replayer). The worker checks the admin role before asking.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
from prometheus_client import CollectorRegistry, generate_latest
from pyarrow import flight

from event_contract.watermark import Watermark
from query_api.errors import QueryApiError
from query_api.read_link import (
    SESSION,
    TRUNCATED,
    Address,
    Replayer,
    error_info,
    watermark_json,
    watermark_metadata,
)
from query_api.snapshot import Snapshot, SqlLimits
from query_api.sql_gate import SqlGate
from query_api.store import ReadStore

logger = logging.getLogger(__name__)

SESSION_IDLE_S = 60.0
"""A session unused this long is closed (its worker died, or forgot it)."""


@dataclass
class _Session:
    scope: AbstractContextManager[Snapshot]
    snapshot: Snapshot
    used_at: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)


class ReadServer(flight.FlightServerBase):
    """Serves `store` to serving workers on 127.0.0.1 (a port of the system's choice).

    Args:
        store: the database owner's read store.
        registries: Prometheus registries whose metrics workers append to their /metrics.
        host: the interface to listen on.
        replayer: replays error-table entries in the writer, or None (not offered).
    """

    def __init__(
        self,
        store: ReadStore,
        registries: Sequence[CollectorRegistry] = (),
        host: str = "127.0.0.1",
        replayer: Replayer | None = None,
    ) -> None:
        super().__init__(f"grpc://{host}:0")
        self.address = Address.new(f"grpc://{host}:{self.port}")
        self._store = store
        self._registries = tuple(registries)
        self._replayer = replayer
        self._gate = SqlGate()
        self._sessions: dict[str, _Session] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._reaper = threading.Thread(target=self._reap, name="read-sessions", daemon=True)
        self._actions: dict[str, Callable[[dict[str, Any]], dict[str, Any] | bytes]] = {
            "open": self._open,
            "close": self._close,
            "watermark": lambda _req: watermark_json(self._store.watermark()),
            "head": self._head,
            "wait": self._wait,
            "metrics": lambda _req: b"".join(generate_latest(r) for r in self._registries),
            "replay": self._replay,
        }

    def start(self, address_file: Path) -> None:
        """Serve on background threads and publish the address file."""
        self._reaper.start()
        threading.Thread(target=self.serve, name="read-server", daemon=True).start()
        self.address.write(address_file)
        logger.info("read server on %s (address file %s)", self.address.location, address_file)

    def stop(self) -> None:
        """Stop serving and close every open session."""
        self._stopped.set()
        self.shutdown()
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            session.scope.__exit__(None, None, None)

    # --- Flight ---------------------------------------------------------------------------

    def do_get(self, context: flight.ServerCallContext, ticket: flight.Ticket) -> Any:
        """Run one query; see the module docstring for the request."""
        request = self._request(ticket.ticket)
        try:
            table = self._query(request)
        except QueryApiError as exc:
            raise flight.FlightServerError(str(exc), extra_info=error_info(exc)) from exc
        return flight.RecordBatchStream(table)

    def do_action(self, context: flight.ServerCallContext, action: flight.Action) -> Iterator[Any]:
        """Answer one action; see the module docstring."""
        handler = self._actions.get(action.type)
        if handler is None:
            raise flight.FlightServerError(f"unknown action {action.type!r}")
        answer = handler(self._request(action.body.to_pybytes()))
        yield flight.Result(answer if isinstance(answer, bytes) else json.dumps(answer).encode())

    # --- requests -------------------------------------------------------------------------

    def _request(self, raw: bytes) -> dict[str, Any]:
        try:
            request = json.loads(raw or b"{}")
        except ValueError as exc:
            raise flight.FlightServerError(f"request is not JSON: {exc}") from exc
        token = str(request.get("token", ""))
        if not hmac.compare_digest(token.encode(), self.address.token.encode()):
            raise flight.FlightUnauthenticatedError("wrong or missing token")
        return dict(request)

    def _query(self, request: dict[str, Any]) -> pa.Table:
        session_id = request.get("session")
        keep = bool(request.get("keep"))
        session = self._session(session_id) if session_id else self._new_session()
        with session.lock:
            try:
                table, truncated = self._run(session.snapshot, request)
            except BaseException:
                self._end(session_id, session, keep=False)
                raise
            session.used_at = time.monotonic()
        metadata = watermark_metadata(session.snapshot.watermark)
        if truncated is not None:
            metadata[TRUNCATED] = b"true" if truncated else b"false"
        if keep:
            metadata[SESSION] = self._keep(session_id, session).encode()
        else:
            self._end(session_id, session, keep=False)
        return table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata})

    def _run(self, snapshot: Snapshot, request: dict[str, Any]) -> tuple[pa.Table, bool | None]:
        sql, params = str(request["sql"]), request.get("params")
        capped = request.get("capped")
        if capped is None:
            return snapshot.query(sql, params), None
        statement = self._gate.check(sql)
        limits = SqlLimits(
            int(capped["row_cap"]), float(capped["timeout_s"]), int(capped["max_concurrent"])
        )
        return snapshot.query_capped(statement, params, limits, str(capped["key"]))

    def _new_session(self) -> _Session:
        scope = self._store.snapshot()
        return _Session(scope, scope.__enter__())

    def _session(self, session_id: str) -> _Session:
        with self._lock:
            session = self._sessions.get(session_id)
        if session is None:
            raise flight.FlightServerError(f"no open snapshot session {session_id}")
        return session

    def _keep(self, session_id: str | None, session: _Session) -> str:
        kept = session_id or uuid.uuid4().hex
        with self._lock:
            self._sessions[kept] = session
        return kept

    def _end(self, session_id: str | None, session: _Session, keep: bool) -> None:
        if keep:
            return
        if session_id:
            with self._lock:
                self._sessions.pop(session_id, None)
        session.scope.__exit__(None, None, None)

    # --- actions --------------------------------------------------------------------------

    def _open(self, _request: dict[str, Any]) -> dict[str, Any]:
        session = self._new_session()
        return {
            "session": self._keep(None, session),
            "watermark": watermark_json(session.snapshot.watermark),
        }

    def _close(self, request: dict[str, Any]) -> dict[str, Any]:
        session_id = str(request.get("session", ""))
        with self._lock:
            session = self._sessions.pop(session_id, None)
        if session is not None:
            with session.lock:
                session.scope.__exit__(None, None, None)
        return {"closed": session is not None}

    def _head(self, _request: dict[str, Any]) -> dict[str, Any]:
        head: Watermark | None = self._store.head()
        return {"head": None if head is None else watermark_json(head)}

    def _wait(self, request: dict[str, Any]) -> dict[str, Any]:
        reached = self._store.wait_for_lsn(int(request["lsn"]), float(request["timeout_s"]))
        return {"reached": reached, "watermark": watermark_json(self._store.watermark())}

    def _replay(self, request: dict[str, Any]) -> dict[str, Any]:
        entry_id = int(request["entry_id"])
        if self._replayer is None:
            reason = "this writer offers no replay"
            return {"entry_id": entry_id, "outcome": "unavailable", "reason": reason}
        return self._replayer(entry_id)

    def _reap(self) -> None:
        while not self._stopped.wait(SESSION_IDLE_S / 4):
            cutoff = time.monotonic() - SESSION_IDLE_S
            with self._lock:
                idle = [k for k, s in self._sessions.items() if s.used_at < cutoff]
                stale = [self._sessions.pop(k) for k in idle]
            for session in stale:
                with session.lock:
                    session.scope.__exit__(None, None, None)
            if stale:
                logger.info("closed %d snapshot sessions idle for %g s", len(stale), SESSION_IDLE_S)
