"""TradingEnv behaviour by hand: starts, one step's arithmetic, risk exits, masks, episode ends, compile once."""

from __future__ import annotations

import dataclasses
from functools import partial

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxtrade.env import (
    REWARD_COMPONENTS,
    Action,
    EnvConfig,
    ExitReason,
    RewardComponents,
    TradingEnv,
    initial_state,
    make_params,
    params_axes,
    select_starts,
)
from jaxtrade.env.config import RULE_FIELDS
from jaxtrade.env.params import episode_starts, recent_starts, symbol_params, trading_bars
from jaxtrade.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def market(small_market, small_features):
    return small_market, small_features


@pytest.fixture(scope="module")
def params(market):
    data, features = market
    return make_params(data, features, EnvConfig(horizon=40, commission_bps=10.0, slippage_bps=5.0))


def state_at(params, symbol, bar, **fields):
    return initial_state(jnp.int32(symbol), jnp.int32(bar), params).replace(
        **{k: jnp.asarray(v, getattr(initial_state(0, 0, params), k).dtype) for k, v in fields.items()})


def test_trading_bars_carry_gaps_and_end_where_the_data_ends():
    ready = np.zeros((2, 12), bool)
    ready[0, 2:12] = True
    ready[0, 6] = False  # a gap: no fill into or out of it, but the record carries through it
    ready[1, 0:5] = True  # data ends for good after bar 4
    symbols, bars = episode_starts(ready, window=3, first_bar=0, end_bar=12)
    # Symbol 0: first ready bar 2, so windows end at t >= 4; t and t + 1 real: 4, 7, 8, 9, 10 (not 5: 6 is
    # missing; not 6: it is missing). Symbol 1: 2, 3.
    assert list(zip(symbols.tolist(), bars.tolist(), strict=True)) == [
        (0, 4), (0, 7), (0, 8), (0, 9), (0, 10), (1, 2), (1, 3)]
    # A split [0, 11) may not step into bar 11; [3, 12) may not decide before bar 3.
    assert episode_starts(ready, 3, 0, 11)[1].tolist() == [4, 7, 8, 9, 2, 3]
    assert episode_starts(ready, 3, 3, 12)[1].tolist() == [4, 7, 8, 9, 10, 3]
    ok, next_ok = trading_bars(ready, 3, 0, 12)
    assert (ok == np.isin(np.arange(12), [4, 7, 8, 9, 10])[None] * [[1], [0]]
            | np.isin(np.arange(12), [2, 3])[None] * [[0], [1]]).all()
    # An episode steps on through the gap (5 -> 6 -> 7) and stops at the last real bar of the split or the data.
    assert next_ok[0].tolist() == [False] * 2 + [True] * 9 + [False]
    assert next_ok[1].tolist() == [True] * 4 + [False] * 8
    assert trading_bars(ready, 3, 0, 10)[1][0].tolist() == [False] * 2 + [True] * 7 + [False] * 3


def test_make_params_rejects_impossible_splits(market):
    data, features = market
    with pytest.raises(DataError, match=r"no episode can start in bars \[0, 100\)"):
        make_params(data, features, bars=(0, 100))  # all inside the warm-up
    with pytest.raises(ConfigError, match="bars"):
        make_params(data, features, bars=(500, 400))
    with pytest.raises(ConfigError, match="window"):
        make_params(data, features, window=0)
    short = jax.tree.map(lambda x: x[:, :300], features)
    with pytest.raises(DataError, match="features cover"):
        make_params(data, short)


def test_env_config_rejects_bad_values():
    for kwargs, field in [({"horizon": 0}, "env.horizon"), ({"max_position": 1.5}, "env.max_position"),
                          ({"stop_loss": -0.1}, "env.stop_loss"),
                          ({"commission_bps": float("nan")}, "env.commission_bps"),
                          ({"max_hold": 2.5}, "env.max_hold"), ({"hurdle_rate": 1.0}, "env.hurdle_rate"),
                          ({"vol_halflife": 0}, "env.vol_halflife"), ({"stop_cooldown": -1}, "env.stop_cooldown"),
                          ({"stop_cooldown": 2.5}, "env.stop_cooldown")]:
        with pytest.raises(ConfigError, match=field):
            EnvConfig(**kwargs)


