"""The actor-critic: parameter budget, torsos, the CLS block, masking, and the action-space size."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxtrade.agents import (
    MASKED_LOGIT,
    ActorCritic,
    AgentConfig,
    count_params,
    policy,
)
from jaxtrade.agents.networks import EncoderBlock
from jaxtrade.env.types import Observation
from jaxtrade.errors import ConfigError


def batch_obs(batch, mask=None):
    ks = jax.random.split(jax.random.key(0), 6)
    return Observation(
        technical=jax.random.normal(ks[0], (batch, 24, 23)), aux=jax.random.uniform(ks[1], (batch, 3)),
        position=jax.random.normal(ks[2], (batch, 5)), portfolio=jax.random.normal(ks[3], (batch, 8)),
        risk=jax.random.normal(ks[5], (batch, 5)),
        regime=jax.random.normal(ks[4], (batch, 10)),
        action_mask=jnp.ones((batch, 7), bool) if mask is None else mask)


def test_default_transformer_fits_the_parameter_budget():
    net = ActorCritic(AgentConfig())
    params = jax.jit(net.init)(jax.random.key(0), batch_obs(2))
    n = count_params(params)
    assert 2_000_000 < n < 5_000_000
    blocks = [k for k in params["params"]["torso"] if k.startswith("block_")]
    assert len(blocks) == 4
    assert params["params"]["torso"]["bar_embed"]["kernel"].shape == (23, 256)
    assert params["params"]["actor"]["Dense_1"]["kernel"].shape == (128, 7)
    assert params["params"]["critic"]["Dense_1"]["kernel"].shape == (128, 1)
    with pytest.raises(ConfigError, match="agent.num_heads"):
        AgentConfig(d_model=100, num_heads=8)


def test_mlp_torso_shares_the_heads_and_sees_every_observation_field():
    cfg = AgentConfig(kind="mlp", mlp_hidden=(64, 64), head_dim=64)
    net = ActorCritic(cfg)
    mask = jnp.asarray([[True, True, False, True, False, False, True]] * 3)
    obs = batch_obs(3, mask)
    params = jax.jit(net.init)(jax.random.key(0), obs)
    torso = params["params"]["torso"]
    assert torso["Dense_0"]["kernel"].shape == (24 * 23 + 3 + 5 + 8 + 5 + 10, 64)
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
    cfg = AgentConfig(num_layers=1, d_model=64, num_heads=4, mlp_dim=128)
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
    cfg = AgentConfig(num_layers=1, d_model=32, num_heads=4, mlp_dim=64, head_dim=32)
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


def test_actor_head_sizes_to_the_env_action_space():
    """The long-short env's 13 actions: one more config value, the same network code."""
    cfg = AgentConfig(kind="mlp", mlp_hidden=(16,))
    mask = jnp.ones((4, 13), bool).at[:, 7:].set(False)
    net = ActorCritic(cfg, num_actions=13)
    params = net.init(jax.random.key(0), batch_obs(4, mask))
    logits, value = net.apply(params, batch_obs(4, mask))
    assert logits.shape == (4, 13) and value.shape == (4,)
    assert (np.asarray(logits[:, 7:]) == MASKED_LOGIT).all()


def test_a_new_torso_brings_its_own_config_section(tmp_path):
    """A torso registered with its settings' dataclass: `agent.torso` in YAML (and --set) builds them, errors name
    their path, the resolved config writes them back, and the network reads them; nothing else is touched."""
    from dataclasses import dataclass

    import flax.linen as nn
    import yaml
    from conftest import TINY

    from jaxtrade.agents import TORSOS, register_torso
    from jaxtrade.agents.config import TORSO_CONFIGS
    from jaxtrade.config import config_from_dict, config_to_dict, load_config

    @dataclass(frozen=True)
    class PoolConfig:
        width: int = 8  # the embedding's width
        pool: str = "mean"  # mean | max over the window

    @register_torso("pool", config=PoolConfig)
    class Pool(nn.Module):
        config: AgentConfig

        @nn.compact
        def __call__(self, obs):
            own = self.config.torso
            pooled = obs.technical.mean(1) if own.pool == "mean" else obs.technical.max(1)
            return nn.Dense(own.width)(pooled)

    try:
        values = yaml.safe_load(TINY.read_text())
        values["agent"] = {"kind": "pool", "head_dim": 8, "torso": {"width": 5}}
        path = tmp_path / "pool.yaml"
        path.write_text(yaml.safe_dump(values))
        cfg = load_config(path, ["agent.torso.pool=max"])
        assert cfg.agent.torso == PoolConfig(width=5, pool="max")
        assert config_from_dict(config_to_dict(cfg)) == cfg  # a run's saved config loads back the same
        net = ActorCritic(cfg.agent)
        params = net.init(jax.random.key(0), batch_obs(3))
        assert params["params"]["torso"]["Dense_0"]["kernel"].shape[-1] == 5
        assert AgentConfig(kind="pool").torso == PoolConfig()  # defaults when not given
        with pytest.raises(ConfigError, match=r"agent.torso.width: expected an integer"):
            load_config(path, ["agent.torso.width=wide"])
        with pytest.raises(ConfigError, match=r"agent.torso: unknown key\(s\) \['depth'\]"):
            load_config(path, ["agent.torso.depth=2"])
        with pytest.raises(ConfigError, match="the 'mlp' torso has no settings of its own"):
            load_config(path, ["agent.kind=mlp"])
    finally:
        TORSOS.pop("pool")
        TORSO_CONFIGS.pop("pool")
    with pytest.raises(ConfigError, match="must be a frozen dataclass"):
        register_torso("bad", config=dict)


def test_a_new_torso_is_one_module_and_one_config_value():
    import flax.linen as nn

    from jaxtrade.agents import TORSOS, register_torso

    @register_torso("mean_pool")
    class MeanPool(nn.Module):
        config: AgentConfig

        @nn.compact
        def __call__(self, obs):
            return nn.Dense(8)(obs.technical.mean(axis=1))

    try:
        cfg = AgentConfig(kind="mean_pool")
        net = ActorCritic(cfg)
        logits, value = net.apply(net.init(jax.random.key(0), batch_obs(3)), batch_obs(3))
        assert logits.shape == (3, 7) and value.shape == (3,)
    finally:
        TORSOS.pop("mean_pool")
    with pytest.raises(ConfigError, match="agent.kind: 'mean_pool' is not one of"):
        AgentConfig(kind="mean_pool")
