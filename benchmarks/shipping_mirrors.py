"""The mirrors the benchmarks project into: the shipping tables and the reference data.

The shipping tables are the simulator's own DDL (`simulators/sql/shipping.sql`, parsed by
`simulators.ddl`, the way `offload sor init` creates them), so a benchmark measures the tables the
gateway really carries. The reference mirrors hold the columns projections/views/*.sql read.
"""

from __future__ import annotations

from event_contract.catalog import Table
from projections.mirror import MirrorColumn, MirrorSpec, spec_from_table
from simulators.ddl import CreateTable, parse_statement, split_statements
from simulators.sor import SHIPPING_DDL


def shipping_tables() -> list[Table]:
    """The tables of the system of record's DDL, schema SHIPPING."""
    texts = split_statements(SHIPPING_DDL.read_text(encoding="utf-8"))
    statements = [parse_statement(text, "SHIPPING") for text in texts]
    return [s.table for s in statements if isinstance(s, CreateTable)]


def reference_spec(name: str, key: str, *columns: tuple[str, str]) -> MirrorSpec:
    """A reference mirror: a VARCHAR key, then `columns` (name, DuckDB type), nullable."""
    mirrored = (MirrorColumn(key, "VARCHAR", False), *(MirrorColumn(n, t) for n, t in columns))
    return MirrorSpec("REFERENCE", name, mirrored, (key,))


REFERENCE = (
    reference_spec(
        "PRODUCTS",
        "product_id",
        ("product_name", "VARCHAR"),
        ("temp_min", "DECIMAL(5,2)"),
        ("temp_max", "DECIMAL(5,2)"),
    ),
    reference_spec("PORTS", "unlocode", ("name", "VARCHAR")),
    reference_spec("VESSELS", "vessel_id", ("name", "VARCHAR")),
)


def mirror_specs() -> dict[str, MirrorSpec]:
    """Every mirror by source name (SCHEMA.TABLE): the shipping tables, then the reference data."""
    shipping = [spec_from_table(table) for table in shipping_tables()]
    return {spec.source_name: spec for spec in (*shipping, *REFERENCE)}