def test_rules_mirror_every_numeric_env_setting(market):
    """Rules are built by iterating EnvConfig's fields: a new setting is one config field and its use."""
    data, features = market
    cfg = EnvConfig(horizon=33, max_hold=7, stop_loss=0.04, borrow_bps=80.0, bars_per_year=250.0)
    rules = make_params(data, features, cfg).rules
    assert set(RULE_FIELDS) == {f.name for f in dataclasses.fields(EnvConfig)} - {
        "allow_short", "start_halflife", "vol_halflife", "reward"}
    for name in RULE_FIELDS:
        assert float(getattr(rules, name)) == pytest.approx(getattr(cfg, name), rel=1e-6), name
    assert rules.horizon.dtype == jnp.int32 and rules.max_hold.dtype == jnp.int32
    assert rules.stop_loss.dtype == jnp.float32


def test_window_is_set_once_in_the_params(market):
    data, features = market
    params = make_params(data, features, EnvConfig(horizon=5), window=10)
    obs, _ = TradingEnv().reset(jax.random.key(0), params)
    assert params.window == 10 and obs.technical.shape == (10, features.technical.shape[-1])
    assert TradingEnv().observation_shapes(params)["technical"] == (10, features.technical.shape[-1])


def test_reset_covers_every_start_uniformly(params):
    env = TradingEnv()
    n = 40 * params.num_starts
    _, states = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))(jax.random.split(jax.random.key(0), n), params)
    starts = np.asarray(params.starts.symbol) * 10_000 + np.asarray(params.starts.bar)
    drawn = np.asarray(states.symbol) * 10_000 + np.asarray(states.bar)
    assert np.isin(drawn, starts).all()
    counts = np.unique(drawn, return_counts=True)[1]
    assert counts.size == params.num_starts  # every start drawn
    # Poisson(40) counts: a chi-square statistic near its degrees of freedom.
    chi2 = ((counts - 40.0) ** 2 / 40.0).sum()
    assert abs(chi2 - (counts.size - 1)) < 5 * np.sqrt(2 * counts.size)


def test_recent_starts_draw_each_start_with_its_half_life_weight(params):
    """Starts weighted toward the range's end (`recent_starts`): the env's draws over the table land on each start
    as often as 2 ** (-age / half-life) says (a start one half-life older drawn half as often); a half-life of 0
    leaves the params as they were; a negative one is named."""
    n, end, half = params.num_starts, int(np.asarray(params.starts.bar).max()) + 1, 30.0
    recent = recent_starts(params, half, end)
    assert recent_starts(params, 0.0) is params
    with pytest.raises(ConfigError, match="start half-life"):
        recent_starts(params, -1.0)
    sym, bar = np.asarray(params.starts.symbol)[:n], np.asarray(params.starts.bar)[:n]
    weight = np.exp2(-(end - bar) / half)
    want = weight / weight.sum()
    key = lambda s, b: s * 10_000 + b  # noqa: E731
    table = key(np.asarray(recent.starts.symbol), np.asarray(recent.starts.bar))
    assert int(recent.starts.count) == table.size == 4 * n and np.isin(table, key(sym, bar)).all()
    share = np.array([(table == k).mean() for k in key(sym, bar)])
    np.testing.assert_allclose(share, want, atol=1.0 / table.size + 1e-12)  # resolved to one entry
    draws = 200_000
    _, states = jax.jit(jax.vmap(TradingEnv().reset, in_axes=(0, None)))(
        jax.random.split(jax.random.key(2), draws), recent)
    age = end - np.asarray(states.bar)
    for a in (half, 2 * half):  # the share of draws younger than a: what the weights give, within 4 sigma
        p = want[end - bar < a].sum()
        assert abs((age < a).mean() - p) < 4 * np.sqrt(p * (1 - p) / draws) + 1.0 / table.size


