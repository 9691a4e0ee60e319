"""`PortfolioEnv`: S symbols stepping in lockstep on one account with shared cash (gymnax contract).

Each step takes every symbol agent's action (the single-symbol env's action
table and semantics) and the master's per-symbol exposure budgets, and executes
them on one book:

- Decisions per symbol are the single-symbol env's (`decide_step`: mask, risk
  exits, order), vmapped over symbols, with orders sized on the *portfolio's*
  equity and the mask checking the *shared* cash. A symbol that cannot trade at
  this bar (`tradeable` false: this or the next bar is missing, or it is not
  listed yet) places no order and is marked at its last close; a trade requested
  there is invalid (`info.invalid_action`), and its risk exits wait until it
  trades again. A symbol whose data ends for good inside the episode (no real
  bar left in the split: a delisting, a file that stops) is sold at its last
  close, with the env's costs (`ExitReason.DATA_END`), and never trades again.
- Budgets: an open or add never takes a symbol's |value| past
  min(budget, `max_position`) x equity at the decision close; a budget that is
  not a finite number counts as 0 (`info.invalid_budget`).
- Total limit, on both sides: after the fills, the gross value of every
  position, long and short, at the fill's opens, never exceeds `total_limit` x
  the account's equity at those opens (before the fills' costs). Closes make
  room first; opens (buys and short sales) share what is left pro rata.
- Margin, on the account: when equity at a close is below `short_margin` x the
  value of the whole short book, every short that can trade is bought in at the
  next open (`ExitReason.MARGIN_CALL`).
- Execution at the next open, in two phases: closes and short sales first
  (their proceeds join the cash), then buys, scaled down pro rata when together
  they ask for more cash than there is (`info.scaled` says whose open was cut).
  An open cut below `min_order` x equity is dropped. Costs as in
  `accounting.execute`.
- Book: `cash` is the account's; each symbol's sleeve (`PortfolioState.sleeves`,
  an `EnvState` with a leading symbol axis) holds its units, entry price, hold
  time and trade tallies, its net cash flow since the episode began (`cash`, from
  0) and its PnL contribution (`equity` = cash flow + position value), so
  initial cash + sum of sleeve cash = cash, and initial cash + sum of sleeve
  equity = equity, at every step.
- Reward: the env's reward function on the portfolio's `StepOutcome` (gross
  values, gross exposure, exposure-weighted volatility), with `total_limit` as
  the position cap of the sizing component.
- Stops: bankruptcy (equity <= 0), portfolio ruin or drawdown (the rules' thresholds), recorded in
  `state.stop_reason` / `stop_bar` / `stops` (`env.record_stop`). A terminal stop ends a training episode; under
  `on_stop == "liquidate"` (backtests) every position is closed at the next opens instead and the account stays
  in cash to the period's end. A drawdown stop with `stop_cooldown` N > 0 de-risks: every position is closed,
  the account waits N bars in cash, then trades again with its peak reset. Truncation: `horizon` steps or the
  end of the split.

Observation (`PortfolioObservation`): every symbol agent's own `Observation`
(its position from the shared book; the portfolio block reads the account:
equity, the symbol's exposure, the account's running Sharpe/Sortino and realised
PnL, the symbol's own trade record), the tradeable flags, the symbols' weights
and the account's state (`BOOK_FEATURES`) for the master.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxtrade.env.accounting import Book, Fill, borrow_fee, execute
from jaxtrade.env.actions import LONG_ONLY, ActionTable, ExitReason, Order, close_all
from jaxtrade.env.env import (
    STAT_CLIP,
    TradingEnv,
    auto_reset,
    book_keeping,
    costs,
    decide_step,
    ends_on_stop,
    gate,
    record_stop,
)
from jaxtrade.env.generator import initial_state
from jaxtrade.env.rewards import (
    RewardFn,
    StepOutcome,
    shaped_reward,
    total_reward,
)
from jaxtrade.env.stats import RunningStats, running_sharpe, running_sortino, running_update
from jaxtrade.env.types import (
    EnvState,
    PortfolioAction,
    PortfolioInfo,
    PortfolioObservation,
    PortfolioParams,
    PortfolioState,
)
from jaxtrade.numeric import safe_div


class Orders(NamedTuple):
    """`PortfolioEnv` phase 1: each symbol's order before the account's limits."""

    order: Order  # (S,) what each symbol's decision asks for
    executed: jax.Array  # (S,) int32 the action carried out (a risk exit's or a data end's close instead)
    exit_reason: jax.Array  # (S,) int32 `ExitReason`
    valid: jax.Array  # (S,) bool: the requested action was valid
    fill_price: jax.Array  # (S,) the next open, or this close for a symbol whose data ended


class Fills(NamedTuple):
    """`PortfolioEnv` phase 3: the fills of both phases, per symbol."""

    fill: Fill  # (S,) the combined fill (cash: each sleeve's net flow since the episode began)
    flow: jax.Array  # (S,) each symbol's net cash flow this step
    cut: jax.Array  # (S,) bool: its buy was scaled down to the cash or dropped as dust


class PortfolioEnv:
    """S symbols on one account with shared cash; stateless, jit/vmap-able (see the module docstring)."""

    def __init__(self, reward_fn: RewardFn = shaped_reward, actions: ActionTable = LONG_ONLY):
        self.symbol_env = TradingEnv(reward_fn=reward_fn, actions=actions)  # observe / decide per symbol
        self.reward_fn = reward_fn
        self.actions = actions

    @property
    def num_actions(self) -> int:
        return self.actions.num_actions

    def reset(self, key: jax.Array, params: PortfolioParams) -> tuple[PortfolioObservation, PortfolioState]:
        """A flat account holding the initial cash at a start bar drawn uniformly."""
        bar = params.start_bars[jax.random.randint(key, (), 0, params.start_count)]
        return self.reset_at(bar, params)

    def reset_at(self, bar: jax.Array, params: PortfolioParams) -> tuple[PortfolioObservation, PortfolioState]:
        """A flat account about to decide at `bar`."""
        S = params.num_symbols
        sleeves = jax.vmap(initial_state, in_axes=(0, None, None))(jnp.arange(S), bar, params.env)
        zero = jnp.zeros_like(sleeves.cash)
        sleeves = sleeves.replace(cash=zero, equity=zero, peak_equity=zero)  # flows and PnL count from 0
        cash = params.env.rules.initial_cash.astype(jnp.float32)
        state = PortfolioState(bar=jnp.asarray(bar, jnp.int32), steps=jnp.zeros((), jnp.int32), cash=cash,
                               equity=cash, peak_equity=cash, realised_pnl=jnp.zeros((), jnp.float32),
                               total_cost=jnp.zeros((), jnp.float32), returns=RunningStats.zeros(),
                               stop_reason=jnp.zeros((), jnp.int32), stop_bar=jnp.full((), -1, jnp.int32),
                               stops=jnp.zeros((), jnp.int32), resume_bar=jnp.zeros((), jnp.int32), sleeves=sleeves)
        return self.observe(state, params), state

    def views(self, state: PortfolioState) -> EnvState:
        """(S,) single-symbol states that read the account: shared cash, portfolio equity and return statistics."""
        S = state.sleeves.units.shape[0]
        every = lambda x: jnp.broadcast_to(x, (S, *jnp.shape(x)))  # noqa: E731
        return state.sleeves.replace(bar=every(state.bar), steps=every(state.steps), cash=every(state.cash),
                                     equity=every(state.equity), peak_equity=every(state.peak_equity),
                                     realised_pnl=every(state.realised_pnl),
                                     returns=jax.tree.map(every, state.returns),
                                     stop_reason=every(state.stop_reason), stop_bar=every(state.stop_bar),
                                     stops=every(state.stops), resume_bar=every(state.resume_bar))

    def observe(self, state: PortfolioState, params: PortfolioParams) -> PortfolioObservation:
        ok = params.tradeable[:, state.bar]
        obs = jax.vmap(self.symbol_env.observe, in_axes=(0, None))(self.views(state), params.env)
        hold_only = jnp.arange(self.num_actions) == 0
        obs = obs.replace(action_mask=obs.action_mask & (ok[:, None] | hold_only[None, :]))  # (the env's view
        # masks a halted account already)
        value = state.sleeves.units * params.env.market.close[:, state.bar]
        rules = params.env.rules
        book = jnp.stack([
            (state.equity - rules.initial_cash) / rules.initial_cash,
            safe_div(state.cash, state.equity),
            safe_div(jnp.abs(value).sum(), state.equity),
            safe_div(value.sum(), state.equity),
            1.0 - state.equity / state.peak_equity,
            jnp.clip(running_sharpe(state.returns, rules.bars_per_year), -STAT_CLIP, STAT_CLIP),
            jnp.clip(running_sortino(state.returns, rules.bars_per_year), -STAT_CLIP, STAT_CLIP),
            state.realised_pnl / rules.initial_cash,
        ]).astype(jnp.float32)
        return PortfolioObservation(symbols=obs, tradeable=ok, weights=safe_div(value, state.equity), book=book)

    def step_env(self, key: jax.Array, state: PortfolioState, action: PortfolioAction, params: PortfolioParams
                 ) -> tuple[PortfolioObservation, PortfolioState, jax.Array, jax.Array, jax.Array, PortfolioInfo]:
        """One lockstep step without auto-reset: decide at bar t's closes, fill at t+1's opens, mark at its closes.

        Returns:
          (obs, state, reward, terminated, truncated, info), reward and flags scalar.
        """
        del key  # fills are deterministic
        p, t, nb = params.env, state.bar, state.bar + 1
        close_t, close_n = p.market.close[:, t], p.market.close[:, nb]
        budget_ok = jnp.isfinite(action.budget)
        budget = jnp.where(budget_ok, action.budget, 0.0)  # a diverging master's NaN buys nothing (flagged)
        sleeves = state.sleeves
        orders = self._orders(state, action, params)
        held = jnp.abs(sleeves.units * close_t)  # each symbol's |position value| at the decision close
        opened = self._within_limits(orders.order, budget, held, state, params)  # the env reads the budget here only
        fills = self._execute(state, orders, opened, params)
        both, flow = fills.fill, fills.flow
        rates, executed, fill_price = costs(p), orders.executed, orders.fill_price
        borrow = borrow_fee(both.units, close_n, rates)

        # PnL from its parts, per symbol (as the single-symbol step): held units move close_t -> close_n,
        # traded units moved close_t -> open_n, minus costs.
        pnl = both.units * (close_n - close_t) - both.traded_units * (fill_price - close_t) - both.cost - borrow
        step_return = safe_div(pnl.sum(), jnp.abs(state.equity))  # a loss reads as a loss even below zero
        sleeves, trade = jax.vmap(book_keeping)(sleeves, both, borrow, close_n, safe_div(pnl, state.equity))
        cash = state.cash + flow.sum() - borrow.sum()
        value_after = both.units * close_n
        equity = cash + value_after.sum()
        next_state = PortfolioState(
            bar=nb, steps=state.steps + 1, cash=cash, equity=equity, peak_equity=jnp.maximum(state.peak_equity, equity),
            realised_pnl=state.realised_pnl + (both.realised_pnl - borrow).sum(),
            total_cost=state.total_cost + (both.cost + borrow).sum(),
            returns=running_update(state.returns, step_return), stop_reason=state.stop_reason,
            stop_bar=state.stop_bar, stops=state.stops, resume_bar=state.resume_bar, sleeves=sleeves)
        next_state = record_stop(state, next_state, p.rules)

        gross_after = jnp.abs(value_after).sum()
        outcome = StepOutcome(
            equity_before=state.equity, equity_after=equity, step_return=step_return, cost=(both.cost + borrow).sum(),
            value_before=held.sum(), value_after=gross_after,
            exposure=safe_div(gross_after, equity), drawdown_after=1.0 - equity / next_state.peak_equity,
            volatility=safe_div((jnp.abs(value_after) * p.market.volatility[:, t]).sum(), gross_after),
            holding=gross_after > 0, idle=(gross_after == 0) & (state.sleeves.units == 0).all() & (executed == 0).all(),
            stopped=next_state.stops > state.stops)
        # The sizing component's cap is the portfolio's gross limit, not one symbol's.
        components = self.reward_fn(outcome, p.rules.replace(max_position=params.total_limit))
        terminated, truncated = self.episode_end(next_state, params)
        info = PortfolioInfo(
            reward_components=components, equity=equity, step_return=step_return,
            episode_return=(equity - p.rules.initial_cash) / p.rules.initial_cash,
            drawdown=outcome.drawdown_after, cost=both.cost.sum(), borrow=borrow.sum(),
            gross_exposure=outcome.exposure,
            turnover=safe_div((jnp.abs(both.traded_units) * fill_price).sum(), state.equity),
            executed_action=jnp.where((orders.order.value != 0) & (both.traded_units == 0), 0, executed),  # cut
            invalid_action=~orders.valid, exit_reason=orders.exit_reason,
            scaled=(opened != orders.order.value) | fills.cut, invalid_budget=~budget_ok,
            trade_closed=trade.closed, trade_return=trade.ret)
        reward = total_reward(components, p.reward_weights)
        return self.observe(next_state, params), next_state, reward, terminated, truncated, info

    def _orders(self, state: PortfolioState, action: PortfolioAction, params: PortfolioParams) -> Orders:
        """Phase 1, per symbol: the single-symbol decision (mask, risk exits, the account's halt, the order) on the
        shared book where the symbol can trade; a symbol whose data ended for good is sold at this close."""
        p, table, t = params.env, self.actions, state.bar
        close_t, sleeves = p.market.close[:, t], state.sleeves
        requested = jnp.asarray(action.actions, jnp.int32)
        # The maintenance margin applies to the account's whole short book (`forced_exit`).
        short_book = (jnp.maximum(-sleeves.units, 0.0) * close_t).sum()
        decision = jax.vmap(lambda v, a, c, o: gate(decide_step(v, a, c, p, table, short_book), o, a))(
            self.views(state), requested, close_t, params.tradeable[:, t])
        ended = ~p.market.next_ok[:, t] & (sleeves.units != 0)
        return Orders(
            order=Order(value=jnp.where(ended, 0.0, decision.order.value),
                        close=jnp.where(ended, 1.0, decision.order.close)),
            executed=jnp.where(ended, close_all(sleeves.units, table), decision.executed),
            exit_reason=jnp.where(ended, ExitReason.DATA_END, decision.exit_reason),
            valid=decision.valid,
            fill_price=jnp.where(ended, close_t, p.market.open[:, t + 1]))

    @staticmethod
    def _within_limits(order: Order, budget: jax.Array, held: jax.Array, state: PortfolioState,
                       params: PortfolioParams) -> jax.Array:
        """Phase 2: (S,) the signed value each symbol opens, cut to its budget (min(budget, max_position) x
        equity, less what it holds), then pro rata to the total limit's room, and dropped below the minimum
        order."""
        p, open_n, sleeves = params.env, params.env.market.open[:, state.bar + 1], state.sleeves
        cap = jnp.minimum(jnp.clip(budget, 0.0, None), p.rules.max_position) * state.equity
        room = jnp.maximum(cap - held, 0.0)
        opened = jnp.sign(order.value) * jnp.minimum(jnp.abs(order.value), room)  # within the symbol's budget
        # The total limit binds both sides at the fill: the gross value after all fills, at the next opens, stays
        # within total_limit x the account's equity there. Closes make room first; opens share the rest pro rata.
        kept = jnp.where(order.close >= 1.0, 0.0, sleeves.units * (1.0 - order.close))
        equity_open = state.cash + (sleeves.units * open_n).sum()
        gross_room = jnp.maximum(params.total_limit * equity_open - (jnp.abs(kept) * open_n).sum(), 0.0)
        opened = opened * jnp.minimum(1.0, safe_div(gross_room, jnp.abs(opened).sum(), 1.0))
        dust = p.rules.min_order * state.equity  # an open cut below the minimum order is dropped
        return jnp.where(jnp.abs(opened) < dust, 0.0, opened)

    def _execute(self, state: PortfolioState, orders: Orders, opened: jax.Array, params: PortfolioParams) -> Fills:
        """Phase 3: the fills at the next opens, closes and short sales first (their proceeds join the cash), then
        buys scaled pro rata to the cash there is (dropped below the minimum order)."""
        p, table, sleeves = params.env, self.actions, state.sleeves
        open_n, rates = p.market.open[:, state.bar + 1], costs(p)
        fill = jax.vmap(execute, in_axes=(0, 0, 0, None, None))  # (book, order, open, costs, allow_short)
        # Closes and short sales, from cash 0, so each fill's cash is the flow it brings.
        sold = fill(Book(sleeves.units, jnp.zeros_like(opened), sleeves.entry_price),
                    Order(value=jnp.minimum(opened, 0.0), close=orders.order.close), orders.fill_price, rates,
                    table.allows_short)
        wanted = jnp.maximum(opened, 0.0)
        available = jnp.maximum(state.cash + sold.cash.sum(), 0.0)
        allowance = wanted * jnp.minimum(1.0, safe_div(available, wanted.sum(), 1.0))
        allowance = jnp.where(allowance < p.rules.min_order * state.equity, 0.0, allowance)
        bought = fill(Book(sold.units, allowance, sold.entry_price),
                      Order(value=allowance, close=jnp.zeros_like(allowance)), open_n, rates, table.allows_short)
        flow = sold.cash + bought.cash - allowance  # each symbol's net cash flow this step
        both = bought._replace(cash=sleeves.cash + flow, traded_units=sold.traded_units + bought.traded_units,
                               cost=sold.cost + bought.cost, realised_pnl=sold.realised_pnl + bought.realised_pnl,
                               committed=sold.committed + bought.committed)
        return Fills(both, flow, allowance < wanted)

    @staticmethod
    def episode_end(state: PortfolioState, params: PortfolioParams) -> tuple[jax.Array, jax.Array]:
        """(terminated, truncated) after a step that led to `state`."""
        terminated = ends_on_stop(state, params.env)
        truncated = ~terminated & ((state.steps >= params.env.rules.horizon) | (state.bar + 1 >= params.end))
        return terminated, truncated

    def step(self, key: jax.Array, state: PortfolioState, action: PortfolioAction, params: PortfolioParams
             ) -> tuple[PortfolioObservation, PortfolioState, jax.Array, jax.Array, jax.Array, PortfolioInfo]:
        """`step_env`, then a reset when the episode ended (`info.final_observation` keeps its last view)."""
        return auto_reset(self, key, state, action, params)


__all__ = ["PortfolioEnv"]
