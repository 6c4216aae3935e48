"""The named queries as `offload query NAME` knows them: their routes and parameters (pure).

`offload query` never runs SQL of its own: it sends the same HTTP request a client would,
either to the running API or to the same app in process over the DuckDB file, so both give
the same answer, the same validation and the same freshness.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from query_api.errors import QueryUsage

FRESHNESS_PARAMS = ("min_lsn", "wait_ms")
PAGE_PARAMS = ("page_size", "cursor")
FORMATS = ("table", "json", "csv")


@dataclass(frozen=True, slots=True)
class NamedQuery:
    """One named query: its route, its path and query parameters, where its rows are.

    Attributes:
        route: the path with `{name}` placeholders for the path parameters.
        path_params: parameters that fill the placeholders (all required).
        query_params: optional query-string parameters.
        rows: the body member holding the rows to print ("" for one object member).
        single: the body member holding one object, printed as a one-row table.
    """

    route: str
    path_params: tuple[str, ...]
    query_params: tuple[str, ...]
    rows: str = ""
    single: str = ""


NAMED: dict[str, NamedQuery] = {
    "order": NamedQuery("/orders/{order_id}", ("order_id",), (), single="order"),
    "customer-orders": NamedQuery(
        "/customers/{customer_id}/orders", ("customer_id",), PAGE_PARAMS, rows="items"
    ),
    "voyage": NamedQuery("/voyages/{voyage_id}", ("voyage_id",), PAGE_PARAMS, rows="orders"),
    "cold-chain-legs": NamedQuery(
        "/cold-chain/legs",
        (),
        ("compliant", "voyage_id", "product_id", "since", *PAGE_PARAMS),
        rows="items",
    ),
    "cold-chain-order": NamedQuery("/cold-chain/orders/{order_id}", ("order_id",), (), rows="legs"),
    "telemetry": NamedQuery(
        "/containers/{container_id}/telemetry",
        ("container_id",),
        ("from", "to", "bucket", *PAGE_PARAMS),
        rows="items",
    ),
    "freshness": NamedQuery("/freshness", (), (), rows="views"),
}


def parse_params(pairs: Sequence[str]) -> dict[str, str]:
    """`K=V` strings as a dict; the value may contain '=' and be empty.

    Raises:
        QueryUsage: a pair without '=' or with an empty or repeated name.
    """
    params: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise QueryUsage("--param", f"expected NAME=VALUE, got {pair!r}")
        if name in params:
            raise QueryUsage("--param", f"{name} given twice")
        params[name] = value
    return params


def request_for(name: str, params: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    """The path and query string of named query `name` with `params`.

    Values are sent as given: the API validates them (a bad one is its 422, exit code 2).

    Raises:
        QueryUsage: an unknown query name, a missing path parameter, an unknown parameter.
    """
    query = NAMED.get(name)
    if query is None:
        raise QueryUsage("NAME", f"unknown named query {name!r}; known: {', '.join(NAMED)}")
    allowed = (*query.path_params, *query.query_params, *FRESHNESS_PARAMS)
    unknown = [p for p in params if p not in allowed]
    if unknown:
        raise QueryUsage(
            "--param", f"{name} takes no parameter {unknown[0]!r}; it takes {', '.join(allowed)}"
        )
    missing = [p for p in query.path_params if not params.get(p)]
    if missing:
        raise QueryUsage("--param", f"{name} needs --param {missing[0]}=VALUE")
    path = query.route
    for p in query.path_params:
        path = path.replace("{" + p + "}", _path_segment(params[p]))
    return path, {k: v for k, v in params.items() if k not in query.path_params}


def _path_segment(value: str) -> str:
    return quote(value, safe="")


def rows_of(name: str | None, body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The rows a table or CSV shows of an answer (`name` None: a /sql answer)."""
    if name is None:
        return list(body.get("rows", []))
    query = NAMED[name]
    if query.single:
        return [dict(body[query.single])]
    return list(body.get(query.rows, []))


def as_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """Rows as CSV with a header line (columns of the first row; nested values as JSON)."""
    if not rows:
        return ""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: cell_text(v) for k, v in row.items()})
    return out.getvalue()


def cell_text(value: Any) -> str:
    """One value as text: empty for null, JSON for lists and objects."""
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def freshness_line(lsn: str | None, commit_time: str | None, via: str) -> str:
    """The freshness line printed with every answer."""
    return f"watermark LSN {lsn or 'unknown'}, source commit {commit_time or 'unknown'} ({via})"
