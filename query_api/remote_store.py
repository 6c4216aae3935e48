"""A serving worker's `ReadStore`: the database owner's read server, reached over Arrow Flight.

The worker finds the server in the address file beside the database (`read_link`), connects
once and keeps the connection; when the writer is down or restarting every call raises
`WriterUnavailable` (503) and the next call reads the address file again, so a restarted writer
is found without restarting the worker.

A snapshot costs one round trip for an answer of one query: the first query opens the session
and keeps it, and the close goes out on a background thread after the answer is rendered.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
from pyarrow import flight

from event_contract.watermark import Watermark
from query_api.errors import QueryApiError, WriterUnavailable
from query_api.read_link import (
    SESSION,
    TRUNCATED,
    Address,
    error_from,
    watermark_from,
    watermark_of_json,
)
from query_api.snapshot import Params, Snapshot, SqlLimits

logger = logging.getLogger(__name__)

_RETRY_S = 0.1
"""Pause between tries to reach a writer that is down, within a client's wait."""
_REPLAY_TIMEOUT_S = 60.0
"""The longest a replay request waits: the writer runs it between two batches."""


class RemoteReadStore:
    """`ReadStore` over the read server whose address file is `address_file`.

    Args:
        address_file: the read server's address file (beside the DuckDB file).
        timeout_s: the longest a call may take (above the API's SQL time limit and wait).
    """

    def __init__(self, address_file: Path, timeout_s: float = 60.0) -> None:
        self.address_file = address_file
        self._timeout_s = timeout_s
        self._link: tuple[flight.FlightClient, Address] | None = None
        self._lock = threading.Lock()
        self._closer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="close-snapshot")

    def snapshot(self) -> AbstractContextManager[Snapshot]:
        """A snapshot on the server, opened by its first query."""
        return self._snapshot()

    @contextmanager
    def _snapshot(self) -> Iterator[Snapshot]:
        snap = RemoteSnapshot(self)
        try:
            yield snap
        finally:
            if snap.session is not None:
                self._closer.submit(self._close_quietly, snap.session)

    def watermark(self) -> Watermark:
        """The newest committed watermark."""
        return watermark_of_json(self.action("watermark", {}))

    def wait_for_lsn(self, lsn: int, timeout_s: float) -> bool:
        """Block (on the server) until the watermark reaches `lsn` or `timeout_s` passes.

        A writer that is down or restarting is waited for too, within the same `timeout_s`:
        a client that asked to wait for its write gets it once the writer is back.
        """
        deadline = time.monotonic() + max(timeout_s, 0.0)
        while True:
            left = max(deadline - time.monotonic(), 0.0)
            try:
                answer = self.action("wait", {"lsn": lsn, "timeout_s": left}, left + 5)
                return bool(answer["reached"])
            except WriterUnavailable:
                if time.monotonic() + _RETRY_S >= deadline:
                    raise
                time.sleep(_RETRY_S)

    def head(self) -> Watermark | None:
        """The newest LSN the writer saw published, or None."""
        head = self.action("head", {})["head"]
        return None if head is None else watermark_of_json(head)

    def metrics(self) -> bytes:
        """The writer's metrics, as Prometheus text exposition."""
        return self._call(lambda client, token: self._action_bytes(client, "metrics", token, {}))

    def replay(self, entry_id: int) -> dict[str, Any]:
        """Replay one error-table entry in the writer: `{"entry_id", "outcome", "reason"}`.

        Raises:
            WriterUnavailable: the writer is down or did not answer in time.
        """
        return dict(self.action("replay", {"entry_id": entry_id}, _REPLAY_TIMEOUT_S))

    def close(self) -> None:
        """Close the connection and the background closer."""
        self._closer.shutdown(wait=True)
        with self._lock:
            if self._link is not None:
                self._link[0].close()
                self._link = None

    # --- calls ----------------------------------------------------------------------------

    def action(self, name: str, body: dict[str, Any], timeout_s: float | None = None) -> Any:
        """One action's JSON answer."""

        def call(client: flight.FlightClient, token: str) -> bytes:
            return self._action_bytes(client, name, token, body, timeout_s)

        return json.loads(self._call(call))

    def get(self, request: dict[str, Any]) -> pa.Table:
        """One query's rows, the watermark and session in the schema metadata."""

        def call(client: flight.FlightClient, token: str) -> pa.Table:
            ticket = flight.Ticket(json.dumps({**request, "token": token}, default=str))
            return client.do_get(ticket, options=self._options()).read_all()

        table: pa.Table = self._call(call)
        return table

    def _action_bytes(
        self,
        client: flight.FlightClient,
        name: str,
        token: str,
        body: dict[str, Any],
        timeout_s: float | None = None,
    ) -> bytes:
        action = flight.Action(name, json.dumps({**body, "token": token}).encode())
        results = client.do_action(action, options=self._options(timeout_s))
        return b"".join(r.body.to_pybytes() for r in results)

    def _options(self, timeout_s: float | None = None) -> flight.FlightCallOptions:
        return flight.FlightCallOptions(timeout=timeout_s or self._timeout_s)

    def _call(self, call: Any) -> Any:
        """Run `call(client, token)`; a writer restarted since (new port or token, found in
        its address file) is tried again at once, once."""
        for attempt in (1, 2):
            client, address = self._connect()
            try:
                return call(client, address.token)
            except flight.FlightServerError as exc:
                error = error_from(exc.extra_info)
                if error is not None:
                    raise error from exc
                raise WriterUnavailable(address.location, _first_line(exc)) from exc
            except (flight.FlightUnavailableError, flight.FlightUnauthenticatedError) as exc:
                self._drop(client)
                if attempt == 1 and self._moved(address):
                    continue
                raise WriterUnavailable(address.location, _first_line(exc)) from exc
            except flight.FlightTimedOutError as exc:
                raise WriterUnavailable(address.location, f"no answer: {_first_line(exc)}") from exc
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _moved(self, address: Address) -> bool:
        """Whether the address file now names another server than `address`."""
        try:
            return Address.read(self.address_file) != address
        except (OSError, ValueError, KeyError):
            return False

    def _connect(self) -> tuple[flight.FlightClient, Address]:
        with self._lock:
            if self._link is None:
                try:
                    address = Address.read(self.address_file)
                except (OSError, ValueError, KeyError) as exc:
                    raise WriterUnavailable(
                        str(self.address_file), "no address file yet (is the writer starting?)"
                    ) from exc
                self._link = (flight.connect(address.location), address)
            return self._link

    def _drop(self, client: flight.FlightClient) -> None:
        with self._lock:
            if self._link is not None and self._link[0] is client:
                self._link = None
        client.close()

    def _close_quietly(self, session: str) -> None:
        try:
            self.action("close", {"session": session}, 5.0)
        except QueryApiError as exc:  # the server reaps it later anyway
            logger.debug("closing snapshot session %s: %s", session, exc)


