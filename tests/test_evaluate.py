"""Evaluation episodes and baseline policies."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxtrade.env import LONG_SHORT, REWARD_COMPONENTS, Action, EnvConfig, ShortAction, TradingEnv, make_params
from jaxtrade.env.actions import toward_exposure
from jaxtrade.evaluate import (
    EpisodeResults,
    always_long_policy,
    cash_policy,
    metrics,
    random_policy,
    run_episodes,
    run_policies,
    sma_crossover_policy,
    ts_momentum_policy,
    vol_target_hold_policy,
    walk_forward,
    walk_forward_policies,
)
from jaxtrade.evaluate.backtest import phase3_report, summarize_episodes, target_report
from jaxtrade.evaluate.metrics import mean_interval
from jaxtrade.evaluate.plots import equity_curves
from jaxtrade.features import FeatureConfig, compute_features


@pytest.fixture(scope="module")
def setup(small_market, small_features):
    features = small_features
    cfg = EnvConfig(horizon=40, stop_loss=0.0, take_profit=0.0, max_hold=0, max_drawdown=0.0, ruin=0.0)
    return TradingEnv(), make_params(small_market, features, cfg)


def episodes(setup, act, n=128, horizon=60):
    env, params = setup
    return jax.jit(lambda k: run_episodes(env, params, act, k, n, horizon))(jax.random.key(3))


def test_cash_never_trades_and_episodes_stop_at_their_end(setup):
    r = episodes(setup, cash_policy)
    np.testing.assert_array_equal(r.total_return, 0.0)
    np.testing.assert_array_equal(r.trades, 0)
    assert int(r.steps.max()) == 40  # the env's horizon, although the runner allowed 60
    assert (np.asarray(r.step_mask()).sum(-1) == np.asarray(r.steps)).all()


def test_episode_returns_compound_the_step_returns(setup):
    for act in (random_policy, always_long_policy):
        r = episodes(setup, act)
        want = np.asarray(metrics.total_return(r.step_returns, r.step_mask()))
        np.testing.assert_allclose(np.asarray(r.total_return), want, rtol=1e-4, atol=1e-6)
    assert float(np.asarray(r.total_cost).min()) > 0  # buy-and-hold bought in every episode


def test_literal_buy_and_hold_buys_the_cap_once_and_holds_to_the_end(setup):
    """hold_episodes by hand: one fill at the first open (cap x cash, costs), marked at every close, never
    sold, ended where the env truncates (the cash policy's episode lengths from the same starts)."""
    env, params = setup
    key = jax.random.key(3)
    r = jax.jit(lambda k: run_policies(env, params, [cash_policy], k, 128, 60, hold=True))(key)
    cash, held = jax.tree.map(lambda x: np.asarray(x[0]), r), jax.tree.map(lambda x: np.asarray(x[1]), r)
    np.testing.assert_array_equal(held.steps, cash.steps)
    np.testing.assert_array_equal(held.start_bar, cash.start_bar)
    assert held.trades.sum() == 0 and not held.stop_reason.any() and (held.stop_bar == -1).all()
    close, open_ = np.asarray(params.market.close, np.float64), np.asarray(params.market.open, np.float64)
    cap, c, s = float(params.rules.max_position), 10e-4, 5e-4
    for i in range(0, 128, 9):
        sym, t0, n = int(held.symbol[i]), int(held.start_bar[i]), int(held.steps[i])
        spend = cap * 100_000.0
        units = spend / (1 + c) / (open_[sym, t0 + 1] * (1 + s))
        equity = 100_000.0 - spend + units * close[sym, t0 + 1: t0 + n + 1]
        assert float(held.total_return[i]) == pytest.approx(equity[-1] / 100_000.0 - 1, abs=2e-6)
        assert float(held.total_cost[i]) == pytest.approx(spend * c / (1 + c) + units * open_[sym, t0 + 1] * s,
                                                         rel=1e-5)
        want = np.diff(np.concatenate([[100_000.0], equity])) / np.concatenate([[100_000.0], equity[:-1]])
        np.testing.assert_allclose(held.step_returns[i, :n], want, rtol=1e-4, atol=1e-7)
        assert (held.step_returns[i, n:] == 0).all()
        np.testing.assert_allclose(held.exposure[i, :n], units * close[sym, t0 + 1: t0 + n + 1] / equity, rtol=1e-5)


def test_sma_crossover_reads_only_past_closes(setup):
    env, params = setup
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(jax.random.key(0), 256), params)
    action = np.asarray(sma_crossover_policy(5, 20)(None, obs, state, params))
    close = np.asarray(params.market.close)
    for i in range(256):
        s, t = int(state.symbol[i]), int(state.bar[i])
        window = close[s, t - 19: t + 1]
        up = window[-5:].mean() > window.mean()
        assert (action[i] == Action.BUY_LARGE) == up  # flat at the start: buy on an up-cross, else hold
        assert up or action[i] == Action.HOLD
    with pytest.raises(ValueError, match="fast < slow"):
        sma_crossover_policy(20, 5)


