"""The read tier's parts: the serving workers share their API metrics, the writer does not."""

from __future__ import annotations

from pathlib import Path

from config import load_settings
from offload.serve import fresh_worker_metrics, serving_parts, worker_metrics_dir
from query_api.metrics import MULTIPROCESS_ENV

CONFIG = Path(__file__).resolve().parents[3] / "config" / "offload.toml"


def test_workers_share_a_metrics_dir_that_each_start_empties(tmp_path: Path) -> None:
    env = {"OFFLOAD__RUNTIME__DATA_DIR": str(tmp_path), "OFFLOAD__API__WORKERS": "3"}
    settings = load_settings(CONFIG, env=env)
    parts = serving_parts(settings, CONFIG)
    shared = worker_metrics_dir(settings)
    assert [(p.name, dict(p.env)) for p in parts] == [
        ("projection", {}),
        *[(f"api-{n}", {MULTIPROCESS_ENV: str(shared)}) for n in (1, 2, 3)],
    ]
    assert shared.is_relative_to(tmp_path)
    fresh_worker_metrics(settings)
    (shared / "counter_123.db").write_bytes(b"left by an earlier run")
    fresh_worker_metrics(settings)
    assert shared.is_dir() and not any(shared.iterdir())
