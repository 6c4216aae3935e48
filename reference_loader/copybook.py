"""COBOL copybook syntax: the data description entries of a record, as a tree of `Item`s.

Supported: level numbers 01-49 (and group items), PIC/PICTURE with X, A, 9, S and V (with
repeat counts, e.g. `S9(3)V99`, `S999V99`, `9(5)`), USAGE DISPLAY (zoned), COMP-3 /
COMPUTATIONAL-3 / PACKED-DECIMAL, COMP / COMP-4 / BINARY (big-endian, bounded by the PIC),
COMP-5 (big-endian, not bounded), USAGE on a group (inherited by its items), FILLER (or no
name), OCCURS n [TIMES] (fixed count), REDEFINES, VALUE (ignored), JUSTIFIED and BLANK WHEN
ZERO (no effect on decoding), level 88 condition names (ignored). Both the fixed reference
format (sequence area in columns 1-6, indicator in 7, code in 8-72) and free format are read.

Refused with a `LayoutError` naming the line: edited pictures (Z, +, -, ., $, ...), P
scaling, SIGN LEADING / SEPARATE, SYNCHRONIZED, OCCURS DEPENDING ON, level 66 RENAMES,
level 77, COMP-1 / COMP-2 floating point, NATIONAL, POINTER, INDEX, COPY.

Offsets and record lengths are computed by `reference_loader.layout` from this tree.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum

from reference_loader.errors import LayoutError


class Usage(StrEnum):
    """How a numeric item's digits are stored."""

    DISPLAY = "DISPLAY"  # zoned decimal: one digit a byte, sign in the last byte's zone
    PACKED = "COMP-3"  # packed decimal: two digits a byte, sign in the last half-byte
    BINARY = "COMP"  # big-endian two's complement, value bounded by the PIC digits
    NATIVE = "COMP-5"  # big-endian two's complement, the whole binary range


_USAGE_WORDS = {
    "DISPLAY": Usage.DISPLAY,
    "COMP-3": Usage.PACKED,
    "COMPUTATIONAL-3": Usage.PACKED,
    "PACKED-DECIMAL": Usage.PACKED,
    "COMP": Usage.BINARY,
    "COMPUTATIONAL": Usage.BINARY,
    "COMP-4": Usage.BINARY,
    "COMPUTATIONAL-4": Usage.BINARY,
    "BINARY": Usage.BINARY,
    "COMP-5": Usage.NATIVE,
    "COMPUTATIONAL-5": Usage.NATIVE,
}
_UNSUPPORTED_USAGE = {
    "COMP-1": "COMP-1 (floating point)",
    "COMPUTATIONAL-1": "COMP-1 (floating point)",
    "COMP-2": "COMP-2 (floating point)",
    "COMPUTATIONAL-2": "COMP-2 (floating point)",
    "NATIONAL": "USAGE NATIONAL",
    "DISPLAY-1": "USAGE DISPLAY-1",
    "POINTER": "USAGE POINTER",
    "INDEX": "USAGE INDEX",
}
_CLAUSE_WORDS = {
    "PIC", "PICTURE", "USAGE", "OCCURS", "REDEFINES", "VALUE", "VALUES", "SIGN", "LEADING",
    "TRAILING", "JUSTIFIED", "JUST", "BLANK", "SYNC", "SYNCHRONIZED", "GLOBAL", "EXTERNAL",
    *_USAGE_WORDS, *_UNSUPPORTED_USAGE,
}  # fmt: skip
_TOKEN_RE = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\S+")
_NAME_RE = re.compile(r"^[A-Z0-9][A-Z0-9-]*$")
_REPEAT_RE = re.compile(r"([XA9])\((\d+)\)")
_FIXED_LINE_RE = re.compile(r"^(?:[0-9]{6}| {6})[ *\-/D]")
_DIRECTIVES = {"EJECT", "SKIP1", "SKIP2", "SKIP3"}


@dataclass(frozen=True, slots=True)
class Picture:
    """A PIC clause.

    Attributes:
        numeric: True for 9/S/V pictures, False for X/A (alphanumeric).
        digits: numeric: all digits (integer and decimal); alphanumeric: characters.
        scale: digits after the implied decimal point V.
        signed: the picture starts with S.
        text: the picture as written, e.g. "S9(3)V99".
    """

    numeric: bool
    digits: int
    scale: int
    signed: bool
    text: str


