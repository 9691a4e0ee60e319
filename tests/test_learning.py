"""PPO really learns: on a synthetic market whose regimes can be read from the features, the trained
agent (the quickstart's MLP, reward and risk rules) beats the random policy and buy-and-hold on held-out
bars by a clear margin, and its greedy policy is decisive: long through up-trends, flat through down-trends.

The market is easy on purpose (per-bar Sharpe ~1.3 inside a regime, real stocks ~0.03): the test pins
down the PPO machinery and the action semantics, not learning on real data."""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
import pytest

from jaxtrade.config import config_from_dict, config_to_dict, load_config
from jaxtrade.data.config import load_data
from jaxtrade.data.splits import split_bars
from jaxtrade.data.synthetic import generate
from jaxtrade.env import make_params
from jaxtrade.evaluate import BASELINES, agent_policy, run_policies
from jaxtrade.experiment import Experiment, training_setup
from jaxtrade.features import compute_features
from jaxtrade.train.loop import fit

# Two persistent regimes (mean length 50 bars) with opposite drifts of +-2/yr at 10 %/yr volatility:
# buy-and-hold earns ~0 on average, a policy that reads the trend from the window earns a lot.
# The env (reward weights, 100 % cap, no forced exits, 25 % drawdown stop) and agent are the quickstart's.
QUICKSTART = config_to_dict(load_config(Path(__file__).parents[1] / "configs" / "quickstart.yaml"))
CONFIG = {
    "data": {"source": "synthetic", "seed": 5, "synthetic": {
        "num_symbols": 2, "num_bars": 3000, "drift": [2.0, -2.0], "volatility": [0.1, 0.1],
        "transition": [[0.98, 0.02], [0.02, 0.98]], "jump_intensity": 0.0, "gap_std": 0.0}},
    "features": {"norm_window": 60},
    "split": {"train_fraction": 0.8, "valid_fraction": 0.0},
    "env": {**QUICKSTART["env"], "horizon": 64},
    "agent": QUICKSTART["agent"],
    "ppo": {"num_envs": 64, "rollout_len": 32, "num_updates": 96, "update_epochs": 4, "num_minibatches": 4,
            "updates_per_chunk": 48, "learning_rate": 0.001, "anneal_lr": False, "gamma": 0.95},
}


@pytest.mark.slow  # > 30 s on 2 cores; `pytest -m 'not slow'` for a quick pass
def test_agent_beats_random_and_buy_and_hold_and_holds_through_trends():
    cfg = config_from_dict(CONFIG)
    data = load_data(cfg.data, cfg.min_bars)
    features = compute_features(data, cfg.features)
    setup = training_setup(Experiment(cfg, data, features))
    runner, history = fit(setup, log=None)
    test = make_params(data, features, cfg.env, window=cfg.window, bars=split_bars(cfg.split, data)["test"])
    n = 512
    policies = {"agent": agent_policy(setup.network, runner.train_state.params), **BASELINES}
    r = jax.jit(lambda key: run_policies(setup.env, test, list(policies.values()), key, n, 64, hold=True))(
        jax.random.key(9))
    results = {}
    for i, name in enumerate([*policies, "buy_and_hold"]):
        ret = np.asarray(r.total_return[i])
        results[name] = (ret.mean(), ret.std() / np.sqrt(n))
    agent, agent_se = results["agent"]
    for baseline in ("random", "buy_and_hold", "buy_and_hold_rules", "cash"):
        mean, se = results[baseline]
        margin = agent - mean
        assert margin > 0.03 and margin > 4 * np.hypot(agent_se, se), (results, baseline)

    # Decisive: the greedy agent is mostly long while the hidden regime is up, mostly flat while it is down,
    # and does not flicker in and out every bar (measured: ~0.72 / ~0.09 exposure; bars per closed trade
    # depend on the network's initialisation: 5.1 and 8.4 for seeds 1 and 0 before the risk observation
    # widened the MLP's input, 2.8 to 4.4 after, whether or not the risk features are zeroed; the uniform
    # random policy holds 6.2 bars here, so only the exposures separate the agent from chance: the bars per
    # trade only guard against the flicker of a bug that made buys valid while holding, a trade every bar).
    greedy = jax.tree.map(lambda x: np.asarray(x[0]), r)
    regime = np.asarray(generate(jax.random.key(cfg.data.seed), cfg.data.synthetic).regime)
    mask = np.asarray(greedy.step_mask())
    bars = greedy.start_bar[:, None] + 1 + np.arange(mask.shape[1])[None, :]  # each step's marking bar
    up = regime[greedy.symbol[:, None], np.minimum(bars, regime.shape[1] - 1)] == 0
    exposure_up, exposure_down = greedy.exposure[mask & up].mean(), greedy.exposure[mask & ~up].mean()
    bars_per_trade = greedy.trade_bars.sum() / max(greedy.trades.sum(), 1)
    assert exposure_up > 0.6 and exposure_down < 0.2 and bars_per_trade >= 2.5, (
        exposure_up, exposure_down, bars_per_trade)
    # Training itself improved: later rollouts earn more than the first.
    returns = np.concatenate([m.env.episode_return for m in history])
    assert returns[-6:].mean() > returns[:3].mean()
