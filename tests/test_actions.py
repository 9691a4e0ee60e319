"""Action table, action masks and the risk rules' forced exits."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxtrade.env.accounting import buy, sell
from jaxtrade.env.actions import (
    LONG_ONLY,
    NUM_ACTIONS,
    Action,
    ExitReason,
    action_mask,
    decode_action,
    forced_exit,
    greedy_action,
)

F = jnp.float32


def test_action_table():
    assert NUM_ACTIONS == 7
    assert [decode_action(jnp.int32(a))[0] for a in Action] == pytest.approx([0, 0.025, 0.06, 0.09, 0, 0, 0.03])
    assert [decode_action(jnp.int32(a))[1] for a in Action] == pytest.approx([0, 0, 0, 0, 0.5, 1, 0])


def _mask(units, cash, price=100.0, max_position=0.25):
    return np.asarray(jax.jit(action_mask)(F(units), F(cash), F(price), F(max_position)))


def test_flat_book_can_open_but_not_sell_or_add():
    np.testing.assert_array_equal(_mask(0.0, 10_000.0), [1, 1, 1, 1, 0, 0, 0])


def test_open_position_can_buy_more_sell_and_add():
    # 10 units at 100 = 1,000 of 10,000 equity: 10 % exposure; every buy (+2.5..9 %) and ADD (+3 %)
    # stays under 25 %, so "be long" is the same action whether flat or holding.
    np.testing.assert_array_equal(_mask(10.0, 9_000.0), [1, 1, 1, 1, 1, 1, 1])
    # 18 % exposure: +9 % would pass 25 %, +6 % fits.
    np.testing.assert_array_equal(_mask(18.0, 8_200.0), [1, 1, 1, 0, 1, 1, 1])


def test_position_limit_and_cash_limit():
    # 23 % exposure: adding 3 % would exceed a 25 % limit.
    np.testing.assert_array_equal(_mask(23.0, 7_700.0), [1, 0, 0, 0, 1, 1, 0])
    # A 5 % limit allows only the 2.5 % buy.
    np.testing.assert_array_equal(_mask(0.0, 10_000.0, max_position=0.05), [1, 1, 0, 0, 0, 0, 0])
    # Almost all equity in the position: no cash to add even with a 100 % limit.
    np.testing.assert_array_equal(_mask(99.0, 100.0, max_position=1.0), [1, 0, 0, 0, 1, 1, 0])
    # Broke and flat: only HOLD.
    np.testing.assert_array_equal(_mask(0.0, 0.0), [1, 0, 0, 0, 0, 0, 0])


@settings(max_examples=200, deadline=None)
# Units are 0 or at least 1e-6: half of a subnormal float32 flushes to 0 on XLA's CPU, so selling 50 % of
# 1e-38 units leaves them unchanged (found by Hypothesis; no real book holds 1e-38 shares).
@given(units=st.one_of(st.just(0.0), st.floats(1e-6, 1e4)), cash=st.floats(0, 1e7), price=st.floats(1e-3, 1e5),
       limit=st.floats(0.01, 1.0), action=st.integers(0, 6))
def test_masked_valid_actions_never_break_the_limits(units, cash, price, limit, action):
    """Carrying out any valid action at the decision price keeps cash >= 0 and exposure <= limit."""
    mask = action_mask(F(units), F(cash), F(price), F(limit))
    assert bool(mask[Action.HOLD])
    if not bool(mask[action]):
        return
    equity = float(F(cash) + F(units) * F(price))
    buy_frac, sell_frac = decode_action(jnp.int32(action))
    if float(buy_frac) > 0:
        f = buy(F(price), buy_frac * equity, F(units), F(cash), F(price), F(0.0), F(0.0))
        assert float(f.cash) >= 0
        assert float(f.units) * price <= limit * equity * (1 + 1e-4) + 1e-3
    if float(sell_frac) > 0:
        assert units > 0
        f = sell(F(price), sell_frac, F(units), F(cash), F(price), F(0.0), F(0.0))
        assert float(f.units) < float(F(units)) or float(F(units)) == 0


@pytest.mark.parametrize(
    ("units", "price", "hold", "expected"),
    [
        (0.0, 50.0, 100, ExitReason.NONE),  # no position: no exit whatever the price
        (1.0, 94.9, 3, ExitReason.STOP_LOSS),  # -5.1 % <= -5 %
        (1.0, 95.5, 3, ExitReason.NONE),
        (1.0, 110.5, 3, ExitReason.TAKE_PROFIT),
        (1.0, 101.0, 48, ExitReason.MAX_HOLD),
        (1.0, 90.0, 48, ExitReason.STOP_LOSS),  # stop loss takes priority over max hold
    ],
)
def test_forced_exit(units, price, hold, expected):
    reason = jax.jit(forced_exit)(F(units), F(100.0), F(price), jnp.int32(hold), F(0.05), F(0.10), jnp.int32(48))
    assert int(reason) == expected


def test_forced_exit_rules_switch_off_at_zero_and_vmap():
    off = forced_exit(F(1.0), F(100.0), F(10.0), jnp.int32(10_000), F(0.0), F(0.0), jnp.int32(0))
    assert int(off) == ExitReason.NONE
    prices = jnp.array([90.0, 100.0, 120.0])
    reasons = jax.vmap(forced_exit, in_axes=(None, None, 0, None, None, None, None))(
        F(1.0), F(100.0), prices, jnp.int32(0), F(0.05), F(0.1), jnp.int32(48))
    np.testing.assert_array_equal(reasons, [ExitReason.STOP_LOSS, ExitReason.NONE, ExitReason.TAKE_PROFIT])


def test_greedy_action_picks_the_most_probable_intent_then_its_size():
    # HOLD is the single most probable action (0.40), but the three buys and ADD together hold 0.50: buy wins,
    # and within it the most probable buy (BUY_MEDIUM, 0.20).
    probs = jnp.asarray([0.40, 0.10, 0.20, 0.15, 0.05, 0.05, 0.05])
    assert int(greedy_action(jnp.log(probs))) == Action.BUY_MEDIUM
    # Sells together (0.45) beat hold (0.30) and buys (0.25): the larger sell.
    probs = jnp.asarray([0.30, 0.10, 0.10, 0.05, 0.20, 0.25, 0.00])
    assert int(greedy_action(jnp.log(probs))) == Action.SELL_ALL
    # Masked actions (logit -1e9) are never chosen, batched over leading axes.
    logits = jnp.where(jnp.asarray([True, False, False, False, True, True, False]), 0.0, -1e9)
    np.testing.assert_array_equal(greedy_action(jnp.stack([logits, logits])), [Action.SELL_PARTIAL] * 2)
    assert [int(LONG_ONLY.intent[a]) for a in Action] == [0, 1, 1, 1, -1, -1, 1]


def test_a_new_action_row_is_one_table_row(small_market, small_features):
    """An eighth action (a 15 % buy) added as a table row and nothing else: the env's mask and observation grow to
    it, the env fills it at its size, the names come from the table, the network's actor is sized by the env,
    and the rule-based baseline's largest buy is the new row (read from the params, never guessed)."""
    from jaxtrade.agents import ActorCritic, AgentConfig
    from jaxtrade.env import EnvConfig, TradingEnv, make_params
    from jaxtrade.env.actions import ActionSpec, ActionTable
    from jaxtrade.evaluate.policies import always_long_policy

    table = ActionTable(LONG_ONLY.specs + (ActionSpec("BUY_LARGE", +1, 0.15, 0.0),))
    env = TradingEnv(actions=table)
    params = make_params(small_market, small_features, EnvConfig(), window=24).replace(actions=table)
    obs, state = env.reset(jax.random.key(0), params)
    assert env.num_actions == 8 and table.names[-1] == "BUY_LARGE" and obs.action_mask.shape == (8,)
    assert bool(obs.action_mask[7])  # a flat book may open it
    batch = jax.tree.map(lambda x: x[None], obs)
    assert always_long_policy(jax.random.key(1), batch, None, params).tolist() == [7]
    _, _, _, _, _, info = env.step_env(jax.random.key(2), state, jnp.int32(7), params)
    assert abs(float(info.exposure) - 0.15) < 0.01  # filled at the row's size (after costs and the next open)
    net = ActorCritic(AgentConfig(kind="mlp", mlp_hidden=(16,), head_dim=16), num_actions=env.num_actions)
    logits, _ = net.apply(net.init(jax.random.key(3), batch), batch)
    assert logits.shape == (1, 8)
