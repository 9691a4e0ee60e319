"""Joint training: the symbol agents and the master as one policy on the shared account, in one program.

`JointNetwork` runs the shared symbol actor-critic on every symbol's observation
and the master (`MasterNetwork`) on their outputs (probabilities, values, greedy
proposals) and the account; its action is every symbol's action and the master's
allocation logits, drawn from `joint_distribution` (independent categoricals
over the symbols and the logistic-normal allocation; log-probabilities and
entropies add). `JointEnv` executes that action on the portfolio env: budgets from
the allocation, the symbol actions gated by them. The critic is the master's (the
portfolio's value). Both networks learn from the portfolio reward:

    trainer = make_train(ppo_cfg, JointEnv(PortfolioEnv()), JointNetwork(agent_cfg, LONG_ONLY),
                         distribution=joint_distribution)
    start = init_joint(network, env, params, key, trained_agent_params)   # a warm start (trainer.init's params)
    agent_params, master_params = split_joint(runner.train_state.params)  # each usable on its own
"""

from __future__ import annotations

from typing import Any

import distrax
import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import struct

from jaxtrade.agents.config import AgentConfig
from jaxtrade.agents.learned_master import MasterNetwork, budgets, logistic_normal, master_view
from jaxtrade.agents.master import AllocationInput, gate_actions
from jaxtrade.agents.networks import ActorCritic
from jaxtrade.env.actions import ActionTable, greedy_action
from jaxtrade.env.portfolio import PortfolioEnv
from jaxtrade.env.types import ORDER_SCALE, PortfolioAction, PortfolioObservation, PortfolioParams, PortfolioState


class JointNetwork(nn.Module):
    """(obs (B, S, ...)) -> ((symbol logits (B, S, A), allocation mean and log_std (B, S + 1)), value (B,))."""

    agent: AgentConfig
    actions: ActionTable  # the env's action table (the symbols' heads are this wide; the master reads it)
    hidden: int = 64
    conviction_prior: bool = False  # `MasterNetwork.conviction_prior`

    @nn.compact
    def __call__(self, obs: PortfolioObservation):
        B, S = obs.tradeable.shape
        flat = jax.tree.map(lambda x: x.reshape((B * S, *x.shape[2:])), obs.symbols)
        logits, values = ActorCritic(self.agent, self.actions.num_actions, name="symbols")(flat)
        logits, values = logits.reshape(B, S, -1), values.reshape(B, S)
        view = master_view(obs, jax.nn.softmax(logits, -1), values, greedy_action(logits), self.actions)
        (mean, log_std), value = MasterNetwork(self.hidden, conviction_prior=self.conviction_prior,
                                                  name="master")(view)
        return (logits, mean, log_std), value


def joint_distribution(inputs) -> distrax.Distribution:
    """Every symbol's categorical action (independent) and the master's logistic-normal allocation."""
    logits, mean, log_std = inputs
    return distrax.Joint({"symbols": distrax.Independent(distrax.Categorical(logits=logits), 1),
                          "master": logistic_normal((mean, log_std))})


def init_joint(network: JointNetwork, env: JointEnv, params: PortfolioParams, key: jax.Array,
               agent_params=None) -> Any:
    """`network`'s parameters from `key`; the symbol agents' part replaced by `agent_params` (a trained
    `ActorCritic`'s with the same `AgentConfig`: a warm start) when given.

    Raises:
      ValueError: `agent_params` are not shaped like the network's symbol agents.
    """
    obs, _ = env.reset(key, params)
    fresh = network.init(key, jax.tree.map(lambda x: x[None], obs))
    if agent_params is None:
        return fresh
    shapes = lambda tree: jax.tree.map(lambda x: jnp.shape(x), tree)  # noqa: E731
    if shapes(agent_params["params"]) != shapes(fresh["params"]["symbols"]):
        raise ValueError("the symbol agents' parameters do not fit JointNetwork's symbol part (another agent config)")
    return {**fresh, "params": {**fresh["params"], "symbols": agent_params["params"]}}


def split_joint(params: dict) -> tuple[dict, dict]:
    """(the symbol agents' `ActorCritic` params, the master's `MasterNetwork` params) of a `JointNetwork`'s."""
    return {"params": params["params"]["symbols"]}, {"params": params["params"]["master"]}


class JointState(struct.PyTreeNode):
    portfolio: PortfolioState
    # What the gate reads of the observation the next action answers (kept, not re-observed each step):
    action_mask: jax.Array  # (S, A) bool
    weights: jax.Array  # (S,) signed position value / equity
    tradeable: jax.Array  # (S,) bool
    order_scale: jax.Array  # (S,) what the opens' table fractions are multiplied by (`RISK_FEATURES`)


class JointEnv:
    """The portfolio env taking the joint action {"symbols": (S,) actions, "master": (S + 1,) allocation logits}:
    budgets from the allocation, the symbol actions gated by them (`gate_actions`), one portfolio step."""

    def __init__(self, portfolio: PortfolioEnv, tolerance: float = 0.02):
        self.portfolio, self.tolerance = portfolio, tolerance

    @staticmethod
    def _state(portfolio: PortfolioState, obs: PortfolioObservation) -> JointState:
        return JointState(portfolio, obs.symbols.action_mask, obs.weights, obs.tradeable,
                          obs.symbols.risk[:, ORDER_SCALE])

    def reset(self, key: jax.Array, params: PortfolioParams) -> tuple[PortfolioObservation, JointState]:
        obs, state = self.portfolio.reset(key, params)
        return obs, self._state(state, obs)

    def step(self, key: jax.Array, state: JointState, action: dict, params: PortfolioParams):
        budget = budgets(action["master"], state.tradeable, params.total_limit)
        proposed = action["symbols"].astype(jnp.int32)
        view = AllocationInput(probs=jnp.zeros(state.action_mask.shape), values=jnp.zeros(proposed.shape),
                               proposed=proposed, action_mask=state.action_mask, exposure=state.weights,
                               equity_share=state.order_scale, tradeable=state.tradeable,
                               actions=self.portfolio.actions)
        gated = gate_actions(view, budget, self.tolerance)  # reads the proposals, mask and exposures
        obs, portfolio, reward, terminated, truncated, info = self.portfolio.step(
            key, state.portfolio, PortfolioAction(gated, budget), params)
        return obs, self._state(portfolio, obs), reward, terminated, truncated, info


__all__ = ["JointEnv", "JointNetwork", "JointState", "init_joint", "joint_distribution", "split_joint"]
