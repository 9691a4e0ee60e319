"""Short selling (`env.allow_short`): the action table, masks, mirrored exits, a buy-in, borrow fees, by hand."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxtrade.env import (
    LONG_ONLY,
    LONG_SHORT,
    Action,
    EnvConfig,
    ExitReason,
    ShortAction,
    TradingEnv,
    initial_state,
    make_params,
)
from jaxtrade.env.actions import action_mask, greedy_action
from jaxtrade.errors import ConfigError

S, T = 1, 400  # the symbol and decision bar every hand-built step uses
C, SL = 10e-4, 5e-4  # commission and slippage of the config below
CFG = EnvConfig(horizon=40, allow_short=True, max_position=1.0, commission_bps=10.0, slippage_bps=5.0,
                stop_loss=0.05, take_profit=0.10, max_hold=0, max_drawdown=0.0, ruin=0.0,
                borrow_bps=252.0, short_margin=0.30, bars_per_year=252.0)  # 1 bp of borrow a bar


@pytest.fixture(scope="module")
def params(small_market, small_features):
    return make_params(small_market, small_features, CFG)


def with_path(params, closes, opens):
    """Params whose symbol S has the given closes from bar T and opens from bar T + 1."""
    close = params.market.close.at[S, T:T + len(closes)].set(jnp.asarray(closes, jnp.float32))
    open_ = params.market.open.at[S, T + 1:T + 1 + len(opens)].set(jnp.asarray(opens, jnp.float32))
    return params.replace(market=params.market.replace(close=close, open=open_))


def short_book(params, units, entry, cash):
    state = initial_state(jnp.int32(S), jnp.int32(T), params)
    f = jnp.float32
    equity = cash + units * float(params.market.close[S, T])
    return state.replace(units=f(units), entry_price=f(entry), cash=f(cash), equity=f(equity), peak_equity=f(equity),
                         hold_time=jnp.int32(3), trade_basis=f(-units * entry))


ENV = TradingEnv(actions=LONG_SHORT)
STEP = jax.jit(ENV.step_env)


def test_tables_and_config():
    assert CFG.actions is LONG_SHORT and EnvConfig().actions is LONG_ONLY
    assert LONG_ONLY.num_actions == 7 and LONG_SHORT.num_actions == 13
    assert LONG_SHORT.specs[:7] == LONG_ONLY.specs  # the long actions keep their indices
    assert [LONG_SHORT.intent[a] for a in ShortAction] == [-1, -1, -1, 1, 1, -1]
    assert not LONG_ONLY.allows_short and LONG_SHORT.allows_short
    for bad, field in [({"allow_short": 1}, "allow_short"), ({"borrow_bps": -1.0}, "borrow_bps"),
                       ({"short_margin": 1.0}, "short_margin")]:
        with pytest.raises(ConfigError, match=f"env.{field}"):
            EnvConfig(**bad)


def test_masks_keep_one_side_at_a_time():
    f = jnp.float32
    flat = np.asarray(action_mask(f(0.0), f(1000.0), f(10.0), f(0.3), LONG_SHORT))
    assert flat[[Action.BUY_LARGE, ShortAction.SHORT_LARGE]].all()
    assert not flat[[Action.SELL_ALL, Action.ADD_TO_POSITION, ShortAction.COVER_ALL, ShortAction.ADD_TO_SHORT]].any()
    # Short 22 of 30 % (equity 1000 = 1220 cash - 22 units * 10): no long action, covers allowed,
    # 9 % more would pass the cap, 6 % fits.
    short = np.asarray(action_mask(f(-22.0), f(1220.0), f(10.0), f(0.3), LONG_SHORT))
    assert not short[1:7].any()
    assert short[[ShortAction.COVER_PARTIAL, ShortAction.COVER_ALL, ShortAction.SHORT_MEDIUM,
                  ShortAction.ADD_TO_SHORT]].all()
    assert not short[ShortAction.SHORT_LARGE]
    long = np.asarray(action_mask(f(20.0), f(800.0), f(10.0), f(0.3), LONG_SHORT))
    assert not long[7:].any() and long[[Action.SELL_ALL, Action.BUY_MEDIUM]].all()
    # Short sales need no cash (they raise it): only the limit binds.
    broke = np.asarray(action_mask(f(0.0), f(1000.0), f(10.0), f(0.3), LONG_SHORT))
    assert broke[ShortAction.SHORT_LARGE]


def test_greedy_groups_shorts_with_sells():
    probs = np.full(13, 0.01)
    probs[[ShortAction.SHORT_SMALL, ShortAction.SHORT_MEDIUM, ShortAction.SHORT_LARGE]] = 0.2
    probs[Action.HOLD] = 0.3  # the single most probable action, but "decrease exposure" has 0.6
    assert int(greedy_action(jnp.log(jnp.asarray(probs / probs.sum())))) in (7, 8, 9)


def test_one_short_step_by_hand(params):
    p = with_path(params, [100.0, 95.0], [101.0])
    state = initial_state(jnp.int32(S), jnp.int32(T), p)
    obs, nxt, reward, terminated, truncated, info = STEP(jax.random.key(0), state, ShortAction.SHORT_MEDIUM, p)
    value = 0.06 * 100_000.0  # 6 % of equity, at the open before costs
    units = value / 101.0
    proceeds = units * 101.0 * (1 - SL) * (1 - C)
    borrow = units * 95.0 * 1e-4
    np.testing.assert_allclose(nxt.units, -units, rtol=1e-6)
    np.testing.assert_allclose(nxt.entry_price, proceeds / units, rtol=1e-6)
    np.testing.assert_allclose(nxt.cash, 100_000.0 + proceeds - borrow, rtol=1e-6)
    np.testing.assert_allclose(info.borrow, borrow, rtol=1e-5)
    np.testing.assert_allclose(info.cost, units * 101.0 * ((1 - SL) * C + SL), rtol=1e-5)
    equity = 100_000.0 + proceeds - borrow - units * 95.0
    np.testing.assert_allclose(nxt.equity, equity, rtol=1e-6)
    np.testing.assert_allclose(info.step_return, equity / 100_000.0 - 1.0, rtol=1e-4)
    np.testing.assert_allclose(info.exposure, -units * 95.0 / equity, rtol=1e-5)
    np.testing.assert_allclose(nxt.total_cost, float(info.cost) + borrow, rtol=1e-5)
    assert float(obs.position[4]) == -1.0 and float(obs.position[0]) > 0  # short, and in profit
    assert int(info.executed_action) == ShortAction.SHORT_MEDIUM and not bool(info.invalid_action)
    assert bool(obs.action_mask[ShortAction.COVER_ALL]) and not bool(obs.action_mask[Action.BUY_SMALL])


def test_squeeze_triggers_the_buy_in(params):
    # Short 1,000 units at 100 with 200,000 cash: equity 100,000. The close jumps to 160, where equity
    # 40,000 < 30 % of the 160,000 short: bought in at the next open, 170, whatever the agent asked.
    p = with_path(params, [160.0, 150.0], [170.0])
    state = short_book(p, -1000.0, 100.0, 200_000.0)
    _, nxt, _, terminated, _, info = STEP(jax.random.key(0), state, ShortAction.ADD_TO_SHORT, p)
    assert int(info.exit_reason) == ExitReason.MARGIN_CALL
    assert int(info.executed_action) == ShortAction.COVER_ALL
    paid = 1000 * 170.0 * (1 + SL) * (1 + C)
    assert float(nxt.units) == 0.0 and float(info.borrow) == 0.0
    np.testing.assert_allclose(nxt.cash, 200_000.0 - paid, rtol=1e-6)
    np.testing.assert_allclose(nxt.realised_pnl, 1000 * 100.0 - paid, rtol=1e-5)
    assert bool(info.trade_closed) and int(nxt.trades) == 1 and int(nxt.wins) == 0
    np.testing.assert_allclose(info.trade_return, (1000 * 100.0 - paid) / (1000 * 100.0), rtol=1e-5)
    # Just below the call (close 150: equity 50,000 >= 45,000) nothing is forced.
    calm = with_path(params, [150.0, 150.0], [150.0])
    _, _, _, _, _, info = STEP(jax.random.key(0), short_book(calm, -1000.0, 100.0, 200_000.0), Action.HOLD, calm)
    assert int(info.exit_reason) == ExitReason.STOP_LOSS  # the 5 % stop still fires (-50 %)
    off = calm.replace(rules=calm.rules.replace(stop_loss=jnp.float32(0.0)))
    _, _, _, _, _, info = STEP(jax.random.key(0), short_book(off, -1000.0, 100.0, 200_000.0), Action.HOLD, off)
    assert int(info.exit_reason) == ExitReason.NONE


def test_short_stop_gaps_through_and_take_profit_mirrors(params):
    # Short 100 at 100: the close rises to 106 (-6 % for the short, past the 5 % stop); the next open
    # gaps to 115, and the cover fills there, not at the stop.
    p = with_path(params, [106.0, 112.0], [115.0])
    _, nxt, _, _, _, info = STEP(jax.random.key(0), short_book(p, -100.0, 100.0, 110_000.0), Action.HOLD, p)
    assert int(info.exit_reason) == ExitReason.STOP_LOSS and int(info.executed_action) == ShortAction.COVER_ALL
    paid = 100 * 115.0 * (1 + SL) * (1 + C)
    np.testing.assert_allclose(nxt.realised_pnl, 100 * 100.0 - paid, rtol=1e-5)
    assert float(nxt.units) == 0.0
    # A fall to 89 is +11 % for the short: take profit.
    p = with_path(params, [89.0, 88.0], [88.5])
    _, nxt, _, _, _, info = STEP(jax.random.key(0), short_book(p, -100.0, 100.0, 110_000.0), Action.HOLD, p)
    assert int(info.exit_reason) == ExitReason.TAKE_PROFIT and float(nxt.realised_pnl) > 0
    # A long position is still stopped on a fall, not a rise.
    p = with_path(params, [106.0, 106.0], [106.0])
    long = short_book(p, 100.0, 100.0, 0.0)
    _, _, _, _, _, info = STEP(jax.random.key(0), long, Action.HOLD, p)
    assert int(info.exit_reason) == ExitReason.NONE


def test_long_only_env_ignores_short_actions(params):
    env = TradingEnv()
    with pytest.raises(ConfigError, match=r"action table \(7 actions, long only\) differs .* \(13 actions, long-short"):
        env.reset(jax.random.key(0), params)  # params made for the long-short table
    params = params.replace(actions=LONG_ONLY)
    state = initial_state(jnp.int32(S), jnp.int32(T), params)
    _, nxt, _, _, _, info = jax.jit(env.step_env)(jax.random.key(0), state, ShortAction.SHORT_LARGE, params)
    assert bool(info.invalid_action) and float(nxt.units) == 0.0
    assert env.num_actions == 7 and ENV.num_actions == 13
