"""Benchmark: decode a 1,000,000-record EBCDIC product extract (RECFM=FB, cp037).

Writes a product-master-like dataset (text, zoned, packed and binary fields, an OCCURS and a
FILLER) into a temporary directory and reports, as the median of 3 runs each:

- decode: records/s of `read_dataset` (framing + every field decoded + `Record` objects);
- columns: records/s of `ColumnDecoder` (every field of 32,768 records at a time into numpy
  columns, validity included, no Python object per record): what the load's bulk path decodes;
- framing: records/s of just slicing the records (`fixed_frames`), the reader's ceiling;
- codec: records/s of `bytes.decode("cp037")` over the same bytes, C speed for comparison.

Run: `.venv/bin/python benchmarks/bench_ebcdic_decode.py [--records N]`
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import numpy as np

from reference_loader.columns import column_decoder
from reference_loader.dataset import Recfm, read_dataset
from reference_loader.decoders import CopybookDecoder
from reference_loader.encoders import encode_record
from reference_loader.framing import fixed_frames
from reference_loader.layout import Layout, load_layout
from reference_loader.records import Record

COPYBOOK = (Path(__file__).parent / "copybooks" / "ebcdic_decode.cpy").read_text(encoding="utf-8")
DISTINCT = 10_000


def sample_values(n: int) -> dict[str, object]:
    """Deterministic values of record `n`."""
    low = Decimal(n % 400 - 250).scaleb(-1)
    return {
        "product_id": f"{n % 10_000:04d}",
        "product_name": f"Product {n} chilled goods",
        "temp_min": low,
        "temp_max": low + Decimal("4.50"),
        "shelf_life_days": n % 365 + 1,
        "pallets_per_feu": n % 40 - 20,
        "humidity_pct": Decimal(n % 1000).scaleb(-1),
        "status_code": "A",
        "hs_codes_1": 80300 + n % 99,
        "hs_codes_2": 70200 + n % 57,
    }


def write_extract(path: Path, layout: Layout, records: int) -> None:
    """Write `records` records, repeating `DISTINCT` encoded ones (decoding cost is the same)."""
    block = b"".join(encode_record(layout, sample_values(n)) for n in range(DISTINCT))
    with path.open("wb") as out:
        for _ in range(records // DISTINCT):
            out.write(block)
        out.write(block[: (records % DISTINCT) * layout.record_length])


def median_seconds(run: Callable[[], int], expected: int) -> float:
    times = []
    for _ in range(3):
        start = time.perf_counter()
        count = run()
        times.append(time.perf_counter() - start)
        if count != expected:
            raise SystemExit(f"expected {expected} records, counted {count}")
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    records = parser.parse_args().records
    layout = load_layout(COPYBOOK)
    decoder = CopybookDecoder(layout, "cp037")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "products.dat"
        write_extract(path, layout, records)
        size = path.stat().st_size

        def decode() -> int:
            with path.open("rb") as stream:
                return sum(isinstance(i, Record) for i in read_dataset(stream, decoder, Recfm.FB))

        def frame() -> int:
            with path.open("rb") as stream:
                return sum(1 for _ in fixed_frames(stream, layout.record_length))

        columns = column_decoder(layout, "cp037")
        assert columns is not None

        def column_decode() -> int:
            count, step = 0, 32_768 * layout.record_length
            with path.open("rb") as stream:
                while data := stream.read(step):
                    matrix = np.frombuffer(data, dtype=np.uint8).reshape(-1, layout.record_length)
                    count += len(columns.decode(matrix).refused)
            return count

        def codec() -> int:
            data = path.read_bytes()
            return len(data.decode("cp037")) // layout.record_length

        decoding = median_seconds(decode, records)
        column_s = median_seconds(column_decode, records)
        framing = median_seconds(frame, records)
        codec_s = median_seconds(codec, records)
    print(f"records: {records:,} of {layout.record_length} bytes ({size / 1e6:.1f} MB), "
          f"{len(layout.fields)} fields each")  # fmt: skip
    rows = (("decode", decoding), ("columns", column_s), ("framing", framing), ("codec", codec_s))
    for label, seconds in rows:
        print(f"{label:8} {records / seconds:>14,.0f} records/s  ({seconds:.2f} s, median of 3)")
    print(f"decode / framing ceiling: {framing / decoding:.1%}; "
          f"decode / cp037 codec: {codec_s / decoding:.2%}")  # fmt: skip


if __name__ == "__main__":
    main()
