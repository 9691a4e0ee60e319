"""Typed containers of the trading environments: `EnvParams` (`Market`, `Starts`, `Rules`), `EnvState`,
`Observation`, `StepInfo`; the portfolio env's `PortfolioParams`, `PortfolioState`, `PortfolioObservation`,
`PortfolioAction`, `PortfolioInfo`.

All are `flax.struct` dataclasses (frozen pytrees). Market data and
features travel inside `EnvParams` as device arrays, so one compiled `step`
serves any dataset of the same shape, and `vmap(..., in_axes=None)` shares them
across environments without copies. Shapes: S symbols, T bars, N episode starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import jax
from flax import struct

from jaxtrade.env.actions import LONG_ONLY, NUM_ACTIONS, ActionTable
from jaxtrade.env.rules import Rules
from jaxtrade.env.stats import RunningStats

if TYPE_CHECKING:
    from jaxtrade.env.rewards import RewardComponents

POSITION_FEATURES = (
    "entry_ratio",  # the position's return since entry: side * (close / entry price - 1) (0 when flat)
    "size",  # |position value| / (max_position * equity): share of the position limit used
    "unrealised_pnl",  # units * (close - entry) / equity
    "hold_time",  # log1p(bars held)
    "side",  # 1 long, -1 short, 0 flat
)
PORTFOLIO_FEATURES = (
    "equity",  # equity / initial cash - 1
    "exposure",  # signed position value / equity
    "sharpe",  # running Sharpe of step returns, annualised, clipped to +-10
    "sortino",  # running Sortino of step returns, annualised, clipped to +-10
    "realised_pnl",  # realised PnL this episode / initial cash
    "trades",  # log1p(closed trades)
    "avg_duration",  # log1p(mean bars per closed trade)
    "win_rate",  # winning closed trades / closed trades (0 before the first)
)
# The risk the account is judged and stopped on, which the agent must see to steer clear of it. The position
# cap's share used is `POSITION_FEATURES` "size"; the asset's volatility against its own 100-bar history is the
# regime indicator "vol_level".
RISK_FEATURES = (
    "drawdown",  # equity / peak equity - 1 (<= 0)
    "stop_room",  # how much further equity may fall from the peak before the drawdown stop: max_drawdown -
    #               (1 - equity / peak) (1 when the rule is off)
    "ruin_room",  # the share of equity that may be lost before ruin: 1 - ruin * initial cash / equity (1 when off)
    "asset_vol",  # the symbol's annualised volatility at bar t (`Market.volatility`, EWMA of log returns)
    "order_scale",  # what the open orders' table fractions are multiplied by: vol_target / asset_vol when sizing
    #                 by risk (`EnvConfig.vol_target`), else 1
)
NUM_POSITION = len(POSITION_FEATURES)  # 5
NUM_PORTFOLIO = len(PORTFOLIO_FEATURES)  # 8
NUM_RISK = len(RISK_FEATURES)  # 5
ORDER_SCALE = RISK_FEATURES.index("order_scale")  # obs.risk[..., ORDER_SCALE]
ASSET_VOL = RISK_FEATURES.index("asset_vol")  # obs.risk[..., ASSET_VOL]: the asset's annualised volatility
SIDE = POSITION_FEATURES.index("side")  # position[..., SIDE] is the book's side


class Market(struct.PyTreeNode):
    """The market arrays of a split: S symbols x T bars."""

    technical: jax.Array  # (S, T, 23) float32 normalised technical features
    regime: jax.Array  # (S, T, 10) float32 regime indicators
    aux: jax.Array  # (S, T, 3) float32 external model probabilities
    open: jax.Array  # (S, T) float32 bar open (fill price before slippage)
    close: jax.Array  # (S, T) float32 bar close (marking and decision price)
    volatility: jax.Array  # (S, T) float32 per-bar volatility of log returns up to bar t (EWMA)
    tradeable: jax.Array  # (S, T) bool: an order decided at t fills at t+1 (both real bars, window filled, in split)
    next_ok: jax.Array  # (S, T) bool: the symbol has a real bar after t in the split, so an episode steps on from
    # t (through missing bars, where no order fills and the position is carried at the last close)


class Starts(struct.PyTreeNode):
    """The table of valid episode starts (padded to a fixed length so tables stack)."""

    symbol: jax.Array  # (N,) int32 symbol of each start
    bar: jax.Array  # (N,) int32 decision bar of each start
    count: jax.Array  # () int32 starts in use: entries [0, count) of the table (the rest pads)


class EnvParams(struct.PyTreeNode):
    """Everything the step reads and never changes, grouped: market arrays, episode starts, rules, reward weights.

    Every leaf is a device array, so any group (or leaf) takes a vmap axis: `params_axes(params,
    starts=0, rules=0)` sweeps start tables and costs or limits like reward weights.
    """

    market: Market
    starts: Starts
    rules: Rules  # costs, limits, horizon, reward rates: one () array per numeric `EnvConfig` field
    reward_weights: jax.Array  # (C,) float32 in REWARD_COMPONENTS order
    window: int = struct.field(pytree_node=False, default=24)  # bars per observation window (static): the
    # starts were validated for it and the env reads it here, so it is set once, by `make_params`
    actions: ActionTable = struct.field(pytree_node=False, default=LONG_ONLY)  # the action table the config
    # allows (static): an env or adapter built on these params takes it from here, or must agree with it
    on_stop: str = struct.field(pytree_node=False, default="terminate")  # what a terminal rule (drawdown, ruin,
    # bankruptcy) does (static): "terminate" ends the episode (training); "liquidate" closes the book at the
    # next open and keeps it in cash to the period's end, so a backtest's record covers all of it (`evaluation`)

    @property
    def num_starts(self) -> int:
        """Episode starts in use (host only)."""
        return int(self.starts.count)

    def evaluation(self) -> EnvParams:
        """These params for a backtest: a terminal rule liquidates and the record runs on (`on_stop`)."""
        return self.replace(on_stop="liquidate")


class EnvState(struct.PyTreeNode):
    """One episode's book and running statistics, all scalars; vmap adds the env axis."""

    symbol: jax.Array  # () int32 symbol traded this episode
    bar: jax.Array  # () int32 decision bar t (its close has just been seen)
    steps: jax.Array  # () int32 steps taken this episode
    cash: jax.Array  # () float32
    units: jax.Array  # () float32 signed units held (> 0 long, < 0 short)
    entry_price: jax.Array  # () float32 average cost (long) / net proceeds (short) per unit, costs included (0 flat)
    hold_time: jax.Array  # () int32 bars the open position has been held
    equity: jax.Array  # () float32 cash + units * close at `bar`
    peak_equity: jax.Array  # () float32 running maximum of equity this episode
    realised_pnl: jax.Array  # () float32 realised PnL this episode (borrow fees included)
    total_cost: jax.Array  # () float32 commission + slippage + borrow paid this episode
    trade_pnl: jax.Array  # () float32 realised PnL of the open position's partial sells
    trade_basis: jax.Array  # () float32 cash spent on the open position
    trades: jax.Array  # () int32 closed trades (round trips)
    wins: jax.Array  # () int32 closed trades with positive PnL
    trade_bars: jax.Array  # () int32 bars held, summed over closed trades
    gross_profit: jax.Array  # () float32 PnL summed over winning closed trades
    gross_loss: jax.Array  # () float32 -PnL summed over losing closed trades (>= 0)
    returns: RunningStats  # Welford moments of step returns
    stop_reason: jax.Array  # () int32 `StopReason` of the latest stop this episode (0 none)
    stop_bar: jax.Array  # () int32 the bar at whose close it fired (-1 none)
    stops: jax.Array  # () int32 stops fired this episode (more than 1 only under `stop_cooldown`)
    resume_bar: jax.Array  # () int32 trading is halted at decision bars before this one (`env.halted`): 0 before
    # any stop, the stop's bar + `stop_cooldown` after a drawdown stop that de-risks, `NEVER` after a terminal one


