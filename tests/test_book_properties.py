"""Hypothesis properties of long-short books and portfolios with every stop off, on markets whose closes and
opens gap by up to +-90 %: every reward, return and equity finite, losses signed as losses, bankruptcy ending
the episode, and the exposure limits holding on both sides."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from test_env_properties import FEATURES, NUM_STEPS, S, T, hostile_market, padded, random_rollout

from jaxtrade.env import LONG_SHORT, EnvConfig, TradingEnv, make_params
from jaxtrade.env.params import make_portfolio_params
from jaxtrade.env.portfolio import PortfolioEnv
from jaxtrade.env.types import PortfolioAction
from jaxtrade.features import compute_features

# Every stop off: no ruin, drawdown, margin, stop loss, take profit or max hold; only bankruptcy ends an episode.
NO_STOPS = dict(allow_short=True, horizon=60, ruin=0.0, max_drawdown=0.0, short_margin=0.0, stop_loss=0.0,
                take_profit=0.0, max_hold=0)
MARKETS = dict(
    seed=st.integers(0, 2**31 - 1),
    scale=st.sampled_from([1e-3, 1.0, 1e4]),
    vol=st.floats(0.0, 0.1),
    crash_bar=st.integers(140, 258),
    crash=st.floats(0.0, 0.9),
    gap_bars=st.sets(st.integers(150, 255), max_size=8),
    open_jump=st.floats(0.0, 2.3),  # opens from x0.1 to x10 the last close
    jump_prob=st.floats(0.0, 0.2),  # closes jumping by up to +-90 %
    max_position=st.floats(0.2, 1.0),
)


def _market(seed, scale, vol, crash_bar, crash, gap_bars, open_jump, jump_prob):
    data = hostile_market(seed, scale, vol, crash_bar, crash, sorted(gap_bars), open_jump, jump_prob)
    return data, compute_features(data, FEATURES)


def _finite(tree, what):
    for leaf in jax.tree.leaves(tree):
        assert np.isfinite(np.asarray(leaf, np.float64)).all(), what


# Biased to opening on both sides, so positions grow to the cap and gaps hit them.
OPENING = jnp.asarray([0.0] + [1.0, 1.0, 1.5, 0.0, -1.0, 1.0] * 2)
single_rollout = random_rollout(TradingEnv(actions=LONG_SHORT), OPENING)


@settings(max_examples=10, deadline=None)
@given(**MARKETS)
def test_long_short_books_stay_finite_and_sign_their_losses(seed, scale, vol, crash_bar, crash, gap_bars, open_jump,
                                                            jump_prob, max_position):
    data, features = _market(seed, scale, vol, crash_bar, crash, gap_bars, open_jump, jump_prob)
    params = padded(make_params(data, features, EnvConfig(max_position=max_position, **NO_STOPS)))
    out = jax.tree.map(np.asarray, single_rollout(params, jax.random.key(seed)))
    info, before = out["info"], out["state"]
    _finite((out["obs"], out["final"], out["reward"], info), "single env")
    # A loss reads as a loss, from above or below zero; an account at or below zero has ended its episode.
    change = info.equity - before.equity
    clear = np.abs(change) > 1e-4 * np.abs(before.equity) + 1e-6
    assert (np.sign(info.step_return[clear]) == np.sign(change[clear])).all()
    assert out["terminated"][info.equity <= 0].all()
    assert (before.equity > 0).all()  # no step ever starts from a bankrupt book
    assert (before.units < 0).any() and (before.units > 0).any()  # both sides were held


PORTFOLIO = PortfolioEnv(actions=LONG_SHORT)
N = 16


@jax.jit
def portfolio_rollout(params, key):
    k_reset, k_run = jax.random.split(key)
    obs, state = jax.vmap(PORTFOLIO.reset, in_axes=(0, None))(jax.random.split(k_reset, N), params)
    step = jax.vmap(PORTFOLIO.step, in_axes=(0, 0, 0, None))

    def body(carry, key):
        obs, state = carry
        k_act, k_budget, k_nan, k_step = jax.random.split(key, 4)
        logits = jnp.where(obs.symbols.action_mask, OPENING, -jnp.inf)
        actions = jax.random.categorical(k_act, logits)
        budget = jax.random.uniform(k_budget, (N, S), maxval=1.2)
        budget = jnp.where(jax.random.uniform(k_nan, (N, S)) < 0.05, jnp.nan, budget)  # a diverging master
        obs, new_state, reward, terminated, truncated, info = step(
            jax.random.split(k_step, N), state, PortfolioAction(actions, budget), params)
        return (obs, new_state), dict(obs=obs, reward=reward, info=info, before=state, after=new_state,
                                      done=terminated | truncated, terminated=terminated)

    return jax.lax.scan(body, (obs, state), jax.random.split(k_run, NUM_STEPS))[1]


@settings(max_examples=10, deadline=None)
@given(total_limit=st.floats(0.1, 1.0), **MARKETS)
def test_long_short_portfolios_stay_finite_and_within_the_total_limit(total_limit, seed, scale, vol, crash_bar, crash,
                                                                      gap_bars, open_jump, jump_prob, max_position):
    data, features = _market(seed, scale, vol, crash_bar, crash, gap_bars, open_jump, jump_prob)
    params = make_portfolio_params(data, features, EnvConfig(max_position=max_position, **NO_STOPS),
                                   total_limit=total_limit)
    # Pad the start table to one length so every example reuses one compiled rollout.
    pad = np.resize(np.asarray(params.start_bars)[: int(params.start_count)], T)
    params = params.replace(start_bars=jnp.asarray(pad, jnp.int32))
    out = jax.tree.map(np.asarray, portfolio_rollout(params, jax.random.key(seed)))
    info, before, after = out["info"], out["before"], out["after"]
    _finite((out["obs"], out["reward"], info.reward_components, info.equity, info.step_return, after.cash,
             after.equity, after.sleeves.units), "portfolio")
    assert (before.equity > 0).all() and out["terminated"][info.equity <= 0].all()
    # The total limit on both sides, at the fill, wherever an open filled and the episode went on.
    go_on = ~out["done"]
    bar = before.bar[..., None]
    open_n = np.asarray(params.env.market.open)[np.arange(S), bar + 1]  # (steps, N, S)
    units_before = before.sleeves.units.astype(np.float64)
    units_after = after.sleeves.units.astype(np.float64)
    equity_open = before.cash + (units_before * open_n).sum(-1)
    gross_open = np.abs(units_after * open_n).sum(-1)
    opened = (np.abs(units_after) > np.abs(units_before) * (1 + 1e-6) + 1e-12).any(-1) & go_on
    assert opened.sum() > 50
    assert (gross_open[opened] <= total_limit * equity_open[opened] * (1 + 1e-4)).all()
    # A non-finite budget buys nothing and is flagged.
    assert info.invalid_budget.any()
    grew = np.abs(units_after) > np.abs(units_before) * (1 + 1e-6) + 1e-12
    assert not (grew & info.invalid_budget & go_on[..., None]).any()
    assert (units_after[go_on] < 0).any() and (units_after[go_on] > 0).any()
