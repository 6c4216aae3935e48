"""A serving worker's link to the writer's read server: found through the address file, and
found again when the writer restarts; an unreachable writer is a 503, never a hang."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from event_contract.watermark import Watermark
from query_api.errors import WriterUnavailable
from query_api.read_server import ReadServer
from query_api.remote_store import RemoteReadStore


def test_without_an_address_file_the_writer_is_unavailable(tmp_path: Path) -> None:
    remote = RemoteReadStore(tmp_path / "read-server.json", timeout_s=5)
    try:
        with pytest.raises(WriterUnavailable) as caught:
            remote.watermark()
        assert caught.value.status == 503
        assert str(caught.value) == (
            f"the projection writer's read server {tmp_path / 'read-server.json'} is "
            "unavailable: no address file yet (is the writer starting?)"
        )
    finally:
        remote.close()


def test_a_restarted_writer_is_found_again_without_a_failed_call(
    projection: Any, tmp_path: Path
) -> None:
    address = tmp_path / "read-server.json"
    first = ReadServer(projection.store)
    first.start(address)
    remote = RemoteReadStore(address, timeout_s=5)
    try:
        assert remote.watermark().lsn == 50
        first.stop()
        second = ReadServer(projection.store)
        second.start(address)  # another port and token, as a restarted writer has
        try:
            assert remote.watermark().lsn == 50
            with remote.snapshot() as snap:
                assert snap.query("SELECT 1 AS one").column("one").to_pylist() == [1]
        finally:
            second.stop()
        with pytest.raises(WriterUnavailable):  # stopped, and its address file stays stale
            remote.watermark()
    finally:
        remote.close()


def test_a_wait_outlasts_a_writer_that_is_down(projection: Any, tmp_path: Path) -> None:
    remote = RemoteReadStore(tmp_path / "read-server.json", timeout_s=5)
    try:
        with pytest.raises(WriterUnavailable):
            remote.wait_for_lsn(50, 0.3)
        server = ReadServer(projection.store)
        server.start(tmp_path / "read-server.json")
        try:
            assert remote.wait_for_lsn(50, 5.0) is True
            assert remote.watermark() == Watermark(50, projection.store.watermark().commit_time)
        finally:
            server.stop()
    finally:
        remote.close()


def test_replay_reaches_the_writers_replayer_or_says_it_is_not_offered(
    projection: Any, tmp_path: Path
) -> None:
    asked: list[int] = []

    def replayer(entry_id: int) -> dict[str, Any]:
        asked.append(entry_id)
        return {"entry_id": entry_id, "outcome": "applied", "reason": ""}

    address = tmp_path / "read-server.json"
    remote = RemoteReadStore(address, timeout_s=5)
    try:
        for offered, expected in ((None, "unavailable"), (replayer, "applied")):
            server = ReadServer(projection.store, replayer=offered)
            server.start(address)
            try:
                answer = remote.replay(7)
            finally:
                server.stop()
            assert (answer["entry_id"], answer["outcome"]) == (7, expected)
        assert asked == [7]
    finally:
        remote.close()
