"""The benchmark suite's figures and its Markdown summary, from each benchmark's own JSON.

Pure functions: each benchmark script writes its raw figures as JSON; `figures_of` turns them
into uniform rows (value, unit, and where one exists the ceiling measured in the same run and
the ratio value / ceiling), and `markdown` renders the summary a person reads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Figure = dict[str, Any]


def figure(
    key: str,
    label: str,
    value: float | None,
    unit: str,
    *,
    ceiling: tuple[str, float | None, str] | None = None,
    ratio: float | None = None,
) -> Figure:
    """One row: `ceiling` is (what, value, unit); `ratio` defaults to value / ceiling."""
    row: Figure = {"key": key, "label": label, "value": value, "unit": unit}
    if ceiling is not None:
        what, top, top_unit = ceiling
        row["ceiling"] = {"label": what, "value": top, "unit": top_unit}
        if ratio is None and value is not None and top:
            ratio = value / top
        row["ratio"] = None if ratio is None else round(ratio, 3)
    return row


def cdc_figures(r: dict[str, Any]) -> list[Figure]:
    """CDC publish against librdkafka's raw produce of messages of the same sizes."""
    sizes = f"{r['key_bytes']} B keys, {r['value_bytes']} B values"
    per_txn = r["events_per_transaction"]
    label = f"CDC publish ({r['events']:,} events, transactional)"
    raw = f"librdkafka raw idempotent produce, {sizes}"
    raw_txn = f"librdkafka raw produce, 1 transaction per {per_txn:,}, {sizes}"
    return [
        figure("cdc_publish.events_per_s", label, r["cdc_median"], "events/s",
               ceiling=(raw, r["raw_median"], "msg/s")),
        figure("cdc_publish.events_per_s_vs_txn", "CDC publish vs raw transactional produce",
               r["cdc_median"], "events/s", ceiling=(raw_txn, r["raw_txn_median"], "msg/s")),
    ]  # fmt: skip


def apply_figures(r: dict[str, Any]) -> list[Figure]:
    """Projection apply against DuckDB's raw Arrow insert of the same final rows."""
    label = f"projection apply, mirrors + views ({r['events']:,} events)"
    raw = f"DuckDB raw Arrow insert of the same {r['rows']:,} final rows, as events/s"
    return [
        figure("projection_apply.events_per_s", label, r["apply_events_per_s"], "events/s",
               ceiling=(raw, r["raw_events_per_s"], "events/s")),
    ]  # fmt: skip


def loop_figures(r: dict[str, Any]) -> list[Figure]:
    """The real Kafka → DuckDB loop and the view rebuild."""
    loop = (
        f"projection loop from Kafka, `project run --until-idle` ({r['events']:,} events, "
        "wall time incl. process start)"
    )
    rebuild = (
        f"view rebuild, `project rebuild --all` ({r['rebuild_source_rows']:,} mirror rows read; "
        "rebuild time only)"
    )
    return [
        figure("projection_loop.events_per_s", loop, r["events_per_s"], "events/s"),
        figure("rebuild.source_rows_per_s", rebuild, r["rebuild_rows_per_s"], "source rows/s"),
    ]


