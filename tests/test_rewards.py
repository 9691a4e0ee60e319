"""The reward registry, and the reward's alignment with equity on real stocks under fixed policies."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxtrade.config import load_config
from jaxtrade.data.splits import split_bars
from jaxtrade.env import (
    REGISTRY,
    REWARD_COMPONENTS,
    EnvConfig,
    RewardComponents,
    RewardWeights,
    TradingEnv,
    make_params,
)
from jaxtrade.evaluate import BASELINES, HOLD_RULES
from jaxtrade.evaluate.alignment import (
    clear_pairs,
    misordered,
    next_bar_oracle,
    policy_rewards,
    target_exposure_policy,
)
from jaxtrade.experiment import SWEEPABLE
from jaxtrade.features import compute_features


def test_every_consumer_reads_the_component_names_from_the_registry():
    names = tuple(c.name for c in REGISTRY)
    assert REWARD_COMPONENTS == names == RewardComponents._fields
    assert tuple(f.name for f in dataclasses.fields(RewardWeights)) == names
    assert EnvConfig().reward.as_tuple() == tuple(c.weight for c in REGISTRY)
    assert EnvConfig().reward.as_tuple() == (0.40, 0.15, 0.15, 0.05, 0.10, 0.05, 0.0)  # the seed's weights
    assert {f"env.reward.{n}" for n in names} <= set(SWEEPABLE)


@pytest.fixture(scope="module")
def quickstart_rows(stocks):
    """Fixed policies on the quickstart's train and validation splits (its env, reward and features)."""
    cfg = load_config(Path(__file__).parents[1] / "configs" / "quickstart.yaml")
    features = compute_features(stocks, cfg.features)
    env = TradingEnv(actions=cfg.env.actions)
    policies = {"oracle": next_bar_oracle, "always_long": BASELINES[HOLD_RULES],
                "half": target_exposure_policy(0.5), "sma": BASELINES["sma_crossover"],
                "vol_target_hold": BASELINES["vol_target_hold"], "ts_momentum": BASELINES["ts_momentum"],
                "cash": BASELINES["cash"], "random": BASELINES["random"]}
    out = {}
    for split in ("train", "validation"):
        params = make_params(stocks, features, cfg.env, window=cfg.window, bars=split_bars(cfg.split, stocks)[split])
        out[split] = policy_rewards(env, params, policies, jax.random.key(0), 512, cfg.env.horizon)
    return out


@pytest.mark.parametrize("split", ["train", "validation"])
def test_reward_ranks_policies_as_their_equity_returns(quickstart_rows, split):
    """Every pair of policies whose mean returns differ by > 3 paired standard errors is ordered the same
    by mean reward, unless the one with more return also has a clearly deeper drawdown (the drawdown term's
    trade, and then only a few pairs); cash scores below always-long where always-long clearly makes money."""
    rows = quickstart_rows[split]
    reward = {r["policy"]: r["mean_reward"] for r in rows}
    pairs = clear_pairs(rows)
    assert len(pairs) >= 22  # most of the 28 pairs are clearly ordered, so the check has teeth
    for_nothing, for_drawdown = misordered(rows)
    assert not for_nothing, f"reward orders these against their returns, drawdowns no deeper: {for_nothing}; {reward}"
    assert len(for_drawdown) <= 2, f"the drawdown term decides too many pairs: {for_drawdown}; rewards {reward}"
    bh = next(r for r in rows if r["policy"] == "always_long")["episode_returns"]
    assert bh.mean() > 3 * bh.std() / np.sqrt(len(bh))
    assert reward["cash"] < reward["always_long"]
    assert reward["cash"] == 0.0  # an untouched book earns and pays nothing


def test_misordered_tells_a_drawdown_trade_from_a_reward_that_gives_up_return_for_nothing():
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.01, 400)

    def row(name, ret, dd, reward):
        return {"policy": name, "episode_returns": ret + noise, "episode_drawdowns": dd + noise, "mean_reward": reward}

    rows = [row("long", 0.10, -0.20, 1.0), row("hedged", 0.05, -0.05, 2.0), row("timid", 0.02, -0.20, 3.0)]
    # The reward reverses all three return pairs. Only long over hedged comes with a deeper drawdown; timid is as
    # deep as long and deeper than hedged, so preferring it gives up return for nothing.
    for_nothing, for_drawdown = misordered(rows)
    assert for_drawdown == [("long", "hedged")]
    assert sorted(for_nothing) == [("hedged", "timid"), ("long", "timid")]
    by_return = [dict(r, mean_reward=-r["mean_reward"]) for r in rows]
    assert misordered(by_return) == ([], [])


