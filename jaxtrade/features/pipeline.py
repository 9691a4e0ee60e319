"""The feature pipeline: `MarketData` -> 23 technical features and 10 regime indicators per bar.

Computed once, vectorised over symbols and time, in one jitted program. A
feature at bar t uses bars <= t only (bar t's close is known when the agent
acts at the end of bar t).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from flax import struct

from jaxtrade.data.types import CLOSE, HIGH, LOW, OPEN, SECONDS_PER_DAY, VOLUME, MarketData
from jaxtrade.features import indicators as ind
from jaxtrade.features.config import FeatureConfig
from jaxtrade.features.normalize import normalize
from jaxtrade.features.rolling import (
    lag,
    rolling_max,
    rolling_mean,
    rolling_min,
    rolling_sum,
)
from jaxtrade.numeric import safe_div

TECHNICAL_FEATURES = (
    # OHLCV-derived (6)
    "log_return",  # log(c_t / c_{t-1})
    "gap",  # log(o_t / c_{t-1})
    "high_rel",  # log(h_t / c_t)
    "low_rel",  # log(l_t / c_t)
    "body",  # log(c_t / o_t)
    "rel_volume",  # log1p(v_t) - mean_20 log1p(v)
    # Technical indicators (14)
    "sma_ratio",  # c / SMA_20 - 1
    "ema_ratio",  # c / EMA_50 - 1
    "rsi",  # RSI_14 / 100
    "macd",  # (EMA_12 - EMA_26) / c
    "macd_signal",  # EMA_9(MACD) / c
    "bb_pctb",  # Bollinger %B (20, 2)
    "bb_width",  # Bollinger width (upper - lower) / mid
    "atr",  # ATR_14 / c
    "stoch_k",  # %K_14 / 100
    "stoch_d",  # %D_3 / 100
    "adx",  # ADX_14 / 100
    "obv_flow",  # 20-bar OBV change / volume traded
    "volatility",  # 20-bar std of log returns
    "roc",  # c_t / c_{t-10} - 1
    # Sentiment (1)
    "sentiment",  # data column, 0 = neutral
    # Temporal (2)
    "time_of_day",  # sin(2 pi seconds / 86400)
    "day_of_week",  # sin(2 pi (weekday + day fraction) / 7), Monday = 0
)
NUM_NORMALIZED = 20  # OHLCV-derived + indicators; sentiment and temporal pass through
REGIME_FEATURES = (
    "vol_level",  # log(vol_20 / vol_100)
    "vol_trend",  # log(vol_20 / vol_20 twenty bars ago)
    "trend_direction",  # log(SMA_20 / SMA_100)
    "trend_efficiency",  # Kaufman efficiency ratio, 20 bars
    "momentum",  # 20-bar return / (vol_20 sqrt 20), clipped to +-10
    "long_momentum",  # 100-bar return / (vol_100 sqrt 100), clipped to +-10
    "autocorrelation",  # lag-1 autocorrelation of returns, 50 bars
    "volume_regime",  # log((mean v_20 + 1) / (mean v_100 + 1))
    "drawdown",  # log(c / 100-bar high)
    "range_position",  # (c - 100-bar low) / (100-bar high - low)
)
NUM_TECHNICAL = len(TECHNICAL_FEATURES)  # 23
NUM_REGIME = len(REGIME_FEATURES)  # 10


class Features(struct.PyTreeNode):
    """Per-bar model inputs aligned with the `MarketData` they came from."""

    technical: jax.Array  # (S, T, 23) float32: normalised technical features
    regime: jax.Array  # (S, T, 10) float32: regime indicators
    ready: jax.Array  # (S, T) bool: a real bar past the warm-up


@jax.jit
def technical_raw(data: MarketData) -> jax.Array:
    """The 23 technical features before normalisation: (S, T, 23)."""
    p = data.prices
    o, h, lo, c, v = (p[..., i] for i in (OPEN, HIGH, LOW, CLOSE, VOLUME))
    ret = ind.log_return(c)
    log_v = jnp.log1p(v)
    macd_line, macd_signal = ind.macd(c)
    pctb, width = ind.bollinger(c)
    k, d = ind.stochastic(h, lo, c)
    day_frac = data.second.astype(jnp.float32) / SECONDS_PER_DAY
    weekday = ((data.day + 3) % 7).astype(jnp.float32)  # 1970-01-01 was a Thursday
    shape = c.shape
    cols = [
        ret,
        jnp.log(o / lag(c, 1)),
        jnp.log(h / c),
        jnp.log(lo / c),
        jnp.log(c / o),
        log_v - rolling_mean(log_v, 20),
        c / ind.sma(c, 20) - 1.0,
        ind.ema_ratio(c, 50),
        ind.rsi(c) / 100.0,
        macd_line / c,
        macd_signal / c,
        pctb,
        width,
        ind.atr(h, lo, c) / c,
        k / 100.0,
        d / 100.0,
        ind.adx(h, lo, c) / 100.0,
        ind.obv_flow(c, v),
        ind.realised_vol(ret, 20),
        ind.roc(c),
        data.sentiment,
        jnp.broadcast_to(jnp.sin(2 * jnp.pi * day_frac), shape),
        jnp.broadcast_to(jnp.sin(2 * jnp.pi * (weekday + day_frac) / 7.0), shape),
    ]
    return jnp.stack(cols, axis=-1).astype(jnp.float32)


@jax.jit
def regime_indicators(data: MarketData) -> jax.Array:
    """The 10 regime indicators: (S, T, 10)."""
    p = data.prices
    h, lo, c, v = p[..., HIGH], p[..., LOW], p[..., CLOSE], p[..., VOLUME]
    ret = ind.log_return(c)
    vol20, vol100 = ind.realised_vol(ret, 20), ind.realised_vol(ret, 100)
    high100, low100 = rolling_max(h, 100), rolling_min(lo, 100)
    cols = [
        jnp.log(safe_div(vol20, vol100, 1.0) + 1e-6),
        jnp.log(safe_div(vol20, lag(vol20, 20), 1.0) + 1e-6),
        jnp.log(ind.sma(c, 20) / ind.sma(c, 100)),
        ind.efficiency_ratio(c, 20),
        jnp.clip(safe_div(rolling_sum(ret, 20), vol20 * jnp.sqrt(20.0)), -10.0, 10.0),
        jnp.clip(safe_div(rolling_sum(ret, 100), vol100 * 10.0), -10.0, 10.0),
        ind.rolling_autocorr(ret, 50),
        jnp.log((rolling_mean(v, 20) + 1.0) / (rolling_mean(v, 100) + 1.0)),
        jnp.log(c / high100),
        safe_div(c - low100, high100 - low100, 0.5),
    ]
    return jnp.stack(cols, axis=-1).astype(jnp.float32)


def ready_mask(valid: jax.Array, warmup: int) -> jax.Array:
    """(S, T) bool: a real bar at least `warmup` bars after the symbol's first real bar."""
    T = valid.shape[-1]
    first = jnp.argmax(valid, axis=-1)
    return valid & (jnp.arange(T)[None, :] >= first[:, None] + warmup)


@partial(jax.jit, static_argnums=1)
def compute_features(data: MarketData, cfg: FeatureConfig = FeatureConfig()) -> Features:
    """All features of `data`, vectorised over symbols and time.

    Args:
      data: aligned market data, S symbols x T bars.
      cfg: normalisation settings (static).

    Returns:
      `Features` with technical (S, T, 23), regime (S, T, 10) and ready (S, T).
    """
    raw = technical_raw(data)
    head = jnp.moveaxis(raw[..., :NUM_NORMALIZED], -1, -2)  # (S, 20, T): time last
    normed = normalize(head, cfg.normalization, cfg.norm_window, cfg.clip)
    technical = jnp.concatenate([jnp.moveaxis(normed, -2, -1), raw[..., NUM_NORMALIZED:]], axis=-1)
    return Features(
        technical=technical,
        regime=regime_indicators(data),
        ready=ready_mask(data.valid, cfg.warmup),
    )
