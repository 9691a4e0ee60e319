"""Online statistics against NumPy over whole sequences, and the differential Sharpe ratio by hand."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxtrade.env.stats import (
    DiffSharpeState,
    RunningStats,
    differential_sharpe,
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


def test_differential_sharpe_hand_computed_and_first_order():
    state = DiffSharpeState(jnp.float32(0.01), jnp.float32(0.0005))  # var = 0.0004
    d, new = differential_sharpe(state, jnp.float32(0.03), jnp.float32(0.1))
    da, db = 0.03 - 0.01, 0.0009 - 0.0005
    np.testing.assert_allclose(d, (0.0005 * da - 0.5 * 0.01 * db) / 0.0004**1.5, rtol=1e-5)
    np.testing.assert_allclose(new.a, 0.01 + 0.1 * da, rtol=1e-6)
    np.testing.assert_allclose(new.b, 0.0005 + 0.1 * db, rtol=1e-6)

    # D is the derivative of S = A / sqrt(B - A^2) along eta: S(eta) - S(0) ~ eta * D.
    def ema_sharpe(s):
        return s.a / jnp.sqrt(s.b - s.a**2)

    eta = 1e-3
    _, moved = differential_sharpe(state, jnp.float32(0.03), jnp.float32(eta))
    np.testing.assert_allclose((ema_sharpe(moved) - ema_sharpe(state)) / eta, d, rtol=1e-2)


def test_differential_sharpe_is_zero_before_variance_and_signs_returns():
    d0, s1 = differential_sharpe(DiffSharpeState.zeros(), jnp.float32(0.02), jnp.float32(0.05))
    assert float(d0) == 0.0 and float(s1.a) > 0
    state = DiffSharpeState(jnp.float32(0.0), jnp.float32(1e-4))
    up, _ = differential_sharpe(state, jnp.float32(0.01), jnp.float32(0.05))
    down, _ = differential_sharpe(state, jnp.float32(-0.01), jnp.float32(0.05))
    assert float(up) > 0 > float(down)


def test_differential_sharpe_is_scale_free():
    """Scaling every return by k scales A by k and B by k^2; D is dimensionless and must not change."""
    rng = np.random.default_rng(3)
    returns = rng.normal(2e-4, 1e-3, 50).astype(np.float32)
    for k in (1.0, 1e-4, 1e3):
        state, ds = DiffSharpeState.zeros(), []
        for r in returns * k:
            d, state = differential_sharpe(state, jnp.float32(r), jnp.float32(0.05))
            ds.append(float(d))
        if k == 1.0:
            reference = np.array(ds)
        else:
            np.testing.assert_allclose(ds, reference, rtol=2e-3, atol=1e-6)
    assert np.count_nonzero(reference) == len(returns) - 1  # only the very first step has no spread
