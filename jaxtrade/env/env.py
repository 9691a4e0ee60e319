"""`TradingEnv`: a stateless, jit/vmap-able single-asset trading environment (gymnax contract)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from jaxtrade.env.accounting import Fill, buy, sell
from jaxtrade.env.actions import (
    NUM_ACTIONS,
    Action,
    ExitReason,
    action_mask,
    decode_action,
    forced_exit,
)
from jaxtrade.env.generator import StartGenerator, uniform_start
from jaxtrade.env.rewards import RewardFn, StepOutcome, shaped_reward, total_reward
from jaxtrade.env.stats import running_sharpe, running_sortino, running_update
from jaxtrade.env.types import EnvParams, EnvState, Observation, observation_shapes
from jaxtrade.features.rolling import safe_div

STAT_CLIP = 10.0  # bound on the Sharpe/Sortino fed to the agent


class TradingEnv:
    """Long-only trading of one symbol per episode on real or synthetic bars.

    - Observation (`Observation`, at the close of decision bar t):
        technical (W, 23) the feature window ending at t; aux (3) external model
        probabilities; position (5) and portfolio (8) summaries (`POSITION_FEATURES`,
        `PORTFOLIO_FEATURES`); regime (10) indicators; action_mask (7) bool.
    - Action: Discrete(7) (`Action`): HOLD, BUY 2.5/6/9 % of equity, SELL 50 %,
        SELL ALL, ADD 3 %. A masked (invalid) action is carried out as HOLD and
        flagged in `info["invalid_action"]`. When a stop loss, take profit or max
        hold rule fires at t's close, the position is sold instead
        (`info["exit_reason"]`).
    - Execution: the order fills at bar t+1's open with slippage and commission
        (`accounting.buy`/`sell`); the step is marked at t+1's close.
    - Reward: an injected `RewardFn` of the step's `StepOutcome` (default
        `shaped_reward`: 7 components, all in `info["reward_components"]`),
        weighted by `params.reward_weights`.
    - Termination: equity <= ruin * initial cash, or drawdown >= max_drawdown
        (no bootstrap). Truncation: `horizon` steps taken, or no next bar in the
        split (bootstrap from `info["final_observation"]`).
    - State (`EnvState`): symbol, bar, cash, units, entry price, hold time, equity
        and its peak, trade tallies and online return statistics.

    `step` auto-resets a finished episode (select-reset, as gymnax): the returned
    observation and state then begin a new episode, and `info["final_observation"]`
    holds the last observation of the old one. `step_env` does not reset.
    """

    def __init__(
        self,
        window: int = 24,
        reward_fn: RewardFn = shaped_reward,
        start_generator: StartGenerator = uniform_start,
    ):
        self.window = window
        self.reward_fn = reward_fn
        self.start_generator = start_generator

    @property
    def num_actions(self) -> int:
        return NUM_ACTIONS

    def observation_shapes(self, params: EnvParams) -> dict[str, tuple]:
        """Shape of each observation field under `params`."""
        return observation_shapes(self.window, params.technical.shape[-1], params.regime.shape[-1],
                                  params.aux.shape[-1])

    def reset(self, key: jax.Array, params: EnvParams) -> tuple[Observation, EnvState]:
        """Start an episode at a start drawn by the injected generator."""
        state = self.start_generator(key, params)
        return self.observe(state, params), state

    def observe(self, state: EnvState, params: EnvParams) -> Observation:
        """The agent's view of `state` at its decision bar's close."""
        s, t, W = state.symbol, state.bar, self.window
        F = params.technical.shape[-1]
        technical = lax.dynamic_slice(params.technical, (s, t - W + 1, 0), (1, W, F))[0]
        close = params.close[s, t]
        equity, units, entry = state.equity, state.units, state.entry_price
        value = units * close
        holding = units > 0
        position = jnp.stack([
            jnp.where(holding, close / jnp.where(holding, entry, 1.0) - 1.0, 0.0),
            safe_div(value, params.max_position * equity),
            safe_div(units * (close - entry), equity),
            jnp.log1p(state.hold_time.astype(jnp.float32)),
            holding.astype(jnp.float32),
        ])
        trades = state.trades.astype(jnp.float32)
        portfolio = jnp.stack([
            (equity - params.initial_cash) / params.initial_cash,
            safe_div(value, equity),
            jnp.clip(running_sharpe(state.returns, params.bars_per_year), -STAT_CLIP, STAT_CLIP),
            jnp.clip(running_sortino(state.returns, params.bars_per_year), -STAT_CLIP, STAT_CLIP),
            state.realised_pnl / params.initial_cash,
            jnp.log1p(trades),
            jnp.log1p(safe_div(state.trade_bars.astype(jnp.float32), trades)),
            safe_div(state.wins.astype(jnp.float32), trades),
        ])
        return Observation(
            technical=technical,
            aux=params.aux[s, t],
            position=position.astype(jnp.float32),
            portfolio=portfolio.astype(jnp.float32),
            regime=params.regime[s, t],
            action_mask=action_mask(units, state.cash, close, params.max_position),
        )

    def step_env(
        self, key: jax.Array, state: EnvState, action: jax.Array, params: EnvParams
    ) -> tuple[Observation, EnvState, jax.Array, jax.Array, jax.Array, dict]:
        """One step without auto-reset: decide at bar t's close, fill at t+1's open, mark at t+1's close.

        Args:
          key: unused (the market is replayed, fills are deterministic); kept for the gymnax contract.
          state: the episode's state at decision bar t.
          action: () int action index.
          params: market data and settings.

        Returns:
          (obs, state, reward, terminated, truncated, info) with scalar reward and flags.
        """
        del key
        s, t = state.symbol, state.bar
        nb = t + 1
        close_t, open_n, close_n = params.close[s, t], params.open[s, nb], params.close[s, nb]
        cost_args = (params.commission_bps, params.slippage_bps)

        action = jnp.asarray(action, jnp.int32)
        in_range = (action >= 0) & (action < NUM_ACTIONS)
        mask = action_mask(state.units, state.cash, close_t, params.max_position)
        valid = in_range & mask[jnp.clip(action, 0, NUM_ACTIONS - 1)]
        exit_reason = forced_exit(state.units, state.entry_price, close_t, state.hold_time,
                                  params.stop_loss, params.take_profit, params.max_hold)
        executed = jnp.where(valid, action, Action.HOLD)
        executed = jnp.where(exit_reason != ExitReason.NONE, Action.SELL_ALL, executed)

        buy_frac, sell_frac = decode_action(executed)
        book = (state.units, state.cash, state.entry_price)
        bought = buy(open_n, buy_frac * state.equity, *book, *cost_args)
        sold = sell(open_n, sell_frac, *book, *cost_args)
        zero = jnp.zeros_like(state.cash)
        unchanged = Fill(state.units, state.cash, state.entry_price, zero, zero, zero)
        is_buy, is_sell = buy_frac > 0, sell_frac > 0
        fill = jax.tree.map(lambda b, x, h: jnp.where(is_buy, b, jnp.where(is_sell, x, h)), bought, sold, unchanged)

        was_holding, holding = state.units > 0, fill.units > 0
        closed = was_holding & ~holding
        trade_pnl = state.trade_pnl + fill.realised_pnl
        trade_basis = state.trade_basis + jnp.where(is_buy, state.cash - fill.cash, 0.0)
        closed_pnl = jnp.where(closed, trade_pnl, 0.0)
        trade_return = jnp.where(closed, safe_div(trade_pnl, trade_basis), 0.0)
        trade_bars = jnp.where(closed, state.hold_time, 0)
        won = closed & (trade_pnl > 0)

        equity = fill.cash + fill.units * close_n
        # The step's PnL from its parts, not equity - state.equity, which cancels to ~1e-7 of equity
        # in float32: the units held after the fill move close_t -> close_n, the units traded moved
        # close_t -> open_n, minus costs. Exactly 0 when nothing is traded and the close is unchanged.
        pnl = fill.units * (close_n - close_t) - fill.traded_units * (open_n - close_t) - fill.cost
        step_return = safe_div(pnl, state.equity)
        peak = jnp.maximum(state.peak_equity, equity)
        dd_after = 1.0 - equity / peak
        hold_time = jnp.where(holding, state.hold_time + 1, 0)

        next_state = state.replace(
            bar=nb,
            steps=state.steps + 1,
            cash=fill.cash,
            units=fill.units,
            entry_price=fill.entry_price,
            hold_time=hold_time,
            equity=equity,
            peak_equity=peak,
            realised_pnl=state.realised_pnl + fill.realised_pnl,
            total_cost=state.total_cost + fill.cost,
            trade_pnl=jnp.where(closed, 0.0, trade_pnl),
            trade_basis=jnp.where(closed, 0.0, trade_basis),
            trades=state.trades + closed,
            wins=state.wins + won,
            trade_bars=state.trade_bars + trade_bars,
            gross_profit=state.gross_profit + jnp.maximum(closed_pnl, 0.0),
            gross_loss=state.gross_loss - jnp.minimum(closed_pnl, 0.0),
            returns=running_update(state.returns, step_return),
        )
        value_after = fill.units * close_n
        outcome = StepOutcome(
            equity_before=state.equity,
            equity_after=equity,
            step_return=step_return,
            cost=fill.cost,
            value_before=state.units * close_t,
            value_after=value_after,
            exposure=safe_div(value_after, equity),
            drawdown_after=dd_after,
            volatility=params.volatility[s, t],
            holding=holding,
            idle=~was_holding & ~holding & (executed == Action.HOLD),
        )
        components = self.reward_fn(outcome, params)
        reward = total_reward(components, params.reward_weights)

        ruined = (params.ruin > 0) & (equity <= params.ruin * params.initial_cash)
        drawdown_hit = (params.max_drawdown > 0) & (dd_after >= params.max_drawdown)
        terminated = ruined | drawdown_hit
        truncated = ~terminated & ((next_state.steps >= params.horizon) | ~params.next_ok[s, nb])
        info = {
            "reward_components": components,
            "equity": equity,
            "step_return": step_return,
            "episode_return": (equity - params.initial_cash) / params.initial_cash,
            "drawdown": dd_after,
            "cost": fill.cost,
            "exposure": outcome.exposure,
            "turnover": safe_div(jnp.abs(fill.traded_units) * open_n, state.equity),
            "executed_action": executed,
            "invalid_action": ~valid,
            "exit_reason": exit_reason,
            "trade_closed": closed,
            "trade_return": trade_return,
        }
        return self.observe(next_state, params), next_state, reward, terminated, truncated, info

    def step(
        self, key: jax.Array, state: EnvState, action: jax.Array, params: EnvParams
    ) -> tuple[Observation, EnvState, jax.Array, jax.Array, jax.Array, dict]:
        """`step_env`, then a reset when the episode ended (`info["final_observation"]` keeps its last view)."""
        key_step, key_reset = jax.random.split(key)
        obs_st, state_st, reward, terminated, truncated, info = self.step_env(key_step, state, action, params)
        obs_re, state_re = self.reset(key_reset, params)
        done = terminated | truncated
        pick = lambda fresh, cont: jnp.where(done, fresh, cont)  # noqa: E731
        obs = jax.tree.map(pick, obs_re, obs_st)
        state = jax.tree.map(pick, state_re, state_st)
        info["final_observation"] = obs_st
        return obs, state, reward, terminated, truncated, info
