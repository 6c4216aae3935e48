"""POST /sql (analyst role): one gated read-only SELECT, answered as JSON, CSV or Arrow IPC."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from query_api.auth import Principal
from query_api.context import ApiContext, respond, watermark_headers
from query_api.errors import QueryApiError, SqlFailed, SqlRefused, SqlTimeout, TooManyQueries
from query_api.results import (
    ARROW,
    CSV,
    choose_media_type,
    table_as_csv,
    table_as_dicts,
    table_as_ipc,
)
from query_api.sql_runner import SqlResult

Scalar = str | int | float | bool | None


class SqlRequest(BaseModel):
    """One read-only SELECT and its bound parameters ($1, ? or $name)."""

    model_config = ConfigDict(extra="forbid")
    sql: str = Field(min_length=1, max_length=60000)
    params: list[Scalar] | dict[str, Scalar] | None = None


_OUTCOMES: dict[type[QueryApiError], str] = {
    SqlRefused: "refused",
    SqlFailed: "failed",
    SqlTimeout: "timeout",
    TooManyQueries: "busy",
}


def sql_router(ctx: ApiContext) -> APIRouter:
    """The /sql route bound to one app's context."""
    router = APIRouter(tags=["sql"])

    @router.post(
        "/sql",
        summary="Run one read-only SELECT over the mirrors and views",
        responses={200: {"content": {"text/csv": {}, ARROW: {}}}, 400: {}, 406: {}, 429: {}},
    )
    def post_sql(
        request: SqlRequest,
        principal: Annotated[Principal, Depends(ctx.require("analyst"))],
        accept: Annotated[str | None, Header()] = None,
    ) -> Response:
        media = choose_media_type(accept)
        if media is None:
            return JSONResponse(
                {
                    "error": "not_acceptable",
                    "detail": "Accept one of application/json, "
                    "text/csv, application/vnd.apache.arrow.stream",
                },
                status_code=406,
            )
        try:
            result = ctx.runner.run(principal.name, request.sql, request.params)
        except QueryApiError as exc:
            ctx.metrics.sql.labels(_OUTCOMES.get(type(exc), "failed")).inc()
            raise
        ctx.metrics.sql.labels("ok").inc()
        return _render(result, media)

    return router


def _render(result: SqlResult, media: str) -> Response:
    headers = {**watermark_headers(result.watermark), "X-Offload-Truncated": _flag(result)}
    if media == CSV:
        return Response(table_as_csv(result.table), media_type=CSV, headers=headers)
    if media == ARROW:
        return Response(table_as_ipc(result.table), media_type=ARROW, headers=headers)
    body: dict[str, Any] = {
        "columns": [{"name": f.name, "type": str(f.type)} for f in result.table.schema],
        "rows": table_as_dicts(result.table),
        "row_count": result.table.num_rows,
        "truncated": result.truncated,
    }
    response = respond(body, result.watermark)
    response.headers["X-Offload-Truncated"] = _flag(result)
    return response


def _flag(result: SqlResult) -> str:
    return "true" if result.truncated else "false"
