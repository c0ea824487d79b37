"""Meter: time-signature text, beats per bar and chord slots per bar. Pure Python."""

from __future__ import annotations


def beats_per_bar(numerator: int, denominator: int) -> int:
    """Counted beats: compound meters (6/8, 9/8, 12/8) in dotted quarters, else numerator."""
    if denominator == 8 and numerator % 3 == 0 and numerator > 3:
        return numerator // 3
    return numerator


def slots_per_bar(meter: tuple[int, int], rate: str) -> int:
    """Chord tokens in a bar of ``meter`` ``(numerator, denominator)``."""
    return 1 if rate == "bar" else beats_per_bar(*meter)


def parse_meter(time_sig_value: str) -> tuple[int, int]:
    """``"3/4"`` (a TimeSig token's value) -> ``(3, 4)``."""
    numerator, denominator = time_sig_value.split("/")
    return int(numerator), int(denominator)
