"""How fresh the served answers are: per-view watermarks, lag, readiness (pure functions)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from event_contract.watermark import Watermark


@dataclass(frozen=True, slots=True)
class Lag:
    """How far the read models trail the source head (None when the head is unknown)."""

    lsn: int | None
    seconds: float | None


def lag_behind(watermark: Watermark, head: Watermark | None) -> Lag:
    """The lag of `watermark` behind the newest published `head`."""
    if head is None:
        return Lag(None, None)
    lsns = max(head.lsn - watermark.lsn, 0)
    if lsns == 0:
        return Lag(0, 0.0)
    if head.commit_time is None or watermark.commit_time is None:
        return Lag(lsns, None)
    seconds = (_utc(head.commit_time) - _utc(watermark.commit_time)).total_seconds()
    return Lag(lsns, max(seconds, 0.0))


def is_ready(watermark: Watermark, head: Watermark | None, max_lag_s: float) -> tuple[bool, str]:
    """Whether the projection is caught up within `max_lag_s`, and why not."""
    if watermark.lsn == 0 and (head is None or head.lsn > 0):
        return False, "no batch applied yet"
    lag = lag_behind(watermark, head)
    if lag.seconds is not None and lag.seconds > max_lag_s:
        return False, f"lag {lag.seconds:.1f} s exceeds readiness_max_lag_s {max_lag_s:g} s"
    return True, "caught up"


def view_freshness(
    rows: list[dict[str, Any]], watermark: Watermark, head: Watermark | None
) -> list[dict[str, Any]]:
    """Freshness of each derived view from its `_offload.view_state` row."""
    views = []
    for row in rows:
        commit = row.get("commit_time")
        view_mark = Watermark(
            int(row.get("lsn") or 0),
            datetime.fromisoformat(commit) if isinstance(commit, str) else None,
        )
        lag = lag_behind(view_mark, head or watermark)
        views.append({**row, "lag_lsn": lag.lsn, "lag_seconds": lag.seconds})
    return views


def _utc(stamp: datetime) -> datetime:
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)
