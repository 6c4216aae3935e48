"""The `QueryClient` contract, run against both clients `offload query` chooses between.

`HttpQueryClient` asks a running API (the app served by uvicorn over the writer's connection, as
`offload serve` serves it); `LocalQueryClient` runs the same app in process over the DuckDB file
opened read-only. Both sit over the same sample projection (built twice by the real projection
code, once held by a writer and once closed), so every named query and every SQL statement must
give the same status, the same body and the same watermark headers through either.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from config import ApiKey, ApiSettings, Settings
from query_api import create_app
from query_api.auth import hash_key
from query_api.client import HttpQueryClient, LocalQueryClient, QueryClient
from query_api.commands import request_for
from query_api.routes_registry import NoSchemas

ANALYST_KEY = "contract-analyst-key"
WATERMARK = {"lsn": 50, "commit_time": "2025-03-01T10:00:00Z"}
WATERMARK_HEADERS = {
    "x-offload-watermark-lsn": "50",
    "x-offload-watermark-time": "2025-03-01T10:00:00Z",
}
COMPARED_HEADERS = (
    "x-offload-watermark-lsn",
    "x-offload-watermark-time",
    "x-offload-truncated",
    "retry-after",
)
CUSTOMER_SQL = "SELECT name FROM shipping.customers WHERE customer_id = ?"

Request = tuple[str, str, dict[str, str], Any]


def named(name: str, **params: str) -> Request:
    """The GET request `offload query NAME -p K=V ...` sends."""
    path, query = request_for(name, params)
    return "GET", path, query, None


def sql(text: str, *params: Any) -> Request:
    """The POST /sql request `offload query --sql TEXT --arg ...` sends."""
    return "POST", "/sql", {}, {"sql": text, "params": list(params)}


REQUESTS: dict[str, Request] = {
    "order": named("order", order_id="8"),
    "order fresh enough": named("order", order_id="1", min_lsn="50", wait_ms="0"),
    "order not fresh enough": named("order", order_id="1", min_lsn="51", wait_ms="0"),
    "order unknown": named("order", order_id="999"),
    "customer orders": named("customer-orders", customer_id="1", page_size="3"),
    "customer orders, page 2": named(
        "customer-orders", customer_id="1", page_size="3", cursor="WyJjdXN0b21lcl9vcmRlcnMiLFszXV0"
    ),
    "customer unknown": named("customer-orders", customer_id="404"),
    "voyage": named("voyage", voyage_id="V0000010"),
    "voyage id too long": named("voyage", voyage_id="TOOLONG-ID"),
    "cold-chain legs": named("cold-chain-legs", compliant="false", page_size="3"),
    "cold-chain order": named("cold-chain-order", order_id="1"),
    "telemetry by hour": named("telemetry", container_id="MSCU0000002", bucket="1h"),
    "telemetry bad bucket": named("telemetry", container_id="MSCU0000002", bucket="1y"),
    "freshness": named("freshness"),
    "sql with a parameter": sql(CUSTOMER_SQL, 2),
    "sql over a view": sql(
        "SELECT order_id, status, amount FROM views.order_tracking ORDER BY order_id"
    ),
    "sql refused": sql("DELETE FROM shipping.customers"),
    "sql failing": sql("SELECT no_such_column FROM shipping.customers"),
}

EXPECTED_STATUS = {
    "order": 200,
    "order fresh enough": 200,
    "order not fresh enough": 503,
    "order unknown": 404,
    "customer orders": 200,
    "customer orders, page 2": 200,
    "customer unknown": 404,
    "voyage": 200,
    "voyage id too long": 422,
    "cold-chain legs": 200,
    "cold-chain order": 200,
    "telemetry by hour": 200,
    "telemetry bad bucket": 422,
    "freshness": 200,
    "sql with a parameter": 200,
    "sql over a view": 200,
    "sql refused": 400,
    "sql failing": 400,
}


def _settings() -> Settings:
    """The same API settings for both clients: one analyst key, pages of 3 (5 at most)."""
    keys = {"contract": ApiKey(role="analyst", sha256=hash_key(ANALYST_KEY))}
    api = ApiSettings(
        keys=keys, page_size_default=3, page_size_max=5, sql_row_cap=100, sql_timeout_s=5.0
    )
    return Settings(api=api)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def http_client(projection: Any) -> Iterator[HttpQueryClient]:
    """`HttpQueryClient` on the app served by uvicorn over the writer's connection."""
    app = create_app(_settings(), projection.store, NoSchemas())
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    client = HttpQueryClient(f"http://127.0.0.1:{port}", ANALYST_KEY, timeout_s=30.0)
    yield client
    client.close()
    server.should_exit = True
    thread.join()


@pytest.fixture
def local_client(built_file: Path) -> Iterator[LocalQueryClient]:
    """`LocalQueryClient` over the same sample projection, written to a file and closed."""
    client = LocalQueryClient(_settings(), built_file)
    yield client
    client.close()


