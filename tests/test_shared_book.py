"""Portfolio backtests on the shared book: equal-weight baselines, symbol agents alone and under a master."""

from __future__ import annotations

from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxtrade.agents import ConfidenceAllocator
from jaxtrade.agents.learned_master import largest_open_proposals
from jaxtrade.data import load_sample
from jaxtrade.env import EnvConfig
from jaxtrade.env.params import make_portfolio_params
from jaxtrade.env.portfolio import PortfolioEnv
from jaxtrade.evaluate.metrics import max_drawdown
from jaxtrade.evaluate.shared_book import (
    EQUAL_RISK,
    TS_MOMENTUM,
    agents_policy,
    book_row,
    capped_policy,
    equal_risk_policy,
    equal_weight_policy,
    master_policy,
    run_book,
    split_capital,
    ts_momentum_book_policy,
)
from jaxtrade.features import FeatureConfig, compute_features


@pytest.fixture(scope="module")
def book():
    """The four stocks from mid-2004 (GOOG lists in August) to 2006: one walk per policy."""
    data = load_sample("stocks_daily")
    features = compute_features(data, FeatureConfig(norm_window=60))
    days = np.asarray(data.timestamps()).astype("datetime64[D]")
    bars = tuple(int(np.searchsorted(days, np.datetime64(d))) for d in ("2004-06-01", "2006-01-01"))
    cfg = replace(EnvConfig(), max_drawdown=0.0, ruin=0.0, stop_loss=0.0, take_profit=0.0, max_hold=0)
    params = make_portfolio_params(data, features, cfg, bars=bars, total_limit=0.8)
    return data, params


def test_equal_weight_holds_each_symbol_at_its_share_once_it_trades(book):
    data, params = book
    env = PortfolioEnv()
    runs = run_book(env, params, {"hold": (equal_weight_policy(0.8, rebalance=False), None),
                                  "rebalanced": (equal_weight_policy(0.8, rebalance=True, tolerance=0.15), None),
                                  "fine": (equal_weight_policy(0.04, rebalance=False), None)},
                    jax.random.key(0))
    # 1 % a symbol, finer than the smallest order (2.5 % of equity): the buy is cut to the budget, not dropped.
    fine = np.asarray(runs.pop("fine").weights)[60]
    assert ((fine[fine > 0] > 0.0075) & (fine[fine > 0] < 0.013)).all() and (fine > 0).sum() == 3, fine
    goog = data.symbols.index("GOOG")
    tradeable = np.asarray(params.tradeable)
    start = int(runs["hold"].start_bar)
    steps = int(params.end) - start - 1
    assert int(runs["hold"].steps) == steps  # walked to the split's end
    first_goog = int(np.argmax(tradeable[goog, start:start + steps]))
    assert first_goog > 200  # GOOG's features warm up months after its listing
    for name, r in runs.items():
        w = np.asarray(r.weights)
        assert (w[:first_goog, goog] == 0).all(), name  # nothing bought before GOOG can trade
        assert np.allclose(w[60], 0.2, atol=0.02) or w[60, goog] == 0, (name, w[60])  # the other three at 20 %
        assert (np.asarray(r.gross_exposure) <= 0.8 * 1.15).all(), name  # the limit plus what prices add
    hold, rebalanced = np.asarray(runs["hold"].weights), np.asarray(runs["rebalanced"].weights)
    # Holding lets the winner run (AAPL doubled) and leaves no room under the total limit when GOOG can trade;
    # rebalancing sells half of what drifts 3 points over its 20 % and buys GOOG to its share.
    assert int(runs["hold"].trades) == 0 and hold[-1].max() > 0.4 and hold[-1, goog] < 0.1
    assert np.abs(rebalanced[-1] - 0.2).max() < 0.05 and rebalanced[-1, goog] > 0.15
    assert float(runs["rebalanced"].cost) > float(runs["hold"].cost)
    row = book_row("hold", runs["hold"], 252.0)
    assert row["steps"] == steps and row["trades"] == 0 and 0.5 < row["exposure"] <= 0.85
    np.testing.assert_allclose(1 + row["total_return"], float(runs["hold"].equity[steps]), rtol=1e-5)


