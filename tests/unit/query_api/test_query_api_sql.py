"""POST /sql: the attack list, each refused (or harmless) with the data unchanged."""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

REFUSED_BY_TYPE = {
    "INSERT INTO views.cold_chain (order_id) VALUES (99)": "INSERT",
    "UPDATE views.order_tracking SET status = 'LOST'": "UPDATE",
    "DELETE FROM shipping.customers": "DELETE",
    "CREATE TABLE views.evil (i INTEGER)": "CREATE",
    "CREATE OR REPLACE TABLE views.cold_chain AS SELECT 1 AS i": "CREATE",
    "CREATE MACRO m(a) AS a": "CREATE",
    "DROP TABLE views.order_tracking": "DROP",
    "ALTER TABLE views.order_tracking ADD COLUMN x INTEGER": "ALTER",
    "COPY views.order_tracking TO '{tmp}/leak.csv'": "COPY",
    "COPY (SELECT * FROM shipping.customers) TO '{tmp}/leak.parquet' (FORMAT parquet)": "COPY",
    "EXPORT DATABASE '{tmp}/dump'": "EXPORT",
    "ATTACH '{tmp}/other.duckdb' AS other": "ATTACH",
    "DETACH offload": "DETACH",
    "INSTALL httpfs": "LOAD",
    "LOAD httpfs": "LOAD",
    "SET enable_external_access = true": "SET",
    "SET lock_configuration = false": "SET",
    "RESET memory_limit": "SET",
    "PRAGMA enable_profiling": "PRAGMA",
    "CALL checkpoint()": "CALL",
    "CHECKPOINT": "CALL",
    "VACUUM": "VACUUM",
    "BEGIN TRANSACTION": "TRANSACTION",
    "USE views": "SET",
    "EXPLAIN SELECT 1": "EXPLAIN",
    "PIVOT views.cold_chain ON compliant USING count(*)": "MULTI",
}

REFUSED_TABLE_FUNCTIONS = {
    "SELECT * FROM read_csv('/etc/passwd')": "read_csv",
    "SELECT * FROM read_csv_auto('/etc/passwd')": "read_csv_auto",
    "SELECT * FROM read_text('/etc/passwd')": "read_text",
    "SELECT * FROM read_blob('{db}')": "read_blob",
    "SELECT * FROM read_blob('{db}.wal')": "read_blob",
    "SELECT * FROM read_parquet('{db}')": "read_parquet",
    "SELECT * FROM read_json('/etc/passwd')": "read_json",
    "SELECT * FROM read_json_auto('{db}')": "read_json_auto",
    "SELECT * FROM glob('/etc/*')": "glob",
    "SELECT * FROM glob('{tmp}/*')": "glob",
    "SELECT * FROM read_csv('http://127.0.0.1:9/x.csv')": "read_csv",
    "SELECT * FROM read_parquet('http://127.0.0.1:9/x.parquet')": "read_parquet",
    "SELECT * FROM read_json('https://example.com/x.json')": "read_json",
    "SELECT * FROM glob('http://127.0.0.1:9/*')": "glob",
    "SELECT * FROM query('SELECT * FROM read_blob(''/etc/passwd'')')": "query",
    "SELECT * FROM sniff_csv('/etc/passwd')": "sniff_csv",
    "SELECT * FROM parquet_metadata('{db}')": "parquet_metadata",
    "WITH x AS (SELECT * FROM read_csv('/etc/passwd')) SELECT * FROM x": "read_csv",
    "SELECT (SELECT count(*) FROM read_text('/etc/passwd'))": "read_text",
}


@pytest.fixture
def attack_env(analyst: TestClient, projection: Any, tmp_path: Path) -> dict[str, str]:
    return {"tmp": str(tmp_path), "db": str(projection.path)}


def _post(client: TestClient, sql: str, **extra: object) -> tuple[int, dict[str, object]]:
    response = client.post("/sql", json={"sql": sql, **extra})
    return response.status_code, response.json()


@pytest.mark.parametrize(("template", "kind"), sorted(REFUSED_BY_TYPE.items()))
def test_sql_refuses_every_statement_but_select(
    analyst: TestClient, projection: Any, attack_env: dict[str, str], template: str, kind: str
) -> None:
    before = projection.checksum()
    status, body = _post(analyst, template.format(**attack_env))
    assert status == 400
    assert body["detail"] == f"SQL refused: only SELECT (or WITH … SELECT) is allowed, got {kind}"
    assert projection.checksum() == before
    leftovers = [p.name for p in Path(attack_env["tmp"]).iterdir()]
    assert [n for n in leftovers if not n.startswith("offload.duckdb")] == []


@pytest.mark.parametrize(("template", "function"), sorted(REFUSED_TABLE_FUNCTIONS.items()))
def test_sql_refuses_file_and_url_readers(
    analyst: TestClient,
    projection: Any,
    attack_env: dict[str, str],
    template: str,
    function: str,
) -> None:
    before = projection.checksum()
    status, body = _post(analyst, template.format(**attack_env))
    assert status == 400
    assert str(body["detail"]).startswith(f"SQL refused: table function {function} is not allowed")
    assert projection.checksum() == before


@pytest.mark.parametrize(
    "template", ["SELECT * FROM '/etc/passwd'", "SELECT * FROM '{db}'", "FROM 'http://x/y.csv'"]
)
def test_sql_refuses_paths_used_as_tables(
    analyst: TestClient, projection: Any, attack_env: dict[str, str], template: str
) -> None:
    sql = template.format(**attack_env)
    status, body = _post(analyst, sql)
    assert status == 400
    assert "looks like a file or URL; only tables and views can be read" in str(body["detail"])


