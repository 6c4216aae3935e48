"""What the batch-window benchmark watches while the batch runs: capture's and the read side's
progress, each as a timeline of (monotonic time, LSN) taken by a thread of its own.

- `CaptureWatch` reads the transaction topic as a consumer would (read_committed, from the end
  it had when started) and times each END marker: when a unit of work became readable in
  Kafka, i.e. when capture's Kafka transaction holding it committed.
- `WatermarkWatch` asks the query API for `/freshness?min_lsn=<watermark + 1>` over and over
  (a long poll: the API answers as soon as the writer's watermark passes it) and times each
  new watermark (`X-Offload-Watermark-LSN`): what a user of the read side sees.
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
from event_contract.schema_stores import store_from_settings

LSN_HEADER = "X-Offload-Watermark-LSN"


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
            while not self._stop.is_set():
                for record in self._consumer.consume(500, timeout=0.05):
                    raw = record.value()
                    if record.error() is not None or not raw:
                        continue
                    value: dict[str, Any] = codec.decode(raw)
                    if value.get("status") == "END":
                        self.timeline.add(int(value["commit_lsn"]))
        except Exception as exc:  # re-raised by the waiter
            self.timeline.fail(exc)


class WatermarkWatch:
    """Times each new watermark the query API answers at (long polls on /freshness)."""

    def __init__(self, base_url: str, api_key: str, start_lsn: int) -> None:
        self.timeline = Timeline()
        self._client = httpx.Client(base_url=base_url, headers={"X-API-Key": api_key})
        self._lsn = start_lsn
        self.requests = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="watermark-watch", daemon=True)

    def start(self) -> None:
        """Start asking, in a thread of its own."""
        self._thread.start()

    def stop(self) -> None:
        """Stop asking (the poll in flight ends within its wait)."""
        self._stop.set()
        self._thread.join(timeout=15)
        self._client.close()

    def _run(self) -> None:
        errors = 0
        while not self._stop.is_set():
            params = {"min_lsn": self._lsn + 1, "wait_ms": 2000}
            try:
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
