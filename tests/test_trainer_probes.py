"""The generic PPO trainer on probe environments (no trading env): value and advantage estimation pinned
down exactly, and the rollout-metrics and distribution seams."""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from probe_envs import Probe, ProbeNet

from jaxtrade.train import NoMetrics, PPOConfig, PPOHyperparams, make_train

GAMMA = 0.5
CFG = PPOConfig(num_envs=32, rollout_len=12, num_updates=120, update_epochs=4, num_minibatches=2,
                updates_per_chunk=120, learning_rate=3e-3, anneal_lr=False, gamma=GAMMA, gae_lambda=0.9,
                ent_coef=0.0, normalize_advantages=True)


def trained(kind: str):
    env, net = Probe(kind), ProbeNet()
    trainer = make_train(CFG, env, net, metrics=NoMetrics())
    runner, metrics = jax.jit(trainer.train)(jax.random.key(0), PPOHyperparams.from_config(CFG), None)
    values = lambda obs: net.apply(runner.train_state.params, jnp.asarray(obs, jnp.float32)[:, None])  # noqa: E731
    return runner, metrics, values


@pytest.fixture(scope="module")
def probes():
    return {kind: trained(kind) for kind in ("constant", "observation", "discount", "action", "truncation")}


def test_value_of_a_constant_reward(probes):
    _, metrics, values = probes["constant"]
    np.testing.assert_allclose(values([0.0])[1], [1.0], atol=0.05)
    assert np.asarray(metrics.episodes)[-1] == CFG.num_envs * CFG.rollout_len  # every step ended an episode


def test_value_depends_on_the_observation(probes):
    _, _, values = probes["observation"]
    np.testing.assert_allclose(values([1.0, -1.0])[1], [1.0, -1.0], atol=0.1)


def test_one_step_discounting(probes):
    _, _, values = probes["discount"]
    np.testing.assert_allclose(values([0.0, 1.0])[1], [GAMMA, 1.0], atol=0.05)


def test_advantage_drives_the_policy_to_the_rewarded_action(probes):
    _, metrics, values = probes["action"]
    logits, value = values([0.0])
    assert float(jax.nn.softmax(logits)[0, 1]) > 0.95
    np.testing.assert_allclose(value, [1.0], atol=0.1)
    assert np.asarray(metrics.reward)[-1] > 0.9


def test_truncation_bootstraps_from_the_final_observation(probes):
    # Never terminated: the value of an endless stream of 1s is 1 / (1 - gamma) = 2. Treating the
    # 3-step truncation as termination would give the mean of 1.75, 1.5 and 1 (1.42) instead.
    _, _, values = probes["truncation"]
    np.testing.assert_allclose(values([0.0])[1], [1.0 / (1.0 - GAMMA)], atol=0.1)


class HitProbe(Probe):
    """The action probe with its own info field: whether the rewarded action was taken."""

    def __init__(self):
        super().__init__("action")

    def step(self, key, state, action, params=None):
        obs, state, reward, terminated, truncated, info = super().step(key, state, action, params)
        return obs, state, reward, terminated, truncated, {**info, "hit": action == 1}


class HitRate(NamedTuple):
    hit_rate: jax.Array


class HitMetrics:
    """The probe's own rollout-metrics hook: the share of steps that took the rewarded action."""

    def record(self, info):
        return info["hit"]

    def summarise(self, records, done):
        return HitRate(records.mean())


def test_a_new_env_trains_and_logs_through_fit_with_its_own_metrics_hook(tmp_path):
    """An env that is not the trading env, with its own info and metrics hook, goes through `make_setup` and
    `fit` (progress lines, checkpoints, metrics.jsonl, TensorBoard, the on_metrics hook) and nothing else."""
    from jaxtrade.train import fit, make_setup
    from jaxtrade.train.history import read_history

    cfg = dataclasses.replace(CFG, num_updates=40, updates_per_chunk=20)
    setup = make_setup(cfg, HitProbe(), None, ProbeNet(), config={"probe": "action"}, metrics=HitMetrics())
    lines, rows = [], []
    fit(setup, checkpoint_dir=tmp_path / "run", log=lines.append, on_metrics=lambda step, row: rows.append(row))
    assert len(rows) == 40 and [r["update"] for r in rows] == list(range(1, 41))
    assert rows[0]["hit_rate"] < 0.7 < 0.95 < rows[-1]["hit_rate"]  # the hook's field, learned
    history = read_history(tmp_path / "run")
    np.testing.assert_allclose(history["hit_rate"], [r["hit_rate"] for r in rows])
    assert any("20/40 updates" in line and "eps" in line for line in lines)
    assert list((tmp_path / "run").glob("*tfevents*"))
