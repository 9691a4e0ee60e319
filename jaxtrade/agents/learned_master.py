"""A learned master agent, and the env it learns in: the portfolio env with the symbol agents inside.

`MasterEnv` wraps `PortfolioEnv` for a master trained over frozen symbol agents
(any `SymbolPolicy`: a trained actor-critic, or a rule): at every bar the symbol
agents propose actions from their own observations, the master sees their
action probabilities, values and proposals, each symbol's features, exposure and
tradeable flag and the account (`AllocationInput`), and answers with budgets;
`gate_actions` turns proposals into orders that respect them (buys that fit,
symbols over budget reduced) and the portfolio steps. Its reward is the portfolio
env's (the same component registry on the account's equity).

The master's action is a logistic-normal allocation: z ~ N(mu, diag(sigma^2))
over the S symbols and cash, budget = total_limit * softmax(z)[:S] with the
symbols that cannot trade left out of the softmax. `MasterNetwork` is
permutation-equivariant over symbols (one MLP per symbol, shared weights, pooled
context), so one set of weights serves any number of symbols.

    env = MasterEnv(PortfolioEnv(), network_proposals(symbol_net))
    trainer = make_train(ppo_cfg, env, MasterNetwork(), distribution=logistic_normal)
    runner = trainer.init(key, hp, MasterParams(portfolio_params, symbol_params))
    allocation = LearnedMaster().apply(master_params, inputs)   # the `MasterAgent` seam
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import distrax
import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import struct

from jaxtrade.agents.master import Allocation, AllocationInput, conviction_scores, gate_actions
from jaxtrade.env.actions import ActionTable, greedy_action, largest_open
from jaxtrade.env.portfolio import PortfolioEnv
from jaxtrade.env.types import (
    ORDER_SCALE,
    Observation,
    PortfolioAction,
    PortfolioObservation,
    PortfolioParams,
    PortfolioState,
)
from jaxtrade.errors import ConfigError

# (agent params, key, obs (S, ...)) -> (probs (S, A), values (S,), proposed actions (S,) int32). The agents'
# params travel as an argument (device arrays, in `MasterParams`), never as constants of the program.
SymbolPolicy = Callable[[Any, jax.Array, Observation], tuple[jax.Array, jax.Array, jax.Array]]


def network_proposals(network, deterministic: bool = True) -> SymbolPolicy:
    """Symbol agents sharing one actor-critic: its probabilities, values and greedy (or sampled) actions."""

    def propose(net_params, key, obs):
        logits, values = network.apply(net_params, obs)
        action = greedy_action(logits) if deterministic else jax.random.categorical(key, logits)
        return jax.nn.softmax(logits, -1), values, action.astype(jnp.int32)

    return propose


def ensemble_proposals(network) -> SymbolPolicy:
    """A seed ensemble of symbol agents (params: the members' network params stacked on a leading axis): the
    mean of the members' action probabilities and values, and greedy on the mean probabilities over the valid
    actions (the most probable intent, then its most probable size)."""

    def propose(stacked_params, key, obs):
        logits, values = jax.vmap(network.apply, in_axes=(0, None))(stacked_params, obs)
        probs = jax.nn.softmax(logits, -1).mean(0)
        action = greedy_action(jnp.where(obs.action_mask, jnp.log(jnp.maximum(probs, 1e-30)), -jnp.inf))
        return probs, values.mean(0), action.astype(jnp.int32)

    return propose


def largest_open_proposals(agent_params: Any, key: jax.Array, obs: Observation
                           ) -> tuple[jax.Array, jax.Array, jax.Array]:
    """A rule for symbol agents that always want more: the largest valid long open, certain of it, value 0."""
    action = largest_open(obs.action_mask, +1)
    probs = jax.nn.one_hot(action, obs.action_mask.shape[-1])
    return probs, jnp.zeros(action.shape, jnp.float32), action


def symbol_features(obs: Observation) -> jax.Array:
    """(S, 20) what the master reads of each symbol beside its agent's outputs: regime (10), position (5) and
    risk (5: the account's drawdown and room to its limits, the same for every symbol, the asset's volatility and
    order scale)."""
    return jnp.concatenate([obs.regime, obs.position, obs.risk], -1)


def master_view(obs: PortfolioObservation, probs: jax.Array, values: jax.Array, proposed: jax.Array,
                actions: ActionTable) -> AllocationInput:
    """The master's view of a shared book in the env's action table `actions`: orders are sized on the
    portfolio's equity times each symbol's order scale (`RISK_FEATURES` "order_scale": 1 unless sizing by risk),
    its equity_share."""
    return AllocationInput(probs=probs, values=values, proposed=proposed, action_mask=obs.symbols.action_mask,
                           exposure=obs.weights, equity_share=obs.symbols.risk[:, ORDER_SCALE],
                           tradeable=obs.tradeable, features=symbol_features(obs.symbols), book=obs.book,
                           actions=actions)


def budgets(z: jax.Array, tradeable: jax.Array, total_limit: jax.Array | float) -> jax.Array:
    """(..., S) budgets from the (..., S + 1) logistic-normal action: total_limit * softmax over tradeable
    symbols and cash."""
    logits = jnp.concatenate([jnp.where(tradeable, z[..., :-1], -jnp.inf), z[..., -1:]], -1)
    return total_limit * jax.nn.softmax(logits, -1)[..., :-1]


def logistic_normal(inputs: tuple[jax.Array, jax.Array]) -> distrax.Distribution:
    """The master's action distribution: a diagonal Gaussian over the (S + 1) allocation logits."""
    mean, log_std = inputs
    return distrax.MultivariateNormalDiag(mean, jnp.exp(log_std))


PRIOR_FLOOR = 1e-3  # `MasterNetwork.conviction_prior`: the score a symbol without conviction counts as


class MasterNetwork(nn.Module):
    """Actor-critic over `AllocationInput` (batched: (B, S, ...)): ((mean, log_std) (B, S + 1), value (B,)).

    Each symbol's inputs (its agent's probabilities and value, proposal, exposure, tradeable flag, features,
    and the account) go through one shared MLP; a masked mean over the tradeable symbols and the account form
    the context that sets the cash logit and the value, and joins every symbol's logit. Symbols that cannot
    trade get mean 0 (their budget is 0 whatever z is).
    """

    hidden: int = 64
    init_log_std: float = -0.5
    # Start from the rule: each symbol's mean logit is log of its agent's conviction score (`conviction_scores`,
    # as `ConfidenceAllocator` budgets) plus what the network learns, so the master begins where the rule-based
    # one stands instead of at equal budgets.
    conviction_prior: bool = False

    @nn.compact
    def __call__(self, x: AllocationInput) -> tuple[tuple[jax.Array, jax.Array], jax.Array]:
        S, A = x.probs.shape[-2:]
        # Scaled fan-in normal init: orthogonal init (a QR) in this network, vmapped over seeds, hung XLA:CPU
        # (jax 0.10.2) in the learning test.
        init = lambda scale: nn.initializers.variance_scaling(scale ** 2, "fan_in", "normal")  # noqa: E731
        dense = lambda n, scale=2.0 ** 0.5: nn.Dense(n, kernel_init=init(scale))  # noqa: E731
        tradeable, features, account = x.tradeable, x.features, x.book
        if tradeable is None or features is None or account is None:
            raise ConfigError("MasterNetwork reads AllocationInput.tradeable, .features and .book: build the "
                              "inputs with `master_view`")
        ok = tradeable.astype(jnp.float32)
        book = jnp.broadcast_to(account[..., None, :], (*x.probs.shape[:-1], account.shape[-1]))
        per_symbol = jnp.concatenate([x.probs, x.values[..., None], jax.nn.one_hot(x.proposed, A),
                                      x.exposure[..., None], ok[..., None], features, book], -1)
        h = nn.tanh(dense(self.hidden)(nn.tanh(dense(self.hidden)(per_symbol))))  # (B, S, H)
        pooled = (h * ok[..., None]).sum(-2) / jnp.maximum(ok.sum(-1, keepdims=True), 1.0)
        summary = jnp.concatenate([pooled, account], -1)  # what the cash logit and the critic read
        context = nn.tanh(dense(self.hidden)(summary))  # (B, H)
        joined = jnp.concatenate([h, jnp.broadcast_to(context[..., None, :], h.shape)], -1)
        symbol_mean = dense(1, 0.01)(joined)[..., 0]
        if self.conviction_prior:
            symbol_mean = symbol_mean + jnp.log(jnp.maximum(conviction_scores(x), PRIOR_FLOOR))
        symbol_mean = jnp.where(tradeable, symbol_mean, 0.0)
        mean = jnp.concatenate([symbol_mean, dense(1, 0.01)(context)], -1)  # (B, S + 1)
        log_std = self.param("log_std", nn.initializers.constant(self.init_log_std), (2,))  # symbols, cash
        log_std = jnp.broadcast_to(jnp.concatenate([jnp.repeat(log_std[:1], S), log_std[1:]]), mean.shape)
        critic_in = nn.tanh(dense(self.hidden)(summary))
        value = dense(1, 1.0)(critic_in)[..., 0]
        return (mean, log_std), value


class MasterParams(struct.PyTreeNode):
    portfolio: PortfolioParams  # the market, rules and starts of the shared account
    agents: Any = None  # the symbol agents' parameters (None for a rule)


class MasterState(struct.PyTreeNode):
    portfolio: PortfolioState
    view: AllocationInput  # what the master decides on at this bar (the symbol agents' proposals included)


class MasterEnv:
    """The portfolio env as the master sees it: action = allocation logits z (S + 1,), observation =
    `AllocationInput`; the symbol agents (`propose`) act inside the step, gated by the budgets."""

    def __init__(self, portfolio: PortfolioEnv, propose: SymbolPolicy = largest_open_proposals,
                 tolerance: float = 0.02):
        self.portfolio, self.propose, self.tolerance = portfolio, propose, tolerance

    def view(self, key: jax.Array, obs: PortfolioObservation, params: MasterParams) -> AllocationInput:
        return master_view(obs, *self.propose(params.agents, key, obs.symbols), self.portfolio.actions)

    def reset(self, key: jax.Array, params: MasterParams) -> tuple[AllocationInput, MasterState]:
        k_reset, k_view = jax.random.split(key)
        obs, state = self.portfolio.reset(k_reset, params.portfolio)
        view = self.view(k_view, obs, params)
        return view, MasterState(state, view)

    def step(self, key: jax.Array, state: MasterState, z: jax.Array, params: MasterParams):
        """Budgets from z, the proposals gated by them, one portfolio step (auto-reset), the next proposals."""
        k_step, k_view, k_final = jax.random.split(key, 3)
        budget = budgets(z, state.view.tradeable, params.portfolio.total_limit)
        action = PortfolioAction(gate_actions(state.view, budget, self.tolerance), budget)
        obs, portfolio, reward, terminated, truncated, info = self.portfolio.step(k_step, state.portfolio, action,
                                                                                  params.portfolio)
        view = self.view(k_view, obs, params)
        final = self.view(k_final, info.final_observation, params)  # the critic bootstraps a truncation from it
        return view, MasterState(portfolio, view), reward, terminated, truncated, info.replace(final_observation=final)


class LearnedMaster:
    """`MasterAgent` over a trained `MasterNetwork`: budgets from the allocation's mean (no sampling), then
    `gate_actions`. Reads `AllocationInput.tradeable`, `.features` and `.book` (`master_view`)."""

    def __init__(self, network: MasterNetwork | None = None, total_limit: float = 1.0, tolerance: float = 0.02):
        self.network = MasterNetwork() if network is None else network
        self.total_limit, self.tolerance = total_limit, tolerance

    def init(self, key: jax.Array, inputs: AllocationInput) -> Any:
        return self.network.init(key, jax.tree.map(lambda x: x[None], inputs))

    def apply(self, params: Any, inputs: AllocationInput) -> Allocation:
        (mean, _), _ = self.network.apply(params, jax.tree.map(lambda x: x[None], inputs))
        budget = budgets(mean[0], inputs.tradeable, self.total_limit)
        return Allocation(budget=budget, action=gate_actions(inputs, budget, self.tolerance))


__all__ = [
    "LearnedMaster", "MasterEnv", "MasterNetwork", "MasterParams", "MasterState", "SymbolPolicy", "budgets",
    "ensemble_proposals", "master_view", "largest_open_proposals", "logistic_normal", "network_proposals",
    "symbol_features"
]
