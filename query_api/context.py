"""What every route needs, built once per app: settings, store, queries, keys, metrics."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, HTTPException, Query
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader

from event_contract.watermark import Watermark
from query_api.auth import KeyRing, Principal, basic_password
from query_api.errors import NotFreshEnough, QueryApiError
from query_api.metrics import ApiMetrics
from query_api.page import KeyTypes, PageRequest, decode_cursor
from query_api.reads import Reads
from query_api.snapshot import Snapshot
from query_api.sql_runner import SqlRunner
from query_api.store import ReadStore

LSN_HEADER = "X-Offload-Watermark-LSN"
TIME_HEADER = "X-Offload-Watermark-Time"
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key.")


def watermark_headers(watermark: Watermark) -> dict[str, str]:
    """The freshness headers every answer carries."""
    return {LSN_HEADER: str(watermark.lsn), TIME_HEADER: watermark.time_text}


def respond(body: dict[str, Any], watermark: Watermark, status: int = 200) -> JSONResponse:
    """A JSON answer with the watermark in the body and in the headers."""
    return JSONResponse(
        {**body, "watermark": watermark.as_json()},
        status_code=status,
        headers=watermark_headers(watermark),
    )


@dataclass(frozen=True, slots=True)
class Freshness:
    """A read's `min_lsn` and how long it may wait for it (already capped)."""

    min_lsn: int | None
    wait_ms: int


@dataclass(frozen=True)
class ApiContext:
    """The collaborators of one app instance."""

    store: ReadStore
    reads: Reads
    runner: SqlRunner
    keys: KeyRing
    metrics: ApiMetrics
    page_size_default: int
    page_size_max: int
    max_wait_ms: int

    def require(
        self, role: str, basic: bool = False
    ) -> Callable[..., Coroutine[Any, Any, Principal]]:
        """A dependency admitting keys of `role` or above (401 no key, 403 too low a role).

        It is a coroutine because it never blocks (one SHA-256 and a few constant-time
        compares): a plain `def` dependency would cost a thread-pool round trip per request.
        """

        async def dependency(
            api_key: Annotated[str | None, Depends(api_key_scheme)] = None,
            authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
        ) -> Principal:
            presented = api_key or (basic_password(authorization) if basic else None)
            principal = self.keys.identify(presented)
            if principal is None:
                headers = {"WWW-Authenticate": 'Basic realm="offload"'} if basic else None
                raise HTTPException(401, "a valid API key is required (X-API-Key)", headers)
            if not principal.may(role):
                raise HTTPException(403, f"role {principal.role} may not do this; needs {role}")
            return principal

        return dependency

    def freshness(self) -> Callable[..., Coroutine[Any, Any, Freshness]]:
        """A dependency reading `min_lsn` and `wait_ms` (capped by api.max_wait_ms).

        A coroutine for the same reason as `require`; the wait itself happens in `answer`.
        """

        async def dependency(
            min_lsn: Annotated[
                int | None, Query(ge=0, le=2**63 - 1, description="Answer at or after this LSN.")
            ] = None,
            wait_ms: Annotated[
                int, Query(ge=0, le=2**31, description="How long to wait for min_lsn (capped).")
            ] = 0,
        ) -> Freshness:
            return Freshness(min_lsn, min(wait_ms, self.max_wait_ms))

        return dependency

    def page_request(
        self, query: str, types: KeyTypes, page_size: int | None, cursor: str | None
    ) -> PageRequest:
        """The page asked for; page_size is validated against the cap by the route."""
        after = decode_cursor(query, cursor, types) if cursor else None
        return PageRequest(page_size or self.page_size_default, after)

    @contextmanager
    def answer(self, freshness: Freshness) -> Iterator[Snapshot]:
        """Wait for `min_lsn` if asked, then open one snapshot for the whole answer.

        Raises:
            NotFreshEnough: the watermark did not reach min_lsn within wait_ms.
        """
        wanted = freshness.min_lsn
        if wanted is not None:  # returns at once when the watermark is there already
            self.store.wait_for_lsn(wanted, freshness.wait_ms / 1000)
        with self.store.snapshot() as snapshot:
            if wanted is not None and snapshot.watermark.lsn < wanted:
                stale = NotFreshEnough(wanted, snapshot.watermark.lsn, freshness.wait_ms)
                stale.watermark = snapshot.watermark
                raise stale
            try:
                yield snapshot
            except QueryApiError as exc:
                exc.watermark = snapshot.watermark
                raise


def page_size_query(cap: int) -> Any:
    """The `page_size` query parameter, bounded by the configured cap."""
    return Query(ge=1, le=cap, description=f"Rows per page, 1..{cap}.")
