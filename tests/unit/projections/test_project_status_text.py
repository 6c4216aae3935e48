"""`offload project status` prints its figures readably, and says what it does not know."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from offload.cli import app

CONFIG = Path(__file__).resolve().parents[3] / "config" / "offload.toml"


def _figures(**changes: Any) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "watermark": {"lsn": 52001, "commit_time": "2026-12-02T17:45:24.831000"},
        "source": "database",
        "published": {"lsn": 52010, "commit_time": "2026-12-02T17:45:25.000000"},
        "lag_lsn": 9,
        "lag_seconds": 0.2,
        "events_per_s": 17268.996234897724,
        "errors_open": 0,
        "views": [],
        "mirrors": {"shipping.orders": 229373},
    }
    return figures | changes


def _status(monkeypatch: pytest.MonkeyPatch, figures: dict[str, Any]) -> str:
    monkeypatch.setattr("projections.cli._status_figures", lambda _settings: figures)
    result = CliRunner().invoke(app, ["--config", str(CONFIG), "project", "status"])
    assert result.exit_code == 0, result.output
    return result.output


def test_the_figures_are_printed_readably(monkeypatch: pytest.MonkeyPatch) -> None:
    out = _status(monkeypatch, _figures())

    assert "published  LSN 52010 committed 2026-12-02T17:45:25.000000 (Kafka)" in out
    assert "lag        9 LSNs, 0.2 s" in out
    assert "rate       17,269 events/s; open errors 0" in out


def test_what_is_not_known_is_said(monkeypatch: pytest.MonkeyPatch) -> None:
    out = _status(
        monkeypatch, _figures(published=None, lag_lsn=None, lag_seconds=None, events_per_s=None)
    )

    assert "published  none read (no END marker in Kafka yet, or Kafka did not answer)" in out
    assert "lag        unknown\n" in out
    assert "rate       unknown events/s" in out
    assert "None" not in out