def test_symbol_params_start_only_on_their_symbol_and_stay_uniform(params):
    env = TradingEnv()
    per_symbol = symbol_params(params, [1, 0])
    sym = np.asarray(params.starts.symbol)
    assert per_symbol.starts.symbol.shape == (2, max(np.sum(sym == 0), np.sum(sym == 1)))
    assert per_symbol.starts.count.tolist() == [int(np.sum(sym == 1)), int(np.sum(sym == 0))]
    reset = jax.vmap(jax.vmap(env.reset, in_axes=(0, None)), in_axes=(None, params_axes(params, starts=0)))
    n = 30 * int(per_symbol.starts.count.max())
    _, states = jax.jit(reset)(jax.random.split(jax.random.key(1), n), per_symbol)
    assert (np.asarray(states.symbol) == np.array([[1], [0]])).all()
    for row, s in enumerate([1, 0]):  # padding is never drawn twice as often: counts stay Poisson
        counts = np.unique(np.asarray(states.bar[row]), return_counts=True)[1]
        assert counts.size == int(np.sum(sym == s))
        mean = n / counts.size
        chi2 = ((counts - mean) ** 2 / mean).sum()
        assert abs(chi2 - (counts.size - 1)) < 5 * np.sqrt(2 * counts.size)
    with pytest.raises(DataError, match="no episode start selected"):
        select_starts(params, np.zeros(params.num_starts, bool))
    with pytest.raises(ConfigError, match="length"):
        select_starts(params, np.ones(params.num_starts, bool), 3)


def test_one_buy_step_by_hand(params):
    env = TradingEnv()
    s, t = 1, 400
    state = state_at(params, s, t)
    obs, nxt, reward, terminated, truncated, info = jax.jit(env.step_env)(
        jax.random.key(0), state, Action.BUY_LARGE, params)
    market = params.market
    o, c_t, c_n = float(market.open[s, t + 1]), float(market.close[s, t]), float(market.close[s, t + 1])
    cash0, comm, slip = 100_000.0, 10e-4, 5e-4
    spend = 0.09 * cash0
    units = spend / (1 + comm) / (o * (1 + slip))
    equity = cash0 - spend + units * c_n
    assert float(nxt.units) == pytest.approx(units, rel=1e-6)
    assert float(nxt.cash) == pytest.approx(cash0 - spend, rel=1e-7)
    assert float(nxt.equity) == pytest.approx(equity, rel=1e-6)
    assert float(nxt.entry_price) == pytest.approx(spend / units, rel=1e-6)
    assert int(nxt.bar) == t + 1 and int(nxt.steps) == 1 and int(nxt.hold_time) == 1
    cost = spend - spend / (1 + comm) + units * o * slip
    comps = dict(zip(REWARD_COMPONENTS, map(float, info.reward_components), strict=True))
    assert comps["pnl"] == pytest.approx(100 * np.log(equity / cash0), rel=1e-4, abs=1e-6)
    assert float(info.cost) == pytest.approx(cost, rel=1e-5)
    exit_cost = 1 - (1 - slip) * (1 - comm)  # the cost component charges the future sale's cost now
    assert comps["cost"] == pytest.approx(-100 * exit_cost * units * c_n / cash0, rel=1e-5)
    assert comps["hold"] == 0.0 and comps["sizing"] == 0.0  # exposure 9 % < 30 % cap
    weights = np.asarray(params.reward_weights)
    assert float(reward) == pytest.approx(float(np.dot(weights, list(comps.values()))), rel=1e-6, abs=1e-7)
    assert not bool(terminated) and not bool(truncated)
    assert int(info.executed_action) == Action.BUY_LARGE and not bool(info.invalid_action)
    # The new observation: the window moved one bar, the position is open.
    np.testing.assert_array_equal(obs.technical, params.market.technical[s, t + 1 - 23: t + 2])
    assert float(obs.position[4]) == 1.0
    assert float(obs.portfolio[1]) == pytest.approx(units * c_n / equity, rel=1e-5)
    assert bool(obs.action_mask[Action.BUY_LARGE]) and bool(obs.action_mask[Action.SELL_ALL])  # 9 + 9 < 30 %
    assert c_t > 0


