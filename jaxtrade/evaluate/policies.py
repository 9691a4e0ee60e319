"""The policies a backtest compares: the learned agent (greedy, sampled, a seed ensemble) and the baselines
(random, cash, buy-and-hold under the env's rules, SMA crossover, volatility-targeted holding, time-series
momentum).

A policy is a pure `act(key, obs, state, params) -> action` over a batch of episodes (`rollout.ActFn`). Learned
policies read only `obs`; rule-based baselines may read the market in `params` up to the decision bar
(`state.bar`), never after it. The baselines read the action table from the env params (`table_of`), so they
follow a custom table.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxtrade.agents.learned_master import ensemble_proposals
from jaxtrade.agents.networks import policy
from jaxtrade.env.actions import (
    ActionTable,
    close_all,
    greedy_action,
    largest_open,
    toward_exposure,
)
from jaxtrade.env.types import ASSET_VOL, ORDER_SCALE, SIDE, EnvParams, EnvState, Observation
from jaxtrade.errors import ConfigError
from jaxtrade.evaluate.rollout import ActFn


def random_policy(key: jax.Array, obs: Observation, state=None, params=None) -> jax.Array:
    """Uniform over the valid actions."""
    return jax.random.categorical(key, jnp.where(obs.action_mask, 0.0, -jnp.inf))


def cash_policy(key: jax.Array, obs: Observation, state=None, params=None) -> jax.Array:
    """Never trade."""
    return jnp.zeros(obs.action_mask.shape[:-1], jnp.int32)


def table_of(params: EnvParams | None, mask: jax.Array) -> ActionTable:
    """The action table a policy acts in: the env params' own (`EnvParams.actions`), checked against the mask's
    width (a rule-based policy never guesses it from the width: a custom table of the shipped size is itself).

    Raises:
      ConfigError: no params, or their table and the observation's mask differ in size (at trace time).
    """
    if params is None:
        raise ConfigError("a rule-based policy needs the env params (their action table): call it as "
                          "act(key, obs, state, params)")
    if params.actions.num_actions != mask.shape[-1]:
        raise ConfigError(f"the env params' action table has {params.actions.num_actions} actions, the "
                          f"observation's mask {mask.shape[-1]}: params and observations of different envs")
    return params.actions


def go_long(m: jax.Array, table: ActionTable) -> jax.Array:
    """The largest allowed buy (buys open or add), else ADD, else HOLD: as long as the limit allows.

    Args:
      m: (..., A) action mask.
      table: the env's action table (`table_of`).
    """
    return largest_open(m, +1, table)


def go_flat(obs: Observation, table: ActionTable) -> jax.Array:
    """(B,) the action that closes the whole position in the env's action `table`, HOLD when flat."""
    return close_all(obs.position[:, SIDE], table)


def always_long_policy(key: jax.Array, obs: Observation, state=None, params=None) -> jax.Array:
    """Buy-and-hold under the env's rules: the largest fitting buy every bar up to the position limit, never
    sell; the env's costs, forced exits (after which it buys again) and terminal rules apply as to the agent.
    Literal buy-and-hold, with no rules, is `hold_episodes`."""
    return go_long(obs.action_mask, table_of(params, obs.action_mask))


def sma_crossover_policy(fast: int = 10, slow: int = 50) -> ActFn:
    """Long (sized like always_long) while SMA_fast > SMA_slow of closes up to the decision bar, else flat."""
    if not 0 < fast < slow:
        raise ValueError(f"need 0 < fast < slow, got fast={fast}, slow={slow}")

    def act(key: jax.Array, obs: Observation, state: EnvState, params: EnvParams) -> jax.Array:
        def closes(s, t):  # the `slow` closes ending at the decision bar t
            return jax.lax.dynamic_slice(params.market.close, (s, t - slow + 1), (1, slow))[0]

        window = jax.vmap(closes)(state.symbol, state.bar)
        up = window[:, -fast:].mean(-1) > window.mean(-1)
        table = table_of(params, obs.action_mask)
        return jnp.where(up, go_long(obs.action_mask, table), go_flat(obs, table))

    return act


VOL_TARGET = 0.15  # annual volatility the volatility-targeted baselines aim at (a single-stock book's)
EXPOSURE = 1  # obs.portfolio[..., EXPOSURE]: signed position value / equity (`PORTFOLIO_FEATURES`)


