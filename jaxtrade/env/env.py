"""`TradingEnv`: a stateless, jit/vmap-able single-asset trading environment (gymnax contract)."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from jaxtrade.env.accounting import Book, Costs, Fill, borrow_fee, execute
from jaxtrade.env.actions import (
    LONG_ONLY,
    ActionTable,
    ExitReason,
    Order,
    StopReason,
    action_mask,
    close_all,
    decide,
    forced_exit,
)
from jaxtrade.env.generator import StartGenerator, uniform_start
from jaxtrade.env.rewards import RewardFn, StepOutcome, shaped_reward, total_reward
from jaxtrade.env.stats import running_sharpe, running_sortino, running_update
from jaxtrade.env.types import EnvParams, EnvState, Observation, StepInfo, observation_shapes
from jaxtrade.errors import ConfigError
from jaxtrade.numeric import safe_div

STAT_CLIP = 10.0  # bound on the Sharpe/Sortino fed to the agent


class Decision(NamedTuple):
    """What the step does at the decision bar's close."""

    order: Order  # sent to the next open
    executed: jax.Array  # () int32 action carried out (HOLD for an invalid one, the close for a forced exit)
    valid: jax.Array  # () bool: the requested action was valid
    exit_reason: jax.Array  # () int32 `ExitReason`


class Trade(NamedTuple):
    """The round trip the step closed, if any."""

    closed: jax.Array  # () bool: the position went flat this step
    ret: jax.Array  # () its PnL / the cash committed to it (0 when none closed)


def check_actions(mine: ActionTable, theirs: ActionTable, what: str) -> None:
    """Raise `ConfigError` naming both tables when a `what` built for `mine` is given params made for `theirs`."""
    if mine != theirs:
        name = lambda t: f"{t.num_actions} actions, {'long-short' if t.allows_short else 'long only'}"  # noqa: E731
        raise ConfigError(
            f"the {what}'s action table ({name(mine)}) differs from the one its params were made for "
            f"({name(theirs)}, from env.allow_short): build it with actions=params.actions")


def costs(params: EnvParams) -> Costs:
    """The params' trading and holding costs."""
    rules = params.rules
    return Costs(rules.commission_bps, rules.slippage_bps, rules.borrow_bps, rules.bars_per_year)


def book(state: EnvState) -> Book:
    return Book(state.units, state.cash, state.entry_price)


MIN_VOL = 0.01  # annual volatility floor of `order_scale` (a stock quoted flat does not get a 100x order)


def annual_vol(params: EnvParams, symbol: jax.Array, bar: jax.Array) -> jax.Array:
    """The symbol's annualised volatility at `bar`: its EWMA per-bar volatility x sqrt(bars per year)."""
    return params.market.volatility[symbol, bar] * jnp.sqrt(params.rules.bars_per_year)


def order_scale(rules, vol: jax.Array) -> jax.Array:
    """What the open orders' table fractions are multiplied by at an annualised volatility `vol`: sizing by risk
    (`rules.vol_target` > 0) vol_target / max(vol, `MIN_VOL`), else 1."""
    return jnp.where(rules.vol_target > 0, rules.vol_target / jnp.maximum(vol, MIN_VOL), 1.0)


def decide_step(state: EnvState, action: jax.Array, close: jax.Array, params: EnvParams,
                table: ActionTable, short_book: jax.Array | None = None) -> Decision:
    """Validate `action` against the mask, let the risk rules override it, and decode the order.

    `short_book` is the value of every short on the account (default: this symbol's own), which the
    maintenance margin applies to (`forced_exit`). While a stop halts trading (`halted`: a drawdown stop's
    cooldown, or a terminal stop in an evaluation run) the position is closed and only HOLD is valid.
    """
    action = jnp.asarray(action, jnp.int32)
    halted = is_halted(state)
    scale = order_scale(params.rules, annual_vol(params, state.symbol, state.bar))
    mask = action_mask(state.units, state.cash, close, params.rules.max_position, table, state.equity, scale)
    valid = ((action >= 0) & (action < table.num_actions) & mask[jnp.clip(action, 0, table.num_actions - 1)]
             & (~halted | (action == 0)))
    exit_reason = forced_exit(state.units, state.entry_price, close, state.hold_time, params.rules.stop_loss,
                              params.rules.take_profit, params.rules.max_hold, state.equity,
                              params.rules.short_margin, short_book)
    exit_reason = jnp.where(halted & (state.units != 0), ExitReason.ACCOUNT_STOP, exit_reason)
    executed = jnp.where(valid, action, 0)
    # A partial close that would leave a position below the minimum order is carried out as the whole close
    # (no dust). Chosen as an action, not as an edited order: the order stays a lookup in the table.
    share = jnp.asarray(table.column("close"), jnp.float32)[executed]
    dust = (share > 0) & (share < 1) & (
        jnp.abs(state.units * close) * (1.0 - share) < params.rules.min_order * state.equity)
    executed = jnp.where((exit_reason != ExitReason.NONE) | dust, close_all(state.units, table), executed)
    return Decision(decide(executed, state.equity, table, scale), executed, valid, exit_reason)


