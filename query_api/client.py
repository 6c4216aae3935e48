"""How `offload query` reaches the named queries: the running API over HTTP, else the same
app in process over the DuckDB file opened read-only (DuckDB forbids a second process to open
a file another process writes, so a running `offload serve` must be asked over HTTP)."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import httpx

from config import ApiKey, Settings
from query_api.app import create_app
from query_api.auth import hash_key
from query_api.database import DuckDBLimits, lock_down, open_read_only
from query_api.errors import ApiUnreachable
from query_api.routes_registry import NoSchemas
from query_api.store import DuckDBReadStore

logger = logging.getLogger(__name__)

LOCAL_KEY_NAME = "offload-query-cli"


@dataclass(frozen=True, slots=True)
class Answer:
    """An answer of the API: status, headers (lower-case names) and the JSON body."""

    status: int
    headers: Mapping[str, str]
    body: dict[str, Any]


class QueryClient(Protocol):
    """Sends one request to the query API, wherever it runs."""

    via: str

    def request(self, method: str, path: str, params: Mapping[str, str], json: Any) -> Answer:
        """Send one request and return the answer, whatever its status."""
        ...

    def close(self) -> None:
        """Release the connection or the database file."""
        ...


def api_url(settings: Settings) -> str:
    """The base URL of the API the configuration names (api.host, api.port)."""
    host = settings.api.host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    return f"http://{host}:{settings.api.port}"


def api_answers(url: str, timeout_s: float = 0.5) -> bool:
    """Whether an Offload query API answers /healthz at `url`."""
    try:
        response = httpx.get(f"{url}/healthz", timeout=timeout_s)
    except httpx.HTTPError:
        return False
    return response.status_code == 200 and response.headers.get("content-type", "").startswith(
        "application/json"
    )


def _answer(response: httpx.Response) -> Answer:
    try:
        body = response.json()
    except ValueError:
        body = {"detail": response.text}
    if not isinstance(body, dict):
        body = {"detail": body}
    return Answer(response.status_code, {k.lower(): v for k, v in response.headers.items()}, body)


class HttpQueryClient:
    """The running API at `url`, authenticated with an API key (X-API-Key)."""

    def __init__(self, url: str, api_key: str | None, timeout_s: float) -> None:
        self.url = url
        self.via = f"via the query API at {url}"
        headers = {"X-API-Key": api_key} if api_key else {}
        self._client = httpx.Client(base_url=url, headers=headers, timeout=timeout_s)

    def request(self, method: str, path: str, params: Mapping[str, str], json: Any) -> Answer:
        """Send one request over HTTP."""
        try:
            response = self._client.request(method, path, params=dict(params), json=json)
        except httpx.HTTPError as exc:
            raise ApiUnreachable(self.url, str(exc) or type(exc).__name__) from exc
        return _answer(response)

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()


class LocalQueryClient:
    """The API's app in this process, over the DuckDB file opened read-only and locked down.

    The caller can read the file anyway, so the app gets a one-off analyst key of its own.
    """

    def __init__(self, settings: Settings, path: Path) -> None:
        self.via = f"read-only from {path}: no query API answered at {api_url(settings)}"
        self._connection = open_read_only(path)
        api = settings.api
        lock_down(self._connection, DuckDBLimits(api.duckdb_memory_limit, api.duckdb_threads))
        self._key = secrets.token_urlsafe(24)
        local = ApiKey(role="analyst", sha256=hash_key(self._key))
        keys = {**api.keys, LOCAL_KEY_NAME: local}
        served = settings.model_copy(update={"api": api.model_copy(update={"keys": keys})})
        self._app = create_app(served, DuckDBReadStore(self._connection), NoSchemas())

    def request(self, method: str, path: str, params: Mapping[str, str], json: Any) -> Answer:
        """Send one request to the app in process."""
        return asyncio.run(self._send(method, path, params, json))

    async def _send(self, method: str, path: str, params: Mapping[str, str], json: Any) -> Answer:
        transport = httpx.ASGITransport(app=self._app)
        headers = {"X-API-Key": self._key}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://offload.local", headers=headers
        ) as client:
            response = await client.request(method, path, params=dict(params), json=json)
        return _answer(response)

    def close(self) -> None:
        """Close the DuckDB file."""
        self._connection.close()


class ClientScope:
    """`with ClientScope(client) as c:` closes the client on exit."""

    def __init__(self, client: QueryClient) -> None:
        self.client = client

    def __enter__(self) -> QueryClient:
        return self.client

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.client.close()