class Observation(struct.PyTreeNode):
    """What the agent sees at the close of the decision bar."""

    technical: jax.Array  # (24, 23) float32 the window of technical features ending at bar t
    aux: jax.Array  # (3,) float32 external model probabilities at bar t
    position: jax.Array  # (5,) float32 POSITION_FEATURES
    portfolio: jax.Array  # (8,) float32 PORTFOLIO_FEATURES
    risk: jax.Array  # (5,) float32 RISK_FEATURES
    regime: jax.Array  # (10,) float32 regime indicators at bar t
    action_mask: jax.Array  # (A,) bool valid actions (A = the action table's size)

    def as_dict(self) -> dict[str, jax.Array]:
        """The observation as a plain dict (for Gymnasium and other dict-based code)."""
        return {
            "technical": self.technical,
            "aux": self.aux,
            "position": self.position,
            "portfolio": self.portfolio,
            "risk": self.risk,
            "regime": self.regime,
            "action_mask": self.action_mask,
        }


def observation_shapes(window: int, num_technical: int, num_regime: int, num_aux: int,
                       num_actions: int = NUM_ACTIONS) -> dict[str, tuple]:
    """Shape of every observation field for a given window and feature counts."""
    return {
        "technical": (window, num_technical),
        "aux": (num_aux,),
        "position": (NUM_POSITION,),
        "portfolio": (NUM_PORTFOLIO,),
        "risk": (NUM_RISK,),
        "regime": (num_regime,),
        "action_mask": (num_actions,),
    }


class AccountInfo(struct.PyTreeNode):
    """What every trading step reports of its account, single-symbol or portfolio (`StepInfo`, `PortfolioInfo`):
    the fields the training metrics read (`train.hooks.TradingInfo`)."""

    reward_components: RewardComponents  # each component's value, in `REWARD_COMPONENTS` order
    equity: jax.Array  # () equity at the next bar's close(s)
    step_return: jax.Array  # () the step's equity return, net of costs
    episode_return: jax.Array  # () equity / initial cash - 1
    drawdown: jax.Array  # () 1 - equity / peak
    cost: jax.Array  # () commission + slippage of this step's fills
    borrow: jax.Array  # () borrow fees of the shorts held over the step
    turnover: jax.Array  # () traded notional / equity before the step


