"""Operational endpoints: /healthz and /readyz (open), /freshness (reader), /metrics (reader)."""

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from query_api.context import ApiContext, Freshness, respond
from query_api.errors import ModelsNotReady
from query_api.freshness import is_ready, lag_behind, view_freshness
from query_api.snapshot import Snapshot


def ops_router(ctx: ApiContext, readiness_max_lag_s: float) -> APIRouter:
    """The operational routes bound to one app's context."""
    router = APIRouter(tags=["operations"])
    reader = [Depends(ctx.require("reader"))]

    @router.get("/healthz", summary="The process is up")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", summary="The projection is caught up within the configured lag")
    def readyz() -> JSONResponse:
        watermark = ctx.store.watermark()
        ready, reason = is_ready(watermark, ctx.store.head(), readiness_max_lag_s)
        body = {"ready": ready, "reason": reason}
        return respond(body, watermark, status=200 if ready else 503)

    @router.get("/freshness", dependencies=reader, summary="Watermark and lag of every view")
    def freshness(fresh: Freshness = Depends(ctx.freshness())) -> JSONResponse:  # noqa: B008
        with ctx.answer(fresh) as snap:  # waits for min_lsn (and a writer still starting)
            head = ctx.store.head()
            states = _view_states(ctx, snap)
            lag = lag_behind(snap.watermark, head)
            body = {
                "lag_lsn": lag.lsn,
                "lag_seconds": lag.seconds,
                "head": None if head is None else head.as_json(),
                "views": view_freshness(states, snap.watermark, head),
            }
            return respond(body, snap.watermark)

    @router.get("/metrics", dependencies=reader, summary="Prometheus metrics")
    def metrics() -> Response:
        return Response(ctx.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return router


def _view_states(ctx: ApiContext, snap: Snapshot) -> list[dict[str, Any]]:
    try:
        return ctx.reads.rows(snap, "view_state", {})
    except ModelsNotReady:
        return []
