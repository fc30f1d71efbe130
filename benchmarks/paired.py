"""Paired comparison of two interleaved series of timings: the median difference and its 95% interval.

Standard library only, so that scripts in NVFlare's venv can use it too. Pairs are runs made one
right after the other (A then B, or B then A), so both members saw the same machine load; the
differences cancel most of the load that moves both.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass


@dataclass(frozen=True)
class Paired:
    """``median`` of ``b - a`` over the pairs, and a 95% interval for it (same unit as the samples)."""

    median: float
    low: float
    high: float
    pairs: int

    @property
    def verdict(self) -> str:
        """Seen from ``b``: "equal within the noise" when the interval holds 0, else "ahead"/"behind"
        (less/more time than ``a``)."""
        if self.low <= 0 <= self.high:
            return "equal within the noise"
        return "ahead" if self.high < 0 else "behind"


def median_interval(values: list[float], confidence: float = 0.95) -> tuple[float, float]:
    """Distribution-free interval for the median from order statistics: ``(x_(k), x_(n+1-k))`` of the
    sorted values, with k the largest rank whose binomial(n, 1/2) tail is at most (1 - confidence)/2,
    so the interval covers the median with at least ``confidence``.

    Raises ValueError when there are too few values for that confidence (fewer than 6 at 95%).
    """
    ordered = sorted(values)
    n = len(ordered)
    tail = (1 - confidence) / 2
    k, cumulative = 0, 0.0
    while True:  # cumulative = P(Binomial(n, 1/2) <= k - 1)
        nxt = cumulative + math.comb(n, k) / 2**n
        if nxt > tail:
            break
        cumulative, k = nxt, k + 1
    if k == 0:
        raise ValueError(f"{n} values are too few for a {confidence:.0%} interval of the median")
    return ordered[k - 1], ordered[n - k]


def paired(a: list[float], b: list[float]) -> Paired:
    """Compare two series of the same length, pair by pair (``b[i] - a[i]``)."""
    if len(a) != len(b):
        raise ValueError(f"paired series differ in length: {len(a)} and {len(b)}")
    differences = [y - x for x, y in zip(a, b, strict=True)]
    low, high = median_interval(differences)
    return Paired(statistics.median(differences), low, high, len(differences))
