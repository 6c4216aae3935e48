"""Many wire-format messages of one writer schema decoded into Arrow columns at once.

The record-by-record reader (`avro_reader`) builds Python values field by field: 20-30 µs for
an update's envelope with both images. polars' Avro reader is compiled (Rust) and gives Arrow
columns: about 3 µs a record for the same envelopes, `before` included. It reads Avro object
container files, so `ArrowDecoder` wraps the messages' bodies (each message without its
5-byte header) in one in memory: the header with the schema, then one block of every record.

polars does not check that each record ends where the next begins: a record with bytes left
over would shift every record after it, and a short one can make polars panic. So each body
is followed by its index in the batch, as an Avro long of a wrapping record
(`{"record": <writer schema>, "seq": long}`): the batch is accepted only when `seq` reads
0, 1, 2, ... exactly, which a shifted read does not give (it would have to read every index
right from bytes of other fields). Anything else, an error or a panic included, gives None,
and the caller decodes record by record, which names the record and the reason.

polars reads neither references to named types nor a field's default (it refuses a string
default), so the schema is given with named types written out in full and no defaults:
neither changes the bytes of a record. The values are those of `avro_reader` (property tests
compare them): decimals as decimal128 of the declared precision and scale, date as date32,
local-timestamp-micros as a timestamp without time zone, time-millis and time-micros as
time64, strings as large_string.
"""

from __future__ import annotations

import copy
import io
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
from polars.exceptions import PanicException

from event_contract.codec import HEADER_SIZE

logger = logging.getLogger(__name__)

_SYNC = b"offload-bulk-avr"  # any 16 bytes: the container's sync marker
_SEQ = "_offload_seq"
_RECORD = "record"


def _long(n: int) -> bytes:
    """`n` as an Avro long (zig-zag varint)."""
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while z >= 0x80:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def _string(data: bytes) -> bytes:
    return _long(len(data)) + data


_INDEX = [_long(i) for i in range(4096)]
"""The `seq` of the first 4,096 records of a batch, encoded once."""


def plain_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """`schema` with every reference to a named type replaced by the type written out (under
    a name of its own) and without field defaults: the same records, in a form polars reads."""
    named: dict[str, dict[str, Any]] = {}
    copies = 0

    def walk(node: Any, namespace: str) -> Any:
        nonlocal copies
        if isinstance(node, str):
            full = node if "." in node else f"{namespace}.{node}"
            found = named.get(full) or named.get(node)
            if found is None:
                return node
            copies += 1
            out = copy.deepcopy(found)
            out["name"] = f"{out['name']}_{copies}"
            return out
        if isinstance(node, list):
            return [walk(branch, namespace) for branch in node]
        if not isinstance(node, Mapping):
            return node
        kind = node.get("type")
        if kind == "record":
            inner = node.get("namespace", namespace)
            name = str(node["name"])
            full = name if "." in name else f"{inner}.{name}"
            out = {k: v for k, v in node.items() if k != "fields"}
            out["fields"] = [
                {**{k: v for k, v in f.items() if k not in ("default", "type")},
                 "type": walk(f["type"], inner)}
                for f in node["fields"]
            ]  # fmt: skip
            named[full] = out
            return out
        if kind in ("array", "map"):
            key = "items" if kind == "array" else "values"
            return {**node, key: walk(node[key], namespace)}
        if isinstance(kind, (list, Mapping)):
            return {**node, "type": walk(kind, namespace)}
        return dict(node)

    return dict(walk(schema, ""))


class ArrowDecoder:
    """Decodes the bodies of wire-format messages of one writer schema into Arrow.

    Args:
        schema: the writer schema (as registered).
    """

    def __init__(self, schema: Mapping[str, Any]) -> None:
        wrapper = {
            "type": "record",
            "name": "OffloadBulk",
            "namespace": "offload.bulk",
            "fields": [
                {"name": _RECORD, "type": plain_schema(schema)},
                {"name": _SEQ, "type": "long"},
            ],
        }
        meta = (
            _long(2)
            + _string(b"avro.schema")
            + _string(json.dumps(wrapper).encode())
            + _string(b"avro.codec")
            + _string(b"null")
            + _long(0)
        )
        self._head = b"Obj\x01" + meta + _SYNC

    def decode(self, messages: Sequence[bytes]) -> pa.Array | None:
        """The records of `messages` (each with its 5-byte header), one value a message (a
        struct for a record schema); None when polars refuses them or they do not line up
        (decode those one at a time)."""
        count = len(messages)
        if count == 0:
            return None
        index = _INDEX if count <= len(_INDEX) else [_long(i) for i in range(count)]
        body = b"".join([m[HEADER_SIZE:] + i for m, i in zip(messages, index, strict=False)])
        container = b"".join((self._head, _long(count), _long(len(body)), body, _SYNC))
        try:
            table = pl.read_avro(io.BytesIO(container)).to_arrow()
        except (Exception, PanicException) as exc:  # any refusal: decode them one by one
            logger.debug("bulk decode of %d records refused: %s", count, exc)
            return None
        if table.num_rows != count:
            return None
        seq = table.column(_SEQ).to_numpy()
        if not np.array_equal(seq, np.arange(count, dtype=seq.dtype)):
            return None
        return table.column(_RECORD).combine_chunks()