def gate(decision: Decision, ok: jax.Array, requested: jax.Array) -> Decision:
    """`decision` where the symbol can trade at this bar (`ok`, from `Market.tradeable`); elsewhere (a missing
    bar ahead or here, not listed yet) no order, no risk exit (it waits for the symbol's next bar), and a
    request other than HOLD is invalid."""
    order = Order(value=jnp.where(ok, decision.order.value, 0.0), close=jnp.where(ok, decision.order.close, 0.0))
    return Decision(order, jnp.where(ok, decision.executed, 0), jnp.where(ok, decision.valid, requested == 0),
                    jnp.where(ok, decision.exit_reason, ExitReason.NONE))


def book_keeping(state: EnvState, fill: Fill, borrow: jax.Array, close_n: jax.Array,
                 step_return: jax.Array) -> tuple[EnvState, Trade]:
    """The state after the fill and the bar's borrow fee, marked at `close_n`, and the trade it closed."""
    was_holding, holding = state.units != 0, fill.units != 0
    closed = was_holding & ~holding
    entry = (fill.units * fill.traded_units) > 0  # traded in the position's direction: an open or an add
    trade_pnl = state.trade_pnl + fill.realised_pnl - borrow
    trade_basis = state.trade_basis + jnp.where(entry, fill.committed, 0.0)
    closed_pnl = jnp.where(closed, trade_pnl, 0.0)
    cash = fill.cash - borrow
    equity = cash + fill.units * close_n
    next_state = state.replace(
        bar=state.bar + 1,
        steps=state.steps + 1,
        cash=cash,
        units=fill.units,
        entry_price=fill.entry_price,
        hold_time=jnp.where(holding, state.hold_time + 1, 0),
        equity=equity,
        peak_equity=jnp.maximum(state.peak_equity, equity),
        realised_pnl=state.realised_pnl + fill.realised_pnl - borrow,
        total_cost=state.total_cost + fill.cost + borrow,
        trade_pnl=jnp.where(closed, 0.0, trade_pnl),
        trade_basis=jnp.where(closed, 0.0, trade_basis),
        trades=state.trades + closed,
        wins=state.wins + (closed & (trade_pnl > 0)),
        trade_bars=state.trade_bars + jnp.where(closed, state.hold_time, 0),
        gross_profit=state.gross_profit + jnp.maximum(closed_pnl, 0.0),
        gross_loss=state.gross_loss - jnp.minimum(closed_pnl, 0.0),
        returns=running_update(state.returns, step_return),
    )
    return next_state, Trade(closed, jnp.where(closed, safe_div(trade_pnl, trade_basis), 0.0))


NEVER = jnp.iinfo(jnp.int32).max  # `resume_bar` after a terminal stop: the account never trades again


def stop_reason(equity: jax.Array, peak_equity: jax.Array, rules) -> jax.Array:
    """() int32 `StopReason`: bankrupt (equity <= 0 whatever the rules, or not a finite number, so a NaN never
    runs on), ruined (equity <= ruin x initial cash), a drawdown from the peak of at least max_drawdown, or
    NONE. A threshold of 0 switches its rule off."""
    bankrupt = ~(equity > 0) | ~jnp.isfinite(equity)  # NaN compares false: bankrupt too
    ruined = (rules.ruin > 0) & (equity <= rules.ruin * rules.initial_cash)
    drawdown = (rules.max_drawdown > 0) & (1.0 - equity / peak_equity >= rules.max_drawdown)
    return jnp.select([bankrupt, ruined, drawdown], [StopReason.BANKRUPT, StopReason.RUIN, StopReason.DRAWDOWN],
                      StopReason.NONE).astype(jnp.int32)


