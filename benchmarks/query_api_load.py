"""The query API benchmark's load generator: one asyncio process, `--clients` connections.

    .venv/bin/python benchmarks/query_api_load.py --port 8080 --orders 2000 --seconds 10

Each connection is one HTTP/1.1 keep-alive connection cycling through the named queries with
random ids, one request at a time (a closed loop: the next request goes out when the answer is
in). Everything runs on one event loop (uvloop when installed), and a request is written and
its answer parsed by hand on asyncio streams (`--http raw`, the default), because httpx costs
about ten times more CPU per request (measured on 2 cores: 1.7 ms against 0.15-0.2 ms;
`--http httpx` measures it again); the process's own CPU over the measuring window
(getrusage: user + system, every thread) is part of the result, so a reader can see that the
load generator is not what limits the figures.

A request is counted when it starts inside the measuring window; `--warmup` seconds of the same
load come before it. With `--handshake` (as `bench_query_api.py` runs it) the process connects,
prints `ready`, then reads one JSON line `{"warm", "begin", "end"}` of `time.monotonic()` times
(CLOCK_MONOTONIC: one clock for every process on Linux), so the server side's CPU and ingest
counters can be read over the same window. The result is one JSON line on stdout, the last.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from query_api_shape import CUSTOMERS, container_id, containers_of, voyage_id, voyages_of

KEY = "bench-reader"
"""The reader key the benchmark's server accepts."""
ERROR_SAMPLES = 5
Answer = tuple[int, bytes, str]
"""Status, body, and the `X-Offload-Worker` header (the serving process's pid)."""
Get = Callable[[str], Awaitable[Answer]]


def named_paths(orders: int, rnd: random.Random) -> dict[str, Callable[[], str]]:
    """The named queries of the benchmark, each a maker of a path with random ids."""
    containers, voyages = containers_of(orders), voyages_of(orders)
    r = rnd.randrange
    return {
        "order": lambda: f"/orders/{r(1, orders + 1)}",
        "cold-chain-order": lambda: f"/cold-chain/orders/{r(1, orders + 1)}",
        "cold-chain-legs": lambda: (
            f"/cold-chain/legs?voyage_id={voyage_id(r(voyages))}&compliant=false&page_size=50"
        ),
        "customer-orders": lambda: f"/customers/{r(1, CUSTOMERS + 1)}/orders?page_size=50",
        "voyage": lambda: f"/voyages/{voyage_id(r(voyages))}?page_size=50",
        "telemetry-readings": lambda: (
            f"/containers/{container_id(r(containers))}/telemetry?page_size=100"
        ),
        "telemetry-1h": lambda: (
            f"/containers/{container_id(r(containers))}/telemetry?bucket=1h&page_size=100"
        ),
    }


class RawConnection:
    """One keep-alive HTTP/1.1 connection, requests written and answers parsed by hand."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def open(cls, host: str, port: int) -> RawConnection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def get(self, path: str) -> Answer:
        """GET `path` with the benchmark's key; the whole answer."""
        self._writer.write(
            f"GET {path} HTTP/1.1\r\nHost: bench\r\nX-API-Key: {KEY}\r\n\r\n".encode()
        )
        head = await self._reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        headers: dict[bytes, bytes] = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            body = await self._chunks()
        else:
            body = await self._reader.readexactly(int(headers.get(b"content-length", b"0")))
        return status, body, headers.get(b"x-offload-worker", b"?").decode()

    async def _chunks(self) -> bytes:
        parts: list[bytes] = []
        while size := int((await self._reader.readline()).split(b";")[0], 16):
            parts.append(await self._reader.readexactly(size))
            await self._reader.readline()
        await self._reader.readuntil(b"\r\n")  # the (empty) trailer
        return b"".join(parts)

    async def close(self) -> None:
        self._writer.close()
        await self._writer.wait_closed()


@dataclass
class Tally:
    """What the connections measured inside the window."""

    times: dict[str, list[float]]
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    by_worker: dict[str, int] = field(default_factory=dict)
    cpu_marks: list[float] = field(default_factory=list)

    def record(self, name: str, path: str, took: float, answer: Answer) -> None:
        status, body, worker = answer
        self.times[name].append(took)
        self.by_worker[worker] = self.by_worker.get(worker, 0) + 1
        if status not in (200, 404):
            self.errors += 1
            if len(self.error_samples) < ERROR_SAMPLES:
                self.error_samples.append(f"{path}: {status} {body[:200]!r}")

    def mark_cpu(self) -> None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        self.cpu_marks.append(usage.ru_utime + usage.ru_stime)


@dataclass(frozen=True, slots=True)
class Window:
    """Warm-up from `warm`, measuring from `begin` to `end` (time.monotonic() seconds)."""

    warm: float
    begin: float
    end: float


