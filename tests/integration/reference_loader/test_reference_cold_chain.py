"""Reference data drives the read side: the projection mirrors the product master loaded from
its EBCDIC extract, and narrowing one product's temperature range in the extract, then
reloading, changes the compliance of exactly that product's cold-chain legs."""

from __future__ import annotations

import shutil
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from reference_loader.encoders import encode_record
from reference_loader.layout import load_layout

REPO = Path(__file__).resolve().parents[3]
SAMPLES = REPO / "config" / "reference"


def _ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def _duck(path: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def _products(path: Path) -> list[dict[str, Any]]:
    """Decode the product extract with the loader's own reader."""
    from reference_loader.extract import copybook_format, read_extract
    from reference_loader.records import Record

    fmt = copybook_format(SAMPLES / "products.cpy", recfm="FB", codepage="cp037")
    return [item.values for item in read_extract(path, fmt) if isinstance(item, Record)]


def _write_products(path: Path, products: list[dict[str, Any]]) -> None:
    layout = load_layout((SAMPLES / "products.cpy").read_text(), source="products.cpy")
    path.write_bytes(b"".join(encode_record(layout, p, "cp037") for p in products))


@pytest.mark.kafka
def test_narrowing_a_product_range_flags_exactly_its_legs(
    kafka_broker: Any, settings_factory: Any, run_offload: Any, tmp_path: Path
) -> None:
    extract = tmp_path / "drop" / "products.dat"
    extract.parent.mkdir()
    shutil.copy(SAMPLES / "products.dat", extract)
    s = settings_factory({"reference.jobs.products.source": str(extract)})
    _ok(run_offload(s, "sor", "init"))
    _ok(run_offload(s, "cdc", "run", "--until-idle"))
    _ok(run_offload(s, "simulate", "--transactions", "400", "--seed", "11"))
    _ok(run_offload(s, "cdc", "run", "--until-idle"))
    _ok(run_offload(s, "reference", "load"))
    _ok(run_offload(s, "project", "run", "--until-idle"))

    db = s.projections_path
    mirrored = dict(_duck(db, "SELECT product_id, temp_max FROM reference.products"))
    assert mirrored == {p["product_id"]: p["temp_max"] for p in _products(extract)}
    legs = _duck(
        db,
        "SELECT product_id, count(*), min(min_temperature) FROM views.cold_chain "
        "WHERE compliant AND readings > 0 GROUP BY product_id ORDER BY 2 DESC, 1",
    )
    assert legs, "the workload must produce compliant legs with readings"
    product, compliant_legs, coldest = legs[0]
    before = dict(
        _duck(db, "SELECT (order_id, container_id, voyage_id), compliant FROM views.cold_chain")
    )

    # Narrow the product's range so that its coldest reading is now too warm.
    products = _products(extract)
    for record in products:
        if record["product_id"] == product:
            record["temp_max"] = Decimal(coldest) - Decimal("0.01")
            record["temp_min"] = min(record["temp_min"], record["temp_max"] - 10)
    _write_products(extract, products)
    out = _ok(run_offload(s, "reference", "load", "products"))
    assert "changed 1" in out
    _ok(run_offload(s, "project", "run", "--until-idle"))

    after = dict(
        _duck(db, "SELECT (order_id, container_id, voyage_id), compliant FROM views.cold_chain")
    )
    of_product = {
        leg
        for (leg,) in _duck(
            db,
            "SELECT (order_id, container_id, voyage_id) FROM views.cold_chain "
            "WHERE product_id = ? AND readings > 0",
            [product],
        )
    }
    assert len(of_product) >= compliant_legs
    changed = {leg for leg in after if after[leg] != before.get(leg)}
    # Every leg of the product with readings is now out of range; no other leg moved.
    assert all(after[leg] is False for leg in of_product)
    assert changed == {leg for leg in of_product if before.get(leg) is True}
    assert len(changed) == compliant_legs
