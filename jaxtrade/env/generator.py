"""Episode start generators: the initial `EnvState` of an episode, drawn from the params' start table.

Swappable (`TradingEnv(start_generator=...)`): a generator is any pure
`(key, params) -> EnvState`.
"""

from __future__ import annotations

from typing import Protocol

import jax
import jax.numpy as jnp

from jaxtrade.env.stats import RunningStats
from jaxtrade.env.types import EnvParams, EnvState


def initial_state(symbol: jax.Array, bar: jax.Array, params: EnvParams) -> EnvState:
    """A flat book holding the initial cash, about to decide at bar `bar` of `symbol`."""
    zf = jnp.zeros((), jnp.float32)
    zi = jnp.zeros((), jnp.int32)
    cash = params.rules.initial_cash.astype(jnp.float32)
    return EnvState(
        symbol=jnp.asarray(symbol, jnp.int32),
        bar=jnp.asarray(bar, jnp.int32),
        steps=zi,
        cash=cash,
        units=zf,
        entry_price=zf,
        hold_time=zi,
        equity=cash,
        peak_equity=cash,
        realised_pnl=zf,
        total_cost=zf,
        trade_pnl=zf,
        trade_basis=zf,
        trades=zi,
        wins=zi,
        trade_bars=zi,
        gross_profit=zf,
        gross_loss=zf,
        returns=RunningStats.zeros(),
        stop_reason=zi,
        stop_bar=jnp.full((), -1, jnp.int32),
        stops=zi,
        resume_bar=zi,
    )


class StartGenerator(Protocol):
    """Draws the initial `EnvState` of an episode."""

    def __call__(self, key: jax.Array, params: EnvParams) -> EnvState: ...


def uniform_start(key: jax.Array, params: EnvParams) -> EnvState:
    """A start drawn uniformly from every valid (symbol, bar) of the split."""
    i = jax.random.randint(key, (), 0, params.starts.count)
    return initial_state(params.starts.symbol[i], params.starts.bar[i], params)