@pytest.fixture(params=["http", "local"])
def client(request: pytest.FixtureRequest) -> QueryClient:
    """Each implementation of `QueryClient` in turn."""
    found: QueryClient = request.getfixturevalue(f"{request.param}_client")
    return found


def _ask(client: QueryClient, name: str) -> tuple[int, dict[str, Any], dict[str, str]]:
    """The status, body and compared headers of one request of `REQUESTS`."""
    answer = client.request(*REQUESTS[name])
    headers = {k: v for k, v in answer.headers.items() if k in COMPARED_HEADERS}
    return answer.status, answer.body, headers


def test_a_named_query_answers_its_row_with_the_watermark(client: QueryClient) -> None:
    status, body, headers = _ask(client, "order")
    assert status == 200
    order = body["order"]
    assert (order["order_id"], order["customer_name"], order["voyage_id"]) == (
        8,
        "Polar Fish",
        "V0000011",
    )
    assert (order["amount"], order["product_name"], order["status"]) == (
        "99.99",
        "Bananas",
        "LOADED",
    )
    assert body["watermark"] == WATERMARK
    assert headers == WATERMARK_HEADERS


def test_pages_follow_the_cursor_to_the_end(client: QueryClient) -> None:
    seen: list[int] = []
    params = {"customer_id": "1", "page_size": "3"}
    pages = 0
    while True:
        answer = client.request(*named("customer-orders", **params))
        assert answer.status == 200, answer.body
        assert answer.body["customer"]["name"] == "Acme Foods"
        seen += [item["order_id"] for item in answer.body["items"]]
        pages += 1
        cursor = answer.body["next_cursor"]
        if cursor is None:
            break
        params["cursor"] = cursor
    assert (pages, seen) == (3, [1, 2, 3, 4, 5, 6, 7])


def test_filters_and_buckets(client: QueryClient) -> None:
    status, legs, _ = _ask(client, "cold-chain legs")
    assert status == 200
    assert [(r["order_id"], r["container_id"], r["excursions"]) for r in legs["items"]] == [
        (1, "MSCU0000002", 3),
        (3, "MSCU0000002", 3),
        (5, "MSCU0000002", 3),
    ]
    assert legs["next_cursor"] is not None
    status, telemetry, _ = _ask(client, "telemetry by hour")
    assert status == 200
    assert telemetry["bucket_s"] == 3600
    assert [
        (b["bucket_start"], b["readings"], b["min_temp"], b["max_temp"]) for b in telemetry["items"]
    ] == [
        ("2025-03-01T08:00:00", 60, "0.50", "4.50"),
        ("2025-03-01T09:00:00", 60, "0.50", "4.50"),
    ]


def test_gated_sql_answers_rows_and_the_watermark(client: QueryClient) -> None:
    status, body, headers = _ask(client, "sql with a parameter")
    assert status == 200
    assert body["rows"] == [{"name": "Polar Fish"}]
    assert (body["row_count"], body["truncated"]) == (1, False)
    assert body["watermark"] == WATERMARK
    assert headers == {**WATERMARK_HEADERS, "x-offload-truncated": "false"}


@pytest.mark.parametrize(
    ("name", "status", "detail"),
    [
        ("order unknown", 404, "order 999 not found"),
        (
            "voyage id too long",
            422,
            "parameter 'voyage_id': String should have at most 8 characters",
        ),
        (
            "sql refused",
            400,
            "SQL refused: only SELECT (or WITH … SELECT) is allowed, got DELETE",
        ),
        (
            "order not fresh enough",
            503,
            "watermark LSN 50 has not reached min_lsn 51 after waiting 0 ms",
        ),
    ],
)
def test_refusals_are_the_same_errors(
    client: QueryClient, name: str, status: int, detail: str
) -> None:
    got, body, _ = _ask(client, name)
    assert (got, body["detail"]) == (status, detail)


def test_a_stale_answer_is_refused_with_retry_after_and_the_watermark(
    client: QueryClient,
) -> None:
    answer = client.request(*REQUESTS["order not fresh enough"])
    assert answer.status == 503
    assert answer.body["error"] == "NotFreshEnough"
    assert answer.body["watermark"] == WATERMARK
    assert answer.headers["retry-after"] == "1"
    assert {k: answer.headers[k] for k in WATERMARK_HEADERS} == WATERMARK_HEADERS


def test_both_clients_give_identical_answers(
    http_client: HttpQueryClient, local_client: LocalQueryClient
) -> None:
    statuses = {}
    for name in REQUESTS:
        over_http = _ask(http_client, name)
        in_process = _ask(local_client, name)
        assert over_http == in_process, name
        statuses[name] = over_http[0]
    assert statuses == EXPECTED_STATUS
