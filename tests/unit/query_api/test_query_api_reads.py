"""Named queries, pagination, 404/422, freshness and min_lsn, auth, registry endpoints."""

from __future__ import annotations

import base64
import threading
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

WATERMARK = {"lsn": 50, "commit_time": "2025-03-01T10:00:00Z"}


def test_order_carries_the_watermark_in_headers_and_body(reader: TestClient) -> None:
    response = reader.get("/orders/8")
    assert response.status_code == 200
    assert response.headers["X-Offload-Watermark-LSN"] == "50"
    assert response.headers["X-Offload-Watermark-Time"] == "2025-03-01T10:00:00Z"
    body = response.json()
    assert body["watermark"] == WATERMARK
    assert body["order"]["customer_name"] == "Polar Fish"
    assert body["order"]["amount"] == "99.99"


def test_customer_orders_paginate_in_a_stable_order(reader: TestClient) -> None:
    seen: list[int] = []
    url = "/customers/1/orders?page_size=3"
    pages = 0
    while url:
        body = reader.get(url).json()
        seen += [item["order_id"] for item in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        url = f"/customers/1/orders?page_size=3&cursor={cursor}" if cursor else ""
    assert seen == [1, 2, 3, 4, 5, 6, 7]
    assert pages == 3


def test_cold_chain_legs_filter_and_paginate(reader: TestClient) -> None:
    first = reader.get("/cold-chain/legs?compliant=false&voyage_id=V0000010&page_size=2").json()
    assert [(i["order_id"], i["compliant"]) for i in first["items"]] == [(1, False), (3, False)]
    rest = reader.get(
        f"/cold-chain/legs?compliant=false&voyage_id=V0000010&cursor={first['next_cursor']}"
    )
    assert [i["order_id"] for i in rest.json()["items"]] == [5, 7]
    assert rest.json()["next_cursor"] is None
    assert reader.get("/cold-chain/legs?since=2025-03-02T00:00:00").json()["items"] == []


def test_voyage_and_cold_chain_order(reader: TestClient) -> None:
    voyage = reader.get("/voyages/V0000010").json()
    assert voyage["voyage"]["origin_port"] == "NLRTM"
    assert voyage["cold_chain"]["non_compliant_legs"] == 4
    assert [(c["container_id"], c["legs"], c["compliant"]) for c in voyage["containers"]] == [
        ("MSCU0000001", 3, True),
        ("MSCU0000002", 4, False),
    ]
    assert [(o["order_id"], o["excursions"]) for o in voyage["orders"]] == [(1, 3), (2, 0), (3, 3)]
    legs = reader.get("/cold-chain/orders/1").json()
    assert [(leg["container_id"], leg["readings"], leg["excursions"]) for leg in legs["legs"]] == [
        ("MSCU0000002", 120, 3)
    ]
    assert legs["legs"][0]["first_excursion_at"] == "2025-03-01T08:30:00"
    unloaded = reader.get("/voyages/V0000011").json()
    assert (unloaded["cold_chain"]["legs"], unloaded["cold_chain"]["compliant"]) == (0, None)
    assert [o["order_id"] for o in unloaded["orders"]] == [8]


def test_telemetry_readings_and_buckets(reader: TestClient) -> None:
    raw = reader.get(
        "/containers/MSCU0000002/telemetry?from=2025-03-01T08:29:00&to=2025-03-01T08:32:00"
    ).json()
    assert [(r["reading_ts"], r["temperature"]) for r in raw["items"]] == [
        ("2025-03-01T08:29:00", "0.50"),
        ("2025-03-01T08:30:00", "4.50"),
        ("2025-03-01T08:31:00", "4.50"),
    ]
    buckets = reader.get("/containers/MSCU0000002/telemetry?bucket=1h").json()
    assert [(b["bucket_start"], b["readings"], b["max_temp"]) for b in buckets["items"]] == [
        ("2025-03-01T08:00:00", 60, "4.50"),
        ("2025-03-01T09:00:00", 60, "4.50"),
    ]


@pytest.mark.parametrize(
    ("url", "detail"),
    [
        ("/orders/999", "order 999 not found"),
        ("/customers/999/orders", "customer 999 not found"),
        ("/voyages/V9999999", "voyage V9999999 not found"),
        ("/cold-chain/orders/999", "order 999 not found"),
        ("/containers/NOPE0000000/telemetry", "container NOPE0000000 not found"),
    ],
)
def test_unknown_ids_are_404(reader: TestClient, url: str, detail: str) -> None:
    response = reader.get(url)
    assert response.status_code == 404
    assert response.json()["detail"] == detail
    assert response.headers["X-Offload-Watermark-LSN"] == "50"


@pytest.mark.parametrize(
    ("url", "parameter", "detail"),
    [
        ("/orders/abc", "order_id", None),
        ("/customers/1/orders?page_size=6", "page_size", None),
        (
            "/customers/1/orders?cursor=garbage",
            "cursor",
            "parameter 'cursor': not a cursor returned by this API",
        ),
        ("/cold-chain/legs?compliant=maybe", "compliant", None),
        ("/cold-chain/legs?since=yesterday", "since", None),
        (
            "/containers/MSCU0000001/telemetry?bucket=5x",
            "bucket",
            "parameter 'bucket': expected a duration from 1s to 31d like 15m or 1h, got '5x'",
        ),
        (
            "/containers/MSCU0000001/telemetry?from=2025-03-02T00:00:00&to=2025-03-01T00:00:00",
            "to",
            "parameter 'to': must not be before 'from'",
        ),
        ("/orders/1?min_lsn=-1", "min_lsn", None),
        ("/voyages/V00000100", "voyage_id", None),
        ("/cold-chain/legs?product_id=P10000", "product_id", None),
        ("/containers/MSCU00000001/telemetry", "container_id", None),
    ],
)
def test_bad_parameters_are_422_naming_the_parameter(
    reader: TestClient, url: str, parameter: str, detail: str | None
) -> None:
    response = reader.get(url)
    assert response.status_code == 422
    assert response.json()["parameter"] == parameter
    if detail is not None:
        assert response.json()["detail"] == detail


def test_a_cursor_of_another_list_is_refused(reader: TestClient) -> None:
    cursor = reader.get("/customers/1/orders?page_size=3").json()["next_cursor"]
    response = reader.get(f"/cold-chain/legs?cursor={cursor}")
    assert response.status_code == 422
    assert (
        response.json()["detail"] == "parameter 'cursor': not a cursor of the cold_chain_legs list"
    )


def test_min_lsn_already_reached_answers_at_once(reader: TestClient) -> None:
    assert reader.get("/orders/1?min_lsn=50").status_code == 200


def test_min_lsn_waits_for_the_writer(reader: TestClient, projection: Any) -> None:
    writer = threading.Timer(0.2, projection.commit_watermark, args=(60,))
    writer.start()
    assert reader.get("/orders/1").json()["order"]["status"] == "LOADED"
    response = reader.get("/orders/1?min_lsn=60&wait_ms=5000")
    writer.join()
    assert response.status_code == 200
    assert response.headers["X-Offload-Watermark-LSN"] == "60"
    assert response.json()["watermark"]["lsn"] == 60
    assert response.json()["order"]["status"] == "IN_TRANSIT"
    assert response.json()["order"]["last_lsn"] == 60


def test_min_lsn_not_reached_is_503_with_the_current_watermark(reader: TestClient) -> None:
    started = time.monotonic()
    response = reader.get("/cold-chain/legs?min_lsn=51&wait_ms=100")
    assert time.monotonic() - started >= 0.1
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.headers["X-Offload-Watermark-LSN"] == "50"
    assert response.json()["detail"] == (
        "watermark LSN 50 has not reached min_lsn 51 after waiting 100 ms"
    )


def test_wait_ms_is_capped_by_config(make_client: Any) -> None:
    client = make_client("reader", max_wait_ms=0)
    response = client.get("/orders/1?min_lsn=51&wait_ms=600000")
    assert response.json()["detail"] == (
        "watermark LSN 50 has not reached min_lsn 51 after waiting 0 ms"
    )


def test_auth_401_403_and_open_probes(make_client: Any) -> None:
    anonymous = make_client(None)
    assert anonymous.get("/orders/1").status_code == 401
    assert anonymous.get("/orders/1", headers={"X-API-Key": "wrong"}).status_code == 401
    assert anonymous.get("/healthz").json() == {"status": "ok"}
    assert anonymous.get("/readyz").status_code == 200
    assert anonymous.get("/freshness").status_code == 401
    assert make_client("reader").post("/sql", json={"sql": "SELECT 1"}).status_code == 403


def test_freshness_and_metrics(reader: TestClient) -> None:
    body = reader.get("/freshness").json()
    assert [(v["name"], v["lsn"], v["lag_lsn"]) for v in body["views"]] == [
        ("cold_chain", 50, 0),
        ("order_tracking", 50, 0),
    ]
    metrics = reader.get("/metrics").text
    assert "offload_api_watermark_lsn 50.0" in metrics
    assert 'offload_api_requests_total{method="GET",route="/freshness",status="200"}' in metrics


def test_docs_follow_config(make_client: Any) -> None:
    assert make_client("reader").get("/openapi.json").status_code == 200
    assert make_client("reader", docs_enabled=False).get("/openapi.json").status_code == 404


def test_registry_endpoints_in_confluent_shapes_with_basic_auth(make_client: Any) -> None:
    client = make_client(None)
    token = base64.b64encode(b"anyone:reader-secret-1").decode()
    auth = {"Authorization": f"Basic {token}"}
    assert client.get("/subjects").status_code == 401
    assert client.get("/subjects", headers=auth).json() == [
        "offload.shipping.orders-key",
        "offload.shipping.orders-value",
    ]
    versions = client.get("/subjects/offload.shipping.orders-value/versions", headers=auth)
    assert versions.json() == [1, 2]
    latest = client.get("/subjects/offload.shipping.orders-value/versions/latest", headers=auth)
    assert (latest.json()["version"], latest.json()["id"]) == (2, 22)
    assert client.get("/schemas/ids/11", headers=auth).json()["schema"].startswith('{"type"')
    missing = client.get("/schemas/ids/12345", headers=auth)
    assert (missing.status_code, missing.json()) == (
        404,
        {"error_code": 40403, "message": "Schema 12345 not found"},
    )
    assert client.get("/subjects/nope/versions", headers=auth).json()["error_code"] == 40401
    gone = client.get("/subjects/offload.shipping.orders-key/versions/9", headers=auth)
    assert gone.json()["error_code"] == 40402


def test_a_legs_average_temperature_is_exact_decimal_text_like_min_and_max(
    reader: TestClient,
) -> None:
    # MSCU0000002: 117 readings of 0.50 and 3 of 4.50 (72.00 / 120); MSCU0000001: 0.50 each.
    legs = reader.get("/cold-chain/legs?voyage_id=V0000010&page_size=2").json()["items"]
    assert [
        (i["container_id"], i["min_temperature"], i["max_temperature"], i["avg_temperature"])
        for i in legs
    ] == [("MSCU0000002", "0.50", "4.50", "0.6000"), ("MSCU0000001", "0.50", "0.50", "0.5000")]
    order = reader.get("/cold-chain/orders/1").json()["legs"]
    assert [leg["avg_temperature"] for leg in order] == ["0.6000"]
