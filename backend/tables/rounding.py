"""The one rounding rule of the tables, shared by the exports and the table page (frontend/js/format.js,
`fixed`): half away from zero on the number's shortest decimal form, the digits it prints as. Python's
format rounds half to even on the binary value and JavaScript's toFixed half up on it, so a mean of 78.125
read 78.12 in an export and 78.13 on the page; here both read 78.13, and 1.005 reads 1.01 in both."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

__all__ = ["fixed"]


def fixed(value: float, digits: int = 2) -> str:
    """`value` with `digits` decimals; never "-0.00"."""
    rounded = Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    return f"{rounded.copy_abs() if rounded.is_zero() else rounded:f}"
