"""When the loop looks for new topics: periodically, and at once when a record needs one."""

from __future__ import annotations

from projections.discovery import Rediscovery


def test_a_table_not_read_asks_for_a_look_at_once_and_again_until_found() -> None:
    watch = Rediscovery(period_s=None)
    watch.known(["BANK.ACCOUNTS"], [11])
    watch.done(0.0)
    watch.table_named("BANK.ACCOUNTS", 1.0)
    assert not watch.due(1.0)
    watch.table_named("BANK.TRANSFERS", 1.0)
    assert watch.due(1.0)
    watch.done(1.0)  # the schema store did not know the table yet: retried a little later
    assert not watch.due(1.0) and watch.due(1.1)
    watch.known(["BANK.ACCOUNTS", "BANK.TRANSFERS"], [12])
    watch.done(1.1)
    assert watch.reads("BANK.TRANSFERS") and not watch.due(1000.0)


def test_a_new_schema_id_asks_for_one_look_and_the_period_for_more() -> None:
    watch = Rediscovery(period_s=10.0)
    watch.known([], [11])
    watch.done(0.0)
    assert not watch.schema_seen(11, 1.0)
    assert watch.schema_seen(12, 1.0) and watch.due(1.0)
    watch.done(1.0)
    assert not watch.schema_seen(12, 2.0) and not watch.due(2.0)
    assert watch.due(11.0)
