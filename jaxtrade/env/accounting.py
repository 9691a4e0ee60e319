"""Portfolio accounting for one long-only position: pure, jit/vmap-able module functions.

Orders fill at the next bar's open; a buy pays open * (1 + slippage), a sell
receives open * (1 - slippage), and commission is charged on the traded
notional. Costs are reported as the cash lost to commission plus slippage, so
the identity

    cash' + units' * open == cash + units * open - cost

holds for every fill (equity at the open drops by exactly the cost). Cash never
goes negative: a buy spends at most the cash there is, commission included.
All arguments are scalars (or broadcast-compatible arrays under vmap); rates are
in basis points.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

BPS = 1e-4


class Fill(NamedTuple):
    """The book after one order, and what the order did."""

    units: jax.Array  # () units held after the fill
    cash: jax.Array  # () cash after the fill
    entry_price: jax.Array  # () average cost per unit held, commission included (0 when flat)
    traded_units: jax.Array  # () units bought (> 0) or sold (< 0)
    cost: jax.Array  # () commission + slippage paid, >= 0
    realised_pnl: jax.Array  # () for sells: net proceeds - cost basis of the units sold


def buy(
    open_price: jax.Array,
    value: jax.Array,
    units: jax.Array,
    cash: jax.Array,
    entry_price: jax.Array,
    commission_bps: jax.Array,
    slippage_bps: jax.Array,
) -> Fill:
    """Spend `value` of cash (commission included, capped at the cash held) on units.

    Args:
      open_price: () fill bar's open, > 0.
      value: () cash to spend; negative values are treated as 0.
      units, cash, entry_price: () the book before the order.
      commission_bps, slippage_bps: () costs in basis points of notional / price.

    Returns:
      `Fill`; entry_price becomes the average cash paid per unit held.
    """
    c, s = commission_bps * BPS, slippage_bps * BPS
    spend = jnp.clip(value, 0.0, cash)
    notional = spend / (1.0 + c)
    bought = notional / (open_price * (1.0 + s))
    new_units = units + bought
    basis = units * entry_price + spend
    new_entry = jnp.where(new_units > 0, basis / jnp.where(new_units > 0, new_units, 1.0), 0.0)
    # Commission as spend * c / (1 + c), not spend - notional, which cancels in float32.
    cost = spend * (c / (1.0 + c)) + bought * open_price * s
    return Fill(new_units, cash - spend, new_entry, bought, cost, jnp.zeros_like(cash))


def sell(
    open_price: jax.Array,
    fraction: jax.Array,
    units: jax.Array,
    cash: jax.Array,
    entry_price: jax.Array,
    commission_bps: jax.Array,
    slippage_bps: jax.Array,
) -> Fill:
    """Sell `fraction` (clipped to [0, 1]) of the units held.

    Args:
      open_price: () fill bar's open, > 0.
      fraction: () share of the position to sell; 1 closes it exactly.
      units, cash, entry_price: () the book before the order.
      commission_bps, slippage_bps: () costs in basis points.

    Returns:
      `Fill`; realised_pnl = net proceeds - units sold * entry_price.
    """
    c, s = commission_bps * BPS, slippage_bps * BPS
    frac = jnp.clip(fraction, 0.0, 1.0)
    sold = units * frac
    new_units = jnp.where(frac >= 1.0, 0.0, units - sold)
    gross = sold * open_price * (1.0 - s)
    proceeds = gross * (1.0 - c)
    cost = gross * c + sold * open_price * s
    new_entry = jnp.where(new_units > 0, entry_price, 0.0)
    return Fill(new_units, cash + proceeds, new_entry, -sold, cost, proceeds - sold * entry_price)


def mark_to_market(units: jax.Array, cash: jax.Array, price: jax.Array) -> jax.Array:
    """Equity = cash + units * price."""
    return cash + units * price


def unrealised_pnl(units: jax.Array, entry_price: jax.Array, price: jax.Array) -> jax.Array:
    """Paper profit of the position at `price`: units * (price - entry_price)."""
    return units * (price - entry_price)