@dataclass(slots=True)
class Item:
    """One data description entry and its subordinate items.

    Attributes:
        level: level number (1-49).
        name: the data name, upper case; "FILLER" for FILLER or an unnamed item.
        line: copybook line of the entry.
        picture: the PIC clause, or None for a group.
        usage: the USAGE written on this entry, or None (then the group's, else DISPLAY).
        occurs: fixed OCCURS count, 1 without OCCURS.
        redefines: name of the item this one REDEFINES, or None.
        children: subordinate items, in order.
    """

    level: int
    name: str
    line: int
    picture: Picture | None = None
    usage: Usage | None = None
    occurs: int = 1
    redefines: str | None = None
    children: list[Item] = field(default_factory=list)


def parse_picture(text: str) -> Picture:
    """Parse a PICTURE character string such as `X(10)`, `9(5)`, `S9(3)V99` or `S999V99`.

    Raises:
        ValueError: the picture is edited, scaled or otherwise not one of X, A, 9, S, V.
    """
    expanded = _REPEAT_RE.sub(lambda m: m[1] * int(m[2]), text.upper())
    if re.fullmatch(r"[XA9]+", expanded) and re.search(r"[XA]", expanded):
        return Picture(False, len(expanded), 0, False, text)
    match = re.fullmatch(r"(S?)(9*)(?:V(9*))?", expanded)
    if match is None or not (match[2] or match[3]):
        raise ValueError(
            f"PIC {text} is not supported (only X, A, 9, S and V, e.g. X(10), S9(5)V99; "
            "edited pictures and P scaling are not)"
        )
    integer, fraction = match[2], match[3] or ""
    return Picture(True, len(integer) + len(fraction), len(fraction), bool(match[1]), text)


def parse_items(text: str, *, source: str = "") -> list[Item]:
    """Parse a copybook into its level-01 records (a copybook without 01 gets one root).

    Args:
        text: the copybook source.
        source: the copybook's file name, used in error messages.

    Returns:
        The top-level items in order; an implicit group named "RECORD" (level 1) wraps the
        entries when the copybook does not start with a level-01 entry.

    Raises:
        LayoutError: a syntax or feature the decoder does not support, naming the line.
    """
    roots: list[Item] = []
    stack: list[Item] = []
    for line, tokens in _statements(text, source):
        item = _entry(line, tokens, source)
        if item is None:
            continue
        while stack and stack[-1].level >= item.level:
            stack.pop()
        if not stack:
            if item.level != 1:
                implicit = Item(1, "RECORD", item.line)
                roots.append(implicit)
                stack.append(implicit)
            else:
                roots.append(item)
        if stack:
            parent = stack[-1]
            if parent.picture is not None:
                raise LayoutError(
                    f"{item.name} (level {item.level:02d}) is under {parent.name} "
                    f"(line {parent.line}), which has a PIC and cannot have items",
                    source=source,
                    line=item.line,
                )
            parent.children.append(item)
        stack.append(item)
    if not roots:
        raise LayoutError("no data description entries found", source=source)
    _check_groups(roots, source)
    return roots


def _check_groups(items: list[Item], source: str) -> None:
    for item in items:
        if item.picture is None and not item.children:
            message = f"{item.name} has neither a PIC nor subordinate items"
            raise LayoutError(message, source=source, line=item.line)
        _check_groups(item.children, source)


def _code_lines(text: str) -> Iterator[tuple[int, str]]:
    """Yield (line number, code) with sequence areas and comments removed."""
    lines = text.splitlines()
    fixed = all(_FIXED_LINE_RE.match(raw) for raw in lines if raw.strip())
    for number, raw in enumerate(lines, start=1):
        if fixed:
            if raw[6:7] in ("*", "/", "D"):
                continue
            code = raw[7:72]
        else:
            code = raw.split("*>", 1)[0]
            if code.lstrip().startswith("*"):
                continue
        if code.strip() and code.strip().upper() not in _DIRECTIVES:
            yield number, code


def _statements(text: str, source: str) -> Iterator[tuple[int, list[str]]]:
    """Yield each period-terminated entry as (line of its first word, words)."""
    tokens: list[str] = []
    start = 0
    for number, code in _code_lines(text):
        for token in _TOKEN_RE.findall(code):
            quoted = token[0] in "'\""
            end = not quoted and token.endswith(".")
            word = token[:-1] if end else token
            if word:
                if not tokens:
                    start = number
                tokens.append(word if quoted else word.upper())
            if end and tokens:
                yield start, tokens
                tokens = []
    if tokens:
        message = f"entry '{' '.join(tokens)}' has no closing period"
        raise LayoutError(message, source=source, line=start)


