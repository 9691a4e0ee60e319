"""Joint training: symbol agents and master as one policy on the shared account, one program. (That both
networks learn in the trainer, from a warm start, is tested with `jaxtrade train-portfolio` in
tests/test_portfolio_cli.py.)"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxtrade.agents import AgentConfig
from jaxtrade.agents.joint import JointEnv, JointNetwork, joint_distribution
from jaxtrade.env.actions import LONG_ONLY
from jaxtrade.env.portfolio import PortfolioEnv


def test_the_joint_policy_samples_every_symbol_and_the_allocation(tiny_exp):
    params = tiny_exp.portfolio_params("train", total_limit=0.9)
    env = JointEnv(PortfolioEnv())
    net = JointNetwork(AgentConfig(kind="mlp", mlp_hidden=(16,), head_dim=16), actions=LONG_ONLY, hidden=16)
    obs, _ = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(jax.random.key(0), 3), params)
    (logits, mean, log_std), value = net.apply(net.init(jax.random.key(1), obs), obs)
    assert logits.shape == (3, 2, 7) and mean.shape == log_std.shape == (3, 3) and value.shape == (3,)
    pi = joint_distribution((logits, mean, log_std))
    action = pi.sample(seed=jax.random.key(2))
    assert action["symbols"].shape == (3, 2) and action["master"].shape == (3, 3) and pi.log_prob(action).shape == (3,)
    # Sampled symbol actions respect each symbol's mask (masked logits), so the env never sees an invalid one.
    assert bool(jnp.take_along_axis(obs.symbols.action_mask, action["symbols"][..., None], -1).all())
