"""The Grafana dashboard and the Prometheus rules under ops/ read only metrics the gateway
exposes: every PromQL expression in them is parsed, and each metric it names (and each label
it matches on) is looked up in `/metrics` of a running gateway (`offload serve` with capture
serving its own metrics, as ops/prometheus/prometheus.yml scrapes them)."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from config import Settings
from query_api.auth import hash_key

OPS = Path(__file__).resolve().parents[3] / "ops"
READER = f"reader-{uuid.uuid4().hex}"
# Series Prometheus makes itself for every scrape target (no exporter has them).
PROMETHEUS_OWN = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}

_TOKEN = re.compile(
    r"""
    (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<matchers>\{(?:[^}"']|"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')*\})
  | (?P<range>\[[^\]]*\])
  | (?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?:ms|[smhdwy])?)
  | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<other>\S)
    """,
    re.VERBOSE,
)
_LABEL_LISTS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "atan2", *_LABEL_LISTS}
_MATCHER = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)")


def selectors(expr: str) -> list[tuple[str, set[str]]]:
    """The metric names a PromQL expression selects, each with the labels it matches on.

    Functions and aggregations (a name followed by `(`, `by` or `without`), keywords, label
    lists after `by`/`without`/`on`/`ignoring`/`group_*`, strings, numbers, durations and
    ranges are not metric names.
    """
    tokens = [(m.lastgroup, m.group()) for m in _TOKEN.finditer(expr)]
    found: list[tuple[str, set[str]]] = []
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        following = tokens[i + 1] if i + 1 < len(tokens) else (None, "")
        if kind == "ident" and text in _LABEL_LISTS and following[1] == "(":
            i = next(j for j in range(i, len(tokens)) if tokens[j][1] == ")") + 1
            continue
        aggregation = following[1] in {"(", "by", "without"}  # sum by (le) (...)
        if kind == "ident" and not aggregation and text not in _KEYWORDS:
            labels = set()
            if following[0] == "matchers":
                labels = set(_MATCHER.findall(following[1]))
            found.append((text, labels))
        i += 1
    return found


def dashboard_exprs() -> list[str]:
    doc = json.loads((OPS / "grafana" / "offload.json").read_text(encoding="utf-8"))
    exprs = []
    for panel in doc["panels"]:
        for target in panel.get("targets", []):
            exprs.append(str(target["expr"]))
    return exprs


def rule_exprs() -> list[str]:
    doc = yaml.safe_load((OPS / "prometheus" / "alerts.yml").read_text(encoding="utf-8"))
    return [str(rule["expr"]) for group in doc["groups"] for rule in group["rules"]]


def test_the_parser_finds_metric_names_and_nothing_else() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le, route) (rate(x_bucket{route!~"/a|}b", s="5"}'
        "[5m]))) > 0.5 and on (job) y_total offset 5m unless time() - z_seconds > 1e3"
    )
    assert selectors(expr) == [
        ("x_bucket", {"route", "s"}),
        ("y_total", set()),
        ("z_seconds", set()),
    ]


def test_the_dashboard_and_the_rules_are_well_formed() -> None:
    doc = json.loads((OPS / "grafana" / "offload.json").read_text(encoding="utf-8"))
    graphs = [p for p in doc["panels"] if p["type"] != "row"]
    assert graphs and all(
        p["targets"] and p["datasource"]["uid"] == "${datasource}" for p in graphs
    )
    assert len({p["id"] for p in doc["panels"]}) == len(doc["panels"])
    rules = yaml.safe_load((OPS / "prometheus" / "alerts.yml").read_text(encoding="utf-8"))
    for group in rules["groups"]:
        for rule in group["rules"]:
            assert rule["alert"] and rule["labels"]["severity"] in {"warning", "critical"}, rule
            assert rule["annotations"]["summary"], rule
    config = yaml.safe_load((OPS / "prometheus" / "prometheus.yml").read_text(encoding="utf-8"))
    assert config["rule_files"] == ["alerts.yml"]
    assert {job["job_name"] for job in config["scrape_configs"]} == {"offload-api", "offload-cdc"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ok(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"


def _series(text: str) -> dict[str, set[str]]:
    """Every series name an exposition can be queried by → the label names its samples carry."""
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_count", "_sum", "_created"),
        "summary": ("", "_count", "_sum", "_created"),
        "info": ("_info",),
    }
    names: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for suffix in suffixes.get(family.type, ("",)):
            names.setdefault(family.name + suffix, set())
        for sample in family.samples:
            names.setdefault(sample.name, set()).update(sample.labels)
    return names


@pytest.fixture
def exposed(
    kafka_broker: Settings, settings_factory: Any, run_offload: Any, start_offload: Any
) -> Iterator[dict[str, set[str]]]:
    """The series of a running gateway: a serving worker's /metrics and capture's."""
    keys = {"reader": {"role": "reader", "sha256": hash_key(READER)}}
    s = settings_factory({"api.port": _free_port(), "api.keys": keys, "api.workers": 1})
    cdc_port = _free_port()
    _ok(run_offload(s, "sor", "init"))
    _ok(run_offload(s, "simulate", "--transactions", "40", "--seed", "3"))
    start_offload(s, "cdc", "run", "--metrics-port", str(cdc_port))
    start_offload(s, "serve")
    base = f"http://127.0.0.1:{s.api.port}"
    gateway: dict[str, set[str]] = {}
    with httpx.Client(base_url=base, headers={"X-API-Key": READER}, timeout=30) as client:
        deadline = time.monotonic() + 90
        while "offload_projection_watermark_lsn" not in gateway:  # the writer's, via its worker
            assert time.monotonic() < deadline, f"no writer metrics in 90 s: {sorted(gateway)}"
            time.sleep(0.5)
            try:
                client.get("/cold-chain/legs")  # a request, so request metrics have samples
                answer = client.get("/metrics")
            except httpx.HTTPError:
                continue
            if answer.status_code == 200:
                gateway = _series(answer.text)
    capture = _series(httpx.get(f"http://127.0.0.1:{cdc_port}/metrics", timeout=30).text)
    yield {**capture, **gateway}


@pytest.mark.kafka
def test_every_metric_the_dashboard_and_rules_read_is_exposed(
    exposed: dict[str, set[str]],
) -> None:
    checked = set()
    for expr in [*dashboard_exprs(), *rule_exprs()]:
        for name, labels in selectors(expr):
            if name in PROMETHEUS_OWN:
                continue
            assert name in exposed, f"{name} (in {expr!r}) is not in /metrics"
            if exposed[name]:  # series with samples: the labels matched on are theirs
                missing = labels - exposed[name] - {"job", "instance"}
                assert not missing, f"{name} has no label {missing} (in {expr!r})"
            checked.add(name)
    assert len(checked) >= 15, sorted(checked)