class RemoteSnapshot:
    """A snapshot kept open on the read server for the queries of one answer."""

    def __init__(self, store: RemoteReadStore) -> None:
        self._store = store
        self.session: str | None = None
        self._watermark: Watermark | None = None

    @property
    def watermark(self) -> Watermark:
        """The snapshot's watermark (opening the session if no query did yet)."""
        if self._watermark is None:
            opened = self._store.action("open", {})
            self.session = str(opened["session"])
            self._watermark = watermark_of_json(opened["watermark"])
        return self._watermark

    def query(self, sql: str, params: Params = None) -> pa.Table:
        """Every row of a named query."""
        return self._get({"sql": sql, "params": params})

    def query_capped(
        self, sql: str, params: Params, limits: SqlLimits, key_name: str
    ) -> tuple[pa.Table, bool]:
        """An analyst's statement, bounded by the server (which gates it again)."""
        capped = {
            "row_cap": limits.row_cap,
            "timeout_s": limits.timeout_s,
            "max_concurrent": limits.max_concurrent_per_key,
            "key": key_name,
        }
        table = self._get({"sql": sql, "params": params, "capped": capped})
        truncated = (table.schema.metadata or {}).get(TRUNCATED) == b"true"
        return table.replace_schema_metadata(None), truncated

    def _get(self, request: dict[str, Any]) -> pa.Table:
        if self.session is not None:
            request["session"] = self.session
        request["keep"] = True
        try:
            table = self._store.get(request)
        except QueryApiError:
            self.session = None  # the server ended the session with the failure
            raise
        metadata = table.schema.metadata or {}
        self.session = metadata[SESSION].decode()
        if self._watermark is None:
            self._watermark = watermark_from(metadata)
        return table


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
