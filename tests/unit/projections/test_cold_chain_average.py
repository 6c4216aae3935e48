"""A cold-chain leg's average temperature is exact: DECIMAL(7,4), the exact quotient of the
readings' sum by their count rounded half to even, the same from scratch and when new readings
are folded in (projections/views/cold_chain*.sql)."""

from __future__ import annotations

from datetime import timedelta
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from query_api.results import table_as_dicts

LEG = "SELECT avg_temperature, min_temperature, max_temperature FROM views.cold_chain"


def _leg(kit: SimpleNamespace, lsn: int = 1) -> Any:
    """A unit of work: product P1 (-25..-18 °C), order 1 loaded into C1 on V1 at T0, at sea."""
    mk, D = kit.make_event, kit.D
    product = {"product_id": "P1", "product_name": "fish", "temp_min": D("-25.00"),
               "temp_max": D("-18.00")}  # fmt: skip
    assignment = {"ORDER_ID": 1, "CONTAINER_ID": "C1", "VOYAGE_ID": "V1", "LOADED_AT": kit.T0,
                  "DISCHARGED_AT": None}  # fmt: skip
    return kit.unit(
        lsn,
        mk("REFERENCE.PRODUCTS", product, lsn, 1),
        mk("SHIPPING.ORDERS", {"ORDER_ID": 1, "PRODUCT_ID": "P1"}, lsn, 2),
        mk("SHIPPING.ORDER_ASSIGNMENTS", assignment, lsn, 3),
    )


def _readings(kit: SimpleNamespace, lsn: int, temperatures: list[Decimal], first: int = 0) -> Any:
    """A unit of work of new readings of C1, one a minute from T0 + `first` minutes."""
    events = [
        kit.make_event(
            "SHIPPING.REEFER_TELEMETRY",
            {
                "CONTAINER_ID": "C1",
                "READING_TS": kit.T0 + timedelta(minutes=first + i),
                "TEMPERATURE": temperature,
            },
            lsn,
            i + 1,
        )
        for i, temperature in enumerate(temperatures)
    ]
    return kit.unit(lsn, *events)


def _rendered(projection: Any) -> list[dict[str, Any]]:
    """The leg's temperatures as the query API renders them (Arrow from DuckDB, then JSON)."""
    return table_as_dicts(projection.con.sql(LEG).to_arrow_table())


def test_the_average_is_an_exact_decimal_rendered_like_min_and_max(
    projection: Any, kit: SimpleNamespace
) -> None:
    # 30 readings of -22.48 and one of -22.46: -696.86 / 31 = -22.479354838709677...
    temperatures = [kit.D("-22.48")] * 30 + [kit.D("-22.46")]
    projection.applier.apply([_leg(kit), _readings(kit, 2, temperatures)], {})
    assert _rendered(projection) == [
        {"avg_temperature": "-22.4794", "min_temperature": "-22.48", "max_temperature": "-22.46"}
    ]
    kind = projection.rows("SELECT typeof(avg_temperature) FROM views.cold_chain")
    assert kind == [("DECIMAL(7,4)",)]


@pytest.mark.parametrize(
    ("temperatures", "average"),
    [
        (["0.01"] + ["0.00"] * 7, "0.0012"),  # 0.00125: a tie, to the even 0.0012
        (["0.03"] + ["0.00"] * 7, "0.0038"),  # 0.00375: a tie, to the even 0.0038
        (["-0.01"] + ["0.00"] * 7, "-0.0012"),  # -0.00125: a tie, to the even -0.0012
        (["-0.05"] + ["0.00"] * 7, "-0.0062"),  # -0.00625: a tie, to the even -0.0062
        (["0.01", "0.00", "0.00"], "0.0033"),  # 0.00333...: down
        (["-0.02", "0.00", "0.00"], "-0.0067"),  # -0.00666...: away from zero
        (["-18.00"], "-18.0000"),
        (["999.99", "999.99", "999.98"], "999.9867"),  # the widest DECIMAL(5,2) readings
    ],
)
def test_the_average_rounds_the_exact_quotient_half_to_even(
    projection: Any, kit: SimpleNamespace, temperatures: list[str], average: str
) -> None:
    readings = [kit.D(t) for t in temperatures]
    projection.applier.apply([_leg(kit), _readings(kit, 2, readings)], {})
    assert _rendered(projection)[0]["avg_temperature"] == average


def test_a_leg_without_readings_has_no_average(projection: Any, kit: SimpleNamespace) -> None:
    projection.applier.apply([_leg(kit)], {})
    assert projection.rows("SELECT readings, avg_temperature FROM views.cold_chain") == [(0, None)]


def _exact_average(temperatures: list[Decimal]) -> Decimal:
    with localcontext() as context:
        context.prec = 50
        quotient = sum(temperatures, Decimal(0)) / len(temperatures)
        return quotient.quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN)


TEMPERATURES = st.lists(
    st.integers(-99_999, 99_999).map(lambda n: Decimal(n).scaleb(-2)), min_size=1, max_size=12
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batches=st.lists(TEMPERATURES, min_size=1, max_size=4))
def test_folding_new_readings_in_gives_the_exact_average_of_all(
    kit: SimpleNamespace, batches: list[list[Decimal]]
) -> None:
    projection = kit.Projection()
    try:
        projection.applier.apply([_leg(kit)], {})
        first = 0
        for lsn, batch in enumerate(batches, start=2):  # each batch only inserts readings
            projection.applier.apply([_readings(kit, lsn, batch, first)], {})
            first += len(batch)
        every = [t for batch in batches for t in batch]
        assert projection.rows("SELECT avg_temperature FROM views.cold_chain") == [
            (_exact_average(every),)
        ]
        projection.views.rebuild(projection.con, "cold_chain")  # from scratch: the same
        assert projection.rows("SELECT avg_temperature FROM views.cold_chain") == [
            (_exact_average(every),)
        ]
    finally:
        projection.con.close()
