"""Statistics that say whether an edge is real: block-bootstrap intervals for the Sharpe ratio and for a paired
Sharpe difference, and the probabilistic and deflated Sharpe ratios. Pure jnp (jit-able, vmap over series).

Daily returns are autocorrelated and fat-tailed, so a t interval on their mean is too narrow. The **stationary
bootstrap** (Politis and Romano 1994) resamples blocks of consecutive periods whose lengths are geometric with
mean `mean_block`, wrapping around the end, so the resampled series keeps the short-range dependence; a
percentile interval over the resamples brackets the statistic. A **paired** difference resamples the same
periods of both series (agent and benchmark over the same days), so their common market moves cancel.

The **probabilistic Sharpe ratio** (Bailey and Lopez de Prado 2012) is the probability that the true Sharpe
ratio exceeds a benchmark SR*, given n periods and the returns' skewness g3 and kurtosis g4 (not excess):

    PSR(SR*) = Phi( (SR - SR*) sqrt(n - 1) / sqrt(1 - g3 SR + (g4 - 1) / 4 SR^2) ),   SR per period.

The **deflated Sharpe ratio** (Bailey and Lopez de Prado 2014) is PSR(SR0), where SR0 is the Sharpe ratio the best
of N unskilled trials would reach by luck:

    SR0 = sqrt(V) ((1 - e) Phi^-1(1 - 1/N) + e Phi^-1(1 - 1/(N exp(1)))),   e = 0.5772... (Euler-Mascheroni)

with V the variance of the trials' Sharpe estimates (per period). When the trials' Sharpe ratios are not known, V
defaults to the variance of the Sharpe estimator itself, (1 - g3 SR + (g4 - 1)/4 SR^2) / (n - 1): the spread of
unskilled trials' estimates around zero. N = 1 (one configuration tried) gives SR0 = 0 and DSR = PSR(0).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.scipy.stats import norm

from jaxtrade.numeric import safe_div

EULER_GAMMA = 0.5772156649015329


def default_block(n: int) -> int:
    """The mean block length used when none is given: n^(1/3), at least 1 (the order of the optimal length for a
    variance estimate; about 14 for ten years of daily bars)."""
    return max(1, round(n ** (1 / 3)))


def stationary_indices(starts: jax.Array, new_block: jax.Array) -> jax.Array:
    """Indices of stationary-bootstrap resamples from given draws.

    Period t of a resample starts a new block at `starts[..., t]` where `new_block[..., t]` (always at t = 0),
    else continues with the period after the previous one, wrapping from n - 1 to 0.

    Args:
      starts: (..., n) int random start periods in [0, n).
      new_block: (..., n) bool, True with probability 1 / mean block length.

    Returns:
      (..., n) int32 indices into the series.
    """
    n = starts.shape[-1]
    t = jnp.arange(n)
    new_block = new_block.at[..., 0].set(True)
    last = jax.lax.cummax(jnp.where(new_block, t, 0), axis=new_block.ndim - 1)  # the block's first period
    first = jnp.take_along_axis(starts, last, axis=-1)
    return ((first + t - last) % n).astype(jnp.int32)


def bootstrap_indices(key: jax.Array, n: int, num_samples: int, mean_block: float) -> jax.Array:
    """(num_samples, n) int32 stationary-bootstrap indices with geometric blocks of mean `mean_block`."""
    k_start, k_new = jax.random.split(key)
    starts = jax.random.randint(k_start, (num_samples, n), 0, n)
    new_block = jax.random.uniform(k_new, (num_samples, n)) < 1.0 / mean_block
    return stationary_indices(starts, new_block)


def per_period_sharpe(r: jax.Array) -> jax.Array:
    """mean / std (ddof 1) over the last axis: the Sharpe ratio per period (annualise with sqrt(P))."""
    mean = r.mean(-1)
    std = jnp.sqrt(safe_div(((r - mean[..., None]) ** 2).sum(-1), r.shape[-1] - 1.0))
    return safe_div(mean, std)


def _interval(samples: jax.Array, level: float) -> tuple[jax.Array, jax.Array]:
    tail = (1.0 - level) / 2.0
    return jnp.quantile(samples, tail, axis=-1), jnp.quantile(samples, 1.0 - tail, axis=-1)


def sharpe_interval(r: jax.Array, periods_per_year: float, key: jax.Array, num_samples: int = 2000,
                    mean_block: float | None = None, level: float = 0.95) -> dict[str, jax.Array]:
    """The annualised Sharpe ratio of returns `r` (n,) and its stationary-bootstrap percentile interval.

    Returns:
      {"sharpe", "low", "high"}, each ().
    """
    n = r.shape[-1]
    idx = bootstrap_indices(key, n, num_samples, mean_block or default_block(n))
    scale = math.sqrt(periods_per_year)
    low, high = _interval(per_period_sharpe(r[idx]) * scale, level)
    return {"sharpe": per_period_sharpe(r) * scale, "low": low, "high": high}


def paired_sharpe_difference(r_a: jax.Array, r_b: jax.Array, periods_per_year: float, key: jax.Array,
                             num_samples: int = 2000, mean_block: float | None = None,
                             level: float = 0.95) -> dict[str, jax.Array]:
    """Sharpe(a) - Sharpe(b), annualised, over the same n periods, and its paired stationary-bootstrap interval
    (both series resampled at the same periods); `p_le_zero` is the share of resamples where a does not beat b.

    Returns:
      {"difference", "low", "high", "p_le_zero"}, each ().
    """
    n = r_a.shape[-1]
    idx = bootstrap_indices(key, n, num_samples, mean_block or default_block(n))
    scale = math.sqrt(periods_per_year)
    samples = (per_period_sharpe(r_a[idx]) - per_period_sharpe(r_b[idx])) * scale
    low, high = _interval(samples, level)
    return {"difference": (per_period_sharpe(r_a) - per_period_sharpe(r_b)) * scale, "low": low, "high": high,
            "p_le_zero": (samples <= 0).mean()}


def moments(r: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(skewness, kurtosis) of `r` over the last axis, population moments; kurtosis is 3 for a normal law."""
    d = r - r.mean(-1, keepdims=True)
    var = (d**2).mean(-1)
    return safe_div((d**3).mean(-1), var**1.5), safe_div((d**4).mean(-1), var**2, 3.0)