def batch_figures(r: dict[str, Any]) -> list[Figure]:
    """The batch window against each stage alone on the same batch (source, capture, apply)."""
    b = r["batch"]
    what = f"{b['rows']:,} updates in {b['units']} units of {r['unit_rows']:,}"
    window = f"batch window, {what}: first commit → read side's watermark at the last LSN"
    e2e = f"batch window end to end ({what})"
    source, capture, apply = r["source_alone"], r["capture_alone"], r["apply_alone"]
    split = r.get("capture_split_alone")  # results of runs before the split lack it
    figures = [
        figure("batch_window.window_s", window, r["window_s"], "s"),
        figure("batch_window.capture_s", "batch window: capture's last unit readable in Kafka "
               "after the first commit", r["capture_s"], "s"),
        figure("batch_window.events_per_s", e2e, r["events_per_s"], "events/s",
               ceiling=("the simulator alone committing the batch", source["rows_per_s"],
                        "rows/s")),
        figure("batch_window.events_per_s_vs_capture", "batch window vs capture alone",
               r["events_per_s"], "events/s",
               ceiling=("`cdc run --until-idle` code over the committed batch",
                        capture["events_per_s"], "events/s")),
        figure("batch_window.events_per_s_vs_apply", "batch window vs apply alone",
               r["events_per_s"], "events/s",
               ceiling=("`project run --until-idle` code over the batch's topics",
                        apply["events_per_s"], "events/s")),
    ]  # fmt: skip
    if split is not None:
        figures.append(
            figure("batch_window.capture_split_events_per_s",
                   "capture alone split by table group, a process each (`cdc run --until-idle`, "
                   "less its run with nothing to publish)", split["events_per_s"], "events/s",
                   ceiling=("one capture process over the same batch", capture["events_per_s"],
                            "events/s"))
        )  # fmt: skip
    raw = r.get("raw_produce")  # results of runs before this ceiling lack it
    if raw is not None:
        ceiling = ("librdkafka's raw idempotent produce of the batch's messages",
                   raw["events_per_s"], "msg/s")  # fmt: skip
        figures.append(figure("batch_window.capture_events_per_s_vs_raw",
                              "capture alone, one process, vs raw produce",
                              capture["events_per_s"], "events/s", ceiling=ceiling))  # fmt: skip
        if split is not None:
            figures.append(figure("batch_window.capture_split_events_per_s_vs_raw",
                                  "capture alone split by table group vs raw produce",
                                  split["events_per_s"], "events/s", ceiling=ceiling))  # fmt: skip
    return figures


def reference_figures(r: dict[str, Any]) -> list[Figure]:
    """The EBCDIC extract load against decode-only and a raw transactional produce."""
    label = f"reference load, {r['records']:,}-record EBCDIC extract end to end"
    raw = "raw transactional produce, same count and sizes"
    return [
        figure("reference_load.records_per_s", label, r["load_per_s"], "records/s",
               ceiling=("decode only (read_extract)", r["decode_per_s"], "records/s")),
        figure("reference_load.records_per_s_vs_produce", "reference load vs raw produce",
               r["load_per_s"], "records/s", ceiling=(raw, r["raw_produce_per_s"], "msg/s")),
        *([figure("reference_load.records_per_s_vs_encode", "reference load vs decode + encode",
                  r["load_per_s"], "records/s",
                  ceiling=("decode + encode only (encoded_batches)", r["encode_per_s"],
                           "records/s"))] if "encode_per_s" in r else []),
    ]  # fmt: skip


def query_figures(r: dict[str, Any]) -> list[Figure]:
    """p50/p99 of a point lookup and of a cold-chain listing and requests/s in each serving
    configuration, and the offload ratio.

    The last configuration (the suite lists production's, one worker per core, last) keeps
    the keys `query.<name>.<p>_ms` and `query.requests_per_s`; the others are prefixed with
    `query.in_process.` or `query.workers_<N>.`.
    """
    rows: list[Figure] = []
    configurations = r["configurations"]
    for c in configurations:
        prefix = "query." if c is configurations[-1] else f"query.{_configuration_key(c)}."
        load = (
            f"{c['serving']}, {r['clients']} connections, ingesting "
            f"{c['ingest_uow_per_s']:,.0f} uow/s"
        )
        for name in ("order", "cold-chain-legs"):
            q = c["queries"].get(name)
            for p in ("p50", "p99") if q else ():
                label = f"query `{name}` {p} ({load})"
                rows.append(figure(f"{prefix}{name}.{p}_ms", label, q[f"{p}_ms"], "ms"))
        rows.append(figure(f"{prefix}requests_per_s", f"query requests/s ({load})",
                           c["requests_per_s"], "requests/s"))  # fmt: skip
    ratio = r["offload_ratio"]
    label = (
        f"cold-chain legs of a voyage through the API ({ratio['legs']} legs, same answer: "
        f"{ratio['same_answer']}); ratio = offload ratio"
    )
    sor = ("the same answer by SQL on the system of record", ratio["sor_sql_ms"], "ms")
    rows.append(
        figure(
            "query.offload_ratio", label, ratio["api_ms"], "ms", ceiling=sor, ratio=ratio["ratio"]
        )
    )
    return rows


