"""The shipping line's reference data: products, ports and vessels.

They live outside the system of record and arrive as files (the reference loader generates its
extracts from this module); the simulated Db2's tables refer to them by key. The workload and
the extracts use this one list, so every key an order names exists in the reference topics.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Product:
    """A refrigerated product and the temperature range it must travel in (°C, inclusive)."""

    product_id: str
    name: str
    temp_min: Decimal
    temp_max: Decimal
    unit_price: Decimal
    """Freight price per pallet, USD."""


@dataclass(frozen=True, slots=True)
class Port:
    """A port by its UN/LOCODE."""

    locode: str
    name: str
    country: str
    time_zone: str


@dataclass(frozen=True, slots=True)
class Vessel:
    """A container vessel by IMO number, with the reefer plugs it offers."""

    vessel_id: str
    name: str
    reefer_capacity: int


def _product(key: str, name: str, low: str, high: str, price: str) -> Product:
    return Product(key, name, Decimal(low), Decimal(high), Decimal(price))


PRODUCTS: tuple[Product, ...] = (
    _product("P001", "Bananas", "13.00", "14.50", "310.00"),
    _product("P002", "Frozen tuna", "-25.00", "-18.00", "540.00"),
    _product("P003", "Vaccines", "2.00", "8.00", "2150.00"),
    _product("P004", "Apples", "0.00", "4.00", "280.00"),
    _product("P005", "Chilled beef", "-1.50", "0.50", "690.00"),
    _product("P006", "Ice cream", "-25.00", "-20.00", "420.00"),
    _product("P007", "Avocados", "5.00", "7.00", "365.00"),
    _product("P008", "Cut flowers", "1.00", "3.00", "880.00"),
    _product("P009", "Frozen shrimp", "-22.00", "-18.00", "610.00"),
    _product("P010", "Table grapes", "-1.00", "0.50", "395.00"),
    _product("P011", "Cheese", "2.00", "6.00", "455.00"),
    _product("P012", "Blood plasma", "-30.00", "-25.00", "3120.00"),
)

PORTS: tuple[Port, ...] = (
    Port("NLRTM", "Rotterdam", "NL", "Europe/Amsterdam"),
    Port("DEHAM", "Hamburg", "DE", "Europe/Berlin"),
    Port("BEANR", "Antwerp", "BE", "Europe/Brussels"),
    Port("ESALG", "Algeciras", "ES", "Europe/Madrid"),
    Port("SGSIN", "Singapore", "SG", "Asia/Singapore"),
    Port("CNSHA", "Shanghai", "CN", "Asia/Shanghai"),
    Port("JPTYO", "Tokyo", "JP", "Asia/Tokyo"),
    Port("AEJEA", "Jebel Ali", "AE", "Asia/Dubai"),
    Port("USLAX", "Los Angeles", "US", "America/Los_Angeles"),
    Port("USNYC", "New York", "US", "America/New_York"),
    Port("BRSSZ", "Santos", "BR", "America/Sao_Paulo"),
    Port("ECGYE", "Guayaquil", "EC", "America/Guayaquil"),
    Port("CLVAP", "Valparaiso", "CL", "America/Santiago"),
    Port("ZADUR", "Durban", "ZA", "Africa/Johannesburg"),
    Port("AUMEL", "Melbourne", "AU", "Australia/Melbourne"),
    Port("NZAKL", "Auckland", "NZ", "Pacific/Auckland"),
)


def _imo(serial: int) -> str:
    """An IMO number with a valid check digit for a six-digit serial."""
    digits = [int(d) for d in f"{serial:06d}"]
    check = sum(d * w for d, w in zip(digits, range(7, 1, -1), strict=True)) % 10
    return f"IMO{serial:06d}{check}"


VESSELS: tuple[Vessel, ...] = (
    Vessel(_imo(931204), "Aurora Frost", 1400),
    Vessel(_imo(941877), "Baltic Chill", 1100),
    Vessel(_imo(952316), "Cape Polar", 1800),
    Vessel(_imo(963051), "Delta Glacier", 900),
    Vessel(_imo(974402), "Emerald Reef", 1250),
    Vessel(_imo(985519), "Fjord Star", 2000),
    Vessel(_imo(926638), "Golden Kelvin", 750),
    Vessel(_imo(937743), "Harbor Breeze", 1600),
)

PRODUCTS_BY_ID = {p.product_id: p for p in PRODUCTS}
PORTS_BY_LOCODE = {p.locode: p for p in PORTS}
VESSELS_BY_ID = {v.vessel_id: v for v in VESSELS}
