"""CSV import into the simulated Db2: one unit of work per batch, errors name file and record."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulators.errors import ImportFileError
from simulators.importer import import_csv
from simulators.sor import SystemOfRecord

HEADER = "CUSTOMER_ID,NAME,COUNTRY,CREDIT_LIMIT,ORDER_CUTOFF,CREATED_AT\n"


def test_import_commits_one_unit_per_batch(sor: SystemOfRecord, tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    lines = [f"{i},Name {i},NL,{i}.50,17:30:00,2024-03-01-06.00.00.000001\n" for i in range(1, 8)]
    path.write_text(HEADER + "".join(lines))
    start = sor.newest_lsn()
    assert import_csv(sor, "customers", path, batch=3) == [start + 1, start + 2, start + 3]
    row = sor.conn.execute(
        "SELECT CREDIT_LIMIT, CREATED_AT, SEGMENT FROM SHIPPING.CUSTOMERS WHERE CUSTOMER_ID = 7"
    ).fetchone()
    assert row == ("7.50", "2024-03-01 06:00:00.000001", "STANDARD")


def test_a_bad_record_names_file_record_and_column(sor: SystemOfRecord, tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(
        HEADER + "1,A,NL,1.00,,2024-03-01 06:00:00\n2,B,NL,1.005,,2024-03-01 06:00:00\n"
    )
    with pytest.raises(ImportFileError) as info:
        import_csv(sor, "CUSTOMERS", path, batch=10)
    assert (
        str(info.value)
        == f"{path} record 3: column CREDIT_LIMIT: 1.005 has more than 2 decimal places"
    )
    assert sor.conn.execute("SELECT COUNT(*) FROM SHIPPING.CUSTOMERS").fetchone() == (0,)
