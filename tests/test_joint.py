"""Joint training: symbol agents and master as one policy on the shared account, one program."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxtrade.agents import AgentConfig
from jaxtrade.agents.joint import JointEnv, JointNetwork, joint_distribution
from jaxtrade.env.portfolio import PortfolioEnv
from jaxtrade.train.config import PPOConfig, PPOHyperparams
from jaxtrade.train.ppo import make_train


def test_symbol_agents_and_master_train_together(tiny_exp):
    params = tiny_exp.portfolio_params("train", total_limit=0.9)
    env = JointEnv(PortfolioEnv())
    net = JointNetwork(AgentConfig(kind="mlp", mlp_hidden=(16,), head_dim=16), num_actions=7, hidden=16)
    obs, _ = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(jax.random.key(0), 3), params)
    (logits, mean, log_std), value = net.apply(net.init(jax.random.key(1), obs), obs)
    assert logits.shape == (3, 2, 7) and mean.shape == log_std.shape == (3, 3) and value.shape == (3,)
    pi = joint_distribution((logits, mean, log_std))
    action = pi.sample(seed=jax.random.key(2))
    assert action["symbols"].shape == (3, 2) and action["master"].shape == (3, 3) and pi.log_prob(action).shape == (3,)
    # Sampled symbol actions respect each symbol's mask (masked logits), so the env never sees an invalid one.
    assert bool(jnp.take_along_axis(obs.symbols.action_mask, action["symbols"][..., None], -1).all())

    ppo = PPOConfig(num_envs=8, rollout_len=16, num_updates=4, update_epochs=2, num_minibatches=2,
                    updates_per_chunk=4, learning_rate=1e-3)
    trainer = make_train(ppo, env, net, distribution=joint_distribution)
    hp = PPOHyperparams.from_config(ppo)
    start = jax.jit(trainer.init)(jax.random.key(3), hp, params)
    runner, metrics = jax.jit(trainer.run_chunk, static_argnums=3)(start, hp, params, 4)
    for leaf in jax.tree.leaves(metrics):
        assert np.isfinite(np.asarray(leaf)).all()
    assert int(runner.updates_done) == 4 and float(np.asarray(metrics.approx_kl).max()) > 0
    before, after = start.train_state.params["params"], runner.train_state.params["params"]
    for part in ("symbols", "master"):  # both networks learn from the portfolio reward
        moved = [float(jnp.abs(a - b).max()) for a, b in zip(jax.tree.leaves(before[part]),
                                                             jax.tree.leaves(after[part]), strict=True)]
        assert max(moved) > 0, part