def is_terminal(reason: jax.Array, rules) -> jax.Array:
    """() bool: a stop for `reason` is terminal: ruin, bankruptcy, or a drawdown stop without a cooldown."""
    return (reason != StopReason.NONE) & ((reason != StopReason.DRAWDOWN) | (rules.stop_cooldown <= 0))


def is_halted(state) -> jax.Array:
    """() bool: a stop halts trading at the state's decision bar (an `EnvState` or `PortfolioState`): only
    HOLD is valid and open positions are closed."""
    return state.bar < state.resume_bar


def record_stop(before, after, rules):
    """`after` (an `EnvState` or `PortfolioState`, one step past `before`) with this step's stop recorded.

    A stop fires when a rule holds at `after`'s close and trading was not halted (ruin and bankruptcy fire
    during a drawdown stop's cooldown too: the position may still be open across a gap). It sets
    `stop_reason` / `stop_bar` (the latest stop), counts in `stops`, and halts trading until `resume_bar`:
    `stop_bar + stop_cooldown` for a drawdown stop that de-risks (`rules.stop_cooldown` > 0), `NEVER` for a
    terminal one. The step that reaches `resume_bar` resets the peak to the equity there, so the drawdown
    is measured from where trading resumes.
    """
    resumes = is_halted(before) & ~is_halted(after)
    after = after.replace(peak_equity=jnp.where(resumes, after.equity, after.peak_equity))
    reason = stop_reason(after.equity, after.peak_equity, rules)
    fired = ((reason != StopReason.NONE) & (before.resume_bar != NEVER)
             & (~is_halted(before) | (reason != StopReason.DRAWDOWN)))
    resume = jnp.where(is_terminal(reason, rules), NEVER, after.bar + rules.stop_cooldown)
    return after.replace(stop_reason=jnp.where(fired, reason, before.stop_reason),
                         stop_bar=jnp.where(fired, after.bar, before.stop_bar),
                         stops=before.stops + fired.astype(jnp.int32),
                         resume_bar=jnp.where(fired, resume, before.resume_bar).astype(jnp.int32))


def auto_reset(env, key: jax.Array, state, action, params):
    """`env.step_env`, then `env.reset` where the episode ended (select-reset, as gymnax); the finished
    episode's last observation goes to `info.final_observation`."""
    key_step, key_reset = jax.random.split(key)
    obs_st, state_st, reward, terminated, truncated, info = env.step_env(key_step, state, action, params)
    obs_re, state_re = env.reset(key_reset, params)
    done = terminated | truncated
    pick = lambda fresh, cont: jnp.where(done, fresh, cont)  # noqa: E731
    obs = jax.tree.map(pick, obs_re, obs_st)
    state = jax.tree.map(pick, state_re, state_st)
    return obs, state, reward, terminated, truncated, info.replace(final_observation=obs_st)


def ends_on_stop(state, params: EnvParams) -> jax.Array:
    """() bool: a terminal stop ends the episode here: one fired (`resume_bar` is `NEVER`; or its rule holds
    in a state built by hand) and `params.on_stop` is "terminate" (training). Under "liquidate" (backtests)
    the episode runs on, flat, to its horizon or the data's end. A drawdown stop that de-risks
    (`stop_cooldown` > 0) never ends an episode."""
    if params.on_stop not in ("terminate", "liquidate"):
        raise ConfigError(f"on_stop: must be 'terminate' or 'liquidate', got {params.on_stop!r}")
    hit = (state.resume_bar == NEVER) | is_terminal(stop_reason(state.equity, state.peak_equity, params.rules),
                                                    params.rules)
    return hit & (params.on_stop == "terminate")


def episode_end(state: EnvState, params: EnvParams) -> tuple[jax.Array, jax.Array]:
    """(terminated, truncated) after a step that led to `state`."""
    terminated = ends_on_stop(state, params)
    truncated = ~terminated & ((state.steps >= params.rules.horizon) | ~params.market.next_ok[state.symbol, state.bar])
    return terminated, truncated


