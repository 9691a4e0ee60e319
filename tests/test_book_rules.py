"""The book's rules where they are easiest to get wrong, by hand: below zero equity, the total limit with shorts,
the account-wide margin call, non-finite budgets, dust orders and the action table the params were made for."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxtrade.env import LONG_SHORT, Action, EnvConfig, ExitReason, ShortAction, TradingEnv, initial_state, make_params
from jaxtrade.env.params import make_portfolio_params
from jaxtrade.env.portfolio import PortfolioEnv
from jaxtrade.env.rewards import REWARD_COMPONENTS
from jaxtrade.env.types import PortfolioAction
from jaxtrade.errors import ConfigError
from jaxtrade.features import FeatureConfig, compute_features

F = jnp.float32
PNL = REWARD_COMPONENTS.index("pnl")


@pytest.fixture(scope="module")
def stocks(stocks):
    return stocks, compute_features(stocks, FeatureConfig(norm_window=60))


def _single(stocks, **rules):
    data, feats = stocks
    return make_params(data, feats, EnvConfig(allow_short=True, max_position=1.0, **rules))


def _gap(params, s, t, factor):
    """Bar t+1 opens and closes at `factor` x bar t's close."""
    m = params.market
    price = m.close[s, t] * factor
    return params.replace(market=m.replace(open=m.open.at[s, t + 1].set(price), close=m.close.at[s, t + 1].set(price)))


def _short_state(params, s, t, value, cash):
    close = float(params.market.close[s, t])
    state = initial_state(jnp.int32(s), jnp.int32(t), params)
    equity = cash - value
    return state.replace(units=F(-value / close), entry_price=F(close), cash=F(cash), equity=F(equity),
                         peak_equity=F(equity), trade_basis=F(value)), close


def test_a_gap_through_a_short_ends_the_episode_with_finite_reward_and_the_loss_signed(stocks):
    # The case with the default rules but the position cap: short 1e5 with 2e5 cash (equity 1e5), then
    # the next bar opens and closes at 2.2 x: equity 2e5 - 2.2e5 - borrow, below zero.
    params = _single(stocks)
    s, t = 0, 2000
    state, close = _short_state(params, s, t, 1e5, 2e5)
    params = _gap(params, s, t, 2.2)
    step = jax.jit(TradingEnv(actions=LONG_SHORT).step_env)
    _, nxt, reward, terminated, truncated, info = step(jax.random.key(0), state, Action.HOLD, params)
    borrow = 1e5 / close * 2.2 * close * 50e-4 / float(params.rules.bars_per_year)
    np.testing.assert_allclose(float(nxt.equity), -2e4 - borrow, rtol=1e-5)
    assert bool(terminated) and not bool(truncated)  # bankrupt, whatever the ruin and drawdown rules say
    np.testing.assert_allclose(float(info.step_return), (-2e4 - borrow - 1e5) / 1e5, rtol=1e-5)
    assert math.isfinite(float(reward))
    np.testing.assert_allclose(float(info.reward_components[PNL]), 100 * math.log(1e-3), rtol=1e-5)
    # Stepped on from below zero (as a caller of step_env may), a further rise is still a loss.
    again = _gap(params, s, t + 1, 1.1)
    _, after, reward, terminated, _, info = step(jax.random.key(0), nxt, Action.HOLD, again)
    assert float(after.equity) < float(nxt.equity) and float(info.step_return) < 0
    assert math.isfinite(float(reward)) and bool(terminated)
    # With every stop off, bankruptcy still ends the episode.
    off = _gap(_single(stocks, ruin=0.0, max_drawdown=0.0, short_margin=0.0, stop_loss=0.0), s, t, 2.2)
    _, _, reward, terminated, _, _ = step(jax.random.key(0), state, Action.HOLD, off)
    assert bool(terminated) and math.isfinite(float(reward))


def _portfolio(stocks, total_limit=0.5, **rules):
    data, feats = stocks
    cfg = EnvConfig(allow_short=True, max_position=1.0, max_drawdown=0.0, ruin=0.0, stop_loss=0.0,
                    take_profit=0.0, max_hold=0, **rules)
    params = make_portfolio_params(data, feats, cfg, total_limit=total_limit)
    return PortfolioEnv(actions=params.env.actions), params


def _steps(env, params, bar, actions, budgets, state=None):
    step = jax.jit(env.step_env)
    if state is None:
        _, state = env.reset_at(jnp.int32(bar), params)
    out = []
    for a, b in zip(actions, budgets, strict=True):
        before = state
        _, state, reward, term, trunc, info = step(jax.random.key(0), state,
                                                   PortfolioAction(jnp.asarray(a, jnp.int32), F(b)), params)
        out.append((before, state, reward, term, info))
    return out


@pytest.mark.parametrize("action", [Action.BUY_LARGE, ShortAction.SHORT_LARGE])
def test_the_total_limit_binds_longs_and_shorts_alike(stocks, action):
    env, params = _portfolio(stocks, total_limit=0.5)
    S, bar = params.num_symbols, 2000
    assert np.asarray(params.tradeable)[:, bar:bar + 6].all()
    m = params.env.market
    gross, filled = [], []
    for before, after, _, _, info in _steps(env, params, bar, [[action] * S] * 5, [[1.0] * S] * 5):
        t = int(before.bar)
        open_n = np.asarray(m.open[:, t + 1], np.float64)
        units_before = np.asarray(before.sleeves.units, np.float64)
        equity_open = float(before.cash) + (units_before * open_n).sum()
        gross.append(np.abs(np.asarray(after.sleeves.units, np.float64) * open_n).sum() / equity_open)
        filled.append(bool((np.asarray(info.executed_action) == action).any()))
    # Step 1: 4 x 9 % = 36 % fills; step 2 the rest to 50 % (pro rata, cut: `scaled`), step 3 the crumbs; then
    # nothing fills. Price moves alone may carry the gross past the limit later, as they may a position's cap.
    assert 0.35 < gross[0] < 0.361 and filled[:2] == [True, True] and not any(filled[3:])
    assert all(g <= 0.5 * (1 + 1e-5) for g, f in zip(gross, filled, strict=True) if f)
    np.testing.assert_allclose(gross[1:3], 0.5, rtol=2e-3)


