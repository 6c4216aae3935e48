"""The FastAPI application factory of the query API (no module-level state).

Composition, done by the entry point (`offload serve`): open the projection store (which
owns the one DuckDB database and its writer), call `store.lock_down` on it, then
`create_app(settings, store, schema_source)` and serve it with uvicorn in the same process.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from config import Settings
from event_contract.watermark import Watermark
from query_api.auth import KeyRing
from query_api.console import console_router
from query_api.context import ApiContext, watermark_headers
from query_api.errors import NotFreshEnough, QueryApiError, TooManyQueries
from query_api.metrics import ApiMetrics
from query_api.part_metrics import parts_registry
from query_api.read_link import Replayer
from query_api.reads import Reads
from query_api.routes_ops import ops_router
from query_api.routes_reads import reads_router
from query_api.routes_registry import SchemaSource, registry_router
from query_api.routes_sql import sql_router
from query_api.routes_stream import stream_router
from query_api.snapshot import SqlLimits
from query_api.sql_gate import SqlGate
from query_api.sql_runner import SqlRunner
from query_api.store import ReadStore

logger = logging.getLogger(__name__)


def create_app(
    settings: Settings,
    store: ReadStore,
    schema_source: SchemaSource,
    metric_registries: Sequence[CollectorRegistry] = (),
    more_metrics: Callable[[], bytes] | None = None,
    *,
    replayer: Replayer | None = None,
) -> FastAPI:
    """Build the query API over a locked-down read store and a schema source.

    `metric_registries` are served by /metrics beside the API's own (the projection's, say);
    `more_metrics` returns more text exposition to append (a worker: the writer's metrics);
    `replayer` replays error-table entries in the writer (the console's admin action).
    """
    api = settings.api
    limits = SqlLimits(api.sql_row_cap, api.sql_timeout_s, api.sql_max_concurrent_per_key)
    registries = (*metric_registries, parts_registry(settings.data_dir))  # restarts, running
    metrics = ApiMetrics(store, registries, more_metrics)
    ctx = ApiContext(
        store=store,
        reads=Reads(settings.source.schema_name),
        runner=SqlRunner(store, SqlGate(), limits),
        keys=KeyRing(api.keys),
        metrics=metrics,
        page_size_default=min(api.page_size_default, api.page_size_max),
        page_size_max=api.page_size_max,
        max_wait_ms=api.max_wait_ms,
    )
    docs = api.docs_enabled
    app = FastAPI(
        title="Offload query API",
        version="1.0.0",
        summary="Read-only named queries, gated SQL and schema registry over the projections.",
        docs_url="/docs" if docs else None,
        redoc_url=None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.include_router(ops_router(ctx, api.readiness_max_lag_s))
    app.include_router(reads_router(ctx))
    app.include_router(sql_router(ctx))
    app.include_router(registry_router(ctx, schema_source))
    app.include_router(stream_router(ctx, tuple(settings.projections.logged_views())))
    app.include_router(console_router(ctx, settings, schema_source, replayer))
    _install_error_handlers(app)
    app.add_middleware(RequestMetrics, metrics=metrics)
    app.add_middleware(BodyLimit, max_bytes=api.max_body_bytes)
    return app


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(QueryApiError)
    async def on_api_error(request: Request, exc: QueryApiError) -> JSONResponse:
        headers: dict[str, str] = {}
        if isinstance(exc.watermark, Watermark):
            headers.update(watermark_headers(exc.watermark))
        body: dict[str, Any] = {"error": type(exc).__name__, "detail": str(exc)}
        for name in ("parameter", "reason", "entity"):
            if hasattr(exc, name):
                body[name] = getattr(exc, name)
        if isinstance(exc, NotFreshEnough | TooManyQueries):
            headers["Retry-After"] = "1"
        if isinstance(exc.watermark, Watermark):
            body["watermark"] = exc.watermark.as_json()
        return JSONResponse(body, status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        names = [".".join(str(p) for p in e.get("loc", ())[1:]) or "body" for e in errors]
        first = errors[0] if errors else {"msg": "invalid request"}
        detail = f"parameter {names[0] if names else 'body'!r}: {first.get('msg')}"
        return JSONResponse(
            {
                "error": "BadParameter",
                "detail": detail,
                "parameter": names[0] if names else "body",
                "errors": [
                    {"parameter": n, "message": e.get("msg")}
                    for n, e in zip(names, errors, strict=True)
                ],
            },
            status_code=422,
        )


class RequestMetrics:
    """Counts and times every request by route template, and names the serving process in
    an `X-Offload-Worker` header (a plain ASGI middleware).

    Starlette's `BaseHTTPMiddleware` (`@app.middleware("http")`) runs the app in a separate
    task and re-streams the response through memory channels; this one only wraps `send`.
    """

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics
        # Which serving process answered (workers share the port): for operators and tests.
        self._served_by = (b"x-offload-worker", str(os.getpid()).encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), self._served_by]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            # The router records the matched route in the scope it was given.
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.latency.labels(route).observe(time.perf_counter() - started)
            self.metrics.requests.labels(route, scope["method"], str(status)).inc()


class BodyLimit:
    """Refuses a request body larger than `max_bytes` with 413, before any route reads it."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.max_bytes:
                detail = f"request body exceeds api.max_body_bytes = {self.max_bytes} bytes"
                response = JSONResponse({"error": "BodyTooLarge", "detail": detail}, 413)
                await response(scope, receive, send)
                return
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