def probabilistic_sharpe(sharpe: jax.Array, n: int | jax.Array, skew: jax.Array, kurtosis: jax.Array,
                         benchmark: jax.Array | float = 0.0) -> jax.Array:
    """PSR: the probability that the true per-period Sharpe ratio exceeds `benchmark` (module docstring).

    Args:
      sharpe: per-period (not annualised) Sharpe ratio estimated over `n` periods.
      skew, kurtosis: of the returns (kurtosis 3 for normal returns).
      benchmark: per-period Sharpe ratio to beat.
    """
    spread = jnp.sqrt(jnp.maximum(1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2, 1e-12))
    return norm.cdf((sharpe - benchmark) * jnp.sqrt(n - 1.0) / spread)


def expected_max_sharpe(num_trials: int, variance: jax.Array | float) -> jax.Array:
    """SR0: the per-period Sharpe ratio the best of `num_trials` unskilled trials reaches by luck, when their
    estimates vary with `variance` (per period); 0 for one trial."""
    if num_trials < 1:
        raise ValueError(f"num_trials: need at least 1, got {num_trials}")
    if num_trials == 1:
        return jnp.zeros(())
    z = (1.0 - EULER_GAMMA) * norm.ppf(1.0 - 1.0 / num_trials) + EULER_GAMMA * norm.ppf(
        1.0 - 1.0 / (num_trials * math.e))
    return jnp.sqrt(variance) * z


def deflated_sharpe(r: jax.Array, num_trials: int, trial_variance: jax.Array | float | None = None
                    ) -> dict[str, jax.Array]:
    """The deflated Sharpe ratio of returns `r` (n,) chosen as the best of `num_trials` configurations.

    Args:
      r: (n,) per-period returns of the chosen configuration.
      num_trials: configurations tried before choosing it (a sweep's runs; 1 when nothing was chosen).
      trial_variance: variance of the trials' per-period Sharpe estimates; None: the estimator's own variance.

    Returns:
      {"psr": PSR(0), "sr0": SR0 per period, "dsr": PSR(SR0)}, each ().
    """
    n = r.shape[-1]
    sr = per_period_sharpe(r)
    skew, kurt = moments(r)
    if trial_variance is None:
        trial_variance = jnp.maximum(1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr**2, 1e-12) / (n - 1.0)
    sr0 = expected_max_sharpe(num_trials, trial_variance)
    return {"psr": probabilistic_sharpe(sr, n, skew, kurt), "sr0": sr0,
            "dsr": probabilistic_sharpe(sr, n, skew, kurt, sr0)}


__all__ = ["bootstrap_indices", "default_block", "deflated_sharpe", "expected_max_sharpe", "moments",
           "paired_sharpe_difference", "per_period_sharpe", "probabilistic_sharpe", "sharpe_interval",
           "stationary_indices"]
