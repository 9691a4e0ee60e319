"""Learning where markets are hard: a synthetic market with a realistic signal (per-bar Sharpe ~0.1 inside
regimes that switch, fat-tailed jumps) and crashes (-25 % over ~15 bars at 60 % volatility, about once a year
per symbol), the quickstart's reward, costs, limits and agent. Three seeds train as one program.

- The greedy agent's validation Sharpe beats cash, random and buy-and-hold by a margin that holds at the lower
  end of its 95 % interval across seeds.
- Through crashes (validation and test bars, every symbol from its first decision to the end, no drawdown stop
  for anyone): the agent cuts its exposure within a few bars of a crash's start (exposure in the 10 bars before
  vs from the 3rd bar of the crash on), and its max drawdown is smaller than buy-and-hold's; both at the lower
  end of the 95 % interval across seeds."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxtrade.config import config_from_dict, config_to_dict, load_config
from jaxtrade.data.config import load_data
from jaxtrade.data.splits import split_bars
from jaxtrade.data.synthetic import generate
from jaxtrade.env import TradingEnv, make_params
from jaxtrade.env.params import params_axes
from jaxtrade.evaluate import agent_policy, random_policy, run_policies
from jaxtrade.evaluate.backtest import backtest, summarize_episodes
from jaxtrade.evaluate.metrics import mean_interval
from jaxtrade.evaluate.rollout import walk_forward_policies
from jaxtrade.experiment import Experiment
from jaxtrade.experiment.sweep import train_runs
from jaxtrade.features import compute_features
from jaxtrade.train.config import PPOHyperparams
from jaxtrade.train.ppo import make_train

# 16 symbols, +-30 %/yr drift at 20 %/yr volatility (per-bar Sharpe 0.095; real stocks ~0.03), regimes of
# 250 bars on average, 4 jumps a year of 4 % std; a crash regime (each symbol its own chain) entered about once
# a year: -25 % over 15 bars on average at 60 %/yr. The env, agent and PPO settings are configs/quickstart.yaml's.
QUICKSTART = config_to_dict(load_config(Path(__file__).parents[1] / "configs" / "quickstart.yaml"))
CONFIG = {
    "data": {"source": "synthetic", "seed": 11, "synthetic": {
        "num_symbols": 16, "num_bars": 4000, "drift": [0.45, -0.25], "volatility": [0.2, 0.2],
        "transition": [[0.996, 0.004], [0.008, 0.992]], "jump_intensity": 4.0, "jump_std": 0.04,
        "crash_rate": 0.4, "crash_depth": 0.25, "crash_bars": 15.0, "crash_volatility": 0.6}},
    "features": {"norm_window": 120},
    "split": {"train_fraction": 0.7, "valid_fraction": 0.15},
    "env": QUICKSTART["env"],
    "agent": QUICKSTART["agent"],
    "ppo": {**QUICKSTART["ppo"], "updates_per_chunk": 50},
}
SEEDS = (0, 1, 2)
BEFORE, LAG = 10, 3  # exposure over the 10 bars before a crash vs from its 3rd bar to its end


def max_drawdown(step_returns: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(E,) deepest fall of equity from its running peak (a positive fraction) over each record."""
    equity = np.cumprod(1.0 + np.where(mask, step_returns, 0.0), axis=-1)
    return (1.0 - equity / np.maximum.accumulate(np.maximum(equity, 1.0), axis=-1)).max(axis=-1)


def crash_exposure(r, regime: np.ndarray, crash: int) -> tuple[float, float, int]:
    """Mean exposure over the BEFORE bars before each crash start and from its LAG-th bar to its end, over
    crashes whose both windows lie inside a record; and how many crashes that is."""
    before, during = [], []
    exposure, mask = np.asarray(r.exposure), np.asarray(r.step_mask())
    for e, s in enumerate(np.asarray(r.symbol)):
        bars = np.asarray(r.start_bar)[e] + 1 + np.flatnonzero(mask[e])  # each step's marking bar
        held = dict(zip(bars.tolist(), exposure[e, mask[e]].tolist(), strict=True))
        in_crash = regime[s] == crash
        for c in np.flatnonzero(in_crash[1:] & ~in_crash[:-1]) + 1:
            end = c + int(np.argmin(in_crash[c:])) if not in_crash[c:].all() else regime.shape[1]
            pre, mid = range(c - BEFORE, c), range(c + LAG, end)
            if len(mid) and all(b in held for b in (*pre, *mid)):
                before.append(np.mean([held[b] for b in pre]))
                during.append(np.mean([held[b] for b in mid]))
    return float(np.mean(before)), float(np.mean(during)), len(before)


