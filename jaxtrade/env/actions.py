"""The action table, its masks, and the risk rules that force a position closed.

Every action is a row of data (`ActionSpec`): the book side it acts on, the
fraction of equity it puts on that side, and the share of that side's position
it closes. `decide` turns an action index into an `Order` for the accounting;
masks, forced exits, the greedy policy, baselines and the master agent all read
side and meaning from the same table, so a new action or side is a new row.

`LONG_ONLY` (the default, Discrete(7)), sized in fractions of equity at the
decision bar's close:

    0 HOLD             do nothing
    1 BUY_SMALL        go long 2.5 % of equity (open, or add to a long)
    2 BUY_MEDIUM       go long 6 %
    3 BUY_LARGE        go long 9 %
    4 SELL_PARTIAL     sell 50 % of the long position
    5 SELL_ALL         close the long position
    6 ADD_TO_POSITION  add 3 % to an open long (only while long)

`LONG_SHORT` (`env.allow_short`, Discrete(13)) appends the mirror image:

    7 SHORT_SMALL      sell short 2.5 % of equity (open, or add to a short)
    8 SHORT_MEDIUM     6 %
    9 SHORT_LARGE      9 %
   10 COVER_PARTIAL    buy back 50 % of the short position
   11 COVER_ALL        close the short position
   12 ADD_TO_SHORT     add 3 % to an open short (only while short)

A book is long, short or flat, never both: an order on one side is valid only
when the book is flat or already on that side, so reversing takes a close and an
open. An action is masked (invalid) when it cannot be carried out: buying with
more cash than held, an order that would take the position's absolute value past
the position limit, closing or adding with no position on that side. HOLD is
always valid.

The intent of an action (`ActionTable.intent`) is the direction it moves
exposure: +1 buys and covers, -1 sells and shorts, 0 HOLD. The greedy policy
picks the most probable intent, then its most probable action (`greedy_action`),
so a confident "buy" split over three sizes is not outvoted by HOLD.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class ActionSpec(NamedTuple):
    """One action: what it does to the book."""

    name: str
    side: int  # book side it acts on: +1 long, -1 short, 0 none (HOLD)
    open: float  # fraction of equity put on `side` (opens, or adds to, a position there)
    close: float  # share of the position on `side` closed (1 closes it exactly)
    adds_only: bool = False  # valid only while a position on `side` is open


@dataclass(frozen=True)
class ActionTable:
    """An action space as data: one `ActionSpec` per action index (static, hashable)."""

    specs: tuple[ActionSpec, ...]

    def __post_init__(self):
        for s in self.specs:
            if s.side not in (-1, 0, 1) or (s.open > 0) == (s.close > 0) and s.side != 0 or min(s.open, s.close) < 0:
                raise ValueError(f"action {s.name}: needs exactly one of open > 0 or close > 0 on side +-1")
        if self.specs[0].side != 0:
            raise ValueError("action 0 must be HOLD")

    @property
    def num_actions(self) -> int:
        return len(self.specs)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.specs)

    @property
    def allows_short(self) -> bool:
        return any(s.side < 0 for s in self.specs)

    def index(self, name: str) -> int:
        return self.names.index(name)

    def column(self, field: str) -> np.ndarray:
        """(A,) one `ActionSpec` field over the actions (NumPy, a constant under jit)."""
        return np.asarray([getattr(s, field) for s in self.specs])

    @property
    def intent(self) -> np.ndarray:
        """(A,) int direction each action moves exposure: +1 buy or cover, -1 sell or short, 0 hold."""
        side, opens = self.column("side"), self.column("open") > 0
        return np.where(opens, side, -side).astype(np.int32)

    def opens(self, side: int) -> np.ndarray:
        """(A,) bool: actions that open or add on `side`."""
        return (self.column("side") == side) & (self.column("open") > 0)

    def closes(self, side: int) -> np.ndarray:
        """(A,) bool: actions that close (part of) a position on `side`."""
        return (self.column("side") == side) & (self.column("close") > 0)

    def close_action(self, side: int, whole: bool = True) -> int:
        """The action that closes all (`whole`) or part of the position on `side`."""
        return int(np.flatnonzero(self.closes(side) & ((self.column("close") >= 1) == whole))[0])


class Action(IntEnum):
    HOLD = 0
    BUY_SMALL = 1
    BUY_MEDIUM = 2
    BUY_LARGE = 3
    SELL_PARTIAL = 4
    SELL_ALL = 5
    ADD_TO_POSITION = 6


class ShortAction(IntEnum):
    """The short side's actions, after the long ones in `LONG_SHORT`."""

    SHORT_SMALL = 7
    SHORT_MEDIUM = 8
    SHORT_LARGE = 9
    COVER_PARTIAL = 10
    COVER_ALL = 11
    ADD_TO_SHORT = 12


