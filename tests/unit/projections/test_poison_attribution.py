"""Poison records spread over partitions are each attributed to a unit of work their LSN range
holds (`PoisonLedger.attribute`), read in any interleaving of the partitions.

Found by `tests/integration/projections/test_projections_poison_kinds.py`: taking the record
whose range starts nearest below the stalled unit gave a unit another unit's poison record, so
a later unit was excused with a "missing" row while its own record stayed unattributed.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projections.errorlog import ErrorRecord
from projections.poison import PoisonLedger

TOPIC = "t.bank.transfers"


def _record(partition: int, offset: int, lsn: int) -> ErrorRecord:
    """A poison record; `reason` keeps its true LSN for the test (the ledger never reads it)."""
    return ErrorRecord("decode", str(lsn), TOPIC, partition, offset)


def test_the_record_whose_range_ends_first_is_taken() -> None:
    """U11's record lies between LSN 9 and 12 in partition 2, U14's between 10 and 16 in
    partition 0: both ranges hold 11, only U11's cannot hold 14."""
    ledger = PoisonLedger()
    ledger.add((TOPIC, 0), 6, 10, _record(0, 6, 14))
    ledger.add((TOPIC, 2), 8, 9, _record(2, 8, 11))
    ledger.observe((TOPIC, 2), 12)
    ledger.observe((TOPIC, 0), 16)
    assert [r.reason for r in ledger.attribute(TOPIC, 11, 1)] == ["11"]
    assert [r.reason for r in ledger.attribute(TOPIC, 14, 1)] == ["14"]
    assert len(ledger) == 0


@st.composite
def topics(draw: st.DrawFn) -> tuple[list[list[tuple[int, bool]]], list[int]]:
    """Units 1..n, one event each in a random partition, some poison: per partition its
    events as (lsn, poison), and an interleaving of the partitions' reads."""
    partitions = draw(st.integers(1, 4))
    units = draw(st.integers(1, 30))
    events: list[list[tuple[int, bool]]] = [[] for _ in range(partitions)]
    for lsn in range(1, units + 1):
        events[draw(st.integers(0, partitions - 1))].append((lsn, draw(st.booleans())))
    order = [p for p, part in enumerate(events) for _ in part]
    return events, draw(st.permutations(order))


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(topic=topics())
def test_every_poison_record_goes_to_a_unit_its_range_holds(
    topic: tuple[list[list[tuple[int, bool]]], list[int]],
) -> None:
    """Read in the drawn interleaving; each poisoned unit is resolved as soon as every
    partition has moved past its LSN or was read to its end (as stall detection does)."""
    events, order = topic
    ledger = PoisonLedger()
    read = [0] * len(events)
    last = [0] * len(events)
    poisoned = sorted(lsn for part in events for lsn, bad in part if bad)
    attributed: dict[int, int] = {}

    def passed(lsn: int) -> bool:
        return all(last[p] > lsn or read[p] == len(part) for p, part in enumerate(events))

    def resolve() -> None:
        while poisoned and passed(poisoned[0]):
            unit = poisoned.pop(0)
            (taken,) = ledger.attribute(TOPIC, unit, 1)
            attributed[int(taken.reason)] = unit

    for p in order:
        lsn, bad = events[p][read[p]]
        read[p] += 1
        if bad:
            ledger.add((TOPIC, p), read[p] - 1, last[p], _record(p, read[p] - 1, lsn))
        else:
            ledger.observe((TOPIC, p), lsn)
            last[p] = lsn
        resolve()
    assert not poisoned
    assert len(ledger) == 0
    truth = {lsn for part in events for lsn, bad in part if bad}
    assert set(attributed) == truth  # every record attributed once, to a unit
