"""Money: Decimal only, ROUND_HALF_UP once per line, totals are sums of lines."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.errors import MoneyError
from billing.money import LINE_ROUNDING, line_amount, minor_unit, quantity_decimal, quantize_money, sum_money


def test_the_rounding_rule_is_named_half_up() -> None:
    assert LINE_ROUNDING == ROUND_HALF_UP
    assert line_amount(Decimal("1"), Decimal("0.125"), "EUR") == Decimal("0.13")
    assert line_amount(Decimal("1"), Decimal("-0.125"), "EUR") == Decimal("-0.13")
    assert line_amount(Decimal("1"), Decimal("0.135"), "EUR") == Decimal("0.14")


def test_minor_units() -> None:
    assert minor_unit("EUR") == Decimal("0.01")
    assert minor_unit("JPY") == Decimal("1")
    assert quantize_money(Decimal("12.5"), "JPY") == Decimal("13")
    with pytest.raises(MoneyError, match="'XXX'"):
        minor_unit("XXX")


def test_floats_are_refused() -> None:
    with pytest.raises(MoneyError, match="never a float"):
        line_amount(Decimal(1), 0.1, "EUR")  # type: ignore[arg-type]


def test_quantities_go_through_the_shortest_repr() -> None:
    assert quantity_decimal(0.1) == Decimal("0.100")
    assert quantity_decimal(1234.5675) == Decimal("1234.568")  # half-even on the 4th decimal
    assert quantity_decimal(2.0, 0) == Decimal("2")


@given(st.lists(st.tuples(st.decimals("0", "10000", places=3), st.decimals("0", "5", places=5)), max_size=20))
def test_a_total_is_the_sum_of_its_rounded_lines(lines: list[tuple[Decimal, Decimal]]) -> None:
    amounts = [line_amount(q, p, "EUR") for q, p in lines]
    total = sum_money(amounts, "EUR")
    assert total == sum(amounts, Decimal("0.00"))
    assert total.as_tuple().exponent == -2
    for (q, p), amount in zip(lines, amounts, strict=True):
        assert abs(amount - q * p) <= Decimal("0.005")