def _side_rows(side: int, names: tuple[str, ...]) -> tuple[ActionSpec, ...]:
    small, medium, large, partial, all_, add = names
    return (
        ActionSpec(small, side, 0.025, 0.0),
        ActionSpec(medium, side, 0.06, 0.0),
        ActionSpec(large, side, 0.09, 0.0),
        ActionSpec(partial, side, 0.0, 0.5),
        ActionSpec(all_, side, 0.0, 1.0),
        ActionSpec(add, side, 0.03, 0.0, adds_only=True),
    )


LONG_ONLY = ActionTable((ActionSpec("HOLD", 0, 0.0, 0.0),) + _side_rows(+1, tuple(a.name for a in Action)[1:]))
LONG_SHORT = ActionTable(LONG_ONLY.specs + _side_rows(-1, tuple(a.name for a in ShortAction)))
TABLES = {t.num_actions: t for t in (LONG_ONLY, LONG_SHORT)}

NUM_ACTIONS = LONG_ONLY.num_actions  # 7, the default action space


def action_table(allow_short: bool) -> ActionTable:
    """`LONG_SHORT` when shorts are allowed, else `LONG_ONLY`."""
    return LONG_SHORT if allow_short else LONG_ONLY


def table_for(num_actions: int) -> ActionTable:
    """The shipped table with `num_actions` actions (for code that only sees logits)."""
    if num_actions not in TABLES:
        raise ValueError(f"no action table with {num_actions} actions; known sizes {sorted(TABLES)}")
    return TABLES[num_actions]


class ExitReason(IntEnum):
    """Why the risk rules closed a position (0: they did not)."""

    NONE = 0
    STOP_LOSS = 1
    TAKE_PROFIT = 2
    MAX_HOLD = 3
    MARGIN_CALL = 4  # a short's equity fell below the maintenance margin: bought in
    ACCOUNT_STOP = 5  # the account hit a terminal rule in an evaluation run (`EnvParams.on_stop`): liquidated
    DATA_END = 6  # the symbol's data ended for good inside a portfolio episode: sold at its last close


class StopReason(IntEnum):
    """Which terminal rule stopped the account (0: none did). In training the episode ends there
    (terminated); in an evaluation run (`EnvParams.on_stop == "liquidate"`) the book is closed at the next
    open and stays in cash to the end of the period."""

    NONE = 0
    DRAWDOWN = 1  # equity fell max_drawdown below its peak
    RUIN = 2  # equity at or below ruin x initial cash
    BANKRUPT = 3  # equity at or below 0, or not a finite number


class Order(NamedTuple):
    """What the accounting executes at the next open (scalars)."""

    value: jax.Array  # () value to open: > 0 buys long (cash spent, costs included), < 0 sells short
    close: jax.Array  # () share of the current position to close, in [0, 1]


def decode_action(action: jax.Array, table: ActionTable = LONG_ONLY) -> tuple[jax.Array, jax.Array]:
    """(fraction of equity to open, share of the position to close) for an action index ()."""
    return jnp.asarray(table.column("open"), jnp.float32)[action], jnp.asarray(table.column("close"),
                                                                                  jnp.float32)[action]


