"""The portfolio env: one account for every symbol, checked against an independent NumPy reference and by
its invariants (cash and units conserved, budgets and limits never exceeded, untradeable symbols never traded)."""

from __future__ import annotations

from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import with_gaps
from reference_env import reference_params
from reference_portfolio import ReferencePortfolio

from jaxtrade.data import load_sample
from jaxtrade.env import EnvConfig
from jaxtrade.env.params import make_portfolio_params
from jaxtrade.env.portfolio import PortfolioEnv
from jaxtrade.env.types import PortfolioAction
from jaxtrade.errors import ConfigError
from jaxtrade.features import FeatureConfig, compute_features

STEPS = 120


@pytest.fixture(scope="module")
def stocks():
    """The four bundled stocks; GOOG lists in 2004, so early bars have a symbol that cannot trade."""
    data = load_sample("stocks_daily")
    return data, compute_features(data, FeatureConfig(norm_window=60))


def _params(stocks, total_limit=0.6, **env):
    data, feats = stocks
    cfg = replace(EnvConfig(), **{"max_position": 0.5, "horizon": 400, "max_drawdown": 0.0, "ruin": 0.0, **env})
    return make_portfolio_params(data, feats, cfg, bars=(0, data.num_bars), total_limit=total_limit)


LONG = [0.25, 0.15, 0.15, 0.2, 0.05, 0.03, 0.17]


def _plan(seed: int, S: int, steps: int, short: bool = False):
    """Random actions biased to opening (so cash and the limits bind) and random budgets, some zero; with
    `short`, the long actions half as often and the short ones (7-12) mirrored."""
    rng = np.random.default_rng(seed)
    p = [LONG[0]] + [x / 2 for x in LONG[1:]] * 2 if short else LONG
    actions = rng.choice(len(p), size=(steps, S), p=np.asarray(p) / sum(p))
    budgets = rng.uniform(0.0, 0.5, size=(steps, S)) * (rng.random((steps, S)) > 0.1)
    return actions.astype(np.int32), budgets.astype(np.float32)


def _run(env, params, bar, actions, budgets):
    def body(state, xs):
        a, b = xs
        _, state, reward, term, trunc, info = env.step_env(jax.random.key(0), state, PortfolioAction(a, b), params)
        return state, (state, reward, term, trunc, info)

    _, state = env.reset_at(bar, params)
    return jax.jit(lambda s: jax.lax.scan(body, s, (actions, budgets)))(state)


@pytest.fixture(scope="module")
def gappy_stocks(stocks):
    """The bundled stocks with 3 % of their bars missing and IBM's data ending for good 60 bars into the
    parity test's run."""
    data = with_gaps(stocks[0], 0.03, ends={"IBM": stocks[0].num_bars - 540})
    return data, compute_features(data, FeatureConfig(norm_window=60))


@pytest.mark.parametrize("start", ["before GOOG lists", "all four listed", "long-short", "gaps, delisting, backtest",
                                   "gaps, cooldown"])