def test_stop_loss_overrides_the_agent_and_closes_the_trade(params):
    env = TradingEnv()
    s, t = 0, 450
    close = float(params.market.close[s, t])
    entry = close / 0.9  # 10 % under water, stop loss at 5 %
    state = state_at(params, s, t, units=100.0, cash=100_000.0 - 100 * entry, entry_price=entry,
                     hold_time=7, trade_basis=100 * entry)
    state = state.replace(equity=state.cash + state.units * close)
    _, nxt, _, _, _, info = env.step_env(jax.random.key(0), state, Action.ADD_TO_POSITION, params)
    assert int(info.exit_reason) == ExitReason.STOP_LOSS
    assert int(info.executed_action) == Action.SELL_ALL
    assert float(nxt.units) == 0.0 and int(nxt.hold_time) == 0
    assert bool(info.trade_closed) and int(nxt.trades) == 1 and int(nxt.wins) == 0
    assert int(nxt.trade_bars) == 7
    assert float(nxt.gross_loss) > 0 and float(nxt.gross_profit) == 0.0
    assert float(info.trade_return) < -0.05


def test_invalid_action_is_carried_out_as_hold(params):
    env = TradingEnv()
    state = state_at(params, 0, 420)
    for action in (Action.SELL_ALL, Action.SELL_PARTIAL, Action.ADD_TO_POSITION, -1, 9):
        _, nxt, _, _, _, info = env.step_env(jax.random.key(0), state, action, params)
        assert bool(info.invalid_action) and int(info.executed_action) == Action.HOLD
        assert float(nxt.cash) == float(state.cash) and float(nxt.units) == 0.0
        assert float(info.reward_components.hold) == -1.0  # flat and idle


def test_horizon_and_end_of_data_truncate_and_auto_reset(params):
    env = TradingEnv()
    step = jax.jit(env.step)
    horizon = int(params.rules.horizon)
    state = state_at(params, 0, 450, steps=horizon - 1)
    obs, nxt, _, terminated, truncated, info = step(jax.random.key(1), state, Action.HOLD, params)
    assert bool(truncated) and not bool(terminated)
    assert int(nxt.steps) == 0  # a fresh episode
    final = info.final_observation
    np.testing.assert_array_equal(final.technical, params.market.technical[0, 451 - 23: 452])
    # The returned observation is the fresh episode's.
    np.testing.assert_array_equal(obs.technical, env.observe(nxt, params).technical)
    last = int(np.asarray(params.starts.bar)[np.asarray(params.starts.symbol) == 0].max())
    _, nxt, _, terminated, truncated, _ = env.step_env(jax.random.key(1), state_at(params, 0, last), 0, params)
    assert bool(truncated) and int(nxt.bar) == last + 1 == params.market.close.shape[1] - 1


def test_drawdown_limit_terminates_without_truncation(params):
    env = TradingEnv()
    state = state_at(params, 0, 450, peak_equity=200_000.0)  # 50 % below the peak
    _, _, _, terminated, truncated, info = env.step_env(jax.random.key(0), state, Action.HOLD, params)
    assert bool(terminated) and not bool(truncated)
    assert float(info.drawdown) == pytest.approx(0.5, rel=1e-6)