def test_toward_exposure_by_hand():
    """Grow with the largest open that does not pass the target, hold inside the band, half close beyond it,
    close a position on the wrong side of the target (or any, for a target of 0); only valid actions."""
    every = jnp.ones(7, bool)
    go = lambda exposure, target, mask=every, **kw: int(toward_exposure(  # noqa: E731
        mask, jnp.float32(exposure), jnp.float32(target), **kw))
    assert go(0.0, 0.10) == Action.BUY_LARGE  # 9 % <= 10 %
    assert go(0.0, 0.07) == Action.BUY_MEDIUM
    assert go(0.05, 0.09) == Action.ADD_TO_POSITION  # 3 % is the largest that fits the 4 % gap
    assert go(0.08, 0.10) == Action.HOLD  # no order as small as the 2 % gap
    assert go(0.12, 0.10) == Action.HOLD  # inside the 25 % band
    assert go(0.13, 0.10) == Action.SELL_PARTIAL
    assert go(0.05, 0.0) == Action.SELL_ALL
    assert go(0.0, 0.10, every.at[1:4].set(False).at[6].set(False)) == Action.HOLD  # no valid open
    assert go(0.13, 0.10, every.at[4].set(False)) == Action.HOLD  # the half close masked
    both = jnp.ones(13, bool)
    assert go(0.05, -0.10, both, table=LONG_SHORT) == Action.SELL_ALL
    assert go(0.0, -0.10, both, table=LONG_SHORT) == ShortAction.SHORT_LARGE
    assert go(-0.30, -0.10, both, table=LONG_SHORT) == ShortAction.COVER_PARTIAL
    assert go(-0.05, 0.10, both, table=LONG_SHORT) == ShortAction.COVER_ALL


def test_quant_baselines_read_only_past_closes_and_hold_their_targets(setup):
    """Time-series momentum is long exactly when close[t - 21] > close[t - 252] (from the first bar when
    shorter), whatever comes after t; volatility-targeted buy-and-hold holds about vol_target / the asset's
    volatility of equity (at most the cap), and momentum with a vol target likewise while long."""
    env, params = setup
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(jax.random.key(0), 256), params)
    momentum = ts_momentum_policy()
    action = np.asarray(momentum(None, obs, state, params))
    close = np.asarray(params.market.close)
    ups = 0
    for i in range(256):
        s, t = int(state.symbol[i]), int(state.bar[i])
        up = close[s, max(t - 21, 0)] > close[s, max(t - 252, 0)]
        ups += up
        assert action[i] == (Action.BUY_LARGE if up else Action.HOLD)  # flat at the start
    assert 0 < ups < 256
    later = params.replace(market=params.market.replace(close=params.market.close.at[:, :].multiply(
        jnp.where(jnp.arange(close.shape[1]) > int(state.bar.max()), 0.5, 1.0))))
    np.testing.assert_array_equal(np.asarray(momentum(None, obs, state, later)), action)
    with pytest.raises(ValueError, match="skip < lookback"):
        ts_momentum_policy(lookback=21, skip=21)

    r = jax.jit(lambda k: run_policies(env, params, [vol_target_hold_policy(0.10), ts_momentum_policy(
        vol_target=0.10)], k, 64, 40))(jax.random.key(3))
    vol = np.asarray(params.market.volatility) * np.sqrt(float(params.rules.bars_per_year))
    vol0 = vol[np.asarray(r.symbol[0]), np.asarray(r.start_bar[0])]
    target = np.minimum(float(params.rules.max_position), 0.10 / vol0)
    late = np.asarray(r.exposure[0, :, 20:40]).mean(1)  # after 20 bars of buying up to it
    assert np.median(np.abs(late / target - 1)) < 0.2
    assert (np.asarray(r.exposure[1]) <= 1.25 * np.asarray(r.exposure[0]).max() + 1e-6).all()


