"""The Discrete(7) action space, its masks, and the risk rules that force a position closed.

Actions (long-only, sized in fractions of equity at the decision bar's close):

    0 HOLD             do nothing
    1 BUY_SMALL        open a position with 2.5 % of equity
    2 BUY_MEDIUM       open a position with 6 % of equity
    3 BUY_LARGE        open a position with 9 % of equity
    4 SELL_PARTIAL     sell 50 % of the position
    5 SELL_ALL         close the position
    6 ADD_TO_POSITION  add 3 % of equity to an open position

The buys open a position when flat and add to it while holding, so "be long" is
the same action in both states; ADD is the small top-up, valid only while holding.
An action is masked (invalid) when it cannot be carried out: spending more cash
than held, an order that would take the position past the position limit, and
selling or adding with no position. HOLD is always valid.

`ACTION_SIDE` groups the actions by intent (hold 0, buy +1, sell -1): the greedy
policy picks the most probable intent, then its most probable size
(`greedy_action`), so a confident "buy" split over three sizes is not outvoted
by HOLD.
"""

from __future__ import annotations

from enum import IntEnum

import jax
import jax.numpy as jnp


class Action(IntEnum):
    HOLD = 0
    BUY_SMALL = 1
    BUY_MEDIUM = 2
    BUY_LARGE = 3
    SELL_PARTIAL = 4
    SELL_ALL = 5
    ADD_TO_POSITION = 6


NUM_ACTIONS = len(Action)
# Cash to spend, as a fraction of equity, and share of the position to sell, per action.
BUY_FRACTION = (0.0, 0.025, 0.06, 0.09, 0.0, 0.0, 0.03)
SELL_FRACTION = (0.0, 0.0, 0.0, 0.0, 0.5, 1.0, 0.0)
# Intent of each action: 0 hold, +1 buy (open or add), -1 sell.
ACTION_SIDE = (0, 1, 1, 1, -1, -1, 1)


class ExitReason(IntEnum):
    """Why the risk rules closed a position (0: they did not)."""

    NONE = 0
    STOP_LOSS = 1
    TAKE_PROFIT = 2
    MAX_HOLD = 3


def decode_action(action: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(buy fraction of equity, sell fraction of position) for an action index ()."""
    return jnp.asarray(BUY_FRACTION)[action], jnp.asarray(SELL_FRACTION)[action]


def action_mask(
    units: jax.Array,
    cash: jax.Array,
    price: jax.Array,
    max_position: jax.Array,
) -> jax.Array:
    """Which of the 7 actions are valid now.

    Args:
      units: () units held (>= 0).
      cash: () cash held (>= 0).
      price: () the decision bar's close, > 0.
      max_position: () cap on position value / equity, in (0, 1].

    Returns:
      (7,) bool mask; HOLD is always True.
    """
    buy = jnp.asarray(BUY_FRACTION)
    equity = cash + units * price
    holding = units > 0
    spend = buy * equity
    affordable = spend <= cash * (1.0 + 1e-6)
    within_limit = (units * price + spend) <= max_position * equity * (1.0 + 1e-6)
    can_buy = affordable & within_limit & (spend > 0)  # no zero-sized orders at zero equity
    # Which actions buy (any time), top up (only while holding) or sell, read off the action tables.
    adds = jnp.arange(NUM_ACTIONS) == Action.ADD_TO_POSITION
    buys = (buy > 0) & ~adds
    sells = jnp.asarray(SELL_FRACTION) > 0
    return (
        (jnp.arange(NUM_ACTIONS) == Action.HOLD)
        | (buys & can_buy)
        | (adds & holding & can_buy)
        | (sells & holding)
    )


def greedy_action(logits: jax.Array) -> jax.Array:
    """The most probable intent (hold / buy / sell, `ACTION_SIDE`), then its most probable action.

    Args:
      logits: (..., 7) masked logits (masked actions very negative).

    Returns:
      (...,) int32 action index.
    """
    probs = jax.nn.softmax(logits, axis=-1)
    side = jnp.asarray(ACTION_SIDE)
    groups = side[None, :] == jnp.arange(-1, 2)[:, None]  # (3, 7): sell, hold, buy
    intent = jnp.argmax(probs @ groups.T.astype(probs.dtype), axis=-1)  # (...,) in 0..2
    in_group = groups[intent]  # (..., 7)
    return jnp.argmax(jnp.where(in_group, logits, -jnp.inf), axis=-1).astype(jnp.int32)


def forced_exit(
    units: jax.Array,
    entry_price: jax.Array,
    price: jax.Array,
    hold_time: jax.Array,
    stop_loss: jax.Array,
    take_profit: jax.Array,
    max_hold: jax.Array,
) -> jax.Array:
    """The `ExitReason` (int32 ()) that closes the position at the next open, or NONE.

    Checked at the decision bar's close, in priority order: stop loss (price /
    entry - 1 <= -stop_loss), take profit (>= take_profit), max hold time
    (hold_time >= max_hold bars). A threshold <= 0 switches its rule off.

    Args:
      units: () units held; no position means NONE.
      entry_price: () average cost per unit, commission included.
      price: () the decision bar's close.
      hold_time: () bars the position has been open.
      stop_loss, take_profit: () fractional thresholds, e.g. 0.05 and 0.10.
      max_hold: () bars.
    """
    holding = units > 0
    ret = price / jnp.where(entry_price > 0, entry_price, price) - 1.0
    stop = holding & (stop_loss > 0) & (ret <= -stop_loss)
    take = holding & (take_profit > 0) & (ret >= take_profit)
    hold = holding & (max_hold > 0) & (hold_time >= max_hold)
    return jnp.select(
        [stop, take, hold],
        [ExitReason.STOP_LOSS, ExitReason.TAKE_PROFIT, ExitReason.MAX_HOLD],
        ExitReason.NONE,
    ).astype(jnp.int32)
