"""Performance metrics of return series: pure jnp, vectorised over any leading axes, masked.

Every function takes per-period simple returns r (..., T) and an optional mask
(..., T) of the periods that count (e.g. the steps before an episode ended);
masked periods are ignored, as if the series were shorter. n = number of counted
periods, P = periods per year (252 for daily stocks; `MarketData.bars_per_year()`
infers it). Conventions follow quantstats (tested against it on real returns):

    total_return       prod(1 + r) - 1
    annualised_return  (1 + total_return) ^ (P / n) - 1                       (CAGR by periods)
    volatility         std(r, ddof=1) * sqrt(P)
    sharpe             mean(r) / std(r, ddof=1) * sqrt(P)                      (risk-free rate 0)
    sortino            mean(r) / sqrt(sum(min(r, 0)^2) / n) * sqrt(P)
    max_drawdown       min_t(E_t / max_{s<=t} E_s) - 1, E = cumulative wealth starting at 1 (<= 0)
    calmar             annualised_return / |max_drawdown|
    win_rate           #(x > 0) / #(x != 0)                                    (periods or trades)
    profit_factor      sum(x > 0) / |sum(x < 0)|; inf with gains and no losses, 0 with neither

Ratios with a zero denominator return 0 (no spread, no drawdown, no losses).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxtrade.numeric import safe_div


def _mask(r: jax.Array, mask: jax.Array | None) -> jax.Array:
    return jnp.ones(r.shape, bool) if mask is None else jnp.broadcast_to(mask, r.shape)


def _count(m: jax.Array) -> jax.Array:
    return m.sum(-1).astype(jnp.float32)


def total_return(r: jax.Array, mask: jax.Array | None = None) -> jax.Array:
    m = _mask(r, mask)
    return jnp.expm1(jnp.where(m, jnp.log1p(r), 0.0).sum(-1))


def annualised_return(r: jax.Array, periods_per_year: float, mask: jax.Array | None = None) -> jax.Array:
    m = _mask(r, mask)
    growth = jnp.where(m, jnp.log1p(r), 0.0).sum(-1)
    return jnp.expm1(safe_div(growth * periods_per_year, _count(m)))


def _mean_std(r: jax.Array, m: jax.Array) -> tuple[jax.Array, jax.Array]:
    n = _count(m)
    mean = safe_div(jnp.where(m, r, 0.0).sum(-1), n)
    var = safe_div(jnp.where(m, (r - mean[..., None]) ** 2, 0.0).sum(-1), n - 1.0)
    return mean, jnp.sqrt(jnp.where(n > 1, var, 0.0))


def volatility(r: jax.Array, periods_per_year: float, mask: jax.Array | None = None) -> jax.Array:
    return _mean_std(r, _mask(r, mask))[1] * jnp.sqrt(periods_per_year)


def sharpe(r: jax.Array, periods_per_year: float, mask: jax.Array | None = None) -> jax.Array:
    mean, std = _mean_std(r, _mask(r, mask))
    return safe_div(mean, std) * jnp.sqrt(periods_per_year)


def sortino(r: jax.Array, periods_per_year: float, mask: jax.Array | None = None) -> jax.Array:
    m = _mask(r, mask)
    n = _count(m)
    mean = safe_div(jnp.where(m, r, 0.0).sum(-1), n)
    downside = jnp.sqrt(safe_div(jnp.where(m, jnp.minimum(r, 0.0) ** 2, 0.0).sum(-1), n))
    return safe_div(mean, downside) * jnp.sqrt(periods_per_year)


def max_drawdown(r: jax.Array, mask: jax.Array | None = None) -> jax.Array:
    m = _mask(r, mask)
    log_wealth = jnp.cumsum(jnp.where(m, jnp.log1p(r), 0.0), axis=-1)
    peak = jnp.maximum(jax.lax.cummax(log_wealth, axis=log_wealth.ndim - 1), 0.0)  # wealth starts at 1
    return jnp.expm1((log_wealth - peak).min(-1))


def calmar(r: jax.Array, periods_per_year: float, mask: jax.Array | None = None) -> jax.Array:
    return safe_div(annualised_return(r, periods_per_year, mask), jnp.abs(max_drawdown(r, mask)))


def win_rate(x: jax.Array, mask: jax.Array | None = None) -> jax.Array:
    m = _mask(x, mask)
    return safe_div(((x > 0) & m).sum(-1).astype(jnp.float32), ((x != 0) & m).sum(-1).astype(jnp.float32))


def profit_factor(x: jax.Array, mask: jax.Array | None = None) -> jax.Array:
    m = _mask(x, mask)
    gains = jnp.where(m & (x > 0), x, 0.0).sum(-1)
    losses = jnp.where(m & (x < 0), x, 0.0).sum(-1)
    return profit_factor_of_totals(gains, jnp.abs(losses))


def profit_factor_of_totals(gross_profit: jax.Array, gross_loss: jax.Array) -> jax.Array:
    """gross profit / gross loss; inf when there is profit but no loss, 0 when there is neither."""
    return jnp.where(gross_loss > 0, gross_profit / jnp.where(gross_loss > 0, gross_loss, 1.0),
                     jnp.where(gross_profit > 0, jnp.inf, 0.0))


def summarize(r: jax.Array, periods_per_year: float, mask: jax.Array | None = None) -> dict[str, jax.Array]:
    """All return-series metrics at once: name -> (...) array."""
    return {
        "total_return": total_return(r, mask),
        "annualised_return": annualised_return(r, periods_per_year, mask),
        "volatility": volatility(r, periods_per_year, mask),
        "sharpe": sharpe(r, periods_per_year, mask),
        "sortino": sortino(r, periods_per_year, mask),
        "max_drawdown": max_drawdown(r, mask),
        "calmar": calmar(r, periods_per_year, mask),
    }


# Two-sided 95 % Student t quantiles by degrees of freedom (1..30); 1.96 beyond.
_T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def mean_interval(x) -> tuple[float, float, float]:
    """(mean, low, high): the mean and its 95 % Student t interval (low = high = mean for one value)."""
    x = np.asarray(x, np.float64)
    m = float(x.mean())
    if x.size < 2:
        return m, m, m
    t = _T95[x.size - 2] if x.size - 1 <= len(_T95) else 1.96
    half = t * float(x.std(ddof=1)) / np.sqrt(x.size)
    return m, m - half, m + half
