"""`Rules`: every numeric `EnvConfig` setting as a traced scalar, the part of `EnvParams` the step and the reward
read (a leaf module: the config builds it, the env and the reward components take it, nothing here imports them).

A new rule is one `EnvConfig` field, one field here (a test checks the two agree) and its use.
"""

from __future__ import annotations

import jax
from flax import struct


class Rules(struct.PyTreeNode):
    """Costs, limits, the horizon and the reward's rates as () arrays (int32 for counts, else float32); they vmap
    like any other param (a sweep over costs or limits is a batch axis here)."""

    horizon: jax.Array  # steps per episode before truncation (int32)
    initial_cash: jax.Array  # cash at the start of every episode
    commission_bps: jax.Array  # commission, basis points of traded notional
    slippage_bps: jax.Array  # slippage against the order, basis points of the open
    max_position: jax.Array  # |position value| / equity an order may not exceed
    stop_loss: jax.Array  # close at price / entry - 1 <= -stop_loss (0 off)
    take_profit: jax.Array  # close at price / entry - 1 >= take_profit (0 off)
    max_hold: jax.Array  # close after this many bars held (int32, 0 off)
    max_drawdown: jax.Array  # the drawdown stop: at this drawdown from the peak (0 off)
    stop_cooldown: jax.Array  # bars in cash after a drawdown stop before trading again (int32, 0: terminal)
    ruin: jax.Array  # terminal at equity <= ruin * initial cash (0 off)
    borrow_bps: jax.Array  # annual fee on a short's value, basis points
    short_margin: jax.Array  # buy shorts in below this equity / short book (0 off)
    vol_target: jax.Array  # sizing by risk: target annual volatility of an order (0 off)
    min_order: jax.Array  # smallest order, a share of equity
    hurdle_rate: jax.Array  # annual return a held position must beat (time_efficiency reward)
    drawdown_free: jax.Array  # drawdown the drawdown reward does not charge
    stop_penalty: jax.Array  # reward points charged on each step a stop fires
    bars_per_year: jax.Array  # the resolved annualisation (config or data)