def vol_scaled(obs: Observation, cap: jax.Array | float, vol_target: float) -> jax.Array:
    """(...,) the long exposure that runs at `vol_target` annual volatility: vol_target / the asset's annualised
    volatility (`Observation.risk`), at most `cap` (e.g. the position limit)."""
    return jnp.minimum(cap, vol_target / jnp.maximum(obs.risk[..., ASSET_VOL], 1e-6))


def vol_target_hold_policy(vol_target: float = VOL_TARGET, band: float = 0.25) -> ActFn:
    """Volatility-targeted buy-and-hold: long the exposure that runs at `vol_target` (`vol_scaled`), kept there
    through the env's orders (`toward_exposure`: bought up to it, half sold when more than `band` x over)."""

    def act(key: jax.Array, obs: Observation, state: EnvState, params: EnvParams) -> jax.Array:
        table = table_of(params, obs.action_mask)
        return toward_exposure(obs.action_mask, obs.portfolio[..., EXPOSURE],
                               vol_scaled(obs, params.rules.max_position, vol_target), table, band,
                               obs.risk[..., ORDER_SCALE])

    return act


def ts_momentum_policy(lookback: int = 252, skip: int = 21, vol_target: float | None = None,
                       band: float = 0.25) -> ActFn:
    """Time-series momentum (Moskowitz, Ooi and Pedersen 2012): long when the return from `lookback` bars
    before the decision bar to `skip` bars before it is positive, else flat (short when the action table
    allows it); at the position limit, or at the `vol_target` exposure (`vol_scaled`) when one is given.
    Before `lookback` bars of history the return runs from the first bar. Reads closes up to the decision bar."""
    check_momentum_window(lookback, skip)

    def act(key: jax.Array, obs: Observation, state: EnvState, params: EnvParams) -> jax.Array:
        table = table_of(params, obs.action_mask)
        direction = momentum_direction(params.market.close, state.symbol, state.bar, lookback, skip, table)
        size = (jnp.broadcast_to(params.rules.max_position, direction.shape) if vol_target is None
                else vol_scaled(obs, params.rules.max_position, vol_target))
        return toward_exposure(obs.action_mask, obs.portfolio[..., EXPOSURE], direction * size, table, band,
                               obs.risk[..., ORDER_SCALE])

    return act


def check_momentum_window(lookback: int, skip: int) -> None:
    """Raises ValueError unless 0 <= skip < lookback."""
    if not 0 <= skip < lookback:
        raise ValueError(f"need 0 <= skip < lookback, got skip={skip}, lookback={lookback}")


def momentum_direction(close: jax.Array, symbol: jax.Array, bar: jax.Array, lookback: int, skip: int,
                       table: ActionTable) -> jax.Array:
    """The 12-1 trend's side per symbol: sign of the return from `lookback` to `skip` bars before `bar` (from the
    first bar with less history), 0 instead of -1 when `table` cannot short. `close` (S, T); `symbol`, `bar`
    broadcast together."""
    recent = close[symbol, jnp.maximum(bar - skip, 0)]
    then = close[symbol, jnp.maximum(bar - lookback, 0)]
    direction = jnp.sign(recent / then - 1.0)
    return direction if table.allows_short else jnp.maximum(direction, 0.0)


def agent_policy(network, net_params, deterministic: bool = True) -> ActFn:
    """The trained actor: greedy (the most probable intent, then its most probable size; `greedy_action`),
    or a sample from the policy."""

    def act(key: jax.Array, obs: Observation, state=None, params=None) -> jax.Array:
        logits, _ = network.apply(net_params, obs)
        if deterministic:
            return greedy_action(logits)
        return policy(logits).sample(seed=key).astype(jnp.int32)

    return act


HOLD_RULES = "buy_and_hold_rules"  # buy-and-hold under the agent's rules (`always_long_policy`)


def ensemble_policy(network, stacked_params) -> ActFn:
    """A seed ensemble (`ensemble_proposals`: `stacked_params` the members' network params stacked on a leading
    axis): the mean of the members' action probabilities, then greedy: the most probable intent, then its most
    probable size."""
    propose = ensemble_proposals(network)

    def act(key: jax.Array, obs: Observation, state=None, params=None) -> jax.Array:
        return propose(stacked_params, key, obs)[2]

    return act


BASELINES: dict[str, ActFn] = {
    HOLD_RULES: always_long_policy,
    "cash": cash_policy,
    "random": random_policy,
    "sma_crossover": sma_crossover_policy(10, 50),
    "vol_target_hold": vol_target_hold_policy(),
    "ts_momentum": ts_momentum_policy(),
}
