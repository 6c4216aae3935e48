"""The soak's fault plan: seeded, complete, inside its window."""

from __future__ import annotations

import random
from collections import Counter

from offload.soak_chaos import PARTS, plan


def _plan(seed: int) -> list[tuple[float, str, str]]:
    faults = plan(random.Random(seed), 300.0, 7, 3, 4, 65.0)
    return [(f.at_s, f.kind, f.target) for f in faults]


def test_the_same_seed_gives_the_same_plan_and_another_seed_another() -> None:
    assert _plan(5) == _plan(5)
    assert _plan(5) != _plan(6)


def test_every_part_gets_its_kills_the_broker_its_restarts_and_pauses_take_turns() -> None:
    faults = plan(random.Random(1), 300.0, 7, 3, 4, 65.0)
    kills = Counter(f.target for f in faults if f.kind == "kill")
    assert kills == dict.fromkeys(PARTS, 7)
    assert sum(f.kind == "broker" for f in faults) == 3
    pauses = sorted((f for f in faults if f.kind == "pause"), key=lambda f: f.target)
    assert Counter(f.target for f in pauses) == {"cdc": 2, "reference": 1, "projection": 1}


def test_faults_are_in_time_order_inside_the_window_and_pauses_end_inside_it() -> None:
    faults = plan(random.Random(3), 100.0, 20, 5, 6, 65.0)
    times = [f.at_s for f in faults]
    assert times == sorted(times)
    assert all(0 <= t <= 100.0 for t in times)
    assert all(f.at_s + 65.0 <= 100.0 for f in faults if f.kind == "pause")


def test_a_pause_longer_than_the_window_starts_at_once() -> None:
    faults = plan(random.Random(3), 30.0, 0, 0, 1, 65.0)
    assert [(f.at_s, f.kind, f.target) for f in faults] == [(0.0, "pause", "cdc")]