def _configuration_key(c: dict[str, Any]) -> str:
    return "in_process" if c["workers"] == 0 else f"workers_{c['workers']}"


def freshness_figures(r: dict[str, Any]) -> list[Figure]:
    """Commit → API answer latency at the target rate, and the rate sustained."""
    first = r["at_target"]
    fresh = first["freshness_ms"]
    at = f"at {first['achieved_uow_per_s']:,.0f} uow/s (target {r['target_uow_per_s']:,.0f})"
    rows = [
        figure(f"freshness.{p}_ms", f"end-to-end freshness {p} {at}", fresh[p], "ms")
        for p in ("p50", "p99", "max")
    ]
    label = "units of work/s committed at the target rate (5 events each)"
    target = ("target", r["target_uow_per_s"], "uow/s")
    rows.append(
        figure("freshness.achieved_uow_per_s", label, first["achieved_uow_per_s"], "uow/s",
               ceiling=target)
    )  # fmt: skip
    if r["sustained_uow_per_s"] is not None:
        sustained = r["sustained_uow_per_s"]
        rows.append(figure("freshness.sustained_uow_per_s", "highest rate kept up", sustained,
                           "uow/s"))  # fmt: skip
    return rows


FIGURES: dict[str, Callable[[dict[str, Any]], list[Figure]]] = {
    "cdc_publish": cdc_figures,
    "projection_apply": apply_figures,
    "projection_loop": loop_figures,
    "batch_window": batch_figures,
    "freshness": freshness_figures,
    "query_api": query_figures,
    "reference_load": reference_figures,
}


def figures_of(benchmarks: dict[str, dict[str, Any]]) -> list[Figure]:
    """Every figure of the benchmarks that succeeded, in suite order."""
    rows: list[Figure] = []
    for name, make in FIGURES.items():
        if (result := _result(benchmarks.get(name))) is not None:
            rows.extend(make(result))
    return rows


def _result(entry: dict[str, Any] | None) -> dict[str, Any] | None:
    """The benchmark's own figures when it succeeded, else None."""
    return entry["result"] if entry and entry.get("status") == "ok" else None


def _num(value: float | None, unit: str = "") -> str:
    if value is None:
        return "—"
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"
    return f"{text} {unit}".strip()


def markdown(results: dict[str, Any]) -> str:
    """The summary: figures with ceilings and ratios, freshness, queries, peak RSS, sizes."""
    host = results["host"]
    lines = [
        f"## Offload benchmark ({results['suite']}), {results['started_at']}",
        "",
        f"`{results['command']}` · {host['cpus']} CPUs · load average at start "
        f"{host['load_average_start']:.2f} · suite wall time {results['wall_s']:.0f} s · "
        f"git {host['git']}",
        "",
        "| figure | value | ceiling or baseline, same run | ratio |",
        "|---|---:|---|---:|",
    ]
    for f in results["figures"]:
        top = f.get("ceiling")
        ceiling = f"{top['label']}: {_num(top['value'], top['unit'])}" if top else ""
        ratio = f.get("ratio")
        ratio_text = "" if ratio is None else (f"{ratio:,.1f}x" if ratio >= 10 else f"{ratio:.3f}")
        lines.append(f"| {f['label']} | {_num(f['value'], f['unit'])} | {ceiling} | {ratio_text} |")
    benchmarks = results["benchmarks"]
    lines += _failures(benchmarks)
    lines += _batch_section(benchmarks.get("batch_window"))
    lines += _freshness_section(benchmarks.get("freshness"))
    lines += _query_section(benchmarks.get("query_api"))
    lines += _rss_section(benchmarks)
    size_texts = (
        f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in results["sizes"].items()
    )
    lines += ["", "Sizes: " + ", ".join(size_texts), ""]
    return "\n".join(lines)