async def drive(
    get: Get, paths: dict[str, Callable[[], str]], window: Window, tally: Tally
) -> None:
    """One connection's closed loop: the named queries in turn until the window ends."""
    while True:
        for name, make in paths.items():
            started = time.monotonic()
            if started >= window.end:
                return
            path = make()
            answer = await get(path)
            if started >= window.begin:
                tally.record(name, path, time.monotonic() - started, answer)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Connect, (handshake,) drive every connection through the window; the result."""
    only = set(args.only.split(",")) if args.only else None
    makers = [named_paths(args.orders, random.Random(args.seed + i)) for i in range(args.clients)]
    makers = [{n: m for n, m in p.items() if only is None or n in only} for p in makers]
    tally = Tally({name: [] for name in makers[0]})
    gets, closers = await _connections(args)
    window = await _window(args)
    await asyncio.sleep(max(window.warm - time.monotonic(), 0.0))
    drives = [drive(g, p, window, tally) for g, p in zip(gets, makers, strict=True)]
    await asyncio.gather(_mark_cpu_at(window.begin, tally), *drives)
    tally.mark_cpu()
    for close in closers:
        await close()
    return summary(tally, window, args)


async def _mark_cpu_at(moment: float, tally: Tally) -> None:
    await asyncio.sleep(max(moment - time.monotonic(), 0.0))
    tally.mark_cpu()


async def _connections(
    args: argparse.Namespace,
) -> tuple[list[Get], list[Callable[[], Awaitable[None]]]]:
    if args.http == "raw":
        connections = [await RawConnection.open(args.host, args.port) for _ in range(args.clients)]
        return [c.get for c in connections], [c.close for c in connections]
    import httpx

    limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients)
    client = httpx.AsyncClient(
        base_url=f"http://{args.host}:{args.port}",
        headers={"X-API-Key": KEY},
        limits=limits,
        timeout=60,
    )

    async def get(path: str) -> Answer:
        response = await client.get(path)
        return response.status_code, response.content, response.headers.get("x-offload-worker", "?")

    return [get] * args.clients, [client.aclose]


async def _window(args: argparse.Namespace) -> Window:
    if not args.handshake:
        now = time.monotonic()
        return Window(now, now + args.warmup, now + args.warmup + args.seconds)
    print("ready", flush=True)
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    plan = json.loads(line)
    return Window(float(plan["warm"]), float(plan["begin"]), float(plan["end"]))


def summary(tally: Tally, window: Window, args: argparse.Namespace) -> dict[str, Any]:
    """Per named query n/p50/p99, requests/s, errors, requests per worker, own CPU."""
    seconds = window.end - window.begin
    requests = sum(len(v) for v in tally.times.values())
    cpu_s = tally.cpu_marks[-1] - tally.cpu_marks[0] if len(tally.cpu_marks) == 2 else None
    queries: dict[str, dict[str, float]] = {}
    for name, values in tally.times.items():
        ordered = sorted(values)
        if ordered:
            p50 = ordered[len(ordered) // 2]
            p99 = ordered[min(int(0.99 * len(ordered)), len(ordered) - 1)]
            queries[name] = {"n": len(values), "p50_ms": round(p50 * 1000, 3),
                             "p99_ms": round(p99 * 1000, 3)}  # fmt: skip
    return {
        "http": args.http,
        "loop": args.loop,
        "clients": args.clients,
        "seconds": round(seconds, 3),
        "requests": requests,
        "requests_per_s": round(requests / seconds, 1),
        "errors": tally.errors,
        "error_samples": tally.error_samples,
        "queries": queries,
        "by_worker": dict(sorted(tally.by_worker.items())),
        "cpu_s": None if cpu_s is None else round(cpu_s, 3),
        "cpu_pct": None if cpu_s is None else round(100 * cpu_s / seconds, 1),
        "cpu_us_per_request": None if cpu_s is None else round(1e6 * cpu_s / max(requests, 1), 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--orders", type=int, required=True, help="orders in the data set")
    parser.add_argument("--clients", type=int, default=8, help="concurrent connections")
    parser.add_argument("--seconds", type=float, default=10.0, help="measuring window")
    parser.add_argument("--warmup", type=float, default=2.0, help="load before the window")
    parser.add_argument("--only", help="comma-separated named queries (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--http", choices=("raw", "httpx"), default="raw")
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument("--handshake", action="store_true", help="print ready, read the window")
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    factory: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop
    if args.loop == "uvloop":
        try:
            import uvloop

            factory = uvloop.new_event_loop
        except ImportError:
            args.loop = "asyncio"
    with asyncio.Runner(loop_factory=factory) as runner:
        result = runner.run(run(args))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
