"""Technical indicators on (..., T) price arrays, in jnp, past-only.

Each function follows the textbook definition used by the `ta` package
(pandas `ewm(adjust=False)` EMAs, Wilder smoothing alpha = 1/n, population std
for Bollinger bands); they differ from `ta` only in the first bars, where `ta`
returns NaN or seeds its recursions differently, and in returning a neutral
value instead of NaN where a denominator vanishes (flat prices).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxtrade.features.rolling import (
    ema,
    ema_deviation,
    lag,
    rolling_max,
    rolling_mean,
    rolling_min,
    rolling_std,
    rolling_sum,
)
from jaxtrade.numeric import safe_div


def log_return(close: jax.Array) -> jax.Array:
    """log(c_t / c_{t-1}); 0 at the first bar."""
    return jnp.log(close / lag(close, 1))


def sma(x: jax.Array, n: int) -> jax.Array:
    """Simple moving average over n bars."""
    return rolling_mean(x, n)


def ema_span(x: jax.Array, n: int) -> jax.Array:
    """EMA with span n (alpha = 2 / (n + 1))."""
    return ema(x, 2.0 / (n + 1.0))


def wilder(x: jax.Array, n: int) -> jax.Array:
    """Wilder's smoothing (RMA) over n bars, alpha = 1 / n."""
    return ema(x, 1.0 / n)


def rsi(close: jax.Array, n: int = 14) -> jax.Array:
    """Relative strength index in [0, 100]; 50 on a flat series."""
    diff = close - lag(close, 1)
    up = wilder(jnp.maximum(diff, 0.0), n)
    down = wilder(jnp.maximum(-diff, 0.0), n)
    value = 100.0 - 100.0 / (1.0 + safe_div(up, down))
    return jnp.where(down > 0, value, jnp.where(up > 0, 100.0, 50.0))


def ema_ratio(close: jax.Array, n: int) -> jax.Array:
    """c / EMA_n(c) - 1, from the EMA's deviation (no cancellation)."""
    dev = ema_deviation(close, 2.0 / (n + 1.0))
    return -dev / (close + dev)


def macd(close: jax.Array, fast: int = 12, slow: int = 26, signal: int = 9) -> tuple[jax.Array, jax.Array]:
    """MACD line EMA_fast - EMA_slow and its signal line EMA_signal(MACD).

    The line is the difference of the two EMAs' deviations from the close, which
    equals EMA_fast - EMA_slow without subtracting two price-sized numbers.
    """
    line = ema_deviation(close, 2.0 / (fast + 1.0)) - ema_deviation(close, 2.0 / (slow + 1.0))
    return line, ema_span(line, signal)


def bollinger(close: jax.Array, n: int = 20, k: float = 2.0) -> tuple[jax.Array, jax.Array]:
    """Bollinger %B = (c - lower) / (upper - lower) (0.5 when flat) and width (upper - lower) / mid."""
    mid = rolling_mean(close, n)
    sd = rolling_std(close, n, ddof=0)
    upper, lower = mid + k * sd, mid - k * sd
    return safe_div(close - lower, upper - lower, 0.5), safe_div(upper - lower, mid)


def true_range(high: jax.Array, low: jax.Array, close: jax.Array) -> jax.Array:
    """max(h, c_{t-1}) - min(l, c_{t-1}); h - l at the first bar."""
    prev = lag(close, 1)
    return jnp.maximum(high, prev) - jnp.minimum(low, prev)


def atr(high: jax.Array, low: jax.Array, close: jax.Array, n: int = 14) -> jax.Array:
    """Average true range, Wilder-smoothed."""
    return wilder(true_range(high, low, close), n)


def stochastic(
    high: jax.Array, low: jax.Array, close: jax.Array, n: int = 14, smooth: int = 3
) -> tuple[jax.Array, jax.Array]:
    """Stochastic %K = 100 (c - LL_n) / (HH_n - LL_n) (50 when flat) and %D = SMA_smooth(%K)."""
    lowest, highest = rolling_min(low, n), rolling_max(high, n)
    k = 100.0 * safe_div(close - lowest, highest - lowest, 0.5)
    return k, rolling_mean(k, smooth)


def adx(high: jax.Array, low: jax.Array, close: jax.Array, n: int = 14) -> jax.Array:
    """Average directional index in [0, 100] (Wilder)."""
    up = high - lag(high, 1)
    down = lag(low, 1) - low
    plus_dm = jnp.where((up > down) & (up > 0), up, 0.0)
    minus_dm = jnp.where((down > up) & (down > 0), down, 0.0)
    tr = wilder(true_range(high, low, close), n)
    plus_di = 100.0 * safe_div(wilder(plus_dm, n), tr)
    minus_di = 100.0 * safe_div(wilder(minus_dm, n), tr)
    dx = 100.0 * safe_div(jnp.abs(plus_di - minus_di), plus_di + minus_di)
    return wilder(dx, n)


def obv_flow(close: jax.Array, volume: jax.Array, n: int = 20) -> jax.Array:
    """On-balance-volume change over n bars divided by the volume traded, in [-1, 1].

    Equals (OBV_t - OBV_{t-n}) / sum(volume over the n bars) with OBV signed as in
    `ta` (down bar: -volume, else +volume); the ratio is stationary where raw OBV is not.
    """
    signed = jnp.where(close < lag(close, 1), -volume, volume)
    return safe_div(rolling_sum(signed, n), rolling_sum(volume, n))


def roc(close: jax.Array, n: int = 10) -> jax.Array:
    """Rate of change c_t / c_{t-n} - 1."""
    return close / lag(close, n) - 1.0


def realised_vol(ret: jax.Array, n: int) -> jax.Array:
    """Rolling population std of returns over n bars."""
    return rolling_std(ret, n, ddof=0)


def rolling_autocorr(x: jax.Array, n: int) -> jax.Array:
    """Rolling lag-1 autocorrelation of x over n bars (0 when either side is flat)."""
    y = lag(x, 1)
    mx, my = rolling_mean(x, n), rolling_mean(y, n)
    cov = rolling_mean(x * y, n) - mx * my
    vx = jnp.maximum(rolling_mean(x * x, n) - mx**2, 0.0)
    vy = jnp.maximum(rolling_mean(y * y, n) - my**2, 0.0)
    return jnp.clip(safe_div(cov, jnp.sqrt(vx * vy)), -1.0, 1.0)


def efficiency_ratio(close: jax.Array, n: int = 20) -> jax.Array:
    """Kaufman's efficiency ratio |c_t - c_{t-n}| / sum |c_i - c_{i-1}|, in [0, 1]."""
    path = rolling_sum(jnp.abs(close - lag(close, 1)), n)
    return safe_div(jnp.abs(close - lag(close, n)), path)