class StepInfo(AccountInfo):
    """What a step reports beside the observation and reward (scalars; vmap adds the env axis)."""

    exposure: jax.Array  # () signed position value / equity after the step
    executed_action: jax.Array  # () int32 action carried out
    invalid_action: jax.Array  # () bool: the requested action was masked or out of range
    exit_reason: jax.Array  # () int32 `ExitReason` (0 none)
    trade_closed: jax.Array  # () bool: a round trip closed
    trade_return: jax.Array  # () that trade's PnL / cash committed (0 when none closed)
    final_observation: Observation | None = None  # `step` only: the last observation of the episode


BOOK_FEATURES = (
    "equity",  # equity / initial cash - 1
    "cash",  # cash / equity
    "gross_exposure",  # sum |position value| / equity
    "net_exposure",  # sum signed position value / equity
    "drawdown",  # 1 - equity / peak
    "sharpe",  # running Sharpe of the account's step returns, annualised, clipped to +-10
    "sortino",  # running Sortino, likewise
    "realised_pnl",  # realised PnL this episode / initial cash
)


class PortfolioParams(struct.PyTreeNode):
    """What a portfolio step reads: the symbols' market and rules, which symbol can trade when, the starts."""

    env: EnvParams  # market (S symbols x T bars), rules (per-symbol limit `max_position`, costs, stops), weights
    tradeable: jax.Array  # (S, T) bool: symbol s can trade at bar t (`env.market.tradeable`)
    start_bars: jax.Array  # (N,) int32 decision bars a portfolio episode may start at
    start_count: jax.Array  # () int32 entries of start_bars in use
    end: jax.Array  # () int32 the split's end bar: a step from t needs t + 1 < end
    total_limit: jax.Array  # () float32 cap on the gross exposure (long and short) / equity at the fill

    @property
    def num_symbols(self) -> int:
        return self.tradeable.shape[0]


class PortfolioState(struct.PyTreeNode):
    """One portfolio episode: the account and each symbol's sleeve."""

    bar: jax.Array  # () int32 decision bar (its close has just been seen)
    steps: jax.Array  # () int32 steps taken this episode
    cash: jax.Array  # () float32 the account's cash
    equity: jax.Array  # () float32 cash + sum of position values at `bar`'s closes
    peak_equity: jax.Array  # () float32 running maximum of equity this episode
    realised_pnl: jax.Array  # () float32 realised PnL this episode (borrow fees included)
    total_cost: jax.Array  # () float32 commission + slippage + borrow paid this episode
    returns: RunningStats  # Welford moments of the account's step returns
    stop_reason: jax.Array  # () int32 `StopReason` of the account's latest stop (0 none)
    stop_bar: jax.Array  # () int32 the bar at whose close it fired (-1 none)
    stops: jax.Array  # () int32 stops fired this episode (more than 1 only under `stop_cooldown`)
    resume_bar: jax.Array  # () int32 trading is halted at decision bars before this one (`EnvState.resume_bar`)
    sleeves: EnvState  # (S,) per symbol: units, entry, hold time, trade tallies, net cash flow, PnL contribution


class PortfolioObservation(struct.PyTreeNode):
    """What the symbol agents and the master see at the decision bar's close."""

    symbols: Observation  # (S, ...) each symbol agent's observation; its action_mask also false where not tradeable
    tradeable: jax.Array  # (S,) bool
    weights: jax.Array  # (S,) signed position value / equity
    book: jax.Array  # (len(BOOK_FEATURES),) float32 the account's state


class PortfolioAction(struct.PyTreeNode):
    """Every symbol agent's action and the master's budgets."""

    actions: jax.Array  # (S,) int32 action indices into the env's action table
    budget: jax.Array  # (S,) float32 gross exposure budget per symbol, a fraction of equity (capped at max_position)


class PortfolioInfo(AccountInfo):
    """What a portfolio step reports beside the observation and reward (the account's fields, then per symbol)."""

    gross_exposure: jax.Array  # () sum |position value| / equity after the step
    executed_action: jax.Array  # (S,) int32 action carried out per symbol
    invalid_action: jax.Array  # (S,) bool: requested action masked, out of range, or a trade where not tradeable
    exit_reason: jax.Array  # (S,) int32 `ExitReason`
    scaled: jax.Array  # (S,) bool: the symbol's open was cut by its budget, the cash, the total limit or dust
    invalid_budget: jax.Array  # (S,) bool: the budget was not a finite number (NaN, inf): treated as 0
    trade_closed: jax.Array  # (S,) bool
    trade_return: jax.Array  # (S,) that trade's PnL / cash committed
    final_observation: PortfolioObservation | None = None  # `step` only: the episode's last observation
