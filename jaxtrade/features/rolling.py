"""Past-only rolling primitives along the last (time) axis, vectorised over leading axes.

Every output at bar t depends on inputs at bars <= t only. Windows that reach
before the first bar see that first value repeated (edge padding), so outputs
exist, finite, for every bar; callers mask the warm-up with `ready`.
Sums use `lax.reduce_window` (no long running cumsum, so float32 stays exact
over 50,000+ bars), variances are two-pass, and EMAs are a parallel
`lax.associative_scan` of the linear recurrence.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

EPS = 1e-12


def _edge_pad(x: jax.Array, n: int) -> jax.Array:
    """Prepend n copies of x[..., 0] along the last axis."""
    if n == 0:
        return x
    return jnp.concatenate([jnp.repeat(x[..., :1], n, axis=-1), x], axis=-1)


def lag(x: jax.Array, k: int) -> jax.Array:
    """x[..., t - k], edge-padded: (..., T) -> (..., T)."""
    if k == 0:
        return x
    return _edge_pad(x, k)[..., : x.shape[-1]]


def _reduce(x: jax.Array, window: int, init, op) -> jax.Array:
    padded = _edge_pad(x, window - 1)
    dims = (1,) * (x.ndim - 1) + (window,)
    return lax.reduce_window(padded, jnp.asarray(init, x.dtype), op, dims, (1,) * x.ndim, "VALID")


def rolling_sum(x: jax.Array, window: int) -> jax.Array:
    """Sum of x over bars (t - window, t]: (..., T) -> (..., T)."""
    return _reduce(x, window, 0, lax.add)


def rolling_mean(x: jax.Array, window: int) -> jax.Array:
    """Mean over the last `window` bars, bar t included."""
    return rolling_sum(x, window) / window


def rolling_max(x: jax.Array, window: int) -> jax.Array:
    """Max over the last `window` bars, bar t included."""
    return _reduce(x, window, -jnp.inf, lax.max)


def rolling_min(x: jax.Array, window: int) -> jax.Array:
    """Min over the last `window` bars, bar t included."""
    return _reduce(x, window, jnp.inf, lax.min)


def rolling_std(x: jax.Array, window: int, ddof: int = 0) -> jax.Array:
    """Standard deviation over the last `window` bars (two-pass, exact in float32)."""
    mean = rolling_mean(x, window)
    padded = _edge_pad(x, window - 1)
    T = x.shape[-1]

    def add_lag(k, acc):
        xs = lax.dynamic_slice_in_dim(padded, k, T, axis=-1)
        return acc + (xs - mean) ** 2

    ss = lax.fori_loop(0, window, add_lag, jnp.zeros_like(x))
    return jnp.sqrt(ss / (window - ddof))


def rolling_windows(x: jax.Array, window: int) -> jax.Array:
    """Stack the last `window` values of each bar: (..., T) -> (..., T, window), oldest first."""
    padded = _edge_pad(x, window - 1)
    idx = jnp.arange(x.shape[-1])[:, None] + jnp.arange(window)[None, :]
    return padded[..., idx]


def linear_recurrence(a: jax.Array, b: jax.Array) -> jax.Array:
    """y_t = a_t y_{t-1} + b_t along the last axis, with y_{-1} = 0, as a parallel scan."""

    def combine(left, right):
        a_l, b_l = left
        a_r, b_r = right
        return a_l * a_r, a_r * b_l + b_r

    return lax.associative_scan(combine, (a, b), axis=a.ndim - 1)[1]


def ema(x: jax.Array, alpha: float) -> jax.Array:
    """Exponential moving average y_t = (1 - alpha) y_{t-1} + alpha x_t with y_0 = x_0.

    Matches pandas' `ewm(alpha=alpha, adjust=False)`; `span=n` is alpha = 2 / (n + 1)
    and Wilder's smoothing over n bars is alpha = 1 / n.
    """
    a = jnp.full_like(x, 1.0 - alpha).at[..., 0].set(0.0)
    b = (alpha * x).at[..., 0].set(x[..., 0])
    return linear_recurrence(a, b)


def ema_deviation(x: jax.Array, alpha: float) -> jax.Array:
    """EMA(x) - x, computed from the bar-to-bar changes of x.

    With e_t = EMA_t - x_t: e_t = (1 - alpha) (e_{t-1} - (x_t - x_{t-1})), e_0 = 0.
    The recurrence only ever sees small numbers, so differences of EMAs of a
    price near 1.1 (EURUSD) keep float32's full relative precision, where
    subtracting two EMAs of the price would cancel most of it.
    """
    diff = x - _edge_pad(x, 1)[..., :-1]
    a = jnp.full_like(x, 1.0 - alpha)
    return linear_recurrence(a, -(1.0 - alpha) * diff)


def safe_div(num: jax.Array, den: jax.Array, default: float = 0.0) -> jax.Array:
    """num / den, with `default` where |den| is (near) zero."""
    ok = jnp.abs(den) > EPS
    return jnp.where(ok, num / jnp.where(ok, den, 1.0), default)
