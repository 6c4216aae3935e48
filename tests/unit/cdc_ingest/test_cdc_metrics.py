"""Capture's Prometheus gauges follow what each committed transaction reports."""

from __future__ import annotations

from cdc_ingest.metrics import CaptureMetrics
from cdc_ingest.positions import CapturePosition


def test_gauges_follow_the_committed_position_and_the_encoding_paths() -> None:
    metrics = CaptureMetrics()
    value = metrics.registry.get_sample_value

    metrics.observe(CapturePosition(lsn=90, events=1200), 100, {"S.T": 2}, 3, 1)

    assert value("offload_cdc_last_published_lsn") == 90
    assert value("offload_cdc_lag_lsn") == 10
    assert value("offload_cdc_events_published") == 1200
    assert value("offload_cdc_bulk_units") == 3
    assert value("offload_cdc_bulk_declined_units") == 1

    metrics.observe(CapturePosition(lsn=100, events=1500), 100, {"S.T": 2}, 5, 1)

    assert value("offload_cdc_lag_lsn") == 0
    assert value("offload_cdc_bulk_units") == 5
