"""/metrics serves the registries the entry point hands over beside the API's own."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from query_api.metrics import ApiMetrics


class _Store:
    def watermark(self) -> Any:
        return SimpleNamespace(lsn=7)


def test_extra_registries_are_rendered_after_the_apis_own() -> None:
    projection = CollectorRegistry()
    applied = Counter("offload_projection_events_applied", "Events.", registry=projection)
    applied.inc(3)
    text = ApiMetrics(_Store(), [projection]).render().decode()  # type: ignore[arg-type]
    assert "offload_api_watermark_lsn 7.0" in text
    assert "offload_projection_events_applied_total 3.0" in text
    assert text.index("offload_api_watermark_lsn") < text.index("offload_projection_events")
