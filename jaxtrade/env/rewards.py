"""The shaped reward: seven components, each reported, combined with weights from `EnvParams`.

The env summarises a step as a `StepOutcome` and calls an injected `RewardFn`
on it; the default `shaped_reward` defines the components (all per step, in
`REWARD_COMPONENTS` order):

    pnl              100 * (E' - E) / E                   percent change of equity, costs included
    cost             -100 * cost / E                      commission + slippage, percent of equity
    time_efficiency  100 * P / E * H / (H + d)            when a trade of d bars closes with PnL P,
                     + 100 * min(U, 0) / E / H            each step a position is under water by U:
                     profit per unit of time; a quick win counts more than a slow one, a loss
                     held on costs a little every bar. Zero-edge churning scores < 0 (costs
                     are in P). H = max_hold (or horizon when max_hold is off)
    sharpe           clip(D, -5, 5)                       differential Sharpe ratio of the step return
    drawdown         -100 * max(0, dd' - dd)              new drawdown taken this step, dd = 1 - E / peak
    sizing           -max(0, x' - x*) / (1 - x*)          exposure x' above the target x*, in [-1, 0]
    hold             -1 if flat and doing nothing else 0

E is equity at the decision bar's close, E' at the next close. The total reward
is sum_i w_i * component_i with w = `EnvParams.reward_weights`.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

import jax
import jax.numpy as jnp

from jaxtrade.env.config import REWARD_COMPONENTS
from jaxtrade.env.types import EnvParams
from jaxtrade.features.rolling import safe_div


class StepOutcome(NamedTuple):
    """What one step did, as the reward sees it (all scalars)."""

    equity_before: jax.Array  # () equity at the decision bar's close
    equity_after: jax.Array  # () equity at the next bar's close
    step_return: jax.Array  # () (equity_after - equity_before) / equity_before, computed from the step's parts
    cost: jax.Array  # () commission + slippage paid by this step's fill
    exposure: jax.Array  # () position value / equity after the step
    drawdown_before: jax.Array  # () 1 - equity / peak before the step
    drawdown_after: jax.Array  # () 1 - equity / peak after the step
    differential_sharpe: jax.Array  # () Moody-Saffell D_t of the step return
    holding: jax.Array  # () bool: a position is open after the step
    hold_time: jax.Array  # () int32 bars the open position has been held
    unrealised_pnl: jax.Array  # () units * (close - entry) after the step
    trade_closed: jax.Array  # () bool: this step closed a position
    trade_pnl: jax.Array  # () the closed trade's PnL, costs included (0 if none closed)
    trade_return: jax.Array  # () the closed trade's PnL / cash spent on it (0 if none closed)
    trade_bars: jax.Array  # () int32 bars the closed trade was held (0 if none closed)
    idle: jax.Array  # () bool: flat before and after, and no order was placed


class RewardComponents(NamedTuple):
    """One value per component, in `REWARD_COMPONENTS` order."""

    pnl: jax.Array
    cost: jax.Array
    time_efficiency: jax.Array
    sharpe: jax.Array
    drawdown: jax.Array
    sizing: jax.Array
    hold: jax.Array


assert RewardComponents._fields == REWARD_COMPONENTS


class RewardFn(Protocol):
    """A pure function from a step's outcome to its reward components."""

    def __call__(self, outcome: StepOutcome, params: EnvParams) -> RewardComponents: ...


def shaped_reward(outcome: StepOutcome, params: EnvParams) -> RewardComponents:
    """The default seven-component reward (definitions in the module docstring)."""
    o = outcome
    horizon = jnp.where(params.max_hold > 0, params.max_hold, params.horizon).astype(jnp.float32)
    closed = jnp.where(o.trade_closed, o.trade_pnl * horizon / (horizon + o.trade_bars), 0.0)
    under_water = jnp.where(o.holding, jnp.minimum(o.unrealised_pnl, 0.0), 0.0) / horizon
    target = params.target_exposure
    return RewardComponents(
        pnl=100.0 * o.step_return,
        cost=-100.0 * safe_div(o.cost, o.equity_before),
        time_efficiency=100.0 * safe_div(closed + under_water, o.equity_before),
        sharpe=jnp.clip(o.differential_sharpe, -5.0, 5.0),
        drawdown=-100.0 * jnp.maximum(0.0, o.drawdown_after - o.drawdown_before),
        sizing=-jnp.maximum(0.0, o.exposure - target) / (1.0 - target),
        hold=-o.idle.astype(jnp.float32),
    )


def total_reward(components: RewardComponents, weights: jax.Array) -> jax.Array:
    """sum_i weights[i] * components[i]: () float32."""
    return jnp.dot(jnp.stack(components), weights)
