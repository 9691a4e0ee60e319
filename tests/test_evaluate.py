"""Evaluation episodes and baseline policies."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from jaxtrade.env import Action, EnvConfig, TradingEnv, make_params
from jaxtrade.evaluate import (
    buy_and_hold_policy,
    cash_policy,
    metrics,
    random_policy,
    run_episodes,
    sma_crossover_policy,
)
from jaxtrade.features import FeatureConfig, compute_features


@pytest.fixture(scope="module")
def setup(small_market):
    features = compute_features(small_market, FeatureConfig(norm_window=60))
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
    for act in (random_policy, buy_and_hold_policy):
        r = episodes(setup, act)
        want = np.asarray(metrics.total_return(r.step_returns, r.step_mask()))
        np.testing.assert_allclose(np.asarray(r.total_return), want, rtol=1e-4, atol=1e-6)
    assert float(np.asarray(r.total_cost).min()) > 0  # buy-and-hold bought in every episode


def test_sma_crossover_reads_only_past_closes(setup):
    env, params = setup
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(jax.random.key(0), 256), params)
    action = np.asarray(sma_crossover_policy(5, 20)(None, obs, state, params))
    close = np.asarray(params.close)
    for i in range(256):
        s, t = int(state.symbol[i]), int(state.bar[i])
        window = close[s, t - 19: t + 1]
        up = window[-5:].mean() > window.mean()
        assert (action[i] == Action.BUY_LARGE) == up  # flat at the start: buy on an up-cross, else hold
        assert up or action[i] == Action.HOLD
    with pytest.raises(ValueError, match="fast < slow"):
        sma_crossover_policy(20, 5)
