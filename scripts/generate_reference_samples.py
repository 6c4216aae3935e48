"""Write the sample reference extracts under config/reference/ from simulators.reference_data.

- products.dat: the product master, EBCDIC cp037, RECFM=FB, laid out by products.cpy
  (hand-written, committed next to it): PRODUCT-ID, PRODUCT-NAME, TEMP-MIN and TEMP-MAX as
  S9(3)V99 COMP-3, UNIT-PRICE as S9(7)V99 COMP-3, STATUS-CODE 'A', RECORD-VERSION 01.
- ports.csv: UTF-8, header `unlocode,name,country,time_zone`.
- vessels.jsonl: UTF-8, `{"vessel_id", "name", "reefer_capacity"}` a line.

The output is a pure function of the reference data (same order, no timestamps), so running
it twice gives byte-identical files; `--check` exits 1 if the committed files are stale.
This script is the only place that joins the simulator and the loader: reference_loader never
imports simulators.

Run: `.venv/bin/python scripts/generate_reference_samples.py [--out DIR] [--check]`
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path

from reference_loader.encoders import encode_record
from reference_loader.layout import load_layout
from simulators.reference_data import PORTS, PRODUCTS, VESSELS

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIR = ROOT / "config" / "reference"
RECORD_VERSION = 1


def products_dat(copybook: str) -> bytes:
    """The product master in EBCDIC cp037, one fixed-length record per product."""
    layout = load_layout(copybook, source="products.cpy")
    records = [
        encode_record(
            layout,
            {
                "product_id": p.product_id,
                "product_name": p.name,
                "temp_min": p.temp_min,
                "temp_max": p.temp_max,
                "unit_price": p.unit_price,
                "status_code": "A",
                "record_version": RECORD_VERSION,
            },
            "cp037",
        )
        for p in PRODUCTS
    ]
    return b"".join(records)


def ports_csv() -> bytes:
    """The ports as CSV with a header row."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["unlocode", "name", "country", "time_zone"])
    writer.writerows([p.locode, p.name, p.country, p.time_zone] for p in PORTS)
    return out.getvalue().encode("utf-8")


def vessels_jsonl() -> bytes:
    """The vessels as JSON Lines."""
    lines = [
        json.dumps(
            {"vessel_id": v.vessel_id, "name": v.name, "reefer_capacity": v.reefer_capacity},
            ensure_ascii=False,
        )
        for v in VESSELS
    ]
    return ("\n".join(lines) + "\n").encode("utf-8")


def samples(directory: Path) -> dict[Path, bytes]:
    """Each sample file's path and bytes."""
    copybook = (directory / "products.cpy").read_text(encoding="utf-8")
    return {
        directory / "products.dat": products_dat(copybook),
        directory / "ports.csv": ports_csv(),
        directory / "vessels.jsonl": vessels_jsonl(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_DIR, help="folder with products.cpy")
    parser.add_argument("--check", action="store_true", help="only compare, write nothing")
    args = parser.parse_args()
    stale = []
    for path, data in samples(args.out).items():
        if args.check:
            if not path.exists() or path.read_bytes() != data:
                stale.append(path)
        else:
            path.write_bytes(data)
            print(f"wrote {path} ({len(data)} bytes)")
    for path in stale:
        print(f"{path} is stale: run scripts/generate_reference_samples.py", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