def test_reset_and_step_compile_once_and_are_deterministic(market, params):
    env = TradingEnv()
    reset = jax.jit(jax.vmap(chex.assert_max_traces(env.reset, n=1), in_axes=(0, None)))
    step = jax.jit(jax.vmap(chex.assert_max_traces(env.step, n=1), in_axes=(0, 0, 0, None)))
    data, features = market
    other = make_params(data, features, EnvConfig(horizon=7, commission_bps=1.0, stop_loss=0.0))
    runs = []
    for p, seed in ((params, 0), (other, 0), (params, 0), (params, 1)):
        keys = jax.random.split(jax.random.key(seed), 64)
        obs, state = reset(keys, p)
        rewards = []
        for i in range(30):
            action = jnp.argmax(obs.action_mask * jax.random.uniform(jax.random.fold_in(keys[0], i), (64, 7)), -1)
            obs, state, reward, *_ = step(keys, state, action, p)
            rewards.append(reward)
        runs.append(np.stack(rewards))
    np.testing.assert_array_equal(runs[0], runs[2])  # same key, same params: identical
    assert not np.array_equal(runs[0], runs[3])
    assert not np.array_equal(runs[0], runs[1])


def test_reward_fn_is_injected_and_params_sweep_with_vmap(market, params):
    def pnl_only(outcome, rules):
        z = jnp.zeros(())
        return RewardComponents(100.0 * outcome.step_return, z, z, z, z, z, z)

    env = TradingEnv(reward_fn=pnl_only)
    state = state_at(params, 1, 400)
    _, _, reward, _, _, info = env.step_env(jax.random.key(0), state, Action.BUY_MEDIUM, params)
    assert float(reward) == pytest.approx(0.40 * float(info.reward_components.pnl), rel=1e-6)
    # Rules are traced: one compiled step, vmapped over commission rates (only the rules get an axis).
    rules = jax.tree.map(lambda x: jnp.stack([x] * 3), params.rules)
    batch = params.replace(rules=rules.replace(commission_bps=jnp.array([0.0, 10.0, 50.0])))
    costs = jax.vmap(lambda p: env.step_env(jax.random.key(0), state, Action.BUY_MEDIUM, p)[5].cost,
                     in_axes=(params_axes(params, rules=0),))(batch)
    assert 0 < float(costs[0]) < float(costs[1]) < float(costs[2])


def test_churning_earns_less_reward_than_doing_nothing(params):
    """Round trips with no edge lose their costs; no component may pay for trading by itself."""
    env = TradingEnv()
    n, steps = 512, 40

    def churn(obs):  # buy 9 % when flat, sell everything when holding
        return jnp.where(obs.position[:, 4] > 0, Action.SELL_ALL, Action.BUY_LARGE)

    @partial(jax.jit, static_argnums=1)
    def run(key, churning: bool):
        obs, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key, n), params)

        def body(carry, k):
            obs, state = carry
            action = churn(obs) if churning else jnp.zeros(n, jnp.int32)
            obs, state, reward, _, _, info = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
                jax.random.split(k, n), state, action, params)
            return (obs, state), (reward, jnp.stack(info.reward_components, -1))

        return jax.lax.scan(body, (obs, state), jax.random.split(key, steps))[1]

    reward_churn, comps_churn = run(jax.random.key(0), True)
    reward_cash, comps_cash = run(jax.random.key(0), False)
    assert float(reward_churn.mean()) < float(reward_cash.mean())
    te = REWARD_COMPONENTS.index("time_efficiency")
    assert float(comps_churn[..., te].mean()) < 0
    assert float(comps_churn[..., REWARD_COMPONENTS.index("cost")].mean()) < 0
    np.testing.assert_array_equal(comps_cash[..., :6], 0.0)  # flat and idle: only the hold component


def test_rules_hold_every_numeric_env_setting():
    """`Rules` is written by hand (env/rules.py, a leaf module); its fields are exactly the config's numeric
    settings, in order, so `rules_from_config` fills every one and a new setting cannot be forgotten."""
    import dataclasses

    from jaxtrade.env.config import RULE_FIELDS
    from jaxtrade.env.rules import Rules

    assert tuple(f.name for f in dataclasses.fields(Rules)) == RULE_FIELDS
