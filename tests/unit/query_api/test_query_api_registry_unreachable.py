"""The registry endpoints answer 503 (not 500) when the `_schemas` topic cannot be reached."""

from __future__ import annotations

import socket
from typing import Any

from config import KafkaSettings
from event_contract.schema_stores import TopicSchemaStore
from query_api.registry_schemas import RegistrySchemas


def _closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_registry_endpoints_give_503_while_kafka_is_unreachable(make_client: Any) -> None:
    kafka = KafkaSettings(bootstrap_servers=f"127.0.0.1:{_closed_port()}")
    client = make_client("reader", RegistrySchemas(TopicSchemaStore(kafka, timeout_s=1.0)))
    responses = [
        client.get(path)
        for path in (
            "/subjects",
            "/schemas/ids/11",
            "/subjects/offload.shipping.orders-value/versions",
            "/subjects/offload.shipping.orders-value/versions/latest",
        )
    ]
    order = client.get("/orders/1")
    for response in responses:
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "5"
        body = response.json()
        assert body["error_code"] == 50001
        assert body["message"].startswith(
            "schema registry unavailable, retry later: "
            "schema store topic offload._schemas is unreachable: "
        )
    assert order.status_code == 200