def decide(action: jax.Array, equity: jax.Array, table: ActionTable = LONG_ONLY, scale: jax.Array | float = 1.0
           ) -> Order:
    """The `Order` an (already validated) action index places for a book worth `equity`; opens are the table's
    fraction of equity times `scale` (sizing by risk, `env.order_scale`)."""
    open_frac, close = decode_action(action, table)
    side = jnp.asarray(table.column("side"), jnp.float32)[action]
    return Order(value=side * open_frac * scale * equity, close=close)


def action_mask(
    units: jax.Array,
    cash: jax.Array,
    price: jax.Array,
    max_position: jax.Array,
    table: ActionTable = LONG_ONLY,
    equity: jax.Array | None = None,
    scale: jax.Array | float = 1.0,
) -> jax.Array:
    """Which actions are valid now.

    Args:
      units: () signed units held (> 0 long, < 0 short).
      cash: () cash held.
      price: () the decision bar's close, > 0.
      max_position: () cap on |position value| / equity, in (0, 1].
      table: the action space.
      equity: () the equity orders are sized on and the limit applies to (default cash + units * price, a
        single-symbol book; a portfolio passes its total equity and shared cash).
      scale: () what the opens' table fractions are multiplied by (`decide`).

    Returns:
      (A,) bool mask; HOLD is always True.
    """
    side = jnp.asarray(table.column("side"))
    opens = jnp.asarray(table.column("open"))
    closes = jnp.asarray(table.column("close")) > 0
    adds_only = jnp.asarray(table.column("adds_only"))
    equity = cash + units * price if equity is None else equity
    on_side = units * side  # > 0: a position on the action's side; 0: flat
    order = opens * scale * equity
    # Buys pay cash; short sales receive it, so only the limit binds them.
    affordable = (side < 0) | (order <= cash * (1.0 + 1e-6))
    within_limit = (jnp.abs(units) * price + order) <= max_position * equity * (1.0 + 1e-6)
    can_open = (opens > 0) & (on_side >= 0) & (~adds_only | (on_side > 0)) & affordable & within_limit & (order > 0)
    return (side == 0) | can_open | (closes & (on_side > 0))


def greedy_action(logits: jax.Array, table: ActionTable | None = None) -> jax.Array:
    """The most probable intent (`ActionTable.intent`), then its most probable action.

    Args:
      logits: (..., A) masked logits (masked actions very negative).
      table: the action space; None picks the shipped table with A actions.

    Returns:
      (...,) int32 action index.
    """
    table = table or table_for(logits.shape[-1])
    probs = jax.nn.softmax(logits, axis=-1)
    intent = jnp.asarray(table.intent)
    groups = intent[None, :] == jnp.arange(-1, 2)[:, None]  # (3, A): decrease, hold, increase exposure
    best = jnp.argmax(probs @ groups.T.astype(probs.dtype), axis=-1)  # (...,) in 0..2
    return jnp.argmax(jnp.where(groups[best], logits, -jnp.inf), axis=-1).astype(jnp.int32)


def largest_open(mask: jax.Array, side: int, table: ActionTable = LONG_ONLY) -> jax.Array:
    """The valid action that puts the most equity on `side` (opens before adds), else HOLD.

    Args:
      mask: (..., A) valid actions.

    Returns:
      (...,) int32 action index.
    """
    size = table.column("open") * table.opens(side) + table.opens(side) * ~table.column("adds_only")
    size = jnp.where(mask, jnp.asarray(size, jnp.float32), 0.0)
    return jnp.where(size.max(-1) > 0, jnp.argmax(size, -1), 0).astype(jnp.int32)


