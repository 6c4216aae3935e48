"""The committed sample extracts under config/reference/ decode to the simulator's reference
data, and are what scripts/generate_reference_samples.py writes today."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from reference_loader.extract import (
    copybook_format,
    csv_format,
    jsonl_format,
    read_extract,
)
from reference_loader.records import Record, Reject
from reference_loader.validation import check_keys
from simulators.reference_data import PORTS, PRODUCTS, VESSELS

ROOT = Path(__file__).resolve().parents[3]
SAMPLES = ROOT / "config" / "reference"


def records(items: list[Record | Reject]) -> list[dict[str, object]]:
    assert all(isinstance(i, Record) for i in items), [i for i in items if isinstance(i, Reject)]
    return [i.values for i in items if isinstance(i, Record)]


def test_product_master_decodes_to_the_reference_products() -> None:
    fmt = copybook_format(SAMPLES / "products.cpy", recfm="FB", codepage="cp037")
    assert fmt.layout.record_length == 64
    items = list(check_keys(read_extract(SAMPLES / "products.dat", fmt), ["product_id"]))
    assert records(items) == [
        {
            "product_id": p.product_id,
            "product_name": p.name,
            "temp_min": p.temp_min,
            "temp_max": p.temp_max,
            "unit_price": p.unit_price,
            "status_code": "A",
            "record_version": 1,
        }
        for p in PRODUCTS
    ]
    first = records(items)[0]
    assert str(first["temp_min"]) == str(PRODUCTS[0].temp_min)  # same scale, not just equal


def test_ports_csv_decodes_to_the_reference_ports() -> None:
    fmt = csv_format(
        {"unlocode": "string(5)", "name": "string", "country": "string(2)", "time_zone": "string"}
    )
    items = list(check_keys(read_extract(SAMPLES / "ports.csv", fmt), ["unlocode"]))
    assert records(items) == [
        {"unlocode": p.locode, "name": p.name, "country": p.country, "time_zone": p.time_zone}
        for p in PORTS
    ]


def test_vessels_jsonl_decodes_to_the_reference_vessels() -> None:
    fmt = jsonl_format({"vessel_id": "string(10)", "name": "string", "reefer_capacity": "int"})
    items = list(check_keys(read_extract(SAMPLES / "vessels.jsonl", fmt), ["vessel_id"]))
    assert records(items) == [
        {"vessel_id": v.vessel_id, "name": v.name, "reefer_capacity": v.reefer_capacity}
        for v in VESSELS
    ]


def test_committed_samples_are_what_the_generator_writes() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "generate_reference_samples.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
