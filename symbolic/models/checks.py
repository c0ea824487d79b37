"""Field checks for the frozen config records, each a one-line ValueError naming the record's field
and what it allows. Plain Python (no jax), so every config validates the same way when built, and
a bad value is an error before any model is compiled rather than a model that is silently wrong.
"""

from __future__ import annotations

import math
from typing import Any

DTYPES = ("float32", "bfloat16", "float16")
MAX_SEED = 2**63 - 1  # jax.random.PRNGKey takes a C long; a larger seed is an OverflowError


def _name(record: Any, field: str) -> str:
    return f"{type(record).__name__}.{field}"


def at_least(record: Any, minimum: float, *fields: str) -> None:
    """Each of `fields` is >= `minimum` (a NaN is not)."""
    for field in fields:
        value = getattr(record, field)
        if not value >= minimum:
            raise ValueError(f"{_name(record, field)} must be >= {minimum}, got {value!r}")


def positive(record: Any, *fields: str) -> None:
    """Each of `fields` is finite and > 0."""
    for field in fields:
        value = getattr(record, field)
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{_name(record, field)} must be finite and > 0, got {value!r}")


def in_range(record: Any, field: str, low: float, high: float, *, high_open: bool = False) -> None:
    """low <= field <= high, or < high when `high_open`."""
    value = getattr(record, field)
    inside = low <= value < high if high_open else low <= value <= high
    if not inside:
        bracket = ")" if high_open else "]"
        raise ValueError(
            f"{_name(record, field)} must be in [{low}, {high}{bracket}, got {value!r}"
        )


def one_of(record: Any, field: str, choices: tuple[str, ...]) -> None:
    value = getattr(record, field)
    if value not in choices:
        raise ValueError(f"{_name(record, field)} must be one of {list(choices)}, got {value!r}")
