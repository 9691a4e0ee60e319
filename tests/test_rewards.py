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
                "cash": BASELINES["cash"], "random": BASELINES["random"]}
    out = {}
    for split in ("train", "validation"):
        params = make_params(stocks, features, cfg.env, window=cfg.window, bars=split_bars(cfg.split, stocks)[split])
        out[split] = policy_rewards(env, params, policies, jax.random.key(0), 512, cfg.env.horizon)
    return out


@pytest.mark.parametrize("split", ["train", "validation"])
def test_reward_ranks_policies_as_their_equity_returns(quickstart_rows, split):
    """Every pair of policies whose mean returns differ by > 3 paired standard errors is ordered the same
    by mean reward; cash scores below always-long where always-long clearly makes money."""
    rows = quickstart_rows[split]
    reward = {r["policy"]: r["mean_reward"] for r in rows}
    pairs = clear_pairs(rows)
    assert len(pairs) >= 12  # most of the 15 pairs are clearly ordered, so the check has teeth
    flipped = [(a, b) for a, b in pairs if reward[a] <= reward[b]]
    assert not flipped, f"reward orders these against their returns: {flipped}; rewards {reward}"
    bh = next(r for r in rows if r["policy"] == "always_long")["episode_returns"]
    assert bh.mean() > 3 * bh.std() / np.sqrt(len(bh))
    assert reward["cash"] < reward["always_long"]
    assert reward["cash"] == 0.0  # an untouched book earns and pays nothing


def test_pnl_component_sums_to_the_log_growth_of_equity(quickstart_rows):
    """Per episode, the pnl component's sum is 100 * log(final / initial equity): it orders episodes as returns.
    The episode reward is the weighted sum of the component sums."""
    weights = load_config(Path(__file__).parents[1] / "configs" / "quickstart.yaml").env.reward.as_tuple()
    for rows in quickstart_rows.values():
        for r in rows:
            assert r["pnl"] == pytest.approx(100 * np.log1p(r["episode_returns"]).mean(), rel=1e-3, abs=1e-3)
            weighted = sum(w * r[name] for w, name in zip(weights, REWARD_COMPONENTS, strict=True))
            assert r["mean_reward"] == pytest.approx(weighted, rel=1e-4, abs=1e-4)
