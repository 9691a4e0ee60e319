"""Fixed-length evaluation episodes for any policy, and the baseline policies to compare with.

`run_episodes` starts `num_episodes` episodes from the env's start generator (or
given initial states) and steps each one for up to `horizon` steps without
auto-reset, as a backtest (`EnvParams.evaluation`): a terminal rule (drawdown
limit, ruin) closes the book at the next open and the episode runs on in cash,
so its record covers its whole period (`stop_reason` and `stop_bar` say whether
and when it stopped); an episode ends at its horizon or where the symbol has no
real bar left in the split (a missing bar is stepped through), and keeps its
final book. `walk_forward` runs one episode per symbol through a whole split,
the classic backtest. `run_policies` / `walk_forward_policies` run several policies
from the same starts as one rollout (one compiled env step; each policy acts on its
own block of the batch, so nothing is computed twice). Policies are
pure functions `act(key, obs, state, params) -> action` over a batch of episodes;
learned policies read only `obs`, rule-based baselines may read the market in
`params` up to the decision bar (`state.bar`), never after it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxtrade.agents.learned_master import ensemble_proposals
from jaxtrade.agents.networks import policy
from jaxtrade.env.accounting import buy
from jaxtrade.env.actions import (
    ActionTable,
    close_all,
    greedy_action,
    largest_open,
    table_for,
    toward_exposure,
)
from jaxtrade.env.env import TradingEnv
from jaxtrade.env.generator import initial_state
from jaxtrade.env.rewards import REWARD_COMPONENTS
from jaxtrade.env.types import ASSET_VOL, ORDER_SCALE, SIDE, EnvParams, EnvState, Observation
from jaxtrade.errors import ConfigError, DataError

ActFn = Callable[[jax.Array, Observation, EnvState, EnvParams], jax.Array]


class EpisodeResults(NamedTuple):
    """One value per episode."""

    symbol: jax.Array  # (E,) int32 symbol traded
    start_bar: jax.Array  # (E,) int32 first decision bar
    total_return: jax.Array  # (E,) final equity / initial cash - 1
    steps: jax.Array  # (E,) steps taken
    trades: jax.Array  # (E,) closed round trips
    trade_bars: jax.Array  # (E,) bars held, summed over closed round trips
    wins: jax.Array  # (E,) winning round trips
    gross_profit: jax.Array  # (E,) PnL of winning closed trades
    gross_loss: jax.Array  # (E,) -PnL of losing closed trades
    total_cost: jax.Array  # (E,) commission + slippage paid
    stop_reason: jax.Array  # (E,) int32 `StopReason` of the latest stop (it liquidated the book; 0 none)
    stop_bar: jax.Array  # (E,) int32 the bar at whose close it fired (-1 none)
    stops: jax.Array  # (E,) int32 stops fired (more than 1 only under `stop_cooldown`)
    step_returns: jax.Array  # (E, H) per-step returns (0 after the episode ended)
    exposure: jax.Array  # (E, H) position value / equity after each step (0 after the end)
    turnover: jax.Array  # (E,) traded value / equity, summed over the steps
    reward: jax.Array  # (E,) the env's total reward over the steps taken (0 for `hold_episodes`: no env orders)
    reward_components: jax.Array  # (E, C) each reward component summed over the steps taken

    def step_mask(self) -> jax.Array:
        """(E, H) bool: the steps each episode actually took."""
        return jnp.arange(self.step_returns.shape[-1]) < self.steps[:, None]


def max_steps(params: EnvParams, horizon: int) -> int:
    """`horizon`, capped at the steps the data's bars allow: no episode can take more, and the per-step arrays
    of a backtest are this long (an env horizon of millions would otherwise allocate that many)."""
    return max(1, min(int(horizon), params.market.close.shape[-1] - 1))


def run_episodes(env: TradingEnv, params: EnvParams, act: ActFn, key: jax.Array, num_episodes: int,
                 horizon: int, init: tuple[Observation, EnvState] | None = None) -> EpisodeResults:
    """Run `num_episodes` backtest episodes of up to `horizon` steps under `act` (jit-able; horizon is static,
    capped by `max_steps`): a terminal rule liquidates and the episode runs on in cash (`EnvParams.evaluation`).

    `init`: batched (observation, state) to start from; default: `env.reset` draws.
    """
    horizon = max_steps(params, horizon)
    params = params.evaluation()
    k_reset, k_run = jax.random.split(key)
    if init is None:
        init = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(k_reset, num_episodes), params)
    obs, state = init
    first_bar = state.bar
    step = jax.vmap(env.step_env, in_axes=(0, 0, 0, None))
    alive = jnp.ones((num_episodes,), bool)
    rewards = (jnp.zeros((num_episodes,)), jnp.zeros((num_episodes, len(REWARD_COMPONENTS))))

    def body(carry, key):
        obs, state, alive, (reward_sum, component_sum) = carry
        k_act, k_env = jax.random.split(key)
        action = act(k_act, obs, state, params)
        new_obs, new_state, reward, terminated, truncated, info = step(
            jax.random.split(k_env, num_episodes), state, action, params)
        keep = lambda new, old: jnp.where(  # noqa: E731
            alive.reshape(alive.shape + (1,) * (new.ndim - 1)), new, old)
        per_step = (info.step_return, info.exposure, info.turnover)
        per_step = tuple(jnp.where(alive, x, 0.0) for x in per_step)
        rewards = (reward_sum + jnp.where(alive, reward, 0.0),
                   component_sum + jnp.where(alive[:, None], jnp.stack(info.reward_components, -1), 0.0))
        state = jax.tree.map(keep, new_state, state)
        obs = jax.tree.map(keep, new_obs, obs)
        alive = alive & ~terminated & ~truncated
        return (obs, state, alive, rewards), per_step

    (_, state, _, (reward_sum, component_sum)), (rets, exposure, turnover) = jax.lax.scan(
        body, (obs, state, alive, rewards), jax.random.split(k_run, horizon))
    return EpisodeResults(
        symbol=state.symbol,
        start_bar=first_bar,
        total_return=(state.equity - params.rules.initial_cash) / params.rules.initial_cash,
        steps=state.steps,
        trades=state.trades,
        trade_bars=state.trade_bars,
        wins=state.wins,
        gross_profit=state.gross_profit,
        gross_loss=state.gross_loss,
        total_cost=state.total_cost,
        stop_reason=state.stop_reason,
        stop_bar=state.stop_bar,
        stops=state.stops,
        step_returns=rets.T,
        exposure=exposure.T,
        turnover=turnover.sum(0),
        reward=reward_sum,
        reward_components=component_sum,
    )


def hold_episodes(params: EnvParams, state: EnvState, horizon: int) -> EpisodeResults:
    """Literal buy-and-hold from each start: buy `max_position` of the cash at the first fill, then hold.

    The order fills at the open after the decision bar with the env's slippage and
    commission (`accounting.buy`); the position is marked at every close and never
    sold: no forced exits and no drawdown or ruin termination (those are the env's
    rules for the agent, not part of buying and holding). The episode ends where an
    env episode would be truncated: `params.rules.horizon` (or `horizon`) steps, or no next bar in the split.

    Args:
      params: market data and costs.
      state: (E,) batched flat initial states (symbol and decision bar).
      horizon: static number of steps at most.

    Returns:
      `EpisodeResults` of the E episodes (no closed trades; the entry cost in total_cost).
    """
    horizon = max_steps(params, horizon)
    s, t0 = state.symbol, state.bar
    last = params.market.close.shape[1] - 1
    open1 = params.market.open[s, jnp.minimum(t0 + 1, last)]
    fill = buy(open1, params.rules.max_position * state.cash, state.units, state.cash, state.entry_price,
               params.rules.commission_bps, params.rules.slippage_bps)

    def body(carry, k):
        equity, prev_close, alive = carry
        t = jnp.minimum(t0 + k, last)
        close = params.market.close[s, t]
        # From the parts, as the env does: the first step moves open -> close and pays the entry cost.
        pnl = jnp.where(k == 1, fill.units * (close - open1) - fill.cost, fill.units * (close - prev_close))
        ret = jnp.where(alive, pnl / equity, 0.0)
        new_equity = jnp.where(alive, equity + pnl, equity)
        exposure = jnp.where(alive, fill.units * close / new_equity, 0.0)
        ended = (k >= horizon) | (k >= params.rules.horizon) | ~params.market.next_ok[s, t]
        return (new_equity, close, alive & ~ended), (ret, exposure, alive)

    init = (state.equity, params.market.close[s, t0], jnp.ones_like(state.bar, bool))
    (equity, _, _), (rets, exposure, took) = jax.lax.scan(body, init, jnp.arange(1, horizon + 1))
    zi = jnp.zeros_like(state.bar)
    zf = jnp.zeros_like(state.cash)
    return EpisodeResults(
        symbol=s, start_bar=t0, total_return=(equity - params.rules.initial_cash) / params.rules.initial_cash,
        steps=took.sum(0).astype(jnp.int32), trades=zi, trade_bars=zi, wins=zi, gross_profit=zf, gross_loss=zf,
        total_cost=fill.cost, stop_reason=zi, stop_bar=zi - 1, stops=zi, step_returns=rets.T, exposure=exposure.T,
        turnover=fill.traded_units * open1 / state.equity, reward=zf,
        reward_components=jnp.zeros(zf.shape + (len(REWARD_COMPONENTS),), zf.dtype))


def _with_hold(r: EpisodeResults, init: tuple[Observation, EnvState], params: EnvParams, horizon: int,
               hold: bool) -> EpisodeResults:
    """(P, E) results, plus literal buy-and-hold from the same starts as policy P+1 when `hold`."""
    if not hold:
        return r
    h = hold_episodes(params, init[1], horizon)
    return jax.tree.map(lambda a, b: jnp.concatenate([a, b[None]]), r, h)


def stack_policies(acts: Sequence[ActFn], block: int) -> ActFn:
    """One `ActFn` over `len(acts)` consecutive blocks of `block` episodes: block i acts with `acts[i]`.

    Every block gets the same key, so a policy acts exactly as it would alone on
    its `block` episodes with that key (common random numbers across policies).
    """
    acts = tuple(acts)

    def act(key: jax.Array, obs: Observation, state: EnvState, params: EnvParams) -> jax.Array:
        def part(i):
            return lambda x: x[i * block:(i + 1) * block]

        return jnp.concatenate([
            a(key, jax.tree.map(part(i), obs), jax.tree.map(part(i), state), params).astype(jnp.int32)
            for i, a in enumerate(acts)])

    return act


def _unstack(r: EpisodeResults, policies: int) -> EpisodeResults:
    """(P * E, ...) -> (P, E, ...)."""
    return jax.tree.map(lambda x: x.reshape((policies, -1) + x.shape[1:]), r)


def run_policies(env: TradingEnv, params: EnvParams, acts: Sequence[ActFn], key: jax.Array, num_episodes: int,
                 horizon: int, init: tuple[Observation, EnvState] | None = None,
                 hold: bool = False) -> EpisodeResults:
    """`run_episodes` for P policies from the same `num_episodes` starts, as one rollout (jit-able).

    Equal to P separate `run_episodes(env, params, acts[i], key, ...)` calls (same
    starts, same keys), at the compile cost of one. `hold`: append literal
    buy-and-hold (`hold_episodes`) from the same starts as one more policy.

    Returns:
      `EpisodeResults` with leading axes (P, E), or (P + 1, E) with `hold`.
    """
    k_reset, _ = jax.random.split(key)  # the starts `run_episodes(..., key, num_episodes, ...)` would draw
    if init is None:
        init = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(k_reset, num_episodes), params)
    p = len(acts)
    stacked = jax.tree.map(lambda x: jnp.concatenate([x] * p), init)
    r = run_episodes(env, params, stack_policies(acts, num_episodes), key, p * num_episodes, horizon, init=stacked)
    return _with_hold(_unstack(r, p), init, params, horizon, hold)


def _walk_forward_starts(params: EnvParams, common_start: bool) -> tuple[np.ndarray, np.ndarray, int]:
    """Host-side: the symbols with a start, each one's first decision bar, and the longest run's steps."""
    n = params.num_starts
    sym, bar = np.asarray(params.starts.symbol)[:n], np.asarray(params.starts.bar)[:n]
    symbols = np.unique(sym)
    first = np.array([bar[sym == s].min() for s in symbols], np.int32)
    if common_start:
        start = first.max()
        if not all(np.any((sym == s) & (bar == start)) for s in symbols):
            raise DataError(f"no common start: bar {start} is not a valid start for every symbol")
        first[:] = start
    last = np.array([bar[sym == s].max() for s in symbols], np.int32)
    return symbols, first, int((last - first).max()) + 1


def walk_forward_policies(env: TradingEnv, params: EnvParams, acts: Sequence[ActFn], key: jax.Array,
                          common_start: bool = False, hold: bool = False) -> EpisodeResults:
    """`walk_forward` for P policies as one rollout (see `walk_forward`); leading axes (P, E).

    `hold`: literal buy-and-hold (`hold_episodes`) from the same starts as policy P+1.
    """
    symbols, first, horizon = _walk_forward_starts(params, common_start)
    params = params.replace(rules=params.rules.replace(horizon=jnp.asarray(horizon + 1, jnp.int32)))

    @jax.jit
    def run(params, key):
        state = jax.vmap(initial_state, in_axes=(0, 0, None))(jnp.asarray(symbols, jnp.int32), first, params)
        obs = jax.vmap(env.observe, in_axes=(0, None))(state, params)
        return run_policies(env, params, acts, key, len(symbols), horizon, init=(obs, state), hold=hold)

    return run(params, key)


def walk_forward(env: TradingEnv, params: EnvParams, act: ActFn, key: jax.Array,
                 common_start: bool = False) -> EpisodeResults:
    """One episode per symbol from its first start in `params` to the end of the split (or an earlier end).

    The horizon is lifted to the split's length, so an episode runs to the split's
    last bar (or the symbol's, where its data ends first), through missing bars and
    terminal rules (which liquidate: the book stays in cash to the end). Symbols
    without a start are left out. Host-side setup, jitted rollout.
    `common_start`: every symbol starts at the latest first start, so the episodes
    run in lockstep on the same bars (a portfolio; `act` sees all symbols at once).

    Returns:
      `EpisodeResults` with E = symbols that have a start, in symbol order.
    """
    return jax.tree.map(lambda x: x[0], walk_forward_policies(env, params, [act], key, common_start))


def random_policy(key: jax.Array, obs: Observation, state=None, params=None) -> jax.Array:
    """Uniform over the valid actions."""
    return jax.random.categorical(key, jnp.where(obs.action_mask, 0.0, -jnp.inf))


def cash_policy(key: jax.Array, obs: Observation, state=None, params=None) -> jax.Array:
    """Never trade."""
    return jnp.zeros(obs.action_mask.shape[:-1], jnp.int32)


def table_of(params: EnvParams | None, mask: jax.Array) -> ActionTable:
    """The action table a policy acts in: the env params' own (`EnvParams.actions`), checked against the mask's
    width; without params (a policy called on observations alone) the shipped table of that width.

    Raises:
      ConfigError: the params' table and the observation's mask differ in size (at trace time).
    """
    if params is None:
        return table_for(mask.shape[-1])
    if params.actions.num_actions != mask.shape[-1]:
        raise ConfigError(f"the env params' action table has {params.actions.num_actions} actions, the "
                          f"observation's mask {mask.shape[-1]}: params and observations of different envs")
    return params.actions


def go_long(m: jax.Array, table: ActionTable | None = None) -> jax.Array:
    """The largest allowed buy (buys open or add), else ADD, else HOLD: as long as the limit allows.

    Args:
      m: (..., A) action mask.
      table: the action table (`table_of`); None: the shipped table of width A.
    """
    return largest_open(m, +1, table or table_for(m.shape[-1]))


def go_flat(obs: Observation, table: ActionTable | None = None) -> jax.Array:
    """(B,) the action that closes the whole position, HOLD when flat."""
    return close_all(obs.position[:, SIDE], table or table_for(obs.action_mask.shape[-1]))


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
