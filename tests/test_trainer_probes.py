"""The generic PPO trainer on probe environments (no trading env): value and advantage estimation pinned
down exactly, and the rollout-metrics and distribution seams."""

from __future__ import annotations

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
