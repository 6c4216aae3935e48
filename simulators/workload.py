"""The shipping line's transaction programs, as a mainframe's CICS transactions would run them.

Each call of `Workload.step(unit)` runs one program inside one unit of work: create an order,
assign it to a voyage and a container, load it, depart or arrive a voyage, deliver, cancel
(delete), record reefer telemetry, schedule a voyage, and now and then a large batch (an EDI
order import or a tariff revision touching thousands of rows). Every decision comes from
`random.Random(seed)` and the in-memory state it built, and every business timestamp from a
simulated clock, so the same seed and the same number of steps write the same data.

Telemetry: every loaded reefer reports at each telemetry tick, within its order's product
range; a seeded set of containers (`excursion_candidates`) is given readings outside the
range while at sea. Readings happen only while a container is loaded, so each falls inside
the loaded window of the order it carries.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from simulators.reference_data import PORTS, PRODUCTS, PRODUCTS_BY_ID, VESSELS
from simulators.sor import SystemOfRecord, Unit

START = datetime(2024, 3, 1, 6, 0, 0)
CUSTOMERS_PER_RUN = 200
CONTAINERS_PER_RUN = 150
LANES_PER_RUN = 8
CENT = Decimal("0.01")
# ISO 6346 letter values: A=10 upwards, skipping multiples of 11.
_ISO_LETTERS = dict(
    zip("ABCDEFGHIJKLMNOPQRSTUVWXYZ", [v for v in range(10, 39) if v % 11], strict=True)
)
_PROGRAMS = (
    ("create_order", 20), ("assign_order", 18), ("load_order", 14), ("telemetry", 24),
    ("depart_voyage", 4), ("arrive_voyage", 4), ("deliver_order", 8), ("cancel_order", 3),
    ("schedule_voyage", 3), ("bulk_orders", 0.25), ("tariff_revision", 0.2),
)  # fmt: skip


def iso6346(owner: str, serial: int) -> str:
    """A container number: owner code + category U, six-digit serial, check digit."""
    body = f"{owner}U{serial:06d}"
    values = [_ISO_LETTERS[ch] if ch.isalpha() else int(ch) for ch in body]
    check = sum(v * 2**i for i, v in enumerate(values)) % 11 % 10
    return body + str(check)


@dataclass
class Order:
    order_id: int
    product_id: str
    lane: tuple[str, str]
    amount: Decimal
    status: str = "CREATED"
    container_id: str | None = None
    voyage_id: str | None = None


@dataclass
class Voyage:
    voyage_id: str
    lane: tuple[str, str]
    departure: datetime
    arrival: datetime
    status: str = "PLANNED"
    orders: list[int] = field(default_factory=list)


@dataclass
class Container:
    container_id: str
    status: str = "AVAILABLE"
    order_id: int | None = None


class Workload:
    """The in-memory state of the shipping line and its transaction programs.

    Args:
        sor: the system of record (ids continue after those already stored).
        seed: the random seed; the same seed gives the same sequence of units of work.
    """

    def __init__(self, sor: SystemOfRecord, seed: int) -> None:
        self.rng = random.Random(seed)
        self.now = START
        self.t = {n: sor.table(n) for n in (
            "CUSTOMERS", "ORDERS", "VOYAGES", "CONTAINERS", "ORDER_ASSIGNMENTS",
            "REEFER_TELEMETRY",
        )}  # fmt: skip
        self.next_customer = int(sor.max_value("CUSTOMERS", "CUSTOMER_ID") or 0) + 1
        self.next_order = int(sor.max_value("ORDERS", "ORDER_ID") or 0) + 1
        self.next_voyage = _serial(sor.max_value("VOYAGES", "VOYAGE_ID")) + 1
        # The last character of a container number is its check digit, not part of the serial.
        self.next_container = (
            _serial(str(sor.max_value("CONTAINERS", "CONTAINER_ID") or "")[:-1]) + 1
        )
        self.customers: list[int] = []
        self.orders: dict[int, Order] = {}
        self.voyages: dict[str, Voyage] = {}
        self.containers: dict[str, Container] = {}
        self.lanes: list[tuple[str, str]] = []
        self.excursion_candidates: list[str] = []
        self.excursions: Counter[str] = Counter()
        self._excursion_legs: set[tuple[str, int]] = set()

    # --- the loop ----------------------------------------------------------------------------

    def step(self, unit: Unit) -> str:
        """Run one transaction program in `unit`; returns its name."""
        self.now += timedelta(
            seconds=self.rng.randint(60, 900), microseconds=self.rng.randint(0, 999_999)
        )
        if not self.customers:
            self._setup(unit)
            return "setup"
        names, weights = zip(*_PROGRAMS, strict=True)
        name = self.rng.choices(names, weights)[0]
        if not getattr(self, "_" + name)(unit):
            name = "create_order"
            self._create_order(unit)
        return name

    def _pick(self, items: Sequence[Any]) -> Any:
        return items[self.rng.randrange(len(items))]

    def _setup(self, unit: Unit) -> bool:
        """Customers, reefer containers, lanes and a first voyage per lane, in one unit."""
        rows = []
        for _ in range(CUSTOMERS_PER_RUN):
            cid, self.next_customer = self.next_customer, self.next_customer + 1
            self.customers.append(cid)
            rows.append({
                "CUSTOMER_ID": cid, "NAME": f"Customer {cid:05d}",
                "COUNTRY": self._pick(PORTS).country,
                "SEGMENT": self._pick(["STANDARD", "KEY", "SPOT"]),
                "CREDIT_LIMIT": Decimal(self.rng.randint(10_000, 5_000_000)).quantize(CENT),
                "ORDER_CUTOFF": None if self.rng.random() < 0.2 else
                (datetime.min + timedelta(minutes=15 * self.rng.randint(32, 72))).time(),
                "CREATED_AT": self.now,
            })  # fmt: skip
        unit.insert(self.t["CUSTOMERS"], rows)
        rows = []
        for _ in range(CONTAINERS_PER_RUN):
            number = iso6346("OFL", self.next_container)
            self.next_container += 1
            self.containers[number] = Container(number)
            rows.append(
                {
                    "CONTAINER_ID": number,
                    "MAX_PAYLOAD_KG": 29_000,
                    "STATUS": "AVAILABLE",
                    "LAST_PORT": self._pick(PORTS).locode,
                }
            )
        unit.insert(self.t["CONTAINERS"], rows)
        ports = [p.locode for p in PORTS]
        while len(self.lanes) < LANES_PER_RUN:
            lane = (self._pick(ports), self._pick(ports))
            if lane[0] != lane[1] and lane not in self.lanes:
                self.lanes.append(lane)
        for lane in self.lanes:
            self._new_voyage(unit, lane)
        count = max(1, CONTAINERS_PER_RUN // 20)
        self.excursion_candidates = sorted(self.rng.sample(sorted(self.containers), count))
        return True

    # --- orders ------------------------------------------------------------------------------

    def _order_row(self, lane: tuple[str, str]) -> dict[str, object]:
        oid, self.next_order = self.next_order, self.next_order + 1
        product = self._pick(PRODUCTS)
        quantity = self.rng.randint(1, 20)
        factor = Decimal(self.rng.randint(80, 160)) / 100
        amount = (product.unit_price * quantity * factor).quantize(CENT)
        self.orders[oid] = Order(oid, product.product_id, lane, amount)
        return {
            "ORDER_ID": oid, "CUSTOMER_ID": self._pick(self.customers),
            "PRODUCT_ID": product.product_id, "QUANTITY": quantity, "AMOUNT": amount,
            "ORIGIN_PORT": lane[0], "DESTINATION_PORT": lane[1],
            "REQUESTED_DATE": (self.now + timedelta(days=self.rng.randint(5, 40))).date(),
            "STATUS": "CREATED", "CREATED_AT": self.now, "UPDATED_AT": self.now,
        }  # fmt: skip

    def _create_order(self, unit: Unit) -> bool:
        unit.insert(self.t["ORDERS"], [self._order_row(self._pick(self.lanes))])
        return True

    def _bulk_orders(self, unit: Unit) -> bool:
        """A large unit of work: an EDI import of a few thousand orders."""
        count = self.rng.randint(1500, 3000)
        unit.insert(
            self.t["ORDERS"], [self._order_row(self._pick(self.lanes)) for _ in range(count)]
        )
        return True

    def _tariff_revision(self, unit: Unit) -> bool:
        """A large unit of work: every unassigned order's amount revised by 2.5 %."""
        open_orders = [o for o in self.orders.values() if o.status == "CREATED"]
        if len(open_orders) < 50:
            return False
        for order in open_orders:
            order.amount = (order.amount * Decimal("1.025")).quantize(CENT)
            self._set_order(unit, order, AMOUNT=order.amount)
        return True

    def _set_order(self, unit: Unit, order: Order, **values: object) -> None:
        unit.update(
            self.t["ORDERS"], {"ORDER_ID": order.order_id}, {**values, "UPDATED_AT": self.now}
        )

    def _set_container(self, unit: Unit, container: Container, **values: object) -> None:
        container.status = str(values.get("STATUS", container.status))
        unit.update(self.t["CONTAINERS"], {"CONTAINER_ID": container.container_id}, values)

    def _key(self, order: Order) -> dict[str, object]:
        return {"ORDER_ID": order.order_id, "CONTAINER_ID": order.container_id,
                "VOYAGE_ID": order.voyage_id}  # fmt: skip

    def _assign_order(self, unit: Unit) -> bool:
        """Order, container, voyage (scheduled here when the lane has none): several tables."""
        waiting = [o for o in self.orders.values() if o.status == "CREATED"][:25]
        free = [c for c in self.containers.values() if c.status == "AVAILABLE"]
        if not waiting or not free:
            return False
        candidates = [c for c in free if c.container_id in self.excursion_candidates]
        # Favour the excursion candidates so that short runs still sail some of them.
        pool = candidates if candidates and self.rng.random() < 0.5 else free
        order, container = self._pick(waiting), self._pick(pool)
        voyages = [
            v for v in self.voyages.values() if v.status == "PLANNED" and v.lane == order.lane
        ]
        voyage = voyages[0] if voyages else self._new_voyage(unit, order.lane)
        order.status, order.container_id, order.voyage_id = (
            "ASSIGNED",
            container.container_id,
            voyage.voyage_id,
        )
        container.order_id = order.order_id
        voyage.orders.append(order.order_id)
        unit.insert(self.t["ORDER_ASSIGNMENTS"], [{**self._key(order), "ASSIGNED_AT": self.now}])
        self._set_order(unit, order, STATUS="ASSIGNED")
        self._set_container(unit, container, STATUS="ASSIGNED")
        return True

    def _load(self, unit: Unit, order: Order) -> None:
        order.status = "LOADED"
        unit.update(self.t["ORDER_ASSIGNMENTS"], self._key(order), {"LOADED_AT": self.now})
        self._set_order(unit, order, STATUS="LOADED")
        assert order.container_id is not None
        self._set_container(unit, self.containers[order.container_id], STATUS="LOADED")

    def _load_order(self, unit: Unit) -> bool:
        assigned = [o for o in self.orders.values() if o.status == "ASSIGNED"]
        if not assigned:
            return False
        self._load(unit, self._pick(assigned))
        return True

    def _deliver_order(self, unit: Unit) -> bool:
        arrived = [o for o in self.orders.values() if o.status == "ARRIVED"]
        if not arrived:
            return False
        order = self._pick(arrived)
        self._set_order(unit, order, STATUS="DELIVERED")
        del self.orders[order.order_id]
        return True

    def _cancel_order(self, unit: Unit) -> bool:
        """Cancel (delete) an order not yet loaded, with its assignment."""
        open_orders = [o for o in self.orders.values() if o.status in ("CREATED", "ASSIGNED")]
        if not open_orders:
            return False
        order = self._pick(open_orders)
        if order.status == "ASSIGNED":
            assert order.container_id is not None and order.voyage_id is not None
            unit.delete(self.t["ORDER_ASSIGNMENTS"], self._key(order))
            container = self.containers[order.container_id]
            container.order_id = None
            self._set_container(unit, container, STATUS="AVAILABLE")
            self.voyages[order.voyage_id].orders.remove(order.order_id)
        unit.delete(self.t["ORDERS"], {"ORDER_ID": order.order_id})
        del self.orders[order.order_id]
        return True

    # --- voyages -----------------------------------------------------------------------------

    def _new_voyage(self, unit: Unit, lane: tuple[str, str]) -> Voyage:
        vid, self.next_voyage = f"V{self.next_voyage:07d}", self.next_voyage + 1
        departure = self.now + timedelta(hours=self.rng.randint(2, 12))
        arrival = departure + timedelta(hours=self.rng.randint(12, 72))
        voyage = self.voyages[vid] = Voyage(vid, lane, departure, arrival)
        unit.insert(self.t["VOYAGES"], [{
            "VOYAGE_ID": vid, "VESSEL_ID": self._pick(VESSELS).vessel_id,
            "ORIGIN_PORT": lane[0], "DESTINATION_PORT": lane[1],
            "PLANNED_DEPARTURE": departure, "PLANNED_ARRIVAL": arrival, "STATUS": "PLANNED",
        }])  # fmt: skip
        return voyage

    def _schedule_voyage(self, unit: Unit) -> bool:
        self._new_voyage(unit, self._pick(self.lanes))
        return True

    def _depart_voyage(self, unit: Unit) -> bool:
        """Load what is still waiting, then sail: voyage, assignments, orders, containers."""
        due = [
            v for v in self.voyages.values() if v.status == "PLANNED" and v.departure <= self.now
        ]
        if not due:
            return False
        voyage = due[0]
        voyage.status = "AT_SEA"
        unit.update(self.t["VOYAGES"], {"VOYAGE_ID": voyage.voyage_id},
                    {"STATUS": "AT_SEA", "DEPARTED_AT": self.now})  # fmt: skip
        for oid in voyage.orders:
            order = self.orders[oid]
            if order.status == "ASSIGNED":
                self._load(unit, order)
            order.status = "IN_TRANSIT"
            self._set_order(unit, order, STATUS="IN_TRANSIT")
        return True

    def _arrive_voyage(self, unit: Unit) -> bool:
        """Arrive and discharge: voyage, assignments, orders and containers in one unit."""
        due = [v for v in self.voyages.values() if v.status == "AT_SEA" and v.arrival <= self.now]
        if not due:
            return False
        voyage = due[0]
        unit.update(self.t["VOYAGES"], {"VOYAGE_ID": voyage.voyage_id},
                    {"STATUS": "ARRIVED", "ARRIVED_AT": self.now})  # fmt: skip
        for oid in voyage.orders:
            order = self.orders[oid]
            order.status = "ARRIVED"
            unit.update(self.t["ORDER_ASSIGNMENTS"], self._key(order), {"DISCHARGED_AT": self.now})
            self._set_order(unit, order, STATUS="ARRIVED")
            assert order.container_id is not None
            container = self.containers[order.container_id]
            container.order_id = None
            self._set_container(unit, container, STATUS="AVAILABLE", LAST_PORT=voyage.lane[1])
        del self.voyages[voyage.voyage_id]
        return True

    # --- telemetry ---------------------------------------------------------------------------

    def _telemetry(self, unit: Unit) -> bool:
        """One reading per loaded reefer; excursions for the seeded candidates at sea."""
        rows = []
        for container in sorted(self.containers.values(), key=lambda c: c.container_id):
            if container.status != "LOADED" or container.order_id is None:
                continue
            order = self.orders[container.order_id]
            product = PRODUCTS_BY_ID[order.product_id]
            temperature, power = self._temperature(
                container, order, product.temp_min, product.temp_max
            )
            rows.append({
                "CONTAINER_ID": container.container_id, "READING_TS": self.now,
                "TEMPERATURE": temperature, "POWER_STATE": power,
                "HUMIDITY": Decimal(self.rng.randint(6000, 9500)) / 100,
                "LATITUDE": round(self.rng.uniform(-60, 60), 5),
                "LONGITUDE": round(self.rng.uniform(-180, 180), 5),
            })  # fmt: skip
        unit.insert(self.t["REEFER_TELEMETRY"], rows)
        return bool(rows)

    def _temperature(
        self, container: Container, order: Order, low: Decimal, high: Decimal
    ) -> tuple[Decimal, str]:
        steps = int((high - low) / CENT)
        normal = low + CENT * self.rng.randint(0, steps)
        leg = (container.container_id, order.order_id)
        at_sea = order.status == "IN_TRANSIT"
        if (
            container.container_id in self.excursion_candidates
            and at_sea
            and leg not in self._excursion_legs
            and self.rng.random() < 0.35
        ):
            self._excursion_legs.add(leg)
            self.excursions[container.container_id] += 1
            return high + CENT * self.rng.randint(100, 600), "OFF"
        return normal, "ON"


def _serial(key: object) -> int:
    """The number inside a stored key such as V0000012 or OFLU0000123 (0 when none)."""
    digits = "".join(ch for ch in str(key or "") if ch.isdigit())
    return int(digits) if digits else 0