def toward_exposure(mask: jax.Array, exposure: jax.Array, target: jax.Array, table: ActionTable = LONG_ONLY,
                    band: float = 0.25, scale: jax.Array | float = 1.0) -> jax.Array:
    """(...,) int32: the valid action that moves a book's signed exposure (position value / equity) toward
    `target` through the table's orders: a position on the other side of the target, or any position when the
    target is 0, closed whole; one more than `band` x |target| past it half closed; below it, the largest valid
    open on the target's side that does not pass it (opens before adds of the same size), else HOLD.

    Args:
      mask: (..., A) valid actions. exposure, target: (...,) signed shares of equity. scale: (...,) what the
        opens' table fractions are multiplied by (`Observation.risk` "order_scale").
    """
    side = jnp.sign(target)
    held = jnp.sign(exposure)
    fraction = jnp.asarray(table.column("open"), jnp.float32) * jnp.asarray(scale)[..., None]
    order_side = jnp.asarray(table.column("side"))
    gap = jnp.abs(target) - jnp.abs(exposure)
    fits = (mask & (fraction > 0) & (order_side == side[..., None])
            & (fraction <= gap[..., None] + 1e-6))
    size = jnp.where(fits, fraction + 1e-4 * ~jnp.asarray(table.column("adds_only")), -1.0)
    grow = jnp.where(size.max(-1) > 0, jnp.argmax(size, -1), 0)
    half = (jnp.where(held > 0, table.close_action(+1, whole=False), table.close_action(-1, whole=False))
            if table.allows_short else table.close_action(+1, whole=False))
    wrong = (held != 0) & (held != side)
    over = (held != 0) & (held == side) & (jnp.abs(exposure) > jnp.abs(target) * (1.0 + band))
    action = jnp.select([wrong, over], [close_all(held, table), jnp.full_like(grow, half)], grow)
    return jnp.where(jnp.take_along_axis(mask, action[..., None].astype(jnp.int32), -1)[..., 0], action,
                     0).astype(jnp.int32)


def close_all(units: jax.Array, table: ActionTable = LONG_ONLY) -> jax.Array:
    """(...,) int32: the action that closes the whole position on its side, HOLD when flat."""
    long_all = table.close_action(+1)
    if not table.allows_short:
        return jnp.where(units > 0, long_all, 0).astype(jnp.int32)
    return jnp.select([units > 0, units < 0], [long_all, table.close_action(-1)], 0).astype(jnp.int32)


def forced_exit(
    units: jax.Array,
    entry_price: jax.Array,
    price: jax.Array,
    hold_time: jax.Array,
    stop_loss: jax.Array,
    take_profit: jax.Array,
    max_hold: jax.Array,
    equity: jax.Array | None = None,
    short_margin: jax.Array | float = 0.0,
    short_book: jax.Array | None = None,
) -> jax.Array:
    """The `ExitReason` (int32 ()) that closes the position at the next open, or NONE.

    Checked at the decision bar's close, in priority order: margin call (a short,
    on an account whose equity < short_margin * the value of its whole short book:
    every short is bought in), stop loss (the position's
    return side * (price / entry - 1) <= -stop_loss), take profit (>= take_profit),
    max hold time (hold_time >= max_hold bars). A threshold <= 0 switches its rule off.

    Args:
      units: () signed units held; no position means NONE.
      entry_price: () average cost (long) or net proceeds (short) per unit, commission included.
      price: () the decision bar's close.
      hold_time: () bars the position has been open.
      stop_loss, take_profit: () fractional thresholds, e.g. 0.05 and 0.10.
      max_hold: () bars.
      equity: () the account's equity at `price` (needed for the margin call only).
      short_margin: () maintenance margin, as a share of the short book's value.
      short_book: () value of every short the account holds at this close (default: this position's own, a
        single-symbol account); a portfolio passes the sum over its symbols.
    """
    holding = units != 0
    ret = jnp.sign(units) * (price / jnp.where(entry_price > 0, entry_price, price) - 1.0)
    short_book = jnp.maximum(-units, 0.0) * price if short_book is None else short_book
    margin_call = jnp.zeros((), bool) if equity is None else (
        (units < 0) & (short_margin > 0) & (equity < short_margin * short_book))
    stop = holding & (stop_loss > 0) & (ret <= -stop_loss)
    take = holding & (take_profit > 0) & (ret >= take_profit)
    hold = holding & (max_hold > 0) & (hold_time >= max_hold)
    return jnp.select(
        [margin_call, stop, take, hold],
        [ExitReason.MARGIN_CALL, ExitReason.STOP_LOSS, ExitReason.TAKE_PROFIT, ExitReason.MAX_HOLD],
        ExitReason.NONE,
    ).astype(jnp.int32)
