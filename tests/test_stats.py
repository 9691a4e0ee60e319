"""Online statistics against NumPy over whole sequences."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxtrade.env.stats import (
    RunningStats,
    running_sharpe,
    running_sortino,
    running_std,
    running_update,
)


def _scan_stats(x):
    def step(s, r):
        s = running_update(s, r)
        return s, (s.mean, running_std(s), running_sharpe(s, 252.0), running_sortino(s, 252.0))

    return jax.lax.scan(step, RunningStats.zeros(), x)[1]


def test_running_stats_match_numpy_at_every_step():
    rng = np.random.default_rng(1)
    x = rng.normal(0.0005, 0.01, 5000).astype(np.float32) + 3.0 * (rng.random(5000) < 0.01)
    mean, std, sharpe, sortino = jax.jit(_scan_stats)(jnp.asarray(x))
    for n in (1, 2, 10, 500, 5000):
        xs = x[:n].astype(np.float64)
        np.testing.assert_allclose(mean[n - 1], xs.mean(), rtol=1e-4, atol=1e-7)
        np.testing.assert_allclose(std[n - 1], xs.std(), rtol=1e-3, atol=1e-7)
        if n > 1:
            np.testing.assert_allclose(sharpe[n - 1], xs.mean() / xs.std() * np.sqrt(252), rtol=2e-3)
            downside = np.sqrt(np.mean(np.minimum(xs, 0) ** 2))
            if downside > 0:
                np.testing.assert_allclose(sortino[n - 1], xs.mean() / downside * np.sqrt(252), rtol=2e-3)
            else:
                assert float(sortino[n - 1]) == 0.0  # no losing step yet: reported as 0, not inf
    assert float(sharpe[0]) == 0.0  # one observation: no spread yet


def test_welford_is_stable_with_a_large_offset():
    x = jnp.asarray(1000.0 + np.random.default_rng(2).normal(0, 0.01, 20_000), jnp.float32)
    _, std, _, _ = jax.jit(_scan_stats)(x)
    np.testing.assert_allclose(std[-1], np.asarray(x, np.float64).std(), rtol=2e-2)
