"""Percentiles and formatting shared by the benchmarks."""

from __future__ import annotations


def pct(samples: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of samples."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def ms(seconds: float, digits: int = 1) -> str:
    return f"{seconds * 1000:.{digits}f} ms"
