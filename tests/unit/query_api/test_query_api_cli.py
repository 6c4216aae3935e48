"""`offload query`: parameters, formats, freshness line, local file vs running API, exit codes."""

from __future__ import annotations

import csv
import io
import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from offload.cli import main
from query_api.commands import as_csv, parse_params, request_for
from query_api.errors import QueryUsage

CONFIG = Path(__file__).resolve().parents[3] / "config" / "offload.toml"
FRESH = "watermark LSN 50, source commit 2025-03-01T10:00:00Z"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def offline_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, built_file: Path) -> Path:
    """Settings whose api port nobody answers on, and projections.path = the built file."""
    monkeypatch.setenv("OFFLOAD__PROJECTIONS__PATH", str(built_file))
    monkeypatch.setenv("OFFLOAD__API__PORT", str(_free_port()))
    monkeypatch.setenv("OFFLOAD__RUNTIME__DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("OFFLOAD_API_KEY", raising=False)
    return built_file


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`offload --config <default> ARGS` through the real entry point: (exit code, out, err)."""
    argv = sys.argv
    sys.argv = ["offload", "--config", str(CONFIG), *args]
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        sys.argv = argv
    captured = capsys.readouterr()
    return code, captured.out, " ".join(captured.err.split())


def test_params_parse_and_map_to_the_route() -> None:
    params = parse_params(["container_id=MSCU0000002", "from=2025-03-01T08:00:00", "bucket=1h"])
    assert request_for("telemetry", params) == (
        "/containers/MSCU0000002/telemetry",
        {"from": "2025-03-01T08:00:00", "bucket": "1h"},
    )
    assert request_for("voyage", {"voyage_id": "V/1"})[0] == "/voyages/V%2F1"
    assert parse_params(["sql=a=b", "empty="]) == {"sql": "a=b", "empty": ""}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: parse_params(["order_id"]), "--param: expected NAME=VALUE, got 'order_id'"),
        (lambda: parse_params(["a=1", "a=2"]), "--param: a given twice"),
        (
            lambda: request_for("orders", {}),
            "NAME: unknown named query 'orders'; known: order, customer-orders, voyage, "
            "cold-chain-legs, cold-chain-order, telemetry, freshness",
        ),
        (lambda: request_for("order", {}), "--param: order needs --param order_id=VALUE"),
        (
            lambda: request_for("order", {"order_id": "1", "colour": "red"}),
            "--param: order takes no parameter 'colour'; it takes order_id, min_lsn, wait_ms",
        ),
    ],
)
def test_bad_usage_is_named(call: Any, message: str) -> None:
    with pytest.raises(QueryUsage) as caught:
        call()
    assert str(caught.value) == message
    assert caught.value.exit_code == 2


def test_csv_quotes_and_serialises_nested_values() -> None:
    rows = [{"a": 1, "b": "x,y", "c": None, "d": [1, 2], "e": True}]
    assert as_csv(rows) == 'a,b,c,d,e\n1,"x,y",,"[1,2]",true\n'
    assert as_csv([]) == ""


def test_local_file_json_with_freshness(offline_file: Path, capsys: Any) -> None:
    code, out, err = run(capsys, "query", "order", "-p", "order_id=8", "--format", "json")
    assert code == 0, err
    body = json.loads(out)
    order = body["order"]
    assert (order["customer_name"], order["voyage_id"]) == ("Polar Fish", "V0000011")
    assert err.startswith(f"{FRESH} (read-only from {offline_file}: no query API answered at")


def test_local_file_csv_and_table(offline_file: Path, capsys: Any) -> None:
    legs = ("query", "cold-chain-legs", "-p", "compliant=false", "-p", "page_size=3")
    code, out, err = run(capsys, *legs, "-f", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["order_id"], r["container_id"], r["excursions"]) for r in rows] == [
        ("1", "MSCU0000002", "3"),
        ("3", "MSCU0000002", "3"),
        ("5", "MSCU0000002", "3"),
    ]
    assert "more rows: -p cursor=" in err
    code, out, err = run(capsys, "query", "customer-orders", "-p", "customer_id=2")
    assert code == 0
    assert "Polar Fish" in out and "99.99" in out
    assert FRESH in err


def test_local_gated_sql(offline_file: Path, capsys: Any) -> None:
    sql = "SELECT name FROM shipping.customers WHERE customer_id = ?"
    code, out, err = run(capsys, "query", "--sql", sql, "--arg", "2", "-f", "csv")
    assert (code, out) == (0, "name\nPolar Fish\n")
    assert FRESH in err
    code, _, err = run(capsys, "query", "--sql", "DELETE FROM shipping.customers")
    assert code == 2
    refused = "SQL refused: only SELECT (or WITH … SELECT) is allowed, got DELETE"
    assert f"{refused} (HTTP 400, read-only from" in err


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("query", "order", "-p", "order_id=999"), 1, "order 999 not found (HTTP 404, read-only"),
        (
            ("query", "voyage", "-p", "voyage_id=TOOLONG-ID"),
            2,
            "parameter 'voyage_id': String should have at most 8 characters (HTTP 422, read-only",
        ),
        (("query",), 2, "NAME: give a named query or --sql, not both and not neither"),
        (("query", "order", "--sql", "SELECT 1"), 2, "not both and not neither"),
        (("query", "nope"), 2, "NAME: unknown named query 'nope'"),
        (("query", "order", "-p", "order_id=1", "-f", "xml"), 2, "'xml' is not one of"),
    ],
)
def test_errors_and_exit_codes(
    offline_file: Path, capsys: Any, args: tuple[str, ...], code: int, message: str
) -> None:
    got, _, err = run(capsys, *args)
    assert got == code
    assert message in err


def test_missing_file_is_unreachable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setenv("OFFLOAD__PROJECTIONS__PATH", str(tmp_path / "none.duckdb"))
    monkeypatch.setenv("OFFLOAD__API__PORT", str(_free_port()))
    code, _, err = run(capsys, "query", "order", "-p", "order_id=1")
    assert code == 3
    assert f"projection store {tmp_path / 'none.duckdb'} cannot be opened" in err


@pytest.fixture
def running_api(served_app: Any, projection: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The app served by uvicorn on a free port in a thread, as `offload serve` serves it."""
    port = _free_port()
    config = uvicorn.Config(served_app, host="127.0.0.1", port=port, log_config=None)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    monkeypatch.setenv("OFFLOAD__API__PORT", str(port))
    monkeypatch.setenv("OFFLOAD__PROJECTIONS__PATH", str(projection.path))
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join()


def test_running_api_is_asked_over_http(
    running_api: str, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setenv("OFFLOAD_API_KEY", "reader-secret-1")
    code, out, err = run(capsys, "query", "order", "-p", "order_id=1", "-p", "min_lsn=50")
    assert code == 0, err
    assert "Acme Foods" in out
    assert err == f"{FRESH} (via the query API at {running_api})"
    code, _, err = run(capsys, "query", "--sql", "SELECT 1")
    assert code == 2
    assert "role reader may not do this; needs analyst (HTTP 403" in err
    monkeypatch.delenv("OFFLOAD_API_KEY")
    code, _, err = run(capsys, "query", "freshness")
    assert code == 2
    assert (
        "offload: error: a valid API key is required (X-API-Key); set OFFLOAD_API_KEY "
        f"(HTTP 401, via the query API at {running_api})"
    ) in err