def test_walk_forward_runs_each_symbol_through_the_split(setup):
    env, params = setup
    r = walk_forward(env, params, cash_policy, jax.random.key(0))
    sym, bar = np.asarray(params.starts.symbol), np.asarray(params.starts.bar)
    next_ok = np.asarray(params.market.next_ok)
    assert np.asarray(r.symbol).tolist() == sorted(set(sym.tolist()))
    for i, s in enumerate(np.asarray(r.symbol)):
        first = bar[sym == s].min()
        assert int(r.start_bar[i]) == first
        stop = first + 1 + np.argmin(next_ok[s, first + 1:])  # the first bar with no next bar to step into
        assert int(r.steps[i]) == stop - first  # the whole run, not the env's 40-step horizon
    np.testing.assert_array_equal(r.total_return, 0.0)
    np.testing.assert_array_equal(r.turnover, 0.0)
    np.testing.assert_array_equal(r.exposure, 0.0)

    held = walk_forward(env, params, always_long_policy, jax.random.key(0))
    equity, drawdown = equity_curves(held)
    for i in range(equity.shape[0]):
        n = int(held.steps[i])
        assert equity[i, n] == pytest.approx(1.0 + float(held.total_return[i]), rel=1e-4)
        assert np.isnan(equity[i, n + 1:]).all() and (drawdown[i, : n + 1] <= 0).all()
    exposure = np.asarray(held.exposure)[:, 10:50]  # 9 % first, +3 % per step up to the limit
    assert (exposure > 0.2).all() and (exposure < 0.45).all()  # long up to the 30 % limit, drifting with price
    assert (np.asarray(held.turnover) > 0.29).all()  # at least the first buy (9 %) and the adds to 30 %


def test_summaries_select_episodes_by_weight(setup):
    r = episodes(setup, random_policy, n=64)
    env, params = setup
    weight = np.asarray(r.symbol) == 0
    part = summarize_episodes(r, params.rules.bars_per_year, weight)
    alone = summarize_episodes(jax.tree.map(lambda x: x[weight], r), params.rules.bars_per_year)
    for k in part:
        assert float(part[k]) == pytest.approx(float(alone[k]), rel=1e-5, abs=1e-7), k
    stats = summarize_episodes(r, params.rules.bars_per_year)
    assert 0 < float(stats["exposure"]) < 0.3 and float(stats["turnover"]) > 0
    assert float(stats["avg_trade_bars"]) >= 1 and int(stats["episodes"]) == 64
    total_trades = float(np.sum(r.trades))
    assert float(stats["win_rate"]) == pytest.approx(float(np.sum(r.wins)) / total_trades)
    assert float(stats["avg_trade_bars"]) == pytest.approx(float(np.sum(r.trade_bars)) / total_trades)


DOLLARS = ("gross_profit", "gross_loss", "total_cost")


