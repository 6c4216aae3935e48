"""What the batch-window benchmark watches while the batch runs: capture's and the read side's
progress, each as a timeline of (monotonic time, LSN) taken by a thread of its own.

- `CaptureWatch` reads the transaction topic as a consumer would (read_committed, from the end
  it had when started) and times each unit of work's END (of every capture group, when
  capture is split): when it became readable in Kafka, i.e. when capture's Kafka transaction
  holding it committed.
- `WatermarkWatch` asks the query API for `/readyz` every `POLL_S` (the lightest answer that
  carries the watermark) and times each new watermark (`X-Offload-Watermark-LSN`): what a
  user of the read side sees. Once told the batch's last LSN (`until`), it asks as a user
  waiting for it would: `/freshness?min_lsn=<last LSN>` (the API answers at the writer's
  first commit past it). Not a long poll all along: a waiting request re-reads the watermark
  in the writer every 50 ms (`CommitSignal.wait`), which cost the writer ~8 % of its CPU
  samples when the watch kept one open throughout, and `/freshness` every 0.25 s ~13 %
  (py-spy, machine shared).
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import httpx
from confluent_kafka import Consumer, TopicPartition

from config import Settings
from event_contract.codec import Codec
from event_contract.envelope import PublishedHead
from event_contract.schema_stores import store_from_settings

LSN_HEADER = "X-Offload-Watermark-LSN"
POLL_S = 0.5


class Timeline:
    """(monotonic seconds, LSN) samples, appended by one thread, waited on by others."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, int]] = []
        self._cond = threading.Condition()
        self.error: BaseException | None = None

    def add(self, lsn: int) -> None:
        """Record that `lsn` was reached now."""
        with self._cond:
            self.samples.append((time.monotonic(), lsn))
            self._cond.notify_all()

    def fail(self, exc: BaseException) -> None:
        """The watching thread died: waiters raise it."""
        with self._cond:
            self.error = exc
            self._cond.notify_all()

    def reached(self, lsn: int) -> float | None:
        """When `lsn` (or a later one) was first reached, or None."""
        with self._cond:
            return next((t for t, seen in self.samples if seen >= lsn), None)

    def wait(self, lsn: int, timeout_s: float) -> float:
        """Block until `lsn` is reached; its time. Raises TimeoutError, or the thread's error."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                if self.error is not None:
                    raise RuntimeError(f"watcher failed: {self.error}") from self.error
                found = next((t for t, seen in self.samples if seen >= lsn), None)
                if found is not None:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"LSN {lsn} not reached within {timeout_s:.0f} s")
                self._cond.wait(min(left, 1.0))


class CaptureWatch:
    """Times the END markers of `<prefix>.transaction` from its end at `start()` on."""

    def __init__(self, settings: Settings) -> None:
        self.timeline = Timeline()
        self._settings = settings
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="capture-watch", daemon=True)
        kafka = settings.kafka
        self._topic = kafka.topic("transaction")
        self._consumer = Consumer(
            {
                "bootstrap.servers": kafka.bootstrap_servers,
                "group.id": f"bench-window-{uuid.uuid4().hex}",
                "isolation.level": "read_committed",
                "enable.auto.commit": False,
                "fetch.wait.max.ms": 10,
            }
        )

    def start(self) -> None:
        """Read from the topic's current end, in a thread of its own."""
        meta = self._consumer.list_topics(self._topic, timeout=10).topics[self._topic]
        parts = []
        for p in meta.partitions:
            _, end = self._consumer.get_watermark_offsets(
                TopicPartition(self._topic, p), timeout=10
            )
            parts.append(TopicPartition(self._topic, p, end))
        self._consumer.assign(parts)
        self._thread.start()

    def stop(self) -> None:
        """Stop reading and close the consumer."""
        self._stop.set()
        self._thread.join(timeout=10)
        self._consumer.close()

    def _run(self) -> None:
        try:
            codec = Codec(store_from_settings(self._settings).by_id)
            head = PublishedHead()
            while not self._stop.is_set():
                for record in self._consumer.consume(500, timeout=0.05):
                    raw = record.value()
                    if record.error() is not None or not raw:
                        continue
                    value: dict[str, Any] = codec.decode(raw)
                    if value.get("status") != "END":
                        continue
                    head.end(
                        str(value["id"]), int(value["commit_lsn"]), int(value["ts_ms"]),
                        value.get("part"), int(value.get("parts") or 1),
                    )  # fmt: skip
                    if head.head is not None:
                        self.timeline.add(head.head[0])
        except Exception as exc:  # re-raised by the waiter
            self.timeline.fail(exc)


class WatermarkWatch:
    """Times each new watermark the query API answers at (see the module docstring)."""

    def __init__(self, base_url: str, api_key: str, start_lsn: int) -> None:
        self.timeline = Timeline()
        self._client = httpx.Client(base_url=base_url, headers={"X-API-Key": api_key})
        self._lsn = start_lsn
        self._target: int | None = None
        self.requests = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="watermark-watch", daemon=True)

    def start(self) -> None:
        """Start asking, in a thread of its own."""
        self._thread.start()

    def until(self, lsn: int) -> None:
        """From now on, wait for `lsn` as a user would (`min_lsn`)."""
        self._target = lsn

    def stop(self) -> None:
        """Stop asking (the poll in flight ends within its wait)."""
        self._stop.set()
        self._thread.join(timeout=15)
        self._client.close()

    def _run(self) -> None:
        errors = 0
        while not self._stop.is_set():
            target = self._target
            if target is not None and self._lsn >= target:
                self._stop.wait(POLL_S)
                continue
            try:
                if target is None:
                    answer = self._client.get("/readyz", timeout=10)
                else:
                    params = {"min_lsn": target, "wait_ms": 2000}
                    answer = self._client.get("/freshness", params=params, timeout=10)
            except httpx.HTTPError as exc:
                errors += 1
                if errors > 20:
                    self.timeline.fail(exc)
                    return
                time.sleep(0.1)
                continue
            self.requests += 1
            lsn = int(answer.headers.get(LSN_HEADER, 0) or 0)
            if lsn > self._lsn:  # also from a 503: the watermark moved, not yet past min_lsn
                self._lsn = lsn
                self.timeline.add(lsn)
            if target is None:
                self._stop.wait(POLL_S)
