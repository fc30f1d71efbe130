"""benchmarks/paired.py: the statistics behind bench-consoles' paired round-trip verdicts (no timing)."""

from __future__ import annotations

import math

import pytest
from paired import median_interval, paired


def test_interval_ranks_are_the_binomial_ones():
    # n = 100: the 40th and 61st of the sorted values (the textbook 95% ranks for the median).
    assert median_interval([float(v) for v in range(1, 101)]) == (40.0, 61.0)
    for n in (6, 10, 30, 101, 240):
        low, high = median_interval([float(v) for v in range(1, n + 1)])
        k = int(low)
        outside = 2 * sum(math.comb(n, i) for i in range(k)) / 2**n
        assert outside <= 0.05 < 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n
        assert high == n + 1 - k


def test_order_of_the_values_does_not_matter():
    values = [5.0, 1.0, 4.0, 2.0, 3.0, 9.0, 0.0, 7.0]
    assert median_interval(values) == median_interval(sorted(values))


def test_verdicts():
    base = [10.0 + (i % 7) * 0.3 for i in range(100)]
    assert paired(base, [x + (0.05 if i % 2 else -0.05) for i, x in enumerate(base)]).verdict == \
        "equal within the noise"
    faster = paired(base, [x - 0.4 - (i % 3) * 0.01 for i, x in enumerate(base)])
    assert faster.verdict == "ahead" and faster.high < 0 and faster.pairs == 100
    assert paired(base, [x + 0.4 for x in base]).verdict == "behind"


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="too few"):
        median_interval([1.0, 2.0, 3.0, 4.0, 5.0])
    with pytest.raises(ValueError, match="differ in length: 3 and 2"):
        paired([1.0, 2.0, 3.0], [1.0, 2.0])
