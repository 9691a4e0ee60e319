"""Rolling primitives, with and without jit, against hand-computed values and plain NumPy/pandas."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from jaxtrade.features import rolling as R
from jaxtrade.numeric import safe_div

X = jnp.array([1.0, 3.0, 2.0, 5.0, 4.0])


@pytest.fixture(params=[False, True], ids=["eager", "jit"])
def maybe_jit(request):
    return (lambda f: jax.jit(f, static_argnums=(1,))) if request.param else (lambda f: f)


def test_hand_computed(maybe_jit):
    np.testing.assert_allclose(maybe_jit(R.lag)(X, 2), [1, 1, 1, 3, 2])
    np.testing.assert_allclose(maybe_jit(R.rolling_sum)(X, 2), [2, 4, 5, 7, 9])
    np.testing.assert_allclose(maybe_jit(R.rolling_mean)(X, 3), [1, 5 / 3, 2, 10 / 3, 11 / 3], rtol=1e-6)
    np.testing.assert_allclose(maybe_jit(R.rolling_max)(X, 2), [1, 3, 3, 5, 5])
    np.testing.assert_allclose(maybe_jit(R.rolling_min)(X, 3), [1, 1, 1, 2, 2])
    np.testing.assert_allclose(maybe_jit(R.rolling_std)(X, 2), [0, 1, 0.5, 1.5, 0.5], rtol=1e-6)
    np.testing.assert_allclose(maybe_jit(R.ema)(X, 0.5), [1, 2, 2, 3.5, 3.75], rtol=1e-6)
    np.testing.assert_allclose(maybe_jit(R.ema_deviation)(X, 0.5), [0, -1, 0, -1.5, -0.25], atol=1e-6)
    np.testing.assert_array_equal(
        maybe_jit(R.rolling_windows)(X, 3), [[1, 1, 1], [1, 1, 3], [1, 3, 2], [3, 2, 5], [2, 5, 4]]
    )


def test_against_pandas_on_long_noisy_series():
    rng = np.random.default_rng(0)
    x = 1000.0 + np.cumsum(rng.normal(0, 1, (3, 20_000)), axis=1)  # large level, small moves
    xs = jnp.asarray(x, jnp.float32)
    w = 50
    for i in range(3):
        s = pd.Series(x[i])
        np.testing.assert_allclose(R.rolling_mean(xs, w)[i, w:], s.rolling(w).mean()[w:], rtol=1e-6)
        # Two-pass std stays accurate in float32 where E[x^2] - E[x]^2 would not.
        np.testing.assert_allclose(R.rolling_std(xs, w, ddof=1)[i, w:], s.rolling(w).std()[w:], rtol=1e-3)
        ewm = s.ewm(span=20, adjust=False).mean()
        np.testing.assert_allclose(R.ema(xs, 2 / 21)[i], ewm, rtol=1e-5)
        # The deviation keeps its precision even though it is 1e-3 of the level.
        np.testing.assert_allclose(R.ema_deviation(xs, 2 / 21)[i], ewm - s, rtol=2e-3, atol=2e-4)


def test_batched_leading_axes_match_per_series():
    x = jax.random.normal(jax.random.key(0), (2, 3, 40))
    batched = R.rolling_std(x, 7)
    single = jnp.stack([jnp.stack([R.rolling_std(x[i, j], 7) for j in range(3)]) for i in range(2)])
    np.testing.assert_allclose(batched, single, rtol=1e-6)


def test_safe_div():
    np.testing.assert_allclose(safe_div(jnp.array([1.0, 2.0]), jnp.array([2.0, 0.0]), 7.0), [0.5, 7.0])


@pytest.mark.parametrize(("T", "W", "chunk"), [(50, 7, 8), (1000, 37, 128), (700, 60, None), (5, 3, 2),
                                               (10, 20, 4), (64, 1, 8)])
def test_rolling_quantiles_match_sorting_every_window(T, W, chunk):
    x = jax.random.normal(jax.random.key(T), (3, 4, T))
    x = x.at[0, 0, ::5].set(0.5).at[1, 1, :].set(2.0)  # ties and a constant series
    qs = (0.0, 0.25, 0.5, 0.75, 1.0)
    got = R.rolling_quantiles(x, W, qs, chunk=chunk)
    want = np.quantile(np.asarray(R.rolling_windows(x, W)), qs, axis=-1)
    assert got.shape == (5, 3, 4, T)
    np.testing.assert_allclose(got, want, atol=2e-7)


def test_linear_recurrence_parallel_and_sequential_agree():
    a = jax.random.uniform(jax.random.key(0), (3, 500), minval=0.5, maxval=1.0)
    b = jax.random.normal(jax.random.key(1), (3, 500))
    seq = R.linear_recurrence(a, b, parallel=False)
    par = R.linear_recurrence(a, b, parallel=True)
    np.testing.assert_allclose(seq, par, rtol=1e-4, atol=1e-5)
    y, want = 0.0, []
    for t in range(500):
        y = float(a[1, t]) * y + float(b[1, t])
        want.append(y)
    np.testing.assert_allclose(seq[1], want, rtol=1e-4, atol=1e-5)
