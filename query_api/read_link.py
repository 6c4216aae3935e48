"""What the read server and its clients agree on: the address file, requests, errors.

The process that owns the projection database runs the read server (`read_server`); each
serving worker reaches it with `remote_store`. They speak Arrow Flight (gRPC): a query is a
`DoGet` whose ticket is a JSON request and whose answer is an Arrow stream, the snapshot's
watermark in the stream's schema metadata; everything else is a `DoAction` with a JSON body.

The server listens on 127.0.0.1 on a port of its choice and writes its location and a fresh
random token into the address file beside the database (mode 0600): a worker reads both from
there, so only processes of the same user reach the server, and a restarted writer is found
again without configuration. Every request carries the token.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from event_contract.watermark import Watermark
from query_api.errors import (
    ModelsNotReady,
    QueryApiError,
    SqlFailed,
    SqlRefused,
    SqlTimeout,
    TooManyQueries,
)

ADDRESS_FILE = "read-server.json"
"""The address file's name, beside the DuckDB file."""
SESSION = b"offload.session"
LSN = b"offload.lsn"
COMMIT_TIME = b"offload.commit_time"
TRUNCATED = b"offload.truncated"

Replayer = Callable[[int], dict[str, Any]]
"""Replays one error-table entry in the projection writer; returns its outcome as JSON
(`{"entry_id", "outcome", "reason"}`; outcome "unavailable" where the writer offers none)."""


def address_path(database: Path) -> Path:
    """The address file of the read server of the database at `database`."""
    return database.parent / ADDRESS_FILE


@dataclass(frozen=True, slots=True)
class Address:
    """Where a read server listens and the token it expects."""

    location: str
    token: str
    pid: int

    @classmethod
    def new(cls, location: str) -> Address:
        """An address with a fresh random token, for this process."""
        return cls(location, secrets.token_urlsafe(32), os.getpid())

    def write(self, path: Path) -> None:
        """Write the address file atomically, readable by this user only."""
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump({"location": self.location, "token": self.token, "pid": self.pid}, out)
        tmp.replace(path)

    @classmethod
    def read(cls, path: Path) -> Address:
        """The address in the file at `path`.

        Raises:
            OSError, ValueError, KeyError: no readable address file.
        """
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(str(data["location"]), str(data["token"]), int(data["pid"]))


def watermark_metadata(watermark: Watermark) -> dict[bytes, bytes]:
    """A watermark as schema metadata."""
    stamp = "" if watermark.commit_time is None else watermark.commit_time.isoformat()
    return {LSN: str(watermark.lsn).encode(), COMMIT_TIME: stamp.encode()}


def watermark_from(metadata: dict[bytes, bytes] | None) -> Watermark:
    """The watermark carried in schema metadata (or in an action's JSON answer)."""
    data = metadata or {}
    stamp = data.get(COMMIT_TIME, b"").decode()
    return Watermark(int(data.get(LSN, b"0")), datetime.fromisoformat(stamp) if stamp else None)


def watermark_json(watermark: Watermark) -> dict[str, Any]:
    """A watermark as an action's JSON answer."""
    stamp = None if watermark.commit_time is None else watermark.commit_time.isoformat()
    return {"lsn": watermark.lsn, "commit_time": stamp}


def watermark_of_json(data: dict[str, Any]) -> Watermark:
    """The watermark of an action's JSON answer."""
    stamp = data.get("commit_time")
    return Watermark(int(data["lsn"]), datetime.fromisoformat(stamp) if stamp else None)


_ERRORS: dict[str, type[QueryApiError]] = {
    cls.__name__: cls for cls in (SqlFailed, SqlRefused, SqlTimeout, TooManyQueries, ModelsNotReady)
}


def error_info(exc: QueryApiError) -> bytes:
    """An API error as the extra info of a Flight error, to be raised again by the client."""
    if isinstance(exc, SqlFailed):
        args: list[Any] = [exc.detail]
    elif isinstance(exc, SqlRefused):
        args = [exc.reason]
    elif isinstance(exc, SqlTimeout):
        args = [exc.timeout_s]
    elif isinstance(exc, TooManyQueries):
        args = [exc.key_name, exc.limit]
    elif isinstance(exc, ModelsNotReady):
        args = [exc.detail]
    else:
        return json.dumps({"error": "SqlFailed", "args": [str(exc)]}).encode()
    return json.dumps({"error": type(exc).__name__, "args": args}).encode()


def error_from(info: bytes | None) -> QueryApiError | None:
    """The API error a server sent as a Flight error's extra info, or None."""
    if not info:
        return None
    try:
        data = json.loads(info)
        return _ERRORS[data["error"]](*data["args"])
    except (ValueError, KeyError, TypeError):
        return None
