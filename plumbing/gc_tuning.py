"""The cyclic garbage collector's settings for a loop that holds many events at once.

CPython frees almost everything by reference counting; the cyclic collector only finds
cycles, but each of its runs walks every container object the interpreter tracks. A loop
that holds tens of thousands of events in memory (the projection writer's units of work
waiting for their END, a batch being applied) allocates several objects an event, so the
collector runs often and each run walks the held events and the objects every import left
behind (about 188,000 with the writer's imports) again. The README's section "The projection
writer: per-record values and the garbage collector" has the figures: over 330,093 events
the writer used about a tenth less CPU with these settings than without.

`for_event_loop` is called once by the projection writer and by capture, when the loop's
set-up is done: it collects once, moves every object alive then out of the collector's view
(`gc.freeze`: they stay alive, freed by reference counting as before), and makes the youngest
generation larger so that a collection runs every `YOUNG_THRESHOLD` allocations instead of
700. Cycles are still collected.
"""

from __future__ import annotations

import gc
import logging

logger = logging.getLogger(__name__)

YOUNG_THRESHOLD = 50_000
"""Allocations (less deallocations) between two collections of the youngest generation."""


def for_event_loop() -> None:
    """Settle the collector for a long-running event loop (see the module docstring)."""
    gc.collect()
    gc.freeze()
    young, middle, oldest = gc.get_threshold()
    gc.set_threshold(max(YOUNG_THRESHOLD, young), middle, oldest)
    frozen, thresholds = gc.get_freeze_count(), gc.get_threshold()
    logger.debug("garbage collector: %d objects frozen, thresholds %s", frozen, thresholds)
