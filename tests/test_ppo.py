"""The actor-critic and PPO: parameter budget, masking, GAE against a loop, chunked training, exact resume."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxtrade.agents import (
    MASKED_LOGIT,
    ActorCritic,
    AgentConfig,
    TransformerConfig,
    count_params,
    policy,
)
from jaxtrade.agents.networks import EncoderBlock
from jaxtrade.config import load_config
from jaxtrade.data.config import load_data
from jaxtrade.env.types import Observation
from jaxtrade.errors import ConfigError
from jaxtrade.features import compute_features
from jaxtrade.train import PPOConfig, PPOHyperparams, compute_gae, make_train
from jaxtrade.train.loop import build, fit
from jaxtrade.train.ppo import ReturnScale, scale_rewards

TINY = Path(__file__).parents[1] / "configs" / "tiny.yaml"


def batch_obs(batch, mask=None):
    ks = jax.random.split(jax.random.key(0), 5)
    return Observation(
        technical=jax.random.normal(ks[0], (batch, 24, 23)), aux=jax.random.uniform(ks[1], (batch, 3)),
        position=jax.random.normal(ks[2], (batch, 5)), portfolio=jax.random.normal(ks[3], (batch, 8)),
        regime=jax.random.normal(ks[4], (batch, 10)),
        action_mask=jnp.ones((batch, 7), bool) if mask is None else mask)


def test_default_transformer_fits_the_parameter_budget():
    net = ActorCritic(TransformerConfig())
    params = jax.jit(net.init)(jax.random.key(0), batch_obs(2))
    n = count_params(params)
    assert 2_000_000 < n < 5_000_000
    blocks = [k for k in params["params"]["torso"] if k.startswith("block_")]
    assert len(blocks) == 4
    assert params["params"]["torso"]["bar_embed"]["kernel"].shape == (23, 256)
    assert params["params"]["actor"]["Dense_1"]["kernel"].shape == (128, 7)
    assert params["params"]["critic"]["Dense_1"]["kernel"].shape == (128, 1)
    with pytest.raises(ConfigError, match="agent.num_heads"):
        TransformerConfig(d_model=100, num_heads=8)


def test_mlp_torso_shares_the_heads_and_sees_every_observation_field():
    cfg = AgentConfig(kind="mlp", mlp_hidden=(64, 64), head_dim=64)
    net = ActorCritic(cfg)
    mask = jnp.asarray([[True, True, False, True, False, False, True]] * 3)
    obs = batch_obs(3, mask)
    params = jax.jit(net.init)(jax.random.key(0), obs)
    torso = params["params"]["torso"]
    assert torso["Dense_0"]["kernel"].shape == (24 * 23 + 3 + 5 + 8 + 10, 64)
    assert torso["Dense_1"]["kernel"].shape == (64, 64)
    assert params["params"]["actor"]["Dense_1"]["kernel"].shape == (64, 7)
    logits, value = jax.jit(net.apply)(params, obs)
    assert logits.shape == (3, 7) and value.shape == (3,)
    assert (np.asarray(logits)[~np.asarray(mask)] == MASKED_LOGIT).all()
    for name in ("technical", "aux", "position", "portfolio", "regime"):  # every field moves the value
        moved = obs.replace(**{name: getattr(obs, name) + 1.0})
        assert not np.allclose(net.apply(params, moved)[1], value), name
    with pytest.raises(ConfigError, match="agent.kind"):
        AgentConfig(kind="lstm")
    with pytest.raises(ConfigError, match="agent.mlp_hidden"):
        AgentConfig(kind="mlp", mlp_hidden=())


def test_last_block_updates_only_cls_with_the_full_blocks_result():
    cfg = TransformerConfig(num_layers=1, d_model=64, num_heads=4, mlp_dim=128)
    block = EncoderBlock(cfg)
    x = jax.random.normal(jax.random.key(0), (8, 29, 64))
    params = block.init(jax.random.key(1), x)
    shapes = lambda tree: jax.tree.map(jnp.shape, tree)  # noqa: E731
    assert shapes(block.init(jax.random.key(1), x, cls_only=True)) == shapes(params)  # same weights
    full = block.apply(params, x)
    cls = block.apply(params, x, cls_only=True)
    assert full.shape == (8, 29, 64) and cls.shape == (8, 1, 64)
    np.testing.assert_allclose(cls, full[:, :1], rtol=1e-5, atol=1e-5)
    assert not np.allclose(full[:, 1:2], full[:, :1])  # the other tokens' outputs really differ from [CLS]
    moved = block.apply(params, x.at[:, 7].add(1.0), cls_only=True)
    assert not np.allclose(moved, cls)  # [CLS] still attends to every token


def test_masked_actions_have_zero_probability_and_are_never_sampled():
    cfg = TransformerConfig(num_layers=1, d_model=32, num_heads=4, mlp_dim=64, head_dim=32)
    net = ActorCritic(cfg)
    mask = jax.random.bernoulli(jax.random.key(1), 0.5, (256, 7)).at[:, 0].set(True)
    obs = batch_obs(256, mask=mask)
    params = jax.jit(net.init)(jax.random.key(0), obs)
    apply = jax.jit(net.apply)
    logits, value = apply(params, obs)
    assert logits.shape == (256, 7) and value.shape == (256,)
    pi = policy(logits)
    probs = np.asarray(pi.probs)
    assert (probs[~np.asarray(mask)] == 0).all()
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)
    samples = np.asarray(pi.sample(seed=jax.random.key(2), sample_shape=(50,)))
    assert np.take_along_axis(np.asarray(mask)[None].repeat(50, 0), samples[..., None], -1).all()
    assert np.isfinite(np.asarray(pi.entropy())).all()
    # Attention sees the order of the bars: permuting the window changes the output.
    shuffled = obs.replace(technical=obs.technical[:, ::-1])
    assert not np.allclose(apply(params, shuffled)[1], value)


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


@pytest.fixture(scope="module")
def tiny_setup():
    cfg = load_config(TINY)
    data = load_data(cfg.data, cfg.min_bars)
    return build(cfg, data, compute_features(data, cfg.features))


def test_chunked_training_runs_and_resumes_bit_exactly(tiny_setup, tmp_path):
    lines = []
    straight, history = fit(tiny_setup, log=lines.append)
    assert int(straight.update) == 6 and len(history) == 3
    assert any(line.startswith("update     6/6") for line in lines)
    for m in history:
        for leaf in jax.tree.leaves(m):
            assert np.isfinite(leaf).all()
    assert (np.concatenate([m.entropy for m in history]) > 0).all()
    assert np.concatenate([m.episodes for m in history]).sum() > 0

    # The same run stopped (as if killed) after its checkpoint at update 4, then resumed from disk.
    _run_until(tiny_setup, tmp_path, stop_after=4)
    half = build(tiny_setup.cfg, *_data_and_features(tiny_setup))  # rebuilt from scratch
    resumed, _ = fit(half, checkpoint_dir=tmp_path, resume=True, log=None)
    assert int(resumed.update) == 6
    for a, b in zip(jax.tree.leaves(straight.train_state), jax.tree.leaves(resumed.train_state), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_array_equal(jax.random.key_data(straight.key), jax.random.key_data(resumed.key))


def _data_and_features(setup):
    data = load_data(setup.cfg.data, setup.cfg.min_bars)
    return data, compute_features(data, setup.cfg.features)


def _run_until(setup, ckpt_dir, stop_after):
    """Train chunk by chunk with checkpoints and stop (as if killed) once `stop_after` updates are saved."""
    class Stop(Exception):
        pass

    def log(line):
        if line.startswith(f"update {stop_after:>5}/"):
            raise Stop

    with pytest.raises(Stop):
        fit(setup, checkpoint_dir=ckpt_dir, log=log)


def test_checkpoint_dir_guards(tiny_setup, tmp_path):
    _run_until(tiny_setup, tmp_path, stop_after=2)
    with pytest.raises(ConfigError, match="already holds checkpoints"):
        fit(tiny_setup, checkpoint_dir=tmp_path, log=None)
    other = build(replace(tiny_setup.cfg, ppo=replace(tiny_setup.cfg.ppo, ent_coef=0.05)),
                  *_data_and_features(tiny_setup))
    with pytest.raises(ConfigError, match="different config"):
        fit(other, checkpoint_dir=tmp_path, resume=True, log=None)
    with pytest.raises(ConfigError, match="resume needs a checkpoint directory"):
        fit(tiny_setup, resume=True, log=None)


def test_train_vmaps_over_seeds_and_hyperparameters(tiny_setup):
    """One compiled program trains 2 seeds x 2 learning rates."""
    cfg = replace(tiny_setup.cfg.ppo, num_updates=2)
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