def test_equal_risk_holds_each_symbol_at_its_volatility_targeted_share(book):
    """Each tradeable symbol near total / S x min(1, 10 % / its volatility) of equity after a warm-up (the
    orders are coarse: within the band above, less than the smallest order below), GOOG at 0 until it
    can trade."""
    data, params = book
    r = run_book(PortfolioEnv(), params, {"risk": (equal_risk_policy(0.8, vol_target=0.10), None)},
                 jax.random.key(0))["risk"]
    start, w = int(r.start_bar), np.asarray(r.weights)
    vol = np.asarray(params.env.market.volatility) * np.sqrt(float(params.env.rules.bars_per_year))
    tradeable = np.asarray(params.tradeable)
    checked = 0
    for i in range(40, w.shape[0], 10):
        bar = start + i + 1
        for s in range(params.num_symbols):
            if not tradeable[s, start:bar].sum() > 40:
                assert w[i, s] == 0 or tradeable[s, start:bar].any()
                continue
            target = 0.2 * min(1.0, 0.10 / vol[s, bar - 1])
            # below by less than the smallest order (2.5 %), or just half sold; above by the band plus drift
            assert min(target - 0.026, 0.6 * target) < w[i, s] < target * 1.25 + 0.01, (i, s, w[i, s], target)
            checked += 1
    assert checked > 100 and 0 < float(np.asarray(r.gross_exposure).max()) < 0.8


def test_caps_bound_the_agents_at_equal_risks_or_equal_weights_exposure(book):
    """Agents that always want their largest buy, under equal risk's caps (10 % volatility target): each symbol
    held up to total / S x min(1, 10 % / its volatility), never more than the band over it; agents that never buy
    stay in cash; under equal weight's caps (no target), near total / S each."""
    data, params = book
    eager, idle = largest_open_proposals, lambda p, key, obs: largest_open_proposals(p, key, obs)[:2] + (
        jnp.zeros(obs.action_mask.shape[0], jnp.int32),)
    runs = run_book(PortfolioEnv(), params, {"eager": (capped_policy(eager, 0.8, vol_target=0.10), None),
                                             "idle": (capped_policy(idle, 0.8, vol_target=0.10), None),
                                             "equal": (capped_policy(eager, 0.8, vol_target=None), None)},
                    jax.random.key(0))
    equal = np.asarray(runs["equal"].weights)[100:]  # equal weight's caps: 20 % each, the band over it at most
    assert equal.max() < 0.2 * 1.25 + 0.01 and np.median(equal[equal > 0]) > 0.17
    r, w = runs["eager"], np.asarray(runs["eager"].weights)
    assert float(np.abs(np.asarray(runs["idle"].weights)).max()) == 0.0
    vol = np.asarray(params.env.market.volatility) * np.sqrt(float(params.env.rules.bars_per_year))
    start, tradeable, near = int(r.start_bar), np.asarray(params.tradeable), 0
    for i in range(40, w.shape[0], 10):
        bar = start + i + 1
        for s in np.flatnonzero(tradeable[:, bar - 1]):
            cap = 0.2 * min(1.0, 0.10 / vol[s, bar - 1])
            assert w[i, s] < cap * 1.25 + 0.01, (i, s, w[i, s], cap)
            near += w[i, s] > cap - 0.026 or w[i, s] > 0.6 * cap  # the eager agents fill it (orders are coarse)
    assert near > 100 and float(np.asarray(r.gross_exposure).max()) < 0.8


def test_split_capital_is_the_mean_of_its_shares_and_a_shares_stop_bounds_the_whole(book):
    """Two runs on halves of one account (`split_capital`): the account's equity is the mean of theirs, a symbol's
    weight their values over the whole equity, trades summed; with the drawdown stop on, a stopped half closes only
    itself and the whole never falls further from its peak than the deeper half; a split of one run is that run."""
    data, params = book
    stopped = params.replace(env=params.env.replace(rules=params.env.rules.replace(
        max_drawdown=jnp.asarray(0.04, params.env.rules.max_drawdown.dtype))))
    eager = largest_open_proposals
    runs = run_book(PortfolioEnv(), stopped, {"all in": (agents_policy(eager, 1.0), None),
                                              "capped": (capped_policy(eager, 0.8, vol_target=0.10), None)},
                    jax.random.key(0))
    a, b = runs["all in"], runs["capped"]
    assert int(a.stops) == 1 and int(a.stop_bar) > 0  # the all-in half hit the 4 % stop
    both = split_capital(jax.tree.map(lambda *x: jnp.stack(x), a, b))
    np.testing.assert_allclose(both.equity, (a.equity + b.equity) / 2, rtol=1e-6)
    np.testing.assert_allclose(jnp.cumprod(1 + both.step_returns), both.equity[1:], rtol=1e-5)
    value = a.weights * a.equity[1:, None] + b.weights * b.equity[1:, None]  # each half's value, in initial cash
    np.testing.assert_allclose(both.weights, value / (a.equity[1:, None] + b.equity[1:, None]), rtol=1e-5, atol=1e-7)
    assert int(both.trades) == int(a.trades) + int(b.trades) and int(both.stops) == int(a.stops) + int(b.stops)
    assert int(both.stop_bar) == max(int(a.stop_bar), int(b.stop_bar))
    deeper = max(-float(max_drawdown(r.step_returns)) for r in (a, b))
    assert -float(max_drawdown(both.step_returns)) <= deeper + 1e-6
    alone = split_capital(jax.tree.map(lambda x: x[None], b))
    for field in ("equity", "step_returns", "weights", "gross_exposure", "cost"):
        np.testing.assert_allclose(getattr(alone, field), getattr(b, field), rtol=1e-5, atol=1e-7)