def measure() -> dict:
    """Train the three seeds as one program; validation Sharpe of each greedy agent, buy-and-hold, random; each
    agent's exposure around crashes and its max drawdown beside buy-and-hold's on the bars after training."""
    cfg = config_from_dict(CONFIG)
    data = load_data(cfg.data, cfg.min_bars)
    features = compute_features(data, cfg.features)
    exp = Experiment(cfg, data, features)
    env, network, K = exp.env, exp.network(), len(SEEDS)
    train = exp.params("train")
    hps = jax.tree.map(lambda x: jnp.stack([x] * K), PPOHyperparams.from_config(cfg.ppo))
    runner, _, diverged = train_runs(make_train(cfg.ppo, env, network), cfg.ppo,
                                     jnp.stack([jax.random.key(s) for s in SEEDS]), hps, train, params_axes(train),
                                     "learning", None)
    assert not any(diverged), diverged
    nets = runner.train_state.params
    agents = [agent_policy(network, jax.tree.map(lambda x, k=k: x[k], nets)) for k in range(K)]

    bars = split_bars(cfg.split, data)
    valid = make_params(data, features, cfg.env, window=cfg.window, bars=bars["validation"])
    r = jax.jit(lambda key: run_policies(env, valid, agents, key, 512, cfg.env.horizon, hold=True))(jax.random.key(1))
    stats = jax.vmap(summarize_episodes, in_axes=(0, None))(r, valid.rules.bars_per_year)
    sharpe = np.asarray(stats["sharpe"])
    random = backtest(TradingEnv(actions=cfg.env.actions), valid, {"random": random_policy}, jax.random.key(1), 512,
                      cfg.env.horizon)[0]["sharpe"]

    # Crashes: every symbol through the validation and test bars, no drawdown stop (the agent's drawdown is its
    # own doing, and buy-and-hold's is under the same rules).
    after = make_params(data, features, replace(cfg.env, max_drawdown=0.0), window=cfg.window,
                        bars=(bars["validation"][0], data.num_bars))
    w = walk_forward_policies(env, after, agents, jax.random.key(2), hold=True)
    regime = np.asarray(generate(jax.random.key(cfg.data.seed), cfg.data.synthetic).regime)
    mask = np.arange(w.step_returns.shape[-1]) < np.asarray(w.steps)[..., None]  # (P, E, H)
    dd = [float(max_drawdown(np.asarray(w.step_returns[p]), mask[p]).mean()) for p in range(K + 1)]
    around = [crash_exposure(jax.tree.map(lambda x, k=k: x[k], w), regime, cfg.data.synthetic.crash_regime)
              for k in range(K)]
    return {"sharpe": sharpe[:K].tolist(), "buy_and_hold": float(sharpe[K]), "random": random,
            "exposure_before": [a[0] for a in around], "exposure_during": [a[1] for a in around],
            "crashes": around[0][2], "max_drawdown": dd[:K], "buy_and_hold_max_drawdown": dd[K]}


@pytest.mark.slow  # > 30 s on 2 cores; `pytest -m 'not slow'` for a quick pass
def test_agent_beats_cash_random_and_buy_and_hold_and_cuts_exposure_in_crashes_across_seeds():
    # Training dominates: a subprocess with XLA's usual optimisation.
    from conftest import run_optimised

    result = run_optimised(__file__)
    print(json.dumps(result))
    sharpe, hold, random = result["sharpe"], result["buy_and_hold"], result["random"]
    mean, low, _ = mean_interval(sharpe)
    assert low > max(0.0, hold, random) + 0.1, result

    # Measured (3 seeds, the quickstart's learning rate 1e-4 and drawdown weight 0.30): Sharpe 1.00 / 0.97 / 0.96
    # vs buy-and-hold 0.49 and random -0.14; exposure 0.92 / 0.90 / 0.93 before a crash, 0.34 / 0.26 / 0.24 from its
    # 3rd bar (27 crashes); max drawdown 39 / 38 / 39 % vs 52 %. (At 3e-4: 0.96 / 0.97 / 1.04; 0.80 / 0.77 / 0.74
    # before, 0.36 / 0.27 / 0.23 during; 35 / 32 / 31 %. At 3e-4 and weight 0.10: 1.06 / 1.00 / 0.97; 0.73 / 0.89 /
    # 0.77 before, 0.16 / 0.31 / 0.27 during; 29 / 35 / 32 %.)
    assert result["crashes"] >= 20, result
    before, during = np.asarray(result["exposure_before"]), np.asarray(result["exposure_during"])
    assert mean_interval(before - during)[1] > 0.2 and (during < 0.6 * before).all(), result
    less_deep = result["buy_and_hold_max_drawdown"] - np.asarray(result["max_drawdown"])
    assert mean_interval(less_deep)[1] > 0.05, result


if __name__ == "__main__":
    print(json.dumps(measure()))
