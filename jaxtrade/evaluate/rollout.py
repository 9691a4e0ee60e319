"""Fixed-length evaluation episodes for any policy (the baseline policies are in `jaxtrade.evaluate.policies`).

`run_episodes` starts `num_episodes` episodes from the env's start generator (or
given initial states) and steps each one for up to `horizon` steps without
auto-reset, as a backtest (`EnvParams.evaluation`): a stop (drawdown limit, ruin)
closes the book at the next open and the episode runs on in cash (or, under
`stop_cooldown`, trades again after it), so its record covers its whole period
(`stop_reason`, `stop_bar` and `stops` say whether and when it stopped); an episode
ends at its horizon or where the symbol has no real bar left in the split (a
missing bar is stepped through), and keeps its final book. `walk_forward` runs one
episode per symbol through a whole split, the classic backtest. `run_policies` /
`walk_forward_policies` run several policies from the same starts as one rollout
(one compiled env step; each policy acts on its own block of the batch, so nothing
is computed twice). Policies are pure functions `act(key, obs, state, params) ->
action` over a batch of episodes (`ActFn`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxtrade.env.accounting import buy
from jaxtrade.env.env import TradingEnv
from jaxtrade.env.generator import initial_state
from jaxtrade.env.rewards import REWARD_COMPONENTS
from jaxtrade.env.types import EnvParams, EnvState, Observation
from jaxtrade.errors import DataError

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
        """(..., E, H) bool: the steps each episode actually took."""
        return jnp.arange(self.step_returns.shape[-1]) < self.steps[..., None]


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
