"""Errors of change capture.

`CdcError` is the base; each subclass marks with `Transient` or `Terminal` whether a retry can
help, and keeps the values its message names (transactional id, ...) as attributes. Errors of
the event contract (schemas, codec, schema store) are in `event_contract.errors`; Kafka being
unreachable is `plumbing.kafka_errors.KafkaUnavailable`.
"""

from __future__ import annotations

from plumbing.errors import EXIT_USAGE, OffloadError, Terminal


class CdcError(OffloadError):
    """Base of every error raised by `cdc_ingest`."""


class CaptureFenced(CdcError, Terminal):
    """Another capture process with the same transactional.id took over: this one must stop."""

    def __init__(self, transactional_id: str, reason: str) -> None:
        self.transactional_id = transactional_id
        self.reason = reason
        super().__init__(
            f"capture stopped: another `offload cdc run` with transactional.id "
            f"{transactional_id} took over (this instance was fenced: {reason}); "
            "it wrote nothing more"
        )


class CaptureFatal(CdcError, Terminal):
    """The transactional producer hit a fatal error; the process cannot go on."""

    def __init__(self, transactional_id: str, reason: str) -> None:
        self.transactional_id = transactional_id
        self.reason = reason
        super().__init__(
            f"capture stopped: fatal Kafka producer error for transactional.id "
            f"{transactional_id}: {reason}"
        )


class CaptureSplitChanged(CdcError, Terminal):
    """A capture group's committed position was written under another `capture.split`."""

    exit_code = EXIT_USAGE

    def __init__(
        self, group: str, recorded: dict[str, list[str]], configured: dict[str, list[str]]
    ) -> None:
        self.group = group
        self.recorded = recorded
        self.configured = configured
        super().__init__(
            f"capture group {group!r} was publishing under capture.split {_split_text(recorded)}; "
            f"the configuration now says {_split_text(configured)}. Changing the split of a "
            "deployment that has published would publish tables twice or not at all: restore "
            "[capture.split], or start over under a new kafka.topic_prefix"
        )


def _split_text(split: dict[str, list[str]]) -> str:
    if not split:
        return "(none: one capture group)"
    return "{" + "; ".join(f"{g} = {', '.join(ts)}" for g, ts in sorted(split.items())) + "}"