def _assert_same_results(a, b):
    # Integers (actions taken, trades, steps) must match exactly. Floats come from two differently batched
    # programs, so they may differ in the last bits; dollar PnL sums (gross profit ~ 1e3 as the difference of
    # ~1e5 notionals) amplify that to ~1e-4 relative (a few thousandths of a dollar on a 100,000 account, hence
    # the one-cent absolute tolerance), while a wrong start or key changes them entirely.
    for name, x, y in zip(a._fields, a, b, strict=True):
        if np.issubdtype(np.asarray(x).dtype, np.floating):
            np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-4,
                                       atol=1e-2 if name in DOLLARS else 1e-6, err_msg=name)
        else:
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y), err_msg=name)


def test_policies_in_one_rollout_match_separate_runs(setup):
    """run_policies / walk_forward_policies: each block is exactly that policy's own run (same starts and keys)."""
    env, params = setup
    acts = [cash_policy, random_policy, always_long_policy, sma_crossover_policy(5, 20)]
    together = jax.jit(lambda k: run_policies(env, params, acts, k, 64, 50))(jax.random.key(3))
    assert together.total_return.shape == (4, 64) and together.step_returns.shape == (4, 64, 50)
    for i in (1, 2, 3):  # random, position-reading (buy-and-hold) and market-reading (SMA)
        alone = episodes(setup, acts[i], n=64, horizon=50)
        _assert_same_results(jax.tree.map(lambda x, i=i: x[i], together), alone)
    np.testing.assert_array_equal(together.trades[0], 0)
    assert len({float(np.sum(together.total_return[i])) for i in range(1, 4)}) == 3  # the blocks differ

    walked = walk_forward_policies(env, params, acts, jax.random.key(0))
    assert walked.symbol.shape == (4, 2)
    _assert_same_results(jax.tree.map(lambda x: x[3], walked), walk_forward(env, params, acts[3], jax.random.key(0)))
    np.testing.assert_array_equal(walked.trades[0], 0)


def test_episode_sharpe_pools_the_steps_so_its_sign_follows_the_mean_return():
    """Two episodes: a steady small gain (a high Sharpe alone) and a volatile larger loss. The mean return is
    negative, the mean of the per-episode Sharpe ratios is positive; the table's pooled Sharpe is negative."""
    steady = 0.001 + np.where(np.arange(50) % 2 == 0, 0.0005, -0.0005)
    volatile = np.where(np.arange(50) % 2 == 0, 0.03, -0.034)
    rets = jnp.asarray(np.stack([steady, volatile]), jnp.float32)
    n = jnp.asarray([50, 50])
    z = jnp.zeros(2)
    r = EpisodeResults(symbol=jnp.zeros(2, jnp.int32), start_bar=jnp.zeros(2, jnp.int32),
                       total_return=jnp.prod(1 + rets, 1) - 1, steps=n, trades=n * 0, trade_bars=n * 0,
                       wins=n * 0, gross_profit=z, gross_loss=z, total_cost=z, stop_reason=n * 0, stop_bar=n * 0 - 1,
                       stops=n * 0,
                       step_returns=rets, exposure=jnp.ones_like(rets), turnover=z, reward=z,
                       reward_components=jnp.zeros((2, len(REWARD_COMPONENTS))))
    stats = summarize_episodes(r, 252.0)
    per_episode = np.asarray(metrics.sharpe(rets, 252.0))
    assert float(stats["mean_return"]) < 0 < per_episode.mean()
    assert float(stats["sharpe"]) < 0 and float(stats["calmar"]) < 0
    assert float(stats["sharpe"]) == pytest.approx(float(metrics.sharpe(rets.reshape(-1), 252.0)), rel=1e-5)