def _entry(line: int, tokens: list[str], source: str) -> Item | None:
    """Build the item of one entry, or None for entries that describe no storage (88)."""

    def fail(message: str) -> LayoutError:
        return LayoutError(message, source=source, line=line)

    if tokens[0] == "COPY":
        raise fail("COPY is not supported: inline the copied members")
    if not tokens[0].isdigit():
        raise fail(f"expected a level number, found '{tokens[0]}'")
    level = int(tokens[0])
    if level == 88:
        return None
    if level in (66, 77) or not 1 <= level <= 49:
        raise fail(f"level {tokens[0]} is not supported (use levels 01-49)")
    rest = tokens[1:]
    name = "FILLER"
    if rest and rest[0] not in _CLAUSE_WORDS:
        name = rest.pop(0)
        if not _NAME_RE.match(name):
            raise fail(f"'{name}' is not a valid data name")
    item = Item(level, name, line)
    try:
        _clauses(item, rest)
    except ValueError as exc:
        raise fail(f"{name}: {exc}") from exc
    if (
        item.picture is not None
        and not item.picture.numeric
        and item.usage
        not in (
            None,
            Usage.DISPLAY,
        )
    ):
        raise fail(f"{name}: USAGE {item.usage} needs a numeric PIC, not PIC {item.picture.text}")
    return item


def _clauses(item: Item, words: list[str]) -> None:
    """Apply the clauses of an entry to `item`; ValueError says what is wrong."""
    i = 0

    def take(*optional: str) -> str:
        nonlocal i
        while i < len(words) and words[i] in optional:
            i += 1
        if i >= len(words):
            raise ValueError(f"clause {words[-1]} is incomplete")
        i += 1
        return words[i - 1]

    while i < len(words):
        word = words[i]
        i += 1
        if word in ("PIC", "PICTURE"):
            item.picture = parse_picture(take("IS"))
        elif word == "USAGE":
            item.usage = _usage(take("IS"))
        elif word in _USAGE_WORDS or word in _UNSUPPORTED_USAGE:
            item.usage = _usage(word)
        elif word == "OCCURS":
            i = _occurs(item, words, i)
        elif word == "REDEFINES":
            item.redefines = take()
        elif word in ("VALUE", "VALUES"):
            take("IS", "ARE")
        elif word in ("SIGN", "LEADING", "TRAILING"):
            rest = words[i - 1 : i + 3]
            if "LEADING" in rest or "SEPARATE" in rest:
                raise ValueError(
                    "SIGN LEADING / SEPARATE is not supported (only the trailing overpunched sign)"
                )
            while i < len(words) and words[i] in ("IS", "TRAILING"):
                i += 1
        elif word in ("JUSTIFIED", "JUST", "BLANK", "GLOBAL", "EXTERNAL"):
            while i < len(words) and words[i] in ("RIGHT", "WHEN", "ZERO", "ZEROS", "ZEROES"):
                i += 1
        elif word in ("SYNC", "SYNCHRONIZED"):
            raise ValueError("SYNCHRONIZED is not supported (it adds slack bytes)")
        else:
            raise ValueError(f"unexpected word '{word}'")


def _usage(word: str) -> Usage:
    if word in _UNSUPPORTED_USAGE:
        raise ValueError(f"{_UNSUPPORTED_USAGE[word]} is not supported")
    if word not in _USAGE_WORDS:
        raise ValueError(f"unknown USAGE '{word}'")
    return _USAGE_WORDS[word]


def _occurs(item: Item, words: list[str], i: int) -> int:
    """Apply `OCCURS n [TIMES] [ASCENDING|DESCENDING KEY ...] [INDEXED BY ...]`."""
    if i >= len(words) or not words[i].isdigit():
        raise ValueError("OCCURS needs a fixed count")
    item.occurs = int(words[i])
    i += 1
    if item.occurs < 1:
        raise ValueError("OCCURS count must be at least 1")
    if (i < len(words) and words[i] == "TO") or "DEPENDING" in words[i:]:
        raise ValueError("OCCURS DEPENDING ON is not supported (only a fixed count)")
    if i < len(words) and words[i] == "TIMES":
        i += 1
    # Keys and indexes name other items; they do not change the storage.
    if i < len(words) and words[i] in ("ASCENDING", "DESCENDING", "INDEXED"):
        i += 1
        while i < len(words) and words[i] not in _CLAUSE_WORDS:
            i += 1
    return i