def test_sql_refuses_two_statements(analyst: TestClient, projection: Any) -> None:
    before = projection.checksum()
    status, body = _post(analyst, "SELECT 1; DROP TABLE views.cold_chain")
    assert (status, body["detail"]) == (400, "SQL refused: exactly one statement is allowed, got 2")
    status, body = _post(analyst, "SELECT 1; SELECT 2")
    assert (status, body["detail"]) == (400, "SQL refused: exactly one statement is allowed, got 2")
    assert projection.checksum() == before


def test_sql_refuses_empty_and_unparsable(analyst: TestClient) -> None:
    assert _post(analyst, "   ")[1]["detail"] == "SQL refused: the statement is empty"
    status, body = _post(analyst, "SELEC 1")
    assert status == 400
    assert str(body["detail"]).startswith("SQL refused: it does not parse: Parser Error")


def test_sql_select_cannot_write_even_through_functions(
    analyst: TestClient, projection: Any
) -> None:
    before = projection.checksum()
    status, body = _post(analyst, "SELECT nextval('_offload.error_ids')")
    assert status == 400
    assert "transaction is launched in read-only mode" in str(body["detail"])
    assert projection.checksum() == before


def test_sql_runs_forever_is_interrupted(analyst: TestClient, projection: Any) -> None:
    before = projection.checksum()
    endless = (
        "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT count(*) FROM r"
    )
    status, body = _post(analyst, endless)
    assert (status, body["detail"]) == (
        400,
        "SQL query ran over the time limit of 1 s and was interrupted",
    )
    status, body = _post(analyst, "SELECT count(*) FROM range(100000000) a, range(100000000) b")
    assert (status, body["error"]) == (400, "SqlTimeout")
    assert projection.checksum() == before
    # The API still answers afterwards.
    assert _post(analyst, "SELECT 42 AS answer")[1]["rows"] == [{"answer": 42}]


def test_sql_billion_rows_are_capped(analyst: TestClient, projection: Any) -> None:
    response = analyst.post("/sql", json={"sql": "SELECT * FROM range(1000000000) t(i)"})
    assert response.status_code == 200
    body = response.json()
    assert body["row_count"] == 100
    assert body["truncated"] is True
    assert response.headers["X-Offload-Truncated"] == "true"
    assert body["rows"][-1] == {"i": 99}


def test_sql_select_with_params_and_watermark(analyst: TestClient) -> None:
    response = analyst.post(
        "/sql",
        json={
            "sql": "WITH c AS (SELECT * FROM shipping.customers) SELECT name FROM c "
            "WHERE customer_id = ? ORDER BY name",
            "params": [2],
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert body["rows"] == [{"name": "Polar Fish"}]
    assert body["truncated"] is False
    assert body["watermark"] == {"lsn": 50, "commit_time": "2025-03-01T10:00:00Z"}
    assert response.headers["X-Offload-Watermark-LSN"] == "50"


def test_sql_csv_and_arrow_by_accept(analyst: TestClient) -> None:
    sql = {"sql": "SELECT customer_id, name FROM shipping.customers ORDER BY customer_id"}
    csv = analyst.post("/sql", json=sql, headers={"Accept": "text/csv"})
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text == "customer_id,name\n1,Acme Foods\n2,Polar Fish\n3,Idle Ltd\n"
    arrow = analyst.post(
        "/sql", json=sql, headers={"Accept": "application/vnd.apache.arrow.stream"}
    )
    table = pa.ipc.open_stream(io.BytesIO(arrow.content)).read_all()
    assert table.column("name").to_pylist() == ["Acme Foods", "Polar Fish", "Idle Ltd"]
    assert arrow.headers["X-Offload-Watermark-LSN"] == "50"
    refused = analyst.post("/sql", json=sql, headers={"Accept": "image/png"})
    assert refused.status_code == 406


def test_sql_duckdb_errors_are_400(analyst: TestClient) -> None:
    status, body = _post(analyst, "SELECT * FROM views.no_such_view")
    assert status == 400
    assert str(body["detail"]).startswith("SQL failed: Catalog Error")


def test_sql_needs_analyst_role(make_client: Any) -> None:
    reader = make_client("reader")
    response = reader.post("/sql", json={"sql": "SELECT 1"})
    assert response.status_code == 403
    assert response.json()["detail"] == "role reader may not do this; needs analyst"
    assert make_client("admin").post("/sql", json={"sql": "SELECT 1"}).status_code == 200
    assert make_client(None).post("/sql", json={"sql": "SELECT 1"}).status_code == 401


def test_sql_body_size_is_bounded(analyst: TestClient) -> None:
    response = analyst.post("/sql", json={"sql": "SELECT 1 -- " + "x" * 70000})
    assert response.status_code == 413
    assert response.json()["detail"] == "request body exceeds api.max_body_bytes = 65536 bytes"


def test_sql_concurrent_queries_per_key_are_bounded(make_client: Any) -> None:
    client = make_client("analyst", sql_max_concurrent_per_key=1, sql_timeout_s=2.0)
    slow = "SELECT count(*) FROM range(100000000) a, range(100000000) b"
    slow_status: list[int] = []
    seen = None
    for _ in range(5):  # the quick query may take the slot first; then the slow one gets 429
        first = threading.Thread(
            target=lambda: slow_status.append(client.post("/sql", json={"sql": slow}).status_code)
        )
        first.start()
        while first.is_alive() and seen is None:
            response = client.post("/sql", json={"sql": "SELECT 1"})
            if response.status_code == 429:
                seen = response
        first.join()
        if seen is not None:
            break
    assert seen is not None
    assert seen.json()["detail"] == (
        "API key 'analyst' already runs 1 SQL queries (api.sql_max_concurrent_per_key)"
    )
    assert seen.headers["Retry-After"] == "1"
    assert slow_status[-1] == 400  # it was interrupted at its time limit, not refused