def test_pnl_component_sums_to_the_log_growth_of_equity(quickstart_rows):
    """Per episode, the pnl component's sum is 100 * log(final / initial equity): it orders episodes as returns.
    The episode reward is the weighted sum of the component sums."""
    weights = load_config(Path(__file__).parents[1] / "configs" / "quickstart.yaml").env.reward.as_tuple()
    for rows in quickstart_rows.values():
        for r in rows:
            assert r["pnl"] == pytest.approx(100 * np.log1p(r["episode_returns"]).mean(), rel=1e-3, abs=1e-3)
            weighted = sum(w * r[name] for w, name in zip(weights, REWARD_COMPONENTS, strict=True))
            assert r["mean_reward"] == pytest.approx(weighted, rel=1e-4, abs=1e-4)


NEW_COMPONENT = '''

def churn(o: StepOutcome, rules: Rules) -> jax.Array:
    """The gross exposure after the step (a test component)."""
    return jnp.abs(o.exposure)
'''
CHECK = '''
import jax, jax.numpy as jnp, numpy as np
from jaxtrade.config import load_config
from jaxtrade.config_reference import config_reference
from jaxtrade.data import load_data
from jaxtrade.env import REWARD_COMPONENTS, TradingEnv, make_params
from jaxtrade.experiment import sweepable
from jaxtrade.features import compute_features
cfg = load_config(TINY, ["env.reward.churn=2.5"])
assert REWARD_COMPONENTS[-1] == "churn" and len(REWARD_COMPONENTS) == 8
assert cfg.env.reward.churn == 2.5 and cfg.env.reward.as_tuple()[-1] == 2.5
assert "| `env.reward.churn` | `0.0` | weight of `churn`: The gross exposure" in config_reference()
assert sweepable("env.reward.churn=0,1")
data = load_data(cfg.data, cfg.min_bars)
env = TradingEnv(actions=cfg.env.actions)
params = make_params(data, compute_features(data, cfg.features), cfg.env, window=cfg.window)
obs, state = env.reset(jax.random.key(0), params)
weights = np.asarray(params.reward_weights)
for action in (3, 0, 0):  # the largest buy, then hold
    obs, state, reward, _, _, info = env.step_env(jax.random.key(1), state, jnp.int32(action), params)
    parts = np.asarray(jnp.stack(info.reward_components))
    assert parts.shape == (8,) and np.isclose(parts[-1], abs(float(info.exposure)), atol=1e-6)
    assert np.isclose(float(reward), parts @ weights, rtol=1e-5, atol=1e-6)
assert float(info.exposure) > 0.05  # the buy filled: the component is live
print("ok")
'''


def test_a_new_reward_component_is_one_function_and_one_registry_line(tmp_path):
    """A copy of the package with one component added where the docs say (a function and a `REGISTRY` line in
    `env/rewards.py`, nothing else): its weight is a config key (`--set`, the reference, a sweep axis), the env
    reports it, and the reward is the weighted sum with it."""
    import os
    import shutil
    import subprocess
    import sys

    from conftest import TINY

    package = Path(__file__).parents[1] / "jaxtrade"
    copy = tmp_path / "jaxtrade"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    rewards = copy / "env" / "rewards.py"
    text = rewards.read_text()
    registry = '    Component("hold", hold, 0.0),\n'
    assert text.count(registry) == 1
    head = "\n\nREGISTRY: tuple[Component, ...] = ("
    text = text.replace(head, NEW_COMPONENT + head)
    rewards.write_text(text.replace(registry, registry + '    Component("churn", churn, 0.0),\n'))
    out = subprocess.run([sys.executable, "-c", f"TINY = {str(TINY)!r}\n" + CHECK], cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(tmp_path), "JAX_PLATFORMS": "cpu"},
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-3000:]