def test_agents_alone_and_under_a_master_on_one_book(book):
    data, params = book
    env, eager = PortfolioEnv(), largest_open_proposals  # symbol agents that always want their largest buy
    master = ConfidenceAllocator(total_limit=0.5, per_symbol_limit=0.3)
    runs = run_book(env, params, {"alone": (agents_policy(eager, 0.3), None),
                                  "master": (master_policy(eager, master), (None, {}))},
                    jax.random.key(1))
    alone, gated = np.asarray(runs["alone"].gross_exposure), np.asarray(runs["master"].gross_exposure)
    assert alone.max() > 0.75  # alone they fill every symbol's limit (4 x 0.3, capped by the 0.8 total)
    assert gated.max() < 0.5 * 1.1 and gated.mean() > 0.3  # the master holds the total to its 50 %
    assert np.isfinite(np.asarray(runs["master"].equity)).all()
    assert (np.abs(np.asarray(runs["master"].weights)) <= 0.3 * 1.15 + 1e-6).all()


def test_the_one_program_runs_match_the_policies_run_one_by_one(tiny_exp):
    """`run_variants` (four agent runs vmapped over flags) and `run_equal_weight` give what each policy gives
    alone: the same equity, step by step."""
    from jaxtrade.agents import ActorCritic, AgentConfig
    from jaxtrade.agents.learned_master import network_proposals
    from jaxtrade.evaluate.shared_book import run_equal_weight, run_variants

    params = tiny_exp.portfolio_params("validation", total_limit=0.9)
    env, net = PortfolioEnv(), ActorCritic(AgentConfig(kind="mlp", mlp_hidden=(16,), head_dim=16))
    obs, _ = env.reset_at(params.start_bars[0], params)
    net_params = net.init(jax.random.key(0), obs.symbols)
    master = ConfidenceAllocator(total_limit=0.9, per_symbol_limit=0.3)
    key = jax.random.key(4)
    together = {**run_variants(env, params, net, net_params, master, {}, 0.3, key),
                **run_equal_weight(env, params, 0.9, key)}
    sampled = network_proposals(net, deterministic=False)
    alone = run_book(env, params, {  # the two that exercise both flags, and the rebalancing one
        "agents": (agents_policy(network_proposals(net), 0.3), net_params),
        "agents sampled + master": (master_policy(sampled, master), (net_params, {})),
        "equal weight, rebal.": (equal_weight_policy(0.9, True), None)}, key)
    # four agent variants, two equal-weight books, equal risk, time-series momentum
    assert len(together) == 8 and EQUAL_RISK in together and TS_MOMENTUM in together
    for name in alone:
        np.testing.assert_allclose(np.asarray(together[name].equity), np.asarray(alone[name].equity), rtol=1e-5,
                                   err_msg=name)
    assert len({round(float(r.equity[-1]), 6) for r in together.values()}) >= 4  # the runs differ


def test_time_series_momentum_on_one_account_is_long_where_the_12_1_return_is_up_and_flat_elsewhere(book):
    """Each symbol at total / S of equity while its return from 252 to 21 bars before the decision bar is
    positive, flat while it is negative (long-only table), through the env's orders (coarse: half sold beyond
    the band above, then bought back); read from the stored closes by hand."""
    data, params = book
    r = run_book(PortfolioEnv(), params, {"mom": (ts_momentum_book_policy(0.8), None)}, jax.random.key(0))["mom"]
    start, w = int(r.start_bar), np.asarray(r.weights)
    close, tradeable = np.asarray(params.env.market.close), np.asarray(params.tradeable)
    long = flat = 0
    for i in range(5, w.shape[0]):
        bar = start + i  # the decision bar of step i; w[i] is marked at its next close
        for s in range(params.num_symbols):
            # decided up on the bar before too (an order fills at the next open), and tradeable since
            ups = [close[s, max(b - 21, 0)] / close[s, max(b - 252, 0)] - 1 for b in range(bar - 3, bar + 1)]
            if not tradeable[s, bar - 4:bar + 1].all():
                continue
            if min(ups) > 0:
                assert 0.6 * 0.2 < w[i, s] < 0.2 * 1.25 * 1.1, (i, s, w[i, s])  # just half sold; the band + a move
                long += 1
            elif max(ups) < 0:
                assert w[i, s] == 0, (i, s, w[i, s])
                flat += 1
    assert long > 200 and flat > 50, (long, flat)
