"""PPO: reward scaling, GAE against a loop, config validation, one program over seeds and hyperparameters."""

from __future__ import annotations

from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxtrade.errors import ConfigError
from jaxtrade.train import (
    PPOConfig,
    PPOHyperparams,
    ReturnScale,
    compute_gae,
    make_train,
    scale_rewards,
)


def gae_loop(rewards, values, boot, term, trunc, gamma, lam):
    T, N = rewards.shape
    adv = np.zeros((T, N))
    for n in range(N):
        running = 0.0
        for t in reversed(range(T)):
            nxt = 0.0 if term[t, n] else boot[t, n]
            delta = rewards[t, n] + gamma * nxt - values[t, n]
            running = delta + (0.0 if (term[t, n] or trunc[t, n]) else gamma * lam * running)
            adv[t, n] = running
    return adv


def test_reward_scaling_tracks_the_variance_of_discounted_returns():
    """scale_rewards against a plain loop: G = gamma G + r per env, restarted after done; the scale is the
    population std of every G seen so far."""
    rng = np.random.default_rng(0)
    T, N, gamma = 50, 8, 0.9
    rewards = rng.normal(0.5, 2.0, (T, N)).astype(np.float32)
    done = rng.random((T, N)) < 0.1
    scale = ReturnScale.zeros(N)
    g, seen = np.zeros(N), []
    for t in range(T):
        got, scale = jax.jit(scale_rewards)(scale, jnp.asarray(rewards[t]), jnp.asarray(done[t]), gamma)
        g = g * gamma + rewards[t]
        seen.extend(g)
        np.testing.assert_allclose(np.asarray(got), rewards[t] / np.sqrt(np.var(seen) + 1e-8), rtol=1e-4)
        g = np.where(done[t], 0.0, g)
        np.testing.assert_allclose(np.asarray(scale.discounted), g, rtol=1e-5, atol=1e-5)
    assert float(scale.count) == T * N


def test_gae_matches_a_loop_and_separates_termination_from_truncation():
    rng = np.random.default_rng(0)
    T, N = 50, 8
    rewards, values, boot = (rng.normal(size=(T, N)).astype(np.float32) for _ in range(3))
    term = rng.random((T, N)) < 0.05
    trunc = (rng.random((T, N)) < 0.05) & ~term
    adv, targets = jax.jit(compute_gae)(rewards, values, boot, term, trunc, 0.97, 0.9)
    want = gae_loop(rewards, values, boot, term, trunc, 0.97, 0.9)
    np.testing.assert_allclose(adv, want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(targets, want + values, rtol=1e-4, atol=1e-5)
    # One step: truncation bootstraps from the final observation's value, termination does not.
    one = lambda te, tr: float(compute_gae(jnp.ones((1, 1)), jnp.zeros((1, 1)), jnp.full((1, 1), 10.0),  # noqa: E731
                                           jnp.array([[te]]), jnp.array([[tr]]), 0.5, 0.9)[0][0, 0])
    assert one(False, True) == pytest.approx(6.0) and one(True, False) == pytest.approx(1.0)


def test_ppo_config_rejects_bad_shapes():
    with pytest.raises(ConfigError, match="ppo.num_minibatches"):
        PPOConfig(num_envs=10, rollout_len=3, num_minibatches=4)
    with pytest.raises(ConfigError, match="ppo.gamma"):
        PPOConfig(gamma=1.5)


def test_train_vmaps_over_seeds_and_hyperparameters(tiny_setup):
    """One compiled program trains 2 seeds x 2 learning rates."""
    cfg = replace(tiny_setup.ppo, num_updates=2)
    trainer = make_train(cfg, tiny_setup.env, tiny_setup.network)
    keys = jax.random.split(jax.random.key(0), 2)
    hp = PPOHyperparams.from_config(cfg)
    hps = jax.tree.map(lambda x: jnp.stack([x, x]), hp).replace(learning_rate=jnp.array([1e-4, 3e-3]))
    train = jax.jit(jax.vmap(jax.vmap(trainer.train, in_axes=(None, 0, None)), in_axes=(0, None, None)))
    runner, metrics = train(keys, hps, tiny_setup.env_params)
    assert metrics.policy_loss.shape == (2, 2, 2)  # (seed, lr, update)
    kernel = np.asarray(runner.train_state.params["params"]["actor"]["Dense_1"]["kernel"])
    assert kernel.shape[:2] == (2, 2)
    init = jax.vmap(lambda k: trainer.init(k, hp, tiny_setup.env_params))(keys)
    init = np.asarray(init.train_state.params["params"]["actor"]["Dense_1"]["kernel"])
    moved = np.abs(kernel - init[:, None]).mean(axis=(2, 3))
    assert (moved[:, 1] > 3 * moved[:, 0]).all()  # the larger learning rate moved the weights further
    assert not np.allclose(kernel[0], kernel[1])  # seeds differ
    np.testing.assert_allclose(np.asarray(metrics.learning_rate)[0, :, 0], [1e-4, 3e-3], rtol=1e-6)


def test_minibatches_take_an_equal_share_of_every_envs_steps_each_once():
    from jaxtrade.train.ppo import stratified_minibatches

    N, T, M = 3, 8, 4
    step = jnp.arange(N * T).reshape(N, T)  # the step's id: env * T + t
    out = stratified_minibatches({"id": step, "x": jnp.stack([step, -step], -1)}, jax.random.key(0), M)
    ids = np.asarray(out["id"])
    assert ids.shape == (M, N * T // M) and out["x"].shape == (M, N * T // M, 2)
    assert sorted(ids.ravel().tolist()) == list(range(N * T))  # every step once
    for m in range(M):  # env-major: T/M steps of env 0, then of env 1, ...
        np.testing.assert_array_equal(ids[m] // T, np.repeat(np.arange(N), T // M))
    np.testing.assert_array_equal(np.asarray(out["x"])[..., 1], -ids)  # leaves move together
