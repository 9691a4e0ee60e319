"""Accounting on a signed book: pure, jit/vmap-able module functions.

A `Book` holds signed units (> 0 long, < 0 short), cash and the average entry
price. Orders fill at the next bar's open; a buy (long entry or short cover)
pays open * (1 + slippage), a sale (long exit or short entry) receives
open * (1 - slippage), and commission is charged on the traded notional. Costs
are reported as the cash lost to commission plus slippage, so the identity

    cash' + units' * open == cash + units * open - cost

holds for every fill (equity at the open drops by exactly the cost). A long buy
spends at most the cash there is, commission included; a short sale credits its
proceeds to cash, and a short pays a borrow fee per bar on its value
(`borrow_fee`). All arguments are scalars (or broadcast-compatible arrays under
vmap); rates are in basis points.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxtrade.env.actions import Order

BPS = 1e-4


class Book(NamedTuple):
    """One symbol's position and cash."""

    units: jax.Array  # () signed units held: > 0 long, < 0 short
    cash: jax.Array  # () cash
    entry_price: jax.Array  # () average cost (long) or net proceeds (short) per unit, commission included; 0 flat


class Costs(NamedTuple):
    """What trading and holding cost."""

    commission_bps: jax.Array  # () basis points of traded notional
    slippage_bps: jax.Array  # () basis points of the open, against the order
    borrow_bps: jax.Array  # () basis points per year of a short position's value
    bars_per_year: jax.Array  # () converts the annual borrow rate to a per-bar one


class Fill(NamedTuple):
    """The book after one order, and what the order did."""

    units: jax.Array  # () units held after the fill
    cash: jax.Array  # () cash after the fill
    entry_price: jax.Array  # () average entry price per unit held (0 when flat)
    traded_units: jax.Array  # () units bought (> 0) or sold (< 0)
    cost: jax.Array  # () commission + slippage paid, >= 0
    realised_pnl: jax.Array  # () for closes: net cash of the units closed - their entry value
    committed: jax.Array  # () for opens and adds: cash committed to the position (spent long, received short)

    @property
    def book(self) -> Book:
        return Book(self.units, self.cash, self.entry_price)


def buy(
    open_price: jax.Array,
    value: jax.Array,
    units: jax.Array,
    cash: jax.Array,
    entry_price: jax.Array,
    commission_bps: jax.Array,
    slippage_bps: jax.Array,
) -> Fill:
    """Go long: spend `value` of cash (commission included, capped at the cash held) on units.

    Args:
      open_price: () fill bar's open, > 0.
      value: () cash to spend; negative values are treated as 0.
      units, cash, entry_price: () the book before the order (flat or long).
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
    return Fill(new_units, cash - spend, new_entry, bought, cost, jnp.zeros_like(cash), spend)


def sell(
    open_price: jax.Array,
    fraction: jax.Array,
    units: jax.Array,
    cash: jax.Array,
    entry_price: jax.Array,
    commission_bps: jax.Array,
    slippage_bps: jax.Array,
) -> Fill:
    """Close `fraction` (clipped to [0, 1]) of a long position.

    Args:
      open_price: () fill bar's open, > 0.
      fraction: () share of the position to sell; 1 closes it exactly.
      units, cash, entry_price: () the book before the order (long).
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
    return Fill(new_units, cash + proceeds, new_entry, -sold, cost, proceeds - sold * entry_price, jnp.zeros_like(cash))


def short(
    open_price: jax.Array,
    value: jax.Array,
    units: jax.Array,
    cash: jax.Array,
    entry_price: jax.Array,
    commission_bps: jax.Array,
    slippage_bps: jax.Array,
) -> Fill:
    """Go short: sell borrowed units worth `value` at the open (before costs); the net proceeds go to cash.

    Args:
      open_price: () fill bar's open, > 0.
      value: () notional to sell short at the open; negative values are treated as 0.
      units, cash, entry_price: () the book before the order (flat or short).
      commission_bps, slippage_bps: () costs in basis points.

    Returns:
      `Fill`; entry_price becomes the average net proceeds per unit short.
    """
    c, s = commission_bps * BPS, slippage_bps * BPS
    sold = jnp.maximum(value, 0.0) / open_price
    gross = sold * open_price * (1.0 - s)
    proceeds = gross * (1.0 - c)
    new_units = units - sold
    basis = -units * entry_price + proceeds
    new_entry = jnp.where(new_units < 0, basis / jnp.where(new_units < 0, -new_units, 1.0), 0.0)
    cost = gross * c + sold * open_price * s
    return Fill(new_units, cash + proceeds, new_entry, -sold, cost, jnp.zeros_like(cash), proceeds)


