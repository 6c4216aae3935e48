"""The offset context of capture (Debezium's `OffsetContext`): where capture stands.

`state` is the position the current step starts from (it runs ahead of `committed` only
while nothing needs publishing), `committed` the one in the last committed Kafka
transaction. `load()` reads the committed position and the operator's records (decisions,
snapshot requests) from `<prefix>.cdc-offsets`; afterwards an `OperatorFeed` takes in new
operator records at most every `capture.operator_poll_s` seconds (`refresh()`).
"""

from __future__ import annotations

import time

from cdc_ingest.errors import CaptureSplitChanged
from cdc_ingest.groups import CaptureGroup
from cdc_ingest.offsets_log import OffsetsLog, OperatorFeed, read_log
from cdc_ingest.positions import CapturePosition
from config import Settings


class OffsetContext:
    """The capture position and the operator's records (see the module docstring).

    Args:
        settings: the whole configuration.
        group: the capture group whose position this is.

    Attributes:
        state: where the next step starts.
        committed: the position of the last committed transaction.
        operator: the operator's records (and the position read at `load()`).
        newest: the source's newest LSN, as of the last read of changes.
    """

    def __init__(self, settings: Settings, group: CaptureGroup) -> None:
        self.settings = settings
        self.group = group
        self.state = CapturePosition(split=group.split)
        self.committed = self.state
        self.operator = OffsetsLog()
        self.newest = 0
        self._feed: OperatorFeed | None = None
        self._operator_read = 0.0

    def load(self) -> None:
        """Read the committed position and the operator's records; follow the latter.

        Raises:
            KafkaUnavailable: the cdc-offsets topic could not be read.
            CaptureSplitChanged: a group's position was written under another split.
        """
        kafka, group = self.settings.kafka, self.group
        # Past the other groups' open transactions: this group's newest position may lie
        # beyond one (see `offsets_log`). The wait is bounded by their transaction timeout
        # (the broker aborts a dead writer's transaction after it, checking every 10 s).
        wait_s = self.settings.capture.transaction_timeout_s + 30.0
        log = read_log(kafka, group.name, past_open_s=wait_s)
        positions = {**log.positions(), group.name: log.position}
        for name, position in sorted(positions.items()):
            if position is not None and position.split != group.split:
                raise CaptureSplitChanged(name, position.split, group.split)
        self.state = self.committed = log.position or CapturePosition(split=group.split)
        self.operator = log
        self._operator_read = time.monotonic()
        self.close()
        self._feed = OperatorFeed(kafka, group.name, log)

    def refresh(self) -> None:
        """Take in new operator records, unless that was done less than
        `capture.operator_poll_s` seconds ago."""
        if time.monotonic() - self._operator_read < self.settings.capture.operator_poll_s:
            return
        if self._feed is not None:
            self.operator = self._feed.poll()
        self._operator_read = time.monotonic()

    def accepted(self) -> dict[str, int]:
        """The value schema id the operator accepted, by table."""
        return {name: d.schema_id for name, d in self.operator.decisions.items()}

    def catching_up(self) -> str | None:
        """A table catching up on its held changes, if any."""
        return next((n for n, t in self.state.tables.items() if t.status == "catching_up"), None)

    def commit(self, state: CapturePosition) -> None:
        """Take `state` as committed."""
        self.state = self.committed = state

    def rewind(self) -> None:
        """Go back to the committed position (after an aborted transaction)."""
        self.state = self.committed

    def close(self) -> None:
        """Stop following the operator's records."""
        if self._feed is not None:
            self._feed.close()
            self._feed = None
