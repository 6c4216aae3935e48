"""The named-query endpoints (reader role): orders, customers, voyages, cold chain, telemetry."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse

from query_api.context import ApiContext, Freshness, page_size_query, respond
from query_api.errors import BadParameter
from query_api.reads import LEG_KEY, ORDER_KEY, TIME_KEY, LegFilter, TelemetryWindow, bucket_seconds

# Key types of simulators/sql/shipping.sql: ORDER_ID BIGINT, CUSTOMER_ID INTEGER,
# VOYAGE_ID CHAR(8), PRODUCT_ID CHAR(4), CONTAINER_ID CHAR(11) (trailing blanks removed).
_ORDER_ID = {"ge": 0, "le": 2**63 - 1}
_CUSTOMER_ID = {"ge": -(2**31), "le": 2**31 - 1}
_VOYAGE_ID = {"min_length": 1, "max_length": 8}
_PRODUCT_ID = {"min_length": 1, "max_length": 4}
_CONTAINER_ID = {"min_length": 1, "max_length": 11}
CursorParam = Annotated[str | None, Query(max_length=1024, description="From next_cursor.")]


def _naive_utc(stamp: datetime | None) -> datetime | None:
    """Db2 TIMESTAMPs carry no zone: a zoned input is converted to UTC and the zone dropped."""
    if stamp is None or stamp.tzinfo is None:
        return stamp
    return stamp.astimezone(UTC).replace(tzinfo=None)


def reads_router(ctx: ApiContext) -> APIRouter:
    """The named-query routes bound to one app's context."""
    router = APIRouter(tags=["named queries"], dependencies=[Depends(ctx.require("reader"))])
    fresh = Depends(ctx.freshness())
    PageSize = Annotated[int | None, page_size_query(ctx.page_size_max)]

    @router.get("/orders/{order_id}", summary="One order with its tracking information")
    def get_order(
        order_id: Annotated[int, Path(**_ORDER_ID)], freshness: Freshness = fresh
    ) -> JSONResponse:
        with ctx.answer(freshness) as snap:
            return respond({"order": ctx.reads.order(snap, order_id)}, snap.watermark)

    @router.get("/customers/{customer_id}/orders", summary="A customer's orders, paginated")
    def get_customer_orders(
        customer_id: Annotated[int, Path(**_CUSTOMER_ID)],
        page_size: PageSize = None,
        cursor: CursorParam = None,
        freshness: Freshness = fresh,
    ) -> JSONResponse:
        page = ctx.page_request("customer_orders", ORDER_KEY, page_size, cursor)
        with ctx.answer(freshness) as snap:
            body = ctx.reads.customer_orders(snap, customer_id, page)
            return respond(body, snap.watermark)

    @router.get("/voyages/{voyage_id}", summary="A voyage: its orders, containers, cold chain")
    def get_voyage(
        voyage_id: Annotated[str, Path(**_VOYAGE_ID)],
        page_size: PageSize = None,
        cursor: CursorParam = None,
        freshness: Freshness = fresh,
    ) -> JSONResponse:
        page = ctx.page_request("voyage_orders", ORDER_KEY, page_size, cursor)
        with ctx.answer(freshness) as snap:
            return respond(ctx.reads.voyage(snap, voyage_id, page), snap.watermark)

    @router.get("/cold-chain/legs", summary="Cold-chain legs, filtered and paginated")
    def get_legs(
        *,
        compliant: bool | None = None,
        voyage_id: Annotated[str | None, Query(**_VOYAGE_ID)] = None,
        product_id: Annotated[str | None, Query(**_PRODUCT_ID)] = None,
        since: Annotated[datetime | None, Query(description="Last reading at or after.")] = None,
        page_size: PageSize = None,
        cursor: CursorParam = None,
        freshness: Freshness = fresh,
    ) -> JSONResponse:
        page = ctx.page_request("cold_chain_legs", LEG_KEY, page_size, cursor)
        where = LegFilter(compliant, voyage_id, product_id, _naive_utc(since))
        with ctx.answer(freshness) as snap:
            return respond(ctx.reads.cold_chain_legs(snap, where, page), snap.watermark)

    @router.get("/cold-chain/orders/{order_id}", summary="Every cold-chain leg of one order")
    def get_order_legs(
        order_id: Annotated[int, Path(**_ORDER_ID)], freshness: Freshness = fresh
    ) -> JSONResponse:
        with ctx.answer(freshness) as snap:
            body = ctx.reads.cold_chain_order(snap, order_id, ctx.page_size_max)
            return respond(body, snap.watermark)

    @router.get(
        "/containers/{container_id}/telemetry",
        summary="A container's reefer readings, or min/avg/max per time bucket",
    )
    def get_telemetry(
        *,
        container_id: Annotated[str, Path(**_CONTAINER_ID)],
        start: Annotated[datetime | None, Query(alias="from")] = None,
        end: Annotated[datetime | None, Query(alias="to")] = None,
        bucket: Annotated[
            str | None, Query(max_length=16, description="Bucket width: 30s, 15m, 1h, 1d.")
        ] = None,
        page_size: PageSize = None,
        cursor: CursorParam = None,
        freshness: Freshness = fresh,
    ) -> JSONResponse:
        window = TelemetryWindow(
            _naive_utc(start), _naive_utc(end), None if bucket is None else bucket_seconds(bucket)
        )
        if window.start and window.end and window.end < window.start:
            raise BadParameter("to", "must not be before 'from'")
        name = "telemetry_readings" if window.bucket_s is None else "telemetry_buckets"
        page = ctx.page_request(name, TIME_KEY, page_size, cursor)
        with ctx.answer(freshness) as snap:
            body = ctx.reads.container_telemetry(snap, container_id, window, page)
            return respond(body, snap.watermark)

    return router
