"""The master (portfolio) agent: allocates capital across symbols on top of the symbol agents.

Each symbol agent proposes an action from its own policy; the master sees every
symbol's action distribution and value, the current exposures and the action
masks, and returns an `Allocation`: an exposure budget per symbol (a fraction
of portfolio equity, summing to at most the total exposure limit) and the
actions actually sent to the envs, gated so that no buy takes a symbol past its
budget and symbols over budget are reduced.

A master is a pair of pure functions, so a learned one (a flax module trained
by PPO on the portfolio reward) drops in for the rule-based one:

    params = master.init(key, inputs)
    allocation = master.apply(params, inputs)        # jit/vmap-able

`ConfidenceAllocator` is the rule-based implementation.
"""

from __future__ import annotations

from typing import Any, Protocol

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxtrade.env.actions import ActionTable
from jaxtrade.errors import ConfigError


class AllocationInput(struct.PyTreeNode):
    """What the master sees at one decision bar, for S symbols."""

    probs: jax.Array  # (S, A) symbol agents' action probabilities (0 on masked actions)
    values: jax.Array  # (S,) symbol agents' critic values
    proposed: jax.Array  # (S,) int32 actions the symbol agents chose
    action_mask: jax.Array  # (S, A) bool valid actions per symbol
    exposure: jax.Array  # (S,) signed position value / portfolio equity
    equity_share: jax.Array  # (S,) what an open's table fraction is multiplied by to give the exposure it adds:
    # symbol account equity / portfolio equity, times the order scale when sizing by risk (on a shared book,
    # where orders are sized on the portfolio's equity: the order scale, 1 unless sizing by risk)
    # What a learned master also reads (None where the caller has no portfolio env behind it):
    tradeable: jax.Array | None = None  # (S,) bool: the symbol can trade at this bar
    features: jax.Array | None = None  # (S, F) per-symbol features (`learned_master.symbol_features`)
    book: jax.Array | None = None  # (B,) the account's state (`env.types.BOOK_FEATURES`)
    # The env's action table (static): what each action index does. Required: a master never infers it from the
    # mask's width, so a custom table of the shipped size is read as itself.
    actions: ActionTable | None = struct.field(pytree_node=False, default=None)


class Allocation(struct.PyTreeNode):
    budget: jax.Array  # (S,) gross exposure budget, fraction of portfolio equity; sum <= the total limit
    action: jax.Array  # (S,) int32 actions to execute (valid under action_mask)


class MasterAgent(Protocol):
    """init(key, inputs) -> params; apply(params, inputs) -> Allocation (pure, jit/vmap-able)."""

    def init(self, key: jax.Array, inputs: AllocationInput) -> Any: ...

    def apply(self, params: Any, inputs: AllocationInput) -> Allocation: ...


def _table(inputs: AllocationInput) -> ActionTable:
    """The env's action table the inputs carry (checked against the mask's width at trace time)."""
    if inputs.actions is None:
        raise ConfigError("AllocationInput.actions: the env's action table is required (e.g. `env.actions`, or "
                          "`params.env.actions` of portfolio params); a master does not guess it from the mask")
    if inputs.actions.num_actions != inputs.action_mask.shape[-1]:
        raise ConfigError(f"AllocationInput: the action table has {inputs.actions.num_actions} actions, the mask "
                          f"{inputs.action_mask.shape[-1]}")
    return inputs.actions


def exposure_change(inputs: AllocationInput) -> jax.Array:
    """(S, A): each action's change of the symbol's signed exposure, as a fraction of portfolio equity."""
    table = _table(inputs)
    opened = jnp.asarray(table.column("side") * table.column("open"))[None, :] * inputs.equity_share[:, None]
    closed = jnp.asarray(table.column("close"))[None, :] * inputs.exposure[:, None]
    return opened - closed


def _reduce(exposure: jax.Array, budget: jax.Array, table: ActionTable) -> jax.Array:
    """(S,) the close on the position's side: all of it when the budget is 0, else the partial close."""
    pick = table.close_action
    long = jnp.where(budget <= 0, pick(+1, True), pick(+1, False))
    if not table.allows_short:
        return long.astype(jnp.int32)
    shrt = jnp.where(budget <= 0, pick(-1, True), pick(-1, False))
    return jnp.where(exposure < 0, shrt, long).astype(jnp.int32)


TOP_UP = 0.25  # `gate_actions`: a budget this much free takes an order larger than its room (the env cuts it)