def _failures(benchmarks: dict[str, dict[str, Any]]) -> list[str]:
    failed = [(n, b) for n, b in benchmarks.items() if b.get("status") != "ok"]
    if not failed:
        return []
    lines = ["", "**Failed:**", ""]
    lines += [f"- {name}: {b.get('error', 'no result')} (log {b.get('log')})" for name, b in failed]
    return lines


def _batch_section(entry: dict[str, Any] | None) -> list[str]:
    if (r := _result(entry)) is None:
        return []
    cpu = ", ".join(
        f"{c['process']} {c['cpu_pct']:.0f} % ({c['cpu_us_per_event']:.0f} µs/event)"
        for c in r["cpu_pct"][:5]
    )
    alone = ", ".join(
        f"{name} {r[key]['cpu_us_per_event']:.0f} µs"
        for name, key in (("source", "source_alone"), ("capture", "capture_alone"),
                          ("apply", "apply_alone"))
    )  # fmt: skip
    rss = r["peak_rss_mib"]
    return [
        "",
        f"Batch window: the source committed the batch in {r['batch']['seconds']:.1f} s "
        f"({r['source_in_window_s']:.1f} s after its first commit; alone "
        f"{r['source_alone']['seconds']:.1f} s); capture made its last unit readable at "
        f"{r['capture_s']:.1f} s, the read side's watermark reached it at {r['window_s']:.1f} s "
        f"({r['writer_after_capture_s']:.1f} s after capture). CPU in the window (% of one "
        f"core, CPU per batch event): {cpu}; machine {r['machine_cpu_busy_pct']:.0f} % busy. "
        f"CPU per event of each stage alone: {alone}. Peak RSS: capture "
        f"{_num(rss['capture'], 'MiB')}, writer {_num(rss['writer'], 'MiB')}.",
    ]


def _freshness_section(entry: dict[str, Any] | None) -> list[str]:
    if (r := _result(entry)) is None:
        return []
    lines = [
        "",
        "End-to-end freshness (commit on the system of record → answer through the API with "
        "`min_lsn`), `offload run` serving:",
        "",
        "| target uow/s | achieved | p50 ms | p99 ms | max ms | probes | backlog drained | "
        "kept up | machine CPU | busiest processes (% of one core) |",
        "|---:|---:|---:|---:|---:|---:|---:|---|---:|---|",
    ]
    for s in r["steps"]:
        fresh = s["freshness_ms"]
        busiest = ", ".join(
            f"{p['process']} {p['cpu_pct']:.0f}" for p in s["processes_cpu_pct"][:4]
        )
        lines.append(
            f"| {s['target_uow_per_s']:,.0f} | {s['achieved_uow_per_s']:,.0f} | "
            f"{_num(fresh['p50'])} | {_num(fresh['p99'])} | {_num(fresh['max'])} | "
            f"{fresh['count']} | "
            f"{s['backlog_drained_s']:.1f} s | {'yes' if s['kept_up'] else 'no'} | "
            f"{s['machine_cpu_busy_pct']:.0f} % | {busiest} |"
        )
    waits = ", ".join(f"{k} = {v}" for k, v in r.get("config", {}).items())
    # Upper bounds only: an idle capture notices a commit within ~5 ms, an idle writer applies a
    # unit of work at once; these bound the waits when idle or under backlog.
    bounds = f" Longest configured waits: {waits}." if waits else ""
    return [*lines, "", _freshness_verdict(r) + bounds]


