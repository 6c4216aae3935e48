"""When the Kafka loop looks for new topics and schema versions again.

Change topics are found from the schema store (`topology.discover`). Besides a periodic look
(`period_s`), the loop asks for one at once when a record shows that the topology it reads is
behind: an END marker counts events of a table whose topic it does not read yet (a table
captured after the loop started: its unit of work cannot complete until that topic is read),
or a record carries a schema id the topology was not built from (a new version may bring a
column the mirror lacks). A wish that the next look does not satisfy (the schema store may
lag the marker) is retried with a growing delay, up to the period. Pure bookkeeping.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

logger = logging.getLogger(__name__)

_FIRST_RETRY_S = 0.1


class Rediscovery:
    """Decides when to rediscover the topology.

    Args:
        period_s: seconds between periodic looks; None: only when asked.
    """

    def __init__(self, period_s: float | None) -> None:
        self._period = period_s
        self._next_periodic: float | None = None
        self._tables: frozenset[str] = frozenset()
        self._schema_ids: set[int] = set()
        self._wanted: set[str] = set()
        self._retry_at: float | None = None
        self._retry_s = _FIRST_RETRY_S
        self.last: float = float("-inf")
        """When the topology was last looked up (monotonic seconds)."""

    def known(self, tables: Iterable[str], schema_ids: Iterable[int]) -> None:
        """What the topology now reads: its source tables and the schema ids it was built
        from (ids of older versions may be added as records show them)."""
        self._tables = frozenset(tables)
        self._schema_ids.update(schema_ids)

    def reads(self, table: str) -> bool:
        """Whether the topology reads the change topic of `table` (SCHEMA.TABLE)."""
        return table in self._tables

    def table_named(self, table: str, now: float) -> None:
        """A marker named `table`: ask for a look at once unless its topic is read."""
        if table not in self._tables and table not in self._wanted:
            logger.info("a unit of work touches %s, whose topic is not read yet: looking", table)
            self._wanted.add(table)
            self._retry_at = now
            self._retry_s = _FIRST_RETRY_S

    def schema_seen(self, schema_id: int, now: float) -> bool:
        """A record carries `schema_id`; True (and a look at once) the first time it is seen."""
        if schema_id in self._schema_ids:
            return False
        self._schema_ids.add(schema_id)
        self._retry_at = now
        return True

    def due(self, now: float) -> bool:
        """Whether to look now."""
        if self._retry_at is not None and now >= self._retry_at:
            return True
        return self._next_periodic is not None and now >= self._next_periodic

    def retry_in(self, now: float, delay_s: float) -> None:
        """Look again within `delay_s` (nothing to read yet, or the last look failed)."""
        at = now + delay_s
        self._retry_at = at if self._retry_at is None else min(self._retry_at, at)

    def done(self, now: float) -> None:
        """A look was made (call `known` first); wishes still open are retried later."""
        self.last = now
        if self._period is not None:
            self._next_periodic = now + self._period
        self._wanted -= self._tables
        if not self._wanted:
            self._retry_at = None
            return
        self._retry_at = now + self._retry_s
        limit = self._period if self._period is not None else 10.0
        self._retry_s = min(self._retry_s * 2, limit)
        logger.debug(
            "tables %s still unknown; next look in %.1fs", sorted(self._wanted), self._retry_s
        )