def test_targets_phase3_and_seed_intervals():
    row = {"total_return": 0.13, "annualised_return": 0.14, "sharpe": 0.6, "max_drawdown": -0.3,
           "win_rate": 0.55, "profit_factor": 1.2}
    report = target_report(row)
    assert "return >= +12 %: +13.0% met" in report and "annualised >= 15 %: +14.0% NOT met" in report
    assert "max drawdown <= 25 %: -30.0% NOT met" in report and "profit factor >= 1.3: 1.20 NOT met" in report
    wf = [{"policy": "agent", "sharpe": s, "steps": 250} for s in (0.5, 0.2, 0.31, -1.0)] + [
        {"policy": "cash", "sharpe": 9.0, "steps": 250}]
    assert "2 of 4 symbols, met" in phase3_report(wf)
    assert "1 of 3 symbols, NOT met" in phase3_report(wf[1:])
    m, lo, hi = mean_interval([1.0, 2.0, 3.0])
    assert m == 2.0 and hi - m == pytest.approx(4.303 * 1.0 / np.sqrt(3), rel=1e-4) and lo == pytest.approx(4 - hi)
    assert mean_interval([5.0]) == (5.0, 5.0, 5.0)


def test_ratios_of_short_records_print_na_and_count_nowhere():
    from jaxtrade.evaluate.backtest import (
        MIN_RATIO_BARS,
        format_symbol_summary,
        format_table,
        phase3_report,
    )

    def row(symbol, sharpe, steps, trades):
        return {"policy": "agent", "symbol": symbol, "mean_return": 0.01, "sharpe": sharpe, "sortino": sharpe,
                "max_drawdown": -0.05, "steps": steps, "trades_per_episode": trades, "avg_trade_bars": 3.0,
                "win_rate": 1.0, "profit_factor": float("inf"), "turnover": 1.0, "exposure": 0.5, "mean_cost": 10.0}

    # A symbol whose record is 3 bars long (a fragment) with an absurd Sharpe, beside two full records.
    rows = [row("FRAG", 51.79, 3, 1), row("AAA", 0.8, 250, 12), row("BBB", 0.1, 250, 12)]
    table = format_table(rows).splitlines()
    frag = next(x for x in table if x.startswith("  FRAG"))
    assert "51.79" not in frag and frag.split().count("n/a") == 4  # Sharpe, Sortino, win rate, profit factor
    assert "n/a" not in next(x for x in table if x.startswith("  AAA"))
    summary = format_symbol_summary(rows).splitlines()[1].split()
    assert summary[1] == "3" and summary[9] == "50%" and summary[10] == "1"  # > 0.3 share over 2, 1 n/a
    assert phase3_report(rows) == ("phase-3 criterion (walk-forward Sharpe > 0.3 on at least half of the symbols): "
                                   f"1 of 2 symbols, met (1 left out: records under {MIN_RATIO_BARS} bars)")


