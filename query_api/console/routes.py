"""`/console`: the operations console, one server-rendered page and its JSON routes.

The page (`GET /console`) carries no data and needs no key: it asks for an API key once, keeps
it in the tab's `sessionStorage` and sends it as `X-API-Key` on every fetch (never in a URL).
Its data comes from the API's own routes (`/freshness`, `/cold-chain/legs`,
`/containers/{id}/telemetry`, `/subjects`) and from these, with the same keys and roles:

- `GET /console/api/parts` (reader): the supervisor's parts (state, pid, restarts) and the
  projection's lag in LSNs and seconds;
- `GET /console/api/history` (reader): the last hour of chart points (`history.History`);
- `GET /console/api/errors` (reader): the error table (what the dead-letter topic carries);
- `POST /console/api/errors/{id}/replay` (admin): replay one entry through `replayer`;
- `GET /console/api/schemas` (reader): subjects, versions and what changed between them.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import date, datetime
from importlib.resources import files
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, JSONResponse

from config import Settings
from query_api.console.history import History
from query_api.console.parts import supervised_parts
from query_api.console.schema_diff import schema_changes
from query_api.context import ApiContext, respond
from query_api.errors import ModelsNotReady, SchemaSourceUnavailable
from query_api.freshness import lag_behind
from query_api.read_link import Replayer
from query_api.routes_registry import SchemaSource

logger = logging.getLogger(__name__)

ERROR_ROWS = 200
_REPLAY_STATUS = {"unknown": 404, "busy": 503}
"""HTTP status of a replay outcome other than applied, no-op, closed, failed or skipped."""
_STATIC = files("query_api.console") / "static"


def console_page() -> str:
    """The console's HTML with its CSS and JS inlined (no other request, no CDN)."""
    page = (_STATIC / "console.html").read_text(encoding="utf-8")
    css = (_STATIC / "console.css").read_text(encoding="utf-8")
    js = (_STATIC / "console.js").read_text(encoding="utf-8")
    return page.replace("/*CONSOLE_CSS*/", css).replace("/*CONSOLE_JS*/", js)


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime | date) else value


def console_router(
    ctx: ApiContext,
    settings: Settings,
    schemas: SchemaSource,
    replayer: Replayer | None = None,
    history: History | None = None,
) -> APIRouter:
    """The console's routes bound to one app's context.

    Args:
        ctx: the app's context (store, keys, metrics).
        settings: the configuration (`runtime.data_dir` holds the supervisors' state files).
        schemas: the registry's schema source.
        replayer: replays an error entry in the writer; None where no writer offers it.
        history: the chart history (default: sampled from the app's /metrics every 5 s).
    """
    chart = history or History(ctx.metrics.render)

    @asynccontextmanager
    async def sampling(_app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(chart.run(), name="console-history")
        try:
            yield
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    router = APIRouter(tags=["console"], lifespan=sampling, include_in_schema=False)
    reader = [Depends(ctx.require("reader"))]
    admin = [Depends(ctx.require("admin"))]
    page = console_page()
    errors_sql = (files("query_api.console") / "errors.sql").read_text(encoding="utf-8")
    dlq_topic = settings.kafka.topic("dlq")

    @router.get("/console", include_in_schema=False)
    def console() -> HTMLResponse:
        return HTMLResponse(page, headers={"Cache-Control": "no-store"})

    @router.get("/console/api/parts", dependencies=reader, summary="Parts, restarts and lag")
    def parts() -> JSONResponse:
        watermark = ctx.store.watermark()
        head = ctx.store.head()
        lag = lag_behind(watermark, head)
        body = {
            **supervised_parts(settings.data_dir),
            "served_by": os.getpid(),
            "projection": {"lag_lsn": lag.lsn, "lag_seconds": lag.seconds},
            "head": None if head is None else head.as_json(),
        }
        return respond(body, watermark)

    @router.get("/console/api/history", dependencies=reader, summary="The last hour of charts")
    def history_points() -> JSONResponse:
        body = {"served_by": os.getpid(), "interval_s": chart.interval_s, "points": chart.points()}
        return JSONResponse(body)

    @router.get("/console/api/errors", dependencies=reader, summary="The error table")
    def errors() -> JSONResponse:
        with ctx.store.snapshot() as snap:
            try:
                table = snap.query(errors_sql, {"limit": ERROR_ROWS})
            except ModelsNotReady:
                return respond({"errors": [], "dlq_topic": dlq_topic}, snap.watermark)
            rows = [{k: _jsonable(v) for k, v in row.items()} for row in table.to_pylist()]
            return respond({"errors": rows, "dlq_topic": dlq_topic}, snap.watermark)

    @router.post(
        "/console/api/errors/{entry_id}/replay",
        dependencies=admin,
        summary="Replay one error entry (admin)",
    )
    def replay(entry_id: Annotated[int, PathParam(ge=1, le=2**63 - 1)]) -> JSONResponse:
        outcome = None if replayer is None else replayer(entry_id)
        if outcome is None or outcome.get("outcome") == "unavailable":
            raise HTTPException(
                501,
                f"replay of error entry {entry_id} is not offered by this gateway's writer; "
                f"run `offload errors replay {entry_id}` with the projection writer stopped",
            )
        return JSONResponse(
            outcome, status_code=_REPLAY_STATUS.get(str(outcome.get("outcome")), 200)
        )

    @router.get("/console/api/schemas", dependencies=reader, summary="Subjects and changes")
    def schema_list() -> JSONResponse:
        try:
            return JSONResponse({"subjects": _subjects(schemas)})
        except SchemaSourceUnavailable as exc:
            raise HTTPException(503, f"the schema store cannot be read: {exc}") from exc

    return router


def _subjects(schemas: SchemaSource) -> list[dict[str, Any]]:
    out = []
    for subject in schemas.subjects():
        versions = []
        previous: str | None = None
        for number in schemas.versions(subject):
            found = schemas.get(subject, number)
            if found is None:
                continue
            changes = [] if previous is None else schema_changes(previous, found.schema)
            versions.append({"version": found.version, "id": found.id, "changes": changes})
            previous = found.schema
        out.append({"subject": subject, "versions": versions})
    return out
