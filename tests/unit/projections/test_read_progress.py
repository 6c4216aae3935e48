"""ReadProgress remembers a bounded number of END markers, and forgetting one only delays."""

from __future__ import annotations

import pytest

from projections import progress
from projections.progress import ReadProgress

PART = ("offload.shipping.orders", 0)


def test_only_the_newest_end_markers_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "KEPT_END_MARKERS", 3)
    reads = ReadProgress()
    for n in range(10):
        reads.note_record(PART)
        reads.note_end_marker(f"U{n}")
    reads.note_end(PART)
    # the newest three: read to its end after their END markers
    assert all(reads.passed(PART, 100, f"U{n}") for n in (7, 8, 9))
    # a forgotten marker is judged as not read: the end read does not count for it...
    assert not reads.passed(PART, 100, "U0")
    # ...an event past the unit's LSN still does
    reads.note_change(PART, 101)
    assert reads.passed(PART, 100, "U0")