def test_a_stop_liquidates_and_the_record_covers_the_whole_period():
    """Hand case: flat at 100, one bar that closes at 70, then a climb back to 100; a scripted policy buys 9 %
    once. The 2.7 % loss hits the 2 % drawdown limit at the crash bar's close: the book is sold at the next
    open (70, no costs) and stays in cash; the record runs to the split's end, its statistics are over all of
    it, and the row names the rule and the date. Symbol B (the same prices) has no data after bar T - 30."""
    from jaxtrade.data.loaders import align
    from jaxtrade.env.types import SIDE
    from jaxtrade.evaluate.backtest import HOLD, walk_forward_backtest

    T, window, k = 260, 24, 162
    close = np.full(T, 100.0)
    close[k:] = np.linspace(70.0, 100.0, T - k)
    open_ = np.concatenate([[100.0], close[:-1]])
    ohlcv = np.stack([open_, np.maximum(open_, close), np.minimum(open_, close), close, np.full(T, 1e6)], -1)
    times = np.datetime64("2020-01-01", "s").astype(np.int64) + 86_400 * np.arange(T)
    end_b = T - 30
    data = align({"A": {"time": times, "ohlcv": ohlcv}, "B": {"time": times[:end_b + 1], "ohlcv": ohlcv[:end_b + 1]}})
    cfg = EnvConfig(commission_bps=0.0, slippage_bps=0.0, stop_loss=0.0, take_profit=0.0, max_hold=0,
                    max_drawdown=0.02, ruin=0.0, bars_per_year=252.0)
    params = make_params(data, compute_features(data, FeatureConfig(norm_window=10)), cfg, window)
    t0 = 120 + 10 - 1 + window - 1  # the first start: warm-up, then a full window

    def buy_once(key, obs, state, params):
        can = obs.action_mask[:, Action.BUY_LARGE] & (obs.position[:, SIDE] == 0)
        return jnp.where(can, Action.BUY_LARGE, Action.HOLD)

    rows, results = walk_forward_backtest(TradingEnv(), params, {"scripted": buy_once}, jax.random.key(0),
                                          data.symbols, data.timestamps(), T)
    row = {(r["policy"], r["symbol"]): r for r in rows}
    a, b = row["scripted", "A"], row["scripted", "B"]
    r = jax.tree.map(np.asarray, results["scripted"])  # (symbols, ...): A first
    steps = T - 1 - t0
    assert int(r.start_bar[0]) == t0 and int(r.steps[0]) == steps  # to the end, not to the stop
    want = np.zeros(steps)
    want[k - t0 - 1] = -90 * 30 / 100_000  # 90 units bought at 100, marked at 70 at bar k's close
    np.testing.assert_allclose(r.step_returns[0, :steps], want, atol=1e-7)  # flat (in cash) after the stop
    assert (a["stop"], a["stop_bar"], a["stop_date"], a["data_end"]) == ("drawdown", k, "2020-06-11", "")
    assert a["last_bar"] == T - 1 and a["steps"] == steps and a["mean_return"] == pytest.approx(-0.027, abs=1e-6)
    sharpe = want.mean() / want.std(ddof=1) * np.sqrt(252)
    assert a["sharpe"] == pytest.approx(sharpe, rel=1e-4) and a["max_drawdown"] == pytest.approx(-0.027, abs=1e-6)
    assert int(r.stop_reason[0]) == 1 and int(r.trades[0]) == 1
    # B's data end, inside the split, ends its record there, marked at the last close, and the row says so.
    assert b["stop"] == "drawdown" and b["last_bar"] == end_b and b["data_end"] == "2020-08-18"
    # Literal buy-and-hold rides through: no stop, the whole period, back to where it started (30 % at 100).
    hold = row[HOLD, "A"]
    assert hold["stop"] == "" and hold["steps"] == steps and hold["mean_return"] == pytest.approx(0.0, abs=1e-5)


def test_baselines_act_in_the_env_params_action_table_not_one_guessed_from_its_width():
    """A custom 7-wide table with the buys in another order: always-long picks the custom table's largest buy
    (read from the params), not the shipped table's index; no params, or params of another width, are refused."""
    import jax.numpy as jnp

    from jaxtrade.env import EnvParams
    from jaxtrade.env.actions import LONG_ONLY, LONG_SHORT, ActionTable
    from jaxtrade.env.types import Observation, observation_shapes
    from jaxtrade.errors import ConfigError
    from jaxtrade.evaluate.policies import always_long_policy

    hold, small, medium, large, *rest = LONG_ONLY.specs
    custom = ActionTable((hold, large, medium, small, *rest))  # the largest buy at index 1
    params = EnvParams.__new__(EnvParams)  # only the static table is read
    object.__setattr__(params, "actions", custom)
    obs = Observation(**{k: jnp.zeros((2, *shape)) for k, shape in observation_shapes(24, 23, 10, 3, 7).items()})
    obs = obs.replace(action_mask=jnp.ones((2, 7), bool))
    assert always_long_policy(None, obs, None, params).tolist() == [1, 1]
    with pytest.raises(ConfigError, match="needs the env params"):  # no params: refused, never guessed
        always_long_policy(None, obs)
    object.__setattr__(params, "actions", LONG_SHORT)
    with pytest.raises(ConfigError, match="13 actions, the observation's mask 7"):
        always_long_policy(None, obs, None, params)