def _freshness_verdict(r: dict[str, Any]) -> str:
    """One sentence: kept up at the target, or the sustained rate and the busiest process."""
    first, target = r["at_target"], r["target_uow_per_s"]
    busiest = r["busiest_process_at_target"]
    top = f"{busiest['process']} at {busiest['cpu_pct']:.0f} % of one core" if busiest else "?"
    if first["kept_up"]:
        return f"Kept up at {target:,.0f} units of work/s; busiest process {top}."
    sustained = r["sustained_uow_per_s"]
    held = f"{sustained:,.0f} units of work/s" if sustained else "none of the rates tried"
    return (
        f"Not kept up at {target:,.0f} units of work/s (achieved "
        f"{first['achieved_uow_per_s']:,.0f}, latency growing: {first['latency_growing']}, "
        f"backlog drained in {first['backlog_drained_s']:.1f} s); sustained: {held}. "
        f"Busiest process at the target rate: {top}; machine CPU "
        f"{first['machine_cpu_busy_pct']:.0f} % busy."
    )


def _query_section(entry: dict[str, Any] | None) -> list[str]:
    if (r := _result(entry)) is None:
        return []
    configurations = r["configurations"]
    load = r["load_generator"]
    lines = [
        "",
        f"Query API while the projection writer applies {r['ingest_target_uow_per_s']:,} uow/s "
        f"(target): {r['clients']} keep-alive connections from one asyncio load generator "
        f"({load['http']} HTTP/1.1 on {load['loop']}), {r['seconds']:.0f} s after "
        f"{r['warmup_s']:.0f} s warm-up, medians of {r['rounds']} round(s); {r['orders']:,} "
        f"orders, {r['readings']:,} readings. CPU: % of one core over the measuring window.",
        "",
        "| | " + " | ".join(c["serving"] for c in configurations) + " |",
        "|---|" + "---:|" * len(configurations),
    ]
    for name in configurations[0]["queries"]:
        found = [c["queries"].get(name) for c in configurations]
        cells = [f"{q['p50_ms']:.2f} / {q['p99_ms']:.2f}" if q else "—" for q in found]
        lines.append(f"| `{name}` p50 / p99 ms | " + " | ".join(cells) + " |")
    for label, cell in _QUERY_ROWS:
        lines.append(f"| {label} | " + " | ".join(cell(c) for c in configurations) + " |")
    return lines


_QUERY_ROWS: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
    ("requests/s", lambda c: f"{c['requests_per_s']:,.0f}"),
    ("ingest reached, uow/s", lambda c: f"{c['ingest_uow_per_s']:,.0f}"),
    ("writer busy applying", lambda c: f"{c['writer_busy_pct']:.0f} %"),
    ("CPU writer", lambda c: f"{c['cpu_pct']['writer']:.0f} %"),
    ("CPU serving workers (sum)", lambda c: f"{c['cpu_pct']['workers']:.0f} %"),
    ("CPU load generator", lambda c: f"{c['cpu_pct']['load_generator']:.0f} %"),
    ("CPU rest of the machine", lambda c: f"{c['cpu_pct']['rest_of_machine']:.0f} %"),
    (
        "requests by worker (each round)",
        lambda c: "; ".join(
            ", ".join(str(n) for n in counts) for counts in c["requests_by_worker"]
        ),
    ),
    ("errors", lambda c: str(c["errors"])),
]


def _rss_section(benchmarks: dict[str, dict[str, Any]]) -> list[str]:
    lines = ["", "Peak memory (VmHWM) of each process:", "", "| benchmark | process | peak RSS |"]
    lines.append("|---|---|---:|")
    for name, entry in benchmarks.items():
        for p in entry.get("processes", []):
            count = f" x{p['count']}" if p["count"] > 1 else ""
            lines.append(f"| {name} | {p['process']}{count} | {p['peak_rss_mib']:,.0f} MiB |")
    return lines
