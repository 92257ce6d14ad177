"""Numbers typed in the page or sent to its API, checked before anything uses them.

A field may arrive as an int, a float, a numeric string, None, NaN or a huge number (an API caller
is not held to the slider's range). Each helper returns a plain Python number or raises a
``UserError`` naming the field and its range.

>>> whole(3.0, "top-k", 0, 10)
3
>>> whole(float("nan"), "top-k", 0, 10)
Traceback (most recent call last):
...
mufun.errors.UserError: top-k must be a whole number from 0 to 10, got nan
>>> sampling(64, 0, 0, 1, 2**64).seed
Traceback (most recent call last):
...
mufun.errors.UserError: seed 18,446,744,073,709,551,616 is out of range: use a whole number from 0 to 4,294,967,295 (the random generator's seeds), or -1 for a random seed
"""
from __future__ import annotations

import math

from mufun.errors import UserError, show_number
from mufun.generate import MAX_NEW_TOKENS, Sampling


def _number(value, name: str) -> float | int:
    if isinstance(value, bool) or value is None or value == "":
        raise UserError(f"{name} is missing: give a number")
    if isinstance(value, (int, float)):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        pass
    try:
        return float(str(value).strip())
    except ValueError:
        raise UserError(f"{name} must be a number, got {str(value)[:40]!r}") from None


def whole(value, name: str, lo: int, hi: int) -> int:
    """An integer in [lo, hi]; a float that is a whole number is accepted (1.0 -> 1)."""
    v = _number(value, name)
    ok = isinstance(v, int) or (math.isfinite(v) and float(v).is_integer())
    if not ok or not lo <= v <= hi:
        raise UserError(f"{name} must be a whole number from {lo:,} to {hi:,}, got {show_number(v)}")
    return int(v)


def real(value, name: str, lo: float, hi: float) -> float:
    """A finite float in [lo, hi]."""
    v = _number(value, name)
    finite = isinstance(v, int) or math.isfinite(v)  # an int of any size compares without overflowing
    if not (finite and lo <= v <= hi):
        raise UserError(f"{name} must be a number from {lo:g} to {hi:g}, got {show_number(v)}")
    return float(v)


def seed(value) -> int | None:
    """-1 (or nothing) means a random seed; otherwise Sampling checks the range."""
    if value is None or value == "":
        return None
    v = _number(value, "seed")
    if isinstance(v, float):
        if not (math.isfinite(v) and v.is_integer()):
            raise UserError(f"seed must be a whole number (or -1 for a random seed), got {v:g}")
        v = int(v)
    return None if v == -1 else v


def sampling(max_new, temperature, top_k, top_p, seed_value, top_logits: int = 5) -> Sampling:
    """The page's sampling controls as one checked Sampling."""
    return Sampling(whole(max_new, "max new tokens", 1, MAX_NEW_TOKENS), real(temperature, "temperature", 0, 100),
                    whole(top_k, "top-k", 0, 1_000_000), real(top_p, "top-p", 0, 1), 1.0, seed(seed_value),
                    top_logits=top_logits)
