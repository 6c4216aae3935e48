"""Record layouts: the flat list of fields of a copybook with byte offsets and sizes.

Sizes follow IBM Enterprise COBOL: DISPLAY numeric one byte a digit (sign overpunched, no
extra byte); COMP-3 `digits // 2 + 1` bytes; COMP/COMP-4/BINARY/COMP-5 2 bytes for 1-4
digits, 4 for 5-9, 8 for 10-18; PIC X(n) n bytes. A group is the sum of its items, an OCCURS
multiplies by its count, and a REDEFINES overlays the item it redefines (the storage is the
larger of the two).

Output field names are the COBOL names lowercased with '-' replaced by '_' (`TEMP-MIN` →
`temp_min`), so they are valid Avro and SQL names and match the lowercased mirror columns;
each OCCURS adds a 1-based suffix per occurrence (`READING-TEMP` in a group occurring 3 times
→ `reading_temp_1` .. `reading_temp_3`). FILLER
and group items produce no field. Of the items that overlay each other by REDEFINES only
one is read: the first (the redefined item), unless the job chooses another.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum

from reference_loader.copybook import Item, Usage, parse_items
from reference_loader.errors import LayoutError

MAX_DECIMAL_DIGITS = 31
MAX_BINARY_DIGITS = 18


class FieldKind(StrEnum):
    """How a field's bytes are decoded."""

    TEXT = "text"
    ZONED = "zoned"
    PACKED = "packed"
    BINARY = "binary"


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One elementary field of a record layout.

    Attributes:
        name: output name (COBOL name with '_' for '-', plus OCCURS suffixes).
        offset: byte offset of the field in the record.
        size: bytes the field takes.
        kind: how the bytes are decoded.
        digits: numeric: number of digits of the PIC; text: number of characters.
        scale: implied decimal digits (after V).
        signed: the PIC has an S.
        bounded: binary only: values must fit the PIC digits (False for COMP-5).
        line: the copybook line of the field's entry.
    """

    name: str
    offset: int
    size: int
    kind: FieldKind
    digits: int
    scale: int
    signed: bool
    bounded: bool
    line: int


@dataclass(frozen=True, slots=True)
class Layout:
    """The fields of one record type and its length.

    Attributes:
        name: the level-01 record name.
        fields: elementary fields in record order (FILLER and unchosen REDEFINES left out).
        record_length: bytes of one record.
    """

    name: str
    fields: tuple[FieldSpec, ...]
    record_length: int

    def field(self, name: str) -> FieldSpec:
        """The field with output name `name`; KeyError if there is none."""
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise KeyError(name)


def load_layout(
    text: str, *, source: str = "", redefines: Mapping[str, str] | None = None
) -> Layout:
    """Lay out the first record of a copybook.

    Args:
        text: the copybook source.
        source: its file name, for error messages.
        redefines: which item to read where items overlay each other: redefined item name →
            chosen item name (COBOL or output spelling, e.g. {"PRODUCT-DETAIL":
            "PRODUCT-DETAIL-ALT"}). Unlisted overlays read the redefined (first) item. A
            copybook with several 01 records treats them as overlays of the first.

    Raises:
        LayoutError: the copybook is not supported, a choice names no overlay, or two
            output fields get the same name.
    """
    roots = parse_items(text, source=source)
    first = roots[0]
    for other in roots[1:]:
        other.redefines = first.redefines or first.name
    top = Item(0, "", first.line, children=roots)
    choices = {_out(k): _out(v) for k, v in (redefines or {}).items()}
    builder = _Builder(source, choices)
    size = builder.group_size(top)
    fields = tuple(builder.flatten(top, 0, "", None))
    unused = set(choices) - builder.overlaid
    if unused:
        name = sorted(unused)[0].upper()
        raise LayoutError(f"redefines choice names {name}, which no item REDEFINES", source=source)
    _check_unique(fields, source)
    return Layout(first.name, fields, size)


def _out(name: str) -> str:
    return name.lower().replace("-", "_")


def _check_unique(fields: tuple[FieldSpec, ...], source: str) -> None:
    seen: dict[str, FieldSpec] = {}
    for spec in fields:
        if spec.name in seen:
            raise LayoutError(
                f"field name {spec.name} is used twice (lines {seen[spec.name].line} and "
                f"{spec.line}); rename one, or choose one overlay with `redefines`",
                source=source,
            )
        seen[spec.name] = spec


class _Builder:
    """Computes sizes and flattens the item tree, applying the REDEFINES choices."""

    def __init__(self, source: str, choices: dict[str, str]) -> None:
        self.source = source
        self.choices = choices
        self.overlaid: set[str] = set()
        self.sizes: dict[int, int] = {}

    def size(self, item: Item, usage: Usage | None) -> int:
        """Bytes of all occurrences of `item`."""
        return self.one_size(item, usage) * item.occurs

    def one_size(self, item: Item, usage: Usage | None) -> int:
        usage = item.usage or usage
        if item.picture is None:
            return self.group_size(item, usage)
        pic = item.picture
        if not pic.numeric or usage in (None, Usage.DISPLAY):
            return pic.digits
        if usage is Usage.PACKED:
            return pic.digits // 2 + 1
        return 2 if pic.digits <= 4 else 4 if pic.digits <= 9 else 8

    def group_size(self, group: Item, usage: Usage | None = None) -> int:
        """Bytes of one occurrence of `group`; `usage` is the one it inherits."""
        if id(group) in self.sizes:
            return self.sizes[id(group)]
        end = 0
        for start, child in self.placed(group, usage):
            end = max(end, start + self.size(child, group.usage or usage))
        self.sizes[id(group)] = end
        return end

    def placed(self, group: Item, usage: Usage | None) -> Iterator[tuple[int, Item]]:
        """Yield each child with its offset inside one occurrence of `group`, whose
        inherited USAGE is `usage`."""
        starts: dict[str, int] = {}
        end = 0
        for child in group.children:
            if child.redefines is None:
                start = end
            elif child.redefines in starts:
                start = starts[child.redefines]
            else:
                raise LayoutError(
                    f"{child.name} REDEFINES {child.redefines}, which is not an earlier item "
                    f"of the same group",
                    source=self.source,
                    line=child.line,
                )
            if child.name != "FILLER":
                starts[child.name] = start
            end = max(end, start + self.size(child, group.usage or usage))
            yield start, child

    def flatten(
        self, group: Item, base: int, suffix: str, usage: Usage | None
    ) -> Iterator[FieldSpec]:
        usage = group.usage or usage
        chosen = self.chosen_overlays(group)
        for start, child in self.placed(group, usage):
            if child.name == "FILLER" or id(child) not in chosen:
                continue
            one = self.one_size(child, usage)
            for n in range(child.occurs):
                tail = f"{suffix}_{n + 1}" if child.occurs > 1 else suffix
                offset = base + start + n * one
                if child.picture is None:
                    yield from self.flatten(child, offset, tail, usage)
                else:
                    yield self.spec(child, offset, one, tail, child.usage or usage)

    def chosen_overlays(self, group: Item) -> set[int]:
        """Ids of the children to read: every child but the unchosen overlays."""
        families: dict[str, list[Item]] = {}
        for child in group.children:
            families.setdefault(child.redefines or child.name, []).append(child)
        chosen: set[int] = set()
        for base, members in families.items():
            if len(members) > 1:
                self.overlaid.add(_out(base))
            want = self.choices.get(_out(base), _out(base))
            picked = [m for m in members if _out(m.name) == want]
            if not picked:
                names = ", ".join(m.name for m in members)
                raise LayoutError(
                    f"redefines choice for {base} is {want.upper()}, which is not one of {names}",
                    source=self.source,
                )
            chosen.add(id(picked[0]))
        return chosen

    def spec(
        self, item: Item, offset: int, size: int, suffix: str, usage: Usage | None
    ) -> FieldSpec:
        pic = item.picture
        assert pic is not None
        name = _out(item.name) + suffix
        if not pic.numeric:
            kind, scale, signed = FieldKind.TEXT, 0, False
            return FieldSpec(name, offset, size, kind, pic.digits, scale, signed, False, item.line)
        kind = {
            None: FieldKind.ZONED,
            Usage.DISPLAY: FieldKind.ZONED,
            Usage.PACKED: FieldKind.PACKED,
        }.get(usage, FieldKind.BINARY)
        limit = MAX_BINARY_DIGITS if kind is FieldKind.BINARY else MAX_DECIMAL_DIGITS
        if pic.digits > limit:
            raise LayoutError(
                f"{item.name}: PIC {pic.text} has {pic.digits} digits; "
                f"{kind.value} fields have at most {limit}",
                source=self.source,
                line=item.line,
            )
        bounded = usage is not Usage.NATIVE
        return FieldSpec(
            name, offset, size, kind, pic.digits, pic.scale, pic.signed, bounded, item.line
        )
