"""Live streams (reader role): a view's changes and the cold-chain alerts, as server-sent events.

`GET /views/{view}/changes` streams every row of a derived view that a committed batch
changed (Materialize's SUBSCRIBE, one event per batch); `GET /cold-chain/alerts` streams
each cold-chain leg that became non-compliant, recovered, or was withdrawn.

Event format (`text/event-stream`, UTF-8; every `data:` is one line of JSON):

```
retry: 1000
event: subscribed            the stream's start position (sent first)
id: 1234
data: {"position": "1234", "lsn": 1234}

event: alerts                one committed batch (`changes` on /views/{view}/changes)
id: 1240                     its position: "L", or "L.n" for the n-th later batch at LSN L
data: {"position":"1240","lsn":1240,"commit_time":"2026-12-01T18:00:00.123000",
       "alerts":[{"kind":"non_compliant","key":{"order_id":7,"container_id":"C1",
       "voyage_id":"V1"},"leg":{...the cold_chain row now...},"before":{...or null}}]}

event: heartbeat             after 15 s without an event: the position scanned so far
id: 1250
data: {"position": "1250", "lsn": 1250}

event: unavailable           the projection writer is down; the stream waits for it
data: {"error": "WriterUnavailable", "detail": "..."}

event: error                 the stream cannot go on (its position was compacted); it ends
data: {"error": "ChangesCompacted", "detail": "..."}
```

An alert's `kind`: `non_compliant` (the leg's `compliant` is false now and was not before,
or the leg is new and already non-compliant), `recovered` (false before, true now),
`withdrawn` (false before; the leg is gone, or its product's range is unknown now). `leg` is
the leg's row as `GET /cold-chain/legs` lists it (the last row it had, for `withdrawn`).
A `changes` item is `{"key": {...}, "before": {...} | null, "after": {...} | null}`.

Resuming: EventSource sends the last `id:` it received as `Last-Event-ID` on reconnect, and
the stream continues exactly after it (nothing lost, nothing twice). A client can also start
at `since_lsn` (the watermark of a read it made: every change after it follows); without
either, only changes from now on. `Last-Event-ID` wins over `since_lsn`. A position older than
the change log keeps (1 hour) gets 410 `ChangesCompacted`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import StreamingResponse

from query_api.context import ApiContext
from query_api.errors import NotFound
from query_api.subscriptions import (
    ChangeFeed,
    ChangeLogReader,
    Position,
    change_stream,
    start_position,
)

_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
SinceLsn = Annotated[
    int | None,
    Query(ge=0, le=2**63 - 1, description="Stream the changes after this watermark LSN."),
]
LastEventId = Annotated[
    str | None,
    Header(alias="Last-Event-ID", max_length=40, description="Resume after this event id."),
]


def stream_router(ctx: ApiContext, views: tuple[str, ...]) -> APIRouter:
    """The streaming routes bound to one app's context.

    Args:
        ctx: the app's context.
        views: the views whose changes the writer logs (`projections.change_log_views`): the
            subscribable ones.
    """
    router = APIRouter(tags=["live streams"], dependencies=[Depends(ctx.require("reader"))])
    feed = ChangeFeed(ctx.store, ctx.reads)

    def respond(
        reader: ChangeLogReader, request: Request, start: Position, name: str
    ) -> StreamingResponse:
        stream = change_stream(
            reader,
            feed,
            ctx.store,
            start=start,
            name=name,
            event=name,
            disconnected=request.is_disconnected,
        )
        return StreamingResponse(stream, media_type="text/event-stream", headers=_HEADERS)

    @router.get(
        "/views/{view}/changes",
        summary="Server-sent events: every change of a derived view, one event per batch",
        response_class=StreamingResponse,
    )
    def get_view_changes(
        request: Request,
        view: Annotated[str, Path(min_length=1, max_length=64)],
        since_lsn: SinceLsn = None,
        last_event_id: LastEventId = None,
    ) -> StreamingResponse:
        if view not in views:
            raise NotFound("change log of view", view)
        reader = ChangeLogReader(ctx.reads, "view_changes", {"view": view})
        with ctx.store.snapshot() as snap:
            start = start_position(reader, snap, last_event_id, since_lsn)
        return respond(reader, request, start, "changes")

    @router.get(
        "/cold-chain/alerts",
        summary="Server-sent events: legs that become non-compliant, recover or are withdrawn",
        response_class=StreamingResponse,
    )
    def get_cold_chain_alerts(
        request: Request, since_lsn: SinceLsn = None, last_event_id: LastEventId = None
    ) -> StreamingResponse:
        if "cold_chain" not in views:
            raise NotFound("change log of view", "cold_chain")
        reader = ChangeLogReader(ctx.reads, "cold_chain_alerts")
        with ctx.store.snapshot() as snap:
            start = start_position(reader, snap, last_event_id, since_lsn)
        return respond(reader, request, start, "alerts")

    return router
