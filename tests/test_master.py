"""The master (portfolio) agent: budgets under the exposure limits, action gating, a lockstep portfolio."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxtrade.agents.master import (
    AllocationInput,
    ConfidenceAllocator,
    exposure_change,
    gate_actions,
)
from jaxtrade.env import Action
from jaxtrade.env.actions import ActionSpec, ActionTable, table_for
from jaxtrade.errors import ConfigError


def inputs(probs, values=None, proposed=None, exposure=None, mask=None, share=None):
    probs = jnp.asarray(probs, jnp.float32)
    S = probs.shape[0]
    return AllocationInput(
        probs=probs,
        values=jnp.zeros(S) if values is None else jnp.asarray(values, jnp.float32),
        proposed=jnp.argmax(probs, -1) if proposed is None else jnp.asarray(proposed, jnp.int32),
        action_mask=jnp.ones((S, 7), bool) if mask is None else jnp.asarray(mask),
        exposure=jnp.zeros(S) if exposure is None else jnp.asarray(exposure, jnp.float32),
        equity_share=jnp.full(S, 1.0 / S) if share is None else jnp.asarray(share, jnp.float32),
        actions=table_for(probs.shape[-1]))


def one_hot_mix(buy, sell):
    """Probabilities with `buy` on BUY_LARGE, `sell` on SELL_ALL, the rest on HOLD."""
    p = np.zeros(7, np.float32)
    p[Action.BUY_LARGE], p[Action.SELL_ALL], p[Action.HOLD] = buy, sell, 1 - buy - sell
    return p


def test_budgets_follow_conviction_and_respect_both_limits():
    master = ConfidenceAllocator(total_limit=0.5, per_symbol_limit=0.3)
    x = inputs([one_hot_mix(0.9, 0.0), one_hot_mix(0.3, 0.0), one_hot_mix(0.1, 0.6), one_hot_mix(0.2, 0.0)])
    budget = np.asarray(master.budgets(x))
    assert budget.sum() <= 0.5 + 1e-6 and (budget <= 0.3 + 1e-7).all()
    assert budget[2] == 0  # more sell than buy probability: no capital
    assert budget[0] == pytest.approx(0.3) and budget[1] > budget[3] > 0  # capped; ordered by conviction
    # At equal conviction the higher critic value gets more.
    tilted = np.asarray(master.budgets(inputs([one_hot_mix(0.5, 0.0)] * 2, values=[1.0, 0.0])))
    assert tilted[0] > tilted[1] > 0
    # Nobody bullish: nothing allocated.
    assert np.asarray(master.budgets(inputs([one_hot_mix(0.0, 0.5)] * 3))).sum() == 0
    for kwargs in ({"total_limit": 0.0}, {"per_symbol_limit": 1.5}, {"value_scale": -1.0}):
        with pytest.raises(ConfigError, match="master."):
            ConfidenceAllocator(**kwargs)


def test_gating_keeps_buys_within_budget_and_reduces_symbols_over_it():
    share = [0.5, 0.5, 0.5, 0.5]
    flat = np.ones((4, 7), bool)
    flat[[0, 1, 3], Action.ADD_TO_POSITION] = False  # as the env's mask: flat books buy, they do not add
    x = inputs([one_hot_mix(1.0, 0.0)] * 4, proposed=[Action.BUY_LARGE, Action.BUY_LARGE, Action.HOLD,
                                                       Action.BUY_SMALL],
               exposure=[0.0, 0.0, 0.2, 0.0], share=share, mask=flat)
    budget = jnp.asarray([0.05, 0.02, 0.05, 0.0])
    action = np.asarray(gate_actions(x, budget))
    # 0: BUY_LARGE adds 9 % x 0.5 = 4.5 % <= 5 %: passes. 1: only BUY_SMALL (1.25 %) fits 2 %.
    assert action[0] == Action.BUY_LARGE and action[1] == Action.BUY_SMALL
    assert action[2] == Action.SELL_PARTIAL  # 20 % held against a 5 % budget: reduce
    assert action[3] == Action.HOLD  # no buy fits a zero budget
    after = np.asarray(x.exposure) + np.take_along_axis(np.asarray(exposure_change(x)), action[:, None], 1)[:, 0]
    assert (after[[0, 1, 3]] <= np.asarray(budget)[[0, 1, 3]] + 1e-7).all()
    # Gated actions are always valid under the mask: a masked BUY_SMALL falls back to the smallest valid buy
    # (the env fills it up to the budget), with every buy masked to HOLD.
    mask = flat.copy()
    mask[1, Action.BUY_SMALL] = False
    masked = np.asarray(gate_actions(x.replace(action_mask=jnp.asarray(mask)), budget))
    assert masked[1] == Action.BUY_MEDIUM
    mask[1, [Action.BUY_MEDIUM, Action.BUY_LARGE]] = False
    masked = np.asarray(gate_actions(x.replace(action_mask=jnp.asarray(mask)), budget))
    assert masked[1] == Action.HOLD
    # A budget finer than the smallest order: with at least a quarter of it free, the smallest order (the
    # portfolio env fills it up to the budget); with less free, HOLD.
    fine = np.asarray(gate_actions(x, jnp.asarray([0.01, 0.01, 0.5, 0.0])))
    assert fine[0] == fine[1] == Action.BUY_SMALL
    topped = x.replace(exposure=jnp.asarray([0.008, 0.002, 0.2, 0.0]))
    fine = np.asarray(gate_actions(topped, jnp.asarray([0.01, 0.01, 0.5, 0.0])))
    assert fine[0] == Action.HOLD and fine[1] == Action.BUY_SMALL  # 0.2 % of 1 % free; 0.8 % free
    # Held with a zero budget: sell everything.
    held = x.replace(exposure=jnp.asarray([0.1, 0.0, 0.0, 0.0]))
    assert int(gate_actions(held, jnp.zeros(4))[0]) == Action.SELL_ALL


def test_gating_reads_the_long_short_table():
    """With shorts the budget is on gross exposure: a short too large becomes the largest short that fits,
    and a short over budget is covered, never sold."""
    from jaxtrade.env import ShortAction

    probs = np.zeros((3, 13), np.float32)
    probs[:, ShortAction.SHORT_LARGE] = 1.0
    mask = np.ones((3, 13), bool)
    mask[:, 1:7] = False  # flat or short books: no long action
    mask[[0, 1], ShortAction.ADD_TO_SHORT] = False
    mask[[0, 1], ShortAction.COVER_PARTIAL] = mask[[0, 1], ShortAction.COVER_ALL] = False
    x = inputs(probs, proposed=[ShortAction.SHORT_LARGE] * 3, exposure=[0.0, 0.0, -0.2], mask=mask,
               share=[0.5, 0.5, 0.5])
    budget = jnp.asarray([0.05, 0.02, 0.05])
    action = np.asarray(gate_actions(x, budget))
    assert action[0] == ShortAction.SHORT_LARGE  # 9 % x 0.5 = 4.5 % gross fits 5 %
    assert action[1] == ShortAction.SHORT_SMALL  # only 1.25 % fits 2 %
    assert action[2] == ShortAction.COVER_PARTIAL  # 20 % short against 5 %: cover half
    assert int(gate_actions(x, jnp.zeros(3))[2]) == ShortAction.COVER_ALL
    assert np.asarray(exposure_change(x))[2, ShortAction.COVER_ALL] == pytest.approx(0.2)
    conviction = ConfidenceAllocator(total_limit=0.5).budgets(x)
    assert (np.asarray(conviction) > 0).all()  # wanting a short position is conviction too


def test_gating_reads_the_envs_own_table_not_the_shipped_one_of_its_width():
    """A custom 7-action table (other sizes, in another order) is read as itself, and a view without a table
    is refused: a master never guesses the table from the mask's width."""
    custom = ActionTable((ActionSpec("HOLD", 0, 0.0, 0.0), ActionSpec("SELL_ALL", 1, 0.0, 1.0),
                          ActionSpec("BUY_HUGE", 1, 0.40, 0.0), ActionSpec("BUY_TINY", 1, 0.01, 0.0),
                          ActionSpec("SELL_THIRD", 1, 0.0, 1 / 3), ActionSpec("BUY_MID", 1, 0.10, 0.0),
                          ActionSpec("TOP_UP", 1, 0.02, 0.0, adds_only=True)))
    x = inputs([one_hot_mix(1.0, 0.0)] * 2, proposed=[2, 2], exposure=[0.0, 0.3], share=[1.0, 1.0])
    x = x.replace(actions=custom)
    np.testing.assert_allclose(np.asarray(exposure_change(x))[0], [0, 0, 0.40, 0.01, 0, 0.10, 0.02], atol=1e-7)
    action = np.asarray(gate_actions(x, jnp.asarray([0.15, 0.1])))
    # 0: BUY_HUGE (40 %) over a 15 % budget becomes the largest buy that fits: BUY_MID (10 %), index 5, where
    # the shipped table has ADD_TO_POSITION. 1: 30 % held over a 10 % budget is reduced by its partial close.
    assert list(action) == [5, 4]
    with pytest.raises(ConfigError, match="action table is required"):
        gate_actions(x.replace(actions=None), jnp.asarray([0.15, 0.1]))
    with pytest.raises(ConfigError, match="13 actions, the mask 7"):
        gate_actions(x.replace(actions=table_for(13)), jnp.asarray([0.15, 0.1]))


def test_master_jits_and_vmaps_over_bars():
    master = ConfidenceAllocator(total_limit=0.4)
    probs = jax.nn.softmax(jax.random.normal(jax.random.key(0), (32, 5, 7)), -1)
    batch = jax.vmap(lambda p: inputs(p))(probs)
    out = jax.jit(jax.vmap(lambda x: master.apply({}, x)))(batch)
    assert out.budget.shape == (32, 5) and out.action.shape == (32, 5)
    assert (np.asarray(out.budget).sum(-1) <= 0.4 + 1e-6).all()


