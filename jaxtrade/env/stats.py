"""Online portfolio statistics, O(1) per step: Welford moments of the step returns.

A NamedTuple state with a pure `update` function, so it lives inside `EnvState`,
scans, and vmaps over thousands of envs.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxtrade.numeric import safe_div


class RunningStats(NamedTuple):
    """Welford accumulators of a return stream."""

    count: jax.Array  # type: ignore[assignment]  # () float32: observations so far (over tuple.count)
    mean: jax.Array  # () running mean
    m2: jax.Array  # () sum of squared deviations from the mean
    downside_sq: jax.Array  # () sum of min(x, 0)^2 (downside deviation, target 0)

    @classmethod
    def zeros(cls) -> RunningStats:
        z = jnp.zeros((), jnp.float32)
        return cls(z, z, z, z)


def running_update(stats: RunningStats, x: jax.Array) -> RunningStats:
    """Add one observation (Welford's algorithm: stable in float32 over long runs)."""
    count = stats.count + 1.0
    delta = x - stats.mean
    mean = stats.mean + delta / count
    m2 = stats.m2 + delta * (x - mean)
    return RunningStats(count, mean, m2, stats.downside_sq + jnp.minimum(x, 0.0) ** 2)


def running_std(stats: RunningStats) -> jax.Array:
    """Population standard deviation so far (0 before two observations)."""
    return jnp.sqrt(safe_div(stats.m2, stats.count))


def running_sharpe(stats: RunningStats, periods_per_year: ArrayLike = 1.0) -> jax.Array:
    """mean / std * sqrt(periods_per_year); 0 while the std is 0."""
    return safe_div(stats.mean, running_std(stats)) * jnp.sqrt(periods_per_year)


def running_sortino(stats: RunningStats, periods_per_year: ArrayLike = 1.0) -> jax.Array:
    """mean / downside deviation * sqrt(periods_per_year), downside deviation = sqrt(mean(min(x, 0)^2))."""
    downside = jnp.sqrt(safe_div(stats.downside_sq, stats.count))
    return safe_div(stats.mean, downside) * jnp.sqrt(periods_per_year)