def cover(
    open_price: jax.Array,
    fraction: jax.Array,
    units: jax.Array,
    cash: jax.Array,
    entry_price: jax.Array,
    commission_bps: jax.Array,
    slippage_bps: jax.Array,
) -> Fill:
    """Buy back `fraction` (clipped to [0, 1]) of a short position; cash may go negative only if equity has.

    Args:
      open_price: () fill bar's open, > 0.
      fraction: () share of the short to cover; 1 closes it exactly.
      units, cash, entry_price: () the book before the order (short).
      commission_bps, slippage_bps: () costs in basis points.

    Returns:
      `Fill`; realised_pnl = units covered * entry_price - cash paid.
    """
    c, s = commission_bps * BPS, slippage_bps * BPS
    frac = jnp.clip(fraction, 0.0, 1.0)
    bought = -units * frac
    new_units = jnp.where(frac >= 1.0, 0.0, units + bought)
    notional = bought * open_price * (1.0 + s)
    paid = notional * (1.0 + c)
    cost = notional * c + bought * open_price * s
    new_entry = jnp.where(new_units < 0, entry_price, 0.0)
    return Fill(new_units, cash - paid, new_entry, bought, cost, bought * entry_price - paid, jnp.zeros_like(cash))


def execute(book: Book, order: Order, open_price: jax.Array, costs: Costs, allow_short: bool = True) -> Fill:
    """Fill `order` against `book` at `open_price`: close a share of the position, or open on the order's side.

    Args:
      book: the book before the order.
      order: `Order(value, close)`; a close takes precedence, value > 0 buys long, < 0 sells short.
      open_price: () fill bar's open, > 0.
      costs: commission and slippage (borrow is charged per bar by `borrow_fee`).
      allow_short: static; False leaves the short and cover fills out of the program (a long-only book).

    Returns:
      `Fill`: the book after, units traded, cost and realised PnL (all unchanged / 0 for no order).
    """
    rates = (costs.commission_bps, costs.slippage_bps)
    closed = sell(open_price, order.close, *book, *rates)
    opened = buy(open_price, order.value, *book, *rates)
    if allow_short:
        closed = jax.tree.map(lambda lo, sh: jnp.where(book.units > 0, lo, sh), closed,
                              cover(open_price, order.close, *book, *rates))
        opened = jax.tree.map(lambda lo, sh: jnp.where(order.value > 0, lo, sh), opened,
                              short(open_price, -order.value, *book, *rates))
    zero = jnp.zeros_like(book.cash)
    unchanged = Fill(*book, zero, zero, zero, zero)
    return jax.tree.map(lambda c, o, u: jnp.where(order.close > 0, c, jnp.where(order.value != 0, o, u)),
                        closed, opened, unchanged)


def borrow_fee(units: jax.Array, price: jax.Array, costs: Costs) -> jax.Array:
    """() the fee for holding a short of `units` (< 0) one bar at `price`; 0 for a long or flat book."""
    per_bar = costs.borrow_bps * BPS / jnp.where(costs.bars_per_year > 0, costs.bars_per_year, 1.0)
    return jnp.maximum(-units, 0.0) * price * per_bar


def mark_to_market(units: jax.Array, cash: jax.Array, price: jax.Array) -> jax.Array:
    """Equity = cash + units * price."""
    return cash + units * price


def unrealised_pnl(units: jax.Array, entry_price: jax.Array, price: jax.Array) -> jax.Array:
    """Paper profit of the position at `price`: units * (price - entry_price) (signed units)."""
    return units * (price - entry_price)