def test_the_margin_call_is_on_the_whole_short_book(stocks):
    # Three shorts of 35 k each on 30 k of equity: each alone is far above 0.3 x its value (10.5 k), the book
    # (105 k, needing 31.5 k) is not, so every short is bought in at the next open; at 0.28 none is.
    for margin, called in [(0.3, True), (0.28, False)]:
        env, params = _portfolio(stocks, total_limit=1.0, short_margin=margin)
        bar = 2000
        _, state = env.reset_at(jnp.int32(bar), params)
        close = np.asarray(params.env.market.close[:, bar], np.float64)
        units = np.array([-35e3 / close[0], -35e3 / close[1], -35e3 / close[2], 0.0])
        sleeves = state.sleeves.replace(units=F(units), entry_price=F(np.where(units < 0, close, 0.0)))
        state = state.replace(cash=F(135e3), equity=F(30e3), peak_equity=F(30e3), sleeves=sleeves)
        (_, after, _, _, info), = _steps(env, params, bar, [[0] * 4], [[1.0] * 4], state)
        reasons = list(np.asarray(info.exit_reason))
        if called:
            assert reasons == [ExitReason.MARGIN_CALL] * 3 + [ExitReason.NONE]
            assert (np.asarray(after.sleeves.units) == 0).all()
        else:
            assert reasons == [ExitReason.NONE] * 4 and (np.asarray(after.sleeves.units) < 0).sum() == 3


def test_a_non_finite_budget_buys_nothing_and_is_flagged(stocks):
    env, params = _portfolio(stocks, total_limit=1.0)
    S, bar = params.num_symbols, 2000
    (_, first, *_), = _steps(env, params, bar, [[Action.BUY_LARGE] * S], [[0.2] * S])
    assert (np.asarray(first.sleeves.units) > 0).all()
    steps = _steps(env, params, bar, [[Action.BUY_LARGE] * S] * 2, [[math.nan, .2, .2, .2], [math.inf, .2, .2, .2]],
                   first)
    for before, after, reward, term, info in steps:
        assert np.isfinite([float(after.cash), float(after.equity), float(reward)]).all()
        assert np.isfinite(np.asarray(after.sleeves.units)).all() and not bool(term)
        assert list(np.asarray(info.invalid_budget)) == [True, False, False, False]
        assert float(after.sleeves.units[0]) == float(before.sleeves.units[0])  # no buy on a budget of 0
    # A NaN that reaches the equity anyway ends the episode instead of running on to the horizon.
    nan_state = first.replace(equity=F(math.nan))
    assert bool(env.episode_end(nan_state, params)[0])


def test_dust_orders_are_not_placed_and_dust_positions_close_whole(stocks):
    env, params = _portfolio(stocks, total_limit=1.0)
    S, bar = params.num_symbols, 2000
    buy = [[Action.BUY_LARGE] + [0] * (S - 1)]
    # A budget of 0.05 % of equity cuts the 9 % buy to 50 (below the 0.1 % minimum): nothing is bought.
    (_, after, _, _, info), = _steps(env, params, bar, buy, [[0.0005] + [0.0] * (S - 1)])
    assert float(after.sleeves.units[0]) == 0 and int(info.executed_action[0]) == 0 and bool(info.scaled[0])
    # 0.2 % fills (200), and half of it (100) would leave less than the minimum: the partial sale closes all.
    (_, held, _, _, _), = _steps(env, params, bar, buy, [[0.002] + [0.0] * (S - 1)])
    value = float(held.sleeves.units[0] * params.env.market.close[0, bar + 1])
    assert 150 < value < 200
    sell = [[Action.SELL_PARTIAL] + [0] * (S - 1)]
    (_, after, _, _, info), = _steps(env, params, bar + 1, sell, [[0.0] * S], held)
    assert float(after.sleeves.units[0]) == 0 and bool(info.trade_closed[0])
    assert int(info.executed_action[0]) == Action.SELL_ALL  # carried out as the whole close
    # The single-symbol env closes a would-be dust remainder the same way.
    single = _single(stocks)
    s, t = 0, 2000
    state, close = _short_state(single, s, t, 150.0, 1e5 + 150.0)
    _, nxt, *_ = jax.jit(TradingEnv(actions=LONG_SHORT).step_env)(jax.random.key(0), state,
                                                                   ShortAction.COVER_PARTIAL, single)
    assert float(nxt.units) == 0.0
    state, _ = _short_state(single, s, t, 1e4, 1.1e5)
    _, nxt, *_ = jax.jit(TradingEnv(actions=LONG_SHORT).step_env)(jax.random.key(0), state,
                                                                   ShortAction.COVER_PARTIAL, single)
    np.testing.assert_allclose(float(nxt.units), float(state.units) / 2, rtol=1e-6)


def test_the_gym_adapter_takes_the_params_action_table(stocks):
    from jaxtrade.env.gym_adapter import TradingGymEnv, TradingVectorEnv

    params = _single(stocks)
    assert TradingGymEnv(params).action_space.n == 13
    assert TradingVectorEnv(params, 2).single_action_space.n == 13
    with pytest.raises(ConfigError, match="long-short, from env.allow_short"):
        TradingGymEnv(params, TradingEnv())
