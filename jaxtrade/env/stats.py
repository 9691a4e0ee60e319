"""Online portfolio statistics, O(1) per step: Welford moments and the differential Sharpe ratio.

Both are NamedTuple states with pure `update` functions, so they live inside
`EnvState`, scan, and vmap over thousands of envs.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxtrade.features.rolling import safe_div


class RunningStats(NamedTuple):
    """Welford accumulators of a return stream."""

    count: jax.Array  # () float32: observations so far
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


def running_sharpe(stats: RunningStats, periods_per_year: float = 1.0) -> jax.Array:
    """mean / std * sqrt(periods_per_year); 0 while the std is 0."""
    return safe_div(stats.mean, running_std(stats)) * jnp.sqrt(periods_per_year)


def running_sortino(stats: RunningStats, periods_per_year: float = 1.0) -> jax.Array:
    """mean / downside deviation * sqrt(periods_per_year), downside deviation = sqrt(mean(min(x, 0)^2))."""
    downside = jnp.sqrt(safe_div(stats.downside_sq, stats.count))
    return safe_div(stats.mean, downside) * jnp.sqrt(periods_per_year)


class DiffSharpeState(NamedTuple):
    """Exponential moving first and second moments of returns (Moody & Saffell, 1998)."""

    a: jax.Array  # () EMA of returns
    b: jax.Array  # () EMA of squared returns

    @classmethod
    def zeros(cls) -> DiffSharpeState:
        z = jnp.zeros((), jnp.float32)
        return cls(z, z)


def differential_sharpe(state: DiffSharpeState, r: jax.Array, eta: jax.Array) -> tuple[jax.Array, DiffSharpeState]:
    """The differential Sharpe ratio of return r, and the updated moments.

    D_t = (B dA - A dB / 2) / (B - A^2)^(3/2) with dA = r - A, dB = r^2 - B, using the
    moments before the update; it is the first-order change of the EMA Sharpe
    ratio A / sqrt(B - A^2) when the moments move by eta. 0 while the variance
    B - A^2 is below 1e-4 B (no spread yet, or float32 rounding), a test that
    does not depend on the scale of the returns.

    Args:
      state: moments before this return.
      r: () this step's return.
      eta: () adaptation rate in (0, 1).

    Returns:
      (D_t, new state).
    """
    da, db = r - state.a, r * r - state.b
    var = state.b - state.a**2
    spread = var > 1e-4 * state.b
    # No absolute epsilon: small returns (1e-5 per bar) have var^1.5 ~ 1e-17 and are fine in float32.
    d = jnp.where(spread, (state.b * da - 0.5 * state.a * db) / jnp.where(spread, var, 1.0) ** 1.5, 0.0)
    return d, DiffSharpeState(state.a + eta * da, state.b + eta * db)