class TradingEnv:
    """Trading of one symbol per episode on real or synthetic bars, long-only or long-short.

    - Observation (`Observation`, at the close of decision bar t):
        technical (W, 23) the feature window ending at t (W = `params.window`); aux (3) external model
        probabilities; position (5), portfolio (8) and risk (5) summaries (`POSITION_FEATURES`,
        `PORTFOLIO_FEATURES`, `RISK_FEATURES`: the drawdown and the room left to the drawdown stop and
        to ruin); regime (10) indicators; action_mask (A) bool.
    - Action: Discrete(A) over the action table (`actions.LONG_ONLY`: HOLD, BUY
        2.5/6/9 % of equity, SELL 50 %, SELL ALL, ADD 3 %; `LONG_SHORT` adds the
        mirrored short entries and covers). A masked (invalid) action is carried
        out as HOLD and flagged in `info.invalid_action`. When a margin call, stop
        loss, take profit or max hold rule fires at t's close, the position is
        closed instead (`info.exit_reason`).
    - Execution: the order fills at bar t+1's open with slippage and commission
        (`accounting.execute`); a short pays its borrow fee; the step is marked at
        t+1's close.
    - Reward: an injected `RewardFn` of the step's `StepOutcome` (default
        `shaped_reward`: 7 components, all in `info.reward_components`),
        weighted by `params.reward_weights`.
    - Missing bars: where the symbol cannot trade (`Market.tradeable`: a gap
        ahead or here) no order fills and only HOLD is valid; the position is
        carried at the last close and the episode steps on.
    - Stops: equity <= 0 (bankrupt, whatever the rules: a gap through a
        short can take it below zero, and the record keeps the deficit), equity
        <= ruin * initial cash, or drawdown >= max_drawdown; `state.stop_reason`
        / `stop_bar` / `stops` record them (`record_stop`). A terminal stop ends
        a training episode (terminated, no bootstrap); under `params.on_stop ==
        "liquidate"` (backtests) the position is closed at the next open instead
        and the account stays in cash. A drawdown stop with `stop_cooldown` N > 0
        de-risks in both: the position is closed, the account waits N bars in
        cash, then trades again with its peak reset (the episode runs on).
        Truncation: `horizon` steps taken, or no real bar of the symbol left in
        the split (bootstrap from `info.final_observation`).
    - State (`EnvState`): symbol, bar, cash, signed units, entry price, hold time,
        equity and its peak, trade tallies and online return statistics.

    `step` auto-resets a finished episode (select-reset, as gymnax): the returned
    observation and state then begin a new episode, and `info.final_observation`
    holds the last observation of the old one. `step_env` does not reset.
    """

    def __init__(
        self,
        reward_fn: RewardFn = shaped_reward,
        start_generator: StartGenerator = uniform_start,
        actions: ActionTable = LONG_ONLY,
    ):
        self.reward_fn = reward_fn
        self.start_generator = start_generator
        self.actions = actions

    @property
    def num_actions(self) -> int:
        return self.actions.num_actions

    def observation_shapes(self, params: EnvParams) -> dict[str, tuple]:
        """Shape of each observation field under `params`."""
        return observation_shapes(params.window, params.market.technical.shape[-1], params.market.regime.shape[-1],
                                  params.market.aux.shape[-1], self.num_actions)

    def reset(self, key: jax.Array, params: EnvParams) -> tuple[Observation, EnvState]:
        """Start an episode at a start drawn by the injected generator."""
        state = self.start_generator(key, params)
        return self.observe(state, params), state

    def check_actions(self, params: EnvParams) -> None:
        """Raise `ConfigError` when `params` were made for another action table (at trace time: no cost)."""
        check_actions(self.actions, params.actions, "env")

    def observe(self, state: EnvState, params: EnvParams) -> Observation:
        """The agent's view of `state` at its decision bar's close."""
        self.check_actions(params)
        s, t, W = state.symbol, state.bar, params.window
        F = params.market.technical.shape[-1]
        technical = lax.dynamic_slice(params.market.technical, (s, t - W + 1, 0), (1, W, F))[0]
        close = params.market.close[s, t]
        equity, units, entry = state.equity, state.units, state.entry_price
        value = units * close
        side = jnp.sign(units)
        position = jnp.stack([
            side * safe_div(close, entry, 1.0) - side,
            safe_div(jnp.abs(value), params.rules.max_position * equity),
            safe_div(units * (close - entry), equity),
            jnp.log1p(state.hold_time.astype(jnp.float32)),
            side,
        ])
        trades = state.trades.astype(jnp.float32)
        portfolio = jnp.stack([
            (equity - params.rules.initial_cash) / params.rules.initial_cash,
            safe_div(value, equity),
            jnp.clip(running_sharpe(state.returns, params.rules.bars_per_year), -STAT_CLIP, STAT_CLIP),
            jnp.clip(running_sortino(state.returns, params.rules.bars_per_year), -STAT_CLIP, STAT_CLIP),
            state.realised_pnl / params.rules.initial_cash,
            jnp.log1p(trades),
            jnp.log1p(safe_div(state.trade_bars.astype(jnp.float32), trades)),
            safe_div(state.wins.astype(jnp.float32), trades),
        ])
        rules = params.rules
        depth = 1.0 - safe_div(equity, state.peak_equity, 1.0)
        vol = annual_vol(params, s, t)
        scale = order_scale(rules, vol)
        risk = jnp.stack([
            -depth,
            jnp.where(rules.max_drawdown > 0, rules.max_drawdown - depth, 1.0),
            jnp.where(rules.ruin > 0, 1.0 - safe_div(rules.ruin * rules.initial_cash, equity, jnp.inf), 1.0),
            vol,
            scale,
        ])
        return Observation(
            technical=technical,
            aux=params.market.aux[s, t],
            position=position.astype(jnp.float32),
            portfolio=portfolio.astype(jnp.float32),
            risk=jnp.maximum(risk, -STAT_CLIP).astype(jnp.float32),  # ruin_room of a near-zero equity is huge
            regime=params.market.regime[s, t],
            action_mask=action_mask(units, state.cash, close, params.rules.max_position, self.actions, equity, scale)
            & ((params.market.tradeable[s, t] & ~is_halted(state))
               | (jnp.arange(self.num_actions) == 0)),
        )

    def step_env(
        self, key: jax.Array, state: EnvState, action: jax.Array, params: EnvParams
    ) -> tuple[Observation, EnvState, jax.Array, jax.Array, jax.Array, StepInfo]:
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
        s, t, nb = state.symbol, state.bar, state.bar + 1
        close_t, open_n, close_n = params.market.close[s, t], params.market.open[s, nb], params.market.close[s, nb]

        # No order fills where the symbol cannot trade (a missing bar): the position is carried at the last close.
        decision = gate(decide_step(state, action, close_t, params, self.actions), params.market.tradeable[s, t],
                        jnp.asarray(action, jnp.int32))
        rates = costs(params)
        fill = execute(book(state), decision.order, open_n, rates, self.actions.allows_short)
        borrow = borrow_fee(fill.units, close_n, rates)
        # The step's PnL from its parts, not equity' - equity, which cancels to ~1e-7 of equity in
        # float32: the units held after the fill move close_t -> close_n, the units traded moved
        # close_t -> open_n, minus costs. Exactly 0 when nothing is traded and the close is unchanged.
        pnl = (fill.units * (close_n - close_t) - fill.traded_units * (open_n - close_t)
               - fill.cost - borrow)
        step_return = safe_div(pnl, jnp.abs(state.equity))  # |E|: a loss reads as a loss even below zero
        next_state, trade = book_keeping(state, fill, borrow, close_n, step_return)
        next_state = record_stop(state, next_state, params.rules)

        value_after = fill.units * close_n
        outcome = StepOutcome(
            equity_before=state.equity,
            equity_after=next_state.equity,
            step_return=step_return,
            cost=fill.cost + borrow,
            value_before=state.units * close_t,
            value_after=value_after,
            exposure=safe_div(value_after, next_state.equity),
            drawdown_after=1.0 - next_state.equity / next_state.peak_equity,
            volatility=params.market.volatility[s, t],
            holding=fill.units != 0,
            idle=(state.units == 0) & (fill.units == 0) & (decision.executed == 0),
            stopped=next_state.stops > state.stops,
        )
        components = self.reward_fn(outcome, params.rules)
        terminated, truncated = episode_end(next_state, params)
        info = StepInfo(
            reward_components=components,
            equity=next_state.equity,
            step_return=step_return,
            episode_return=(next_state.equity - params.rules.initial_cash) / params.rules.initial_cash,
            drawdown=outcome.drawdown_after,
            cost=fill.cost,
            borrow=borrow,
            exposure=outcome.exposure,
            turnover=safe_div(jnp.abs(fill.traded_units) * open_n, state.equity),
            executed_action=decision.executed,
            invalid_action=~decision.valid,
            exit_reason=decision.exit_reason,
            trade_closed=trade.closed,
            trade_return=trade.ret,
        )
        reward = total_reward(components, params.reward_weights)
        return self.observe(next_state, params), next_state, reward, terminated, truncated, info

    def step(
        self, key: jax.Array, state: EnvState, action: jax.Array, params: EnvParams
    ) -> tuple[Observation, EnvState, jax.Array, jax.Array, jax.Array, StepInfo]:
        """`step_env`, then a reset when the episode ended (`info.final_observation` keeps its last view)."""
        return auto_reset(self, key, state, action, params)
