"""The event loop's collector settings: objects alive at set-up frozen, collections rarer,
cycles made afterwards still collected."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from plumbing import gc_tuning


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_settles_the_collector_and_still_collects_cycles(restored_gc: None) -> None:
    gc_tuning.for_event_loop()
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold()[0] >= gc_tuning.YOUNG_THRESHOLD
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    del a, b
    gc.collect()
    assert gone() is None