def test_matches_the_reference_step_by_step(stocks, start, request):
    short = start == "long-short"
    backtest = start.endswith("backtest")
    # Long-short, borrow 1 bp a bar (the account-wide buy-in, which needs a short book above equity / margin, is
    # checked by hand in test_book_rules.py).
    rules = dict(allow_short=True, short_margin=0.9, borrow_bps=252.0) if short else {}
    if backtest:  # a drawdown stop that liquidates the account, and the episode runs on
        stocks, rules = request.getfixturevalue("gappy_stocks"), dict(max_drawdown=0.04, stop_penalty=25.0)
    if start == "gaps, cooldown":  # drawdown stops that de-risk: closed, 5 bars in cash, then trading again
        stocks, rules = request.getfixturevalue("gappy_stocks"), dict(max_drawdown=0.03, stop_cooldown=5,
                                                                      stop_penalty=25.0)
    if start == "all four listed":
        rules = dict(vol_target=0.2)  # orders sized by risk
    params = _params(stocks, stop_loss=0.05, take_profit=0.08, max_hold=40, **rules)
    if backtest:
        params = params.replace(env=params.env.evaluation())
    tradeable = np.asarray(params.tradeable)
    goog = stocks[0].symbols.index("GOOG")
    bars = np.asarray(params.start_bars)
    bar = int(bars[~tradeable[goog, bars]][-STEPS // 2]) if start == "before GOOG lists" else int(bars[-600])
    actions, budgets = _plan(1, params.num_symbols, STEPS, short)
    _, (states, rewards, term, trunc, infos) = _run(PortfolioEnv(actions=params.env.actions), params, bar,
                                                    jnp.asarray(actions), jnp.asarray(budgets))
    ref = ReferencePortfolio(reference_params(params.env), tradeable, int(params.end), 0.6, allow_short=short,
                             on_stop=params.env.on_stop)
    ref.start(bar)
    scaled = untradeable = closed = 0
    for i in range(STEPS):
        reward, r_term, r_trunc, info = ref.step(actions[i], budgets[i])
        where = f"step {i} (bar {bar + i})"
        np.testing.assert_allclose(float(states.equity[i]), ref.equity, rtol=2e-5, err_msg=where)
        np.testing.assert_allclose(float(states.cash[i]), ref.cash, rtol=2e-5, atol=1.0, err_msg=where)
        # Positions by value: a scaled buy's size is a difference of large float32 numbers (room under a limit).
        price = np.asarray(params.env.market.close[:, bar + i + 1], np.float64)
        np.testing.assert_allclose(np.asarray(states.sleeves.units[i]) * price, np.asarray(ref.units) * price,
                                   rtol=1e-4, atol=2e-6 * ref.equity, err_msg=where)
        assert list(np.asarray(infos.executed_action[i])) == info["executed"], where
        assert list(np.asarray(infos.invalid_action[i])) == info["invalid"], where
        np.testing.assert_allclose(float(rewards[i]), reward, rtol=1e-3, atol=2e-4, err_msg=where)
        np.testing.assert_allclose(float(infos.cost[i]), info["cost"], rtol=1e-4, atol=1e-3, err_msg=where)
        assert (bool(term[i]), bool(trunc[i])) == (r_term, r_trunc), where
        assert list(np.asarray(infos.exit_reason[i])) == info["exit_reason"], where
        np.testing.assert_allclose(float(infos.borrow[i]), info["borrow"], rtol=1e-4, atol=1e-3, err_msg=where)
        assert ((int(states.stop_reason[i]), int(states.stop_bar[i]), int(states.stops[i]))
                == (info["stop_reason"], info["stop_bar"], info["stops"])), where
        # Each closed round trip's return (PnL / cash committed), from tallies that do not cancel.
        assert sorted(np.flatnonzero(np.asarray(infos.trade_closed[i]))) == sorted(info["trade_return"]), where
        for sym, want in info["trade_return"].items():
            np.testing.assert_allclose(float(infos.trade_return[i, sym]), want, rtol=1e-3, atol=1e-5, err_msg=where)
        scaled += info["scale"] < 1
        untradeable += not tradeable[goog, bar + i]
        closed += len(info["trade_return"])
    assert scaled > 0 and closed > 10  # cash or the total limit bound at least once; trades closed
    assert untradeable > 0 if start.startswith(("before", "gaps")) else untradeable == 0
    if backtest:  # the stop liquidated the account, IBM was sold at its last close, and the run went on flat
        reasons = np.asarray(infos.exit_reason)
        stop = int(states.stop_bar[-1]) - bar
        assert 0 < stop < STEPS - 10 and (reasons[stop] == 5).any() and not np.asarray(term).any()
        held = np.abs(np.asarray(states.sleeves.units[stop:]))
        assert (reasons == 6).sum() == 1 and (np.diff(held, axis=0) <= 0).all() and (held[10:] == 0).all()
    if start == "gaps, cooldown":  # several stops, each liquidating the account, and the run went on trading
        reasons, stops = np.asarray(infos.exit_reason), np.asarray(states.stops)
        assert stops[-1] >= 2 and not np.asarray(term).any()
        assert (reasons == 5).any(axis=1).sum() >= stops[-1] - 1  # (the last stop may be at the run's end)
        first = int(np.argmax(stops >= 1))  # the step the first stop fired: flat 5 bars later, trading after
        units = np.abs(np.asarray(states.sleeves.units)).sum(1)
        assert units[first + 1:first + 5].max() == 0 and units[first + 6:].max() > 0
    if short:
        side = np.sign(np.asarray(states.sleeves.units))
        assert (side < 0).mean() > 0.2 and (side > 0).mean() > 0.2


def test_conservation_budgets_limits_and_masked_symbols(stocks):
    params = _params(stocks, total_limit=0.8)
    tradeable = np.asarray(params.tradeable)
    goog = stocks[0].symbols.index("GOOG")
    bars = np.asarray(params.start_bars)
    bar = int(bars[~tradeable[goog, bars]][-100])
    actions, budgets = _plan(2, params.num_symbols, 300)
    _, (states, _, _, _, infos) = _run(PortfolioEnv(), params, bar, jnp.asarray(actions), jnp.asarray(budgets))
    initial = float(params.env.rules.initial_cash)
    close = np.asarray(params.env.market.close)
    units = np.asarray(states.sleeves.units)  # (steps, S) after each step
    held = np.concatenate([np.zeros((1, units.shape[1])), units[:-1]])
    t = bar + np.arange(len(units))
    value = units * close[:, t + 1].T
    # Conservation: the account's cash is the initial cash plus every symbol's net cash flow; equity is cash
    # plus positions, and the initial cash plus every symbol's PnL contribution.
    np.testing.assert_allclose(np.asarray(states.cash), initial + np.asarray(states.sleeves.cash).sum(1), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(states.equity), np.asarray(states.cash) + value.sum(1), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(states.equity), initial + np.asarray(states.sleeves.equity).sum(1),
                               rtol=1e-5)
    assert (np.asarray(states.cash) >= -1e-3).all() and (units >= 0).all()
    # Budgets, in the cash a buy spends: a buy never takes a symbol past min(budget, max_position) x equity
    # (its holding valued at the decision close plus the cash spent), and buys never take the gross past the
    # total limit.
    equity_before = np.concatenate([[initial], np.asarray(states.equity)[:-1]])
    flow = np.diff(np.asarray(states.sleeves.cash), axis=0, prepend=0.0)
    bought = units > held + 1e-9
    spent = np.where(bought, -flow, 0.0)
    after = np.where(bought, held, units) * close[:, t].T + spent  # committed per symbol at the decision
    cap = np.minimum(budgets, 0.5) * equity_before[:, None]
    assert bought.sum() > 50
    assert (after[bought] <= cap[bought] * (1 + 1e-5) + 1e-2).all()
    buys = bought.any(1)
    # The total limit, at the fill: gross value at the opens after the fills <= 0.8 x equity at those opens.
    cash_before = np.concatenate([[initial], np.asarray(states.cash)[:-1]])
    open_n = np.asarray(params.env.market.open)[:, t + 1].T
    gross_open, equity_open = np.abs(units * open_n).sum(1), cash_before + (held * open_n).sum(1)
    assert (gross_open[buys] <= 0.8 * equity_open[buys] * (1 + 1e-5)).all()
    assert (gross_open[buys] >= 0.8 * equity_open[buys] * (1 - 1e-3)).any()  # the total limit did bind
    assert np.asarray(infos.scaled).any()
    # A symbol that cannot trade at a bar is never traded there, and asking is flagged invalid.
    frozen = ~tradeable[:, t].T
    assert frozen.sum() > 50
    assert (units[frozen] == held[frozen]).all()
    asked = frozen & (actions != 0)
    assert (np.asarray(infos.invalid_action)[asked]).all() and (np.asarray(infos.executed_action)[frozen] == 0).all()


def test_thousands_of_parallel_portfolios_reset_and_stay_consistent(stocks):
    params = _params(stocks)
    env, n, S = PortfolioEnv(), 2048, params.num_symbols

    def run(key):
        obs, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key, n), params)

        def body(carry, k):
            obs, state = carry
            ka, kb, ks = jax.random.split(k, 3)
            logits = jnp.where(obs.symbols.action_mask, 0.0, -jnp.inf)
            a = jax.random.categorical(ka, logits)
            budget = jax.random.uniform(kb, (n, S), maxval=0.5)
            obs, state, r, term, trunc, info = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
                jax.random.split(ks, n), state, PortfolioAction(a, budget), params)
            return (obs, state), (r, term | trunc, info.invalid_action.any(), state.cash, state.equity)

        return jax.lax.scan(body, (obs, state), jax.random.split(key, 64))

    (obs, state), (r, done, invalid, cash, equity) = jax.jit(run)(jax.random.key(0))
    assert obs.symbols.technical.shape == (n, S, 24, 23) and obs.book.shape == (n, 8)
    # Every symbol's risk features read the account: its drawdown (the book's) and room to the drawdown stop.
    risk, rules = np.asarray(obs.symbols.risk), params.env.rules
    np.testing.assert_allclose(risk[..., 0], -np.asarray(obs.book)[:, None, 4].repeat(S, 1), atol=1e-6)
    limit = float(rules.max_drawdown)
    np.testing.assert_allclose(risk[..., 1], limit + risk[..., 0] if limit > 0 else 1.0, atol=1e-6)
    assert (risk[..., 0] < -1e-3).any()  # some accounts were below their peak
    assert np.isfinite(np.asarray(r)).all() and not np.asarray(invalid).any()  # masked sampling is always valid
    assert np.asarray(done).sum() > 0  # some episodes reached the split's end and reset
    assert (np.asarray(cash) >= -1e-3).all() and (np.asarray(equity) > 0).all()
    assert len(np.unique(np.asarray(state.bar))) > 100  # episodes started all over the split


def test_bad_total_limit(stocks):
    with pytest.raises(ConfigError, match="total_limit"):
        _params(stocks, total_limit=1.5)
