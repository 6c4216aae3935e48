"""Lines of a text extract decoded one at a time, so a bad byte is found on its exact line."""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from typing import BinaryIO

from reference_loader.errors import LayoutError


def decoded_lines(stream: BinaryIO, encoding: str) -> Iterator[str]:
    """Yield each line of `stream` (split at b"\\n", line end kept) decoded with `encoding`.

    Only encodings in which b"\\n" is always a line end work (UTF-8, Latin-1, cp1252, ...;
    not UTF-16). A line that does not decode raises UnicodeDecodeError when it is reached,
    after all lines before it were yielded.

    Raises:
        LayoutError: the encoding is unknown (at the first line).
    """
    try:
        decoder = codecs.getincrementaldecoder(encoding)()
    except LookupError as exc:
        raise LayoutError(f"unknown encoding '{encoding}'") from exc
    for raw in stream:
        yield decoder.decode(raw)
    tail = decoder.decode(b"", final=True)
    if tail:
        yield tail