def gate_actions(inputs: AllocationInput, budget: jax.Array, tolerance: float = 0.0) -> jax.Array:
    """The actions to execute under per-symbol exposure budgets.

    - A proposed order that opens or adds (long or short) and keeps the symbol's
      gross exposure within budget goes through; one that does not becomes the
      largest valid order on the same side that fits. When none fits but at
      least `TOP_UP` of the budget is free, it becomes the smallest order on that
      side, which the portfolio env fills only up to the budget (`PortfolioEnv`
      caps a symbol's buys at its budget): budgets finer than the action table's
      smallest order (equal weight over 143 symbols is 0.7 % each) still fill.
      Else HOLD.
    - A symbol more than `tolerance` over its budget is reduced: its position
      closed when the budget is 0, else half closed (whatever the agent proposed,
      if valid).
    - Closes and holds within budget pass unchanged.
    """
    table = _table(inputs)
    change = exposure_change(inputs)  # (S, A)
    after = jnp.abs(inputs.exposure[:, None] + change)
    is_buy = jnp.asarray(table.column("open") > 0)
    side = jnp.asarray(table.column("side"))
    fits = inputs.action_mask & (~is_buy[None, :] | (after <= budget[:, None] + 1e-9))
    proposed = inputs.proposed.astype(jnp.int32)
    proposed_fits = jnp.take_along_axis(fits, proposed[:, None], axis=1)[:, 0]
    # The largest order on the proposed side that fits (by exposure added), else the smallest when enough of the
    # budget is free (the env cuts it to the budget), else HOLD.
    same_side = is_buy[None, :] & (side[None, :] == side[proposed][:, None]) & inputs.action_mask
    size = jnp.where(same_side & fits, jnp.abs(change), -jnp.inf)
    smallest = jnp.where(same_side, jnp.abs(change), jnp.inf)
    room = budget - jnp.abs(inputs.exposure)
    top_up = jnp.isfinite(smallest.min(-1)) & (room > 0) & (room >= TOP_UP * budget)
    best_buy = jnp.where(jnp.isfinite(size.max(-1)), jnp.argmax(size, -1),
                         jnp.where(top_up, jnp.argmin(smallest, -1), 0)).astype(jnp.int32)
    action = jnp.where(proposed_fits, proposed, jnp.where(is_buy[proposed], best_buy, 0))
    over = jnp.abs(inputs.exposure) > budget + tolerance
    reduce = _reduce(inputs.exposure, budget, table)
    reduce_ok = jnp.take_along_axis(inputs.action_mask, reduce[:, None], axis=1)[:, 0]
    return jnp.where(over & reduce_ok, reduce, action).astype(jnp.int32)


def conviction_scores(inputs: AllocationInput, value_scale: float = 1.0) -> jax.Array:
    """(..., S) how much each symbol's agent wants a position: max(P(open or add, either side) - P(close), 0),
    tilted by exp((V - max V) / value_scale) (the max over the symbols)."""
    table = _table(inputs)
    conviction = inputs.probs @ jnp.asarray((table.column("open") > 0).astype(np.float32)
                                            - (table.column("close") > 0))
    tilt = jnp.exp((inputs.values - inputs.values.max(-1, keepdims=True)) / value_scale)
    return jnp.maximum(conviction, 0.0) * tilt


class ConfidenceAllocator:
    """Rule-based master: capital goes to the symbols whose agents most confidently want a position.

    conviction_s = P_s(open or add, either side) - P_s(close), score_s = max(conviction_s, 0) *
    exp((V_s - max V) / value_scale), budget_s = min(per_symbol_limit,
    total_limit * score_s / sum score) (0 for every symbol when no score is
    positive). Actions are then gated by `gate_actions`. No parameters.
    """

    def __init__(self, total_limit: float = 1.0, per_symbol_limit: float = 0.3, value_scale: float = 1.0,
                 tolerance: float = 0.02):
        for name, v, lo, hi in (("total_limit", total_limit, 0.0, 1.0), ("per_symbol_limit", per_symbol_limit,
                                0.0, 1.0), ("value_scale", value_scale, 0.0, float("inf")),
                                ("tolerance", tolerance, -1e-12, 1.0)):
            if not (isinstance(v, (int, float)) and lo < v <= hi):
                raise ConfigError(f"master.{name}: must be in ({lo:g}, {hi:g}], got {v!r}")
        self.total_limit = float(total_limit)
        self.per_symbol_limit = float(per_symbol_limit)
        self.value_scale = float(value_scale)
        self.tolerance = float(tolerance)

    def init(self, key: jax.Array, inputs: AllocationInput) -> dict:
        return {}

    def budgets(self, inputs: AllocationInput) -> jax.Array:
        score = conviction_scores(inputs, self.value_scale)
        total = score.sum()
        share = jnp.where(total > 0, score / jnp.where(total > 0, total, 1.0), 0.0)
        return jnp.minimum(self.per_symbol_limit, self.total_limit * share)

    def apply(self, params: dict, inputs: AllocationInput) -> Allocation:
        budget = self.budgets(inputs)
        return Allocation(budget=budget, action=gate_actions(inputs, budget, self.tolerance))
