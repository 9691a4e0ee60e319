"""Typed containers of the trading environment: `EnvParams`, `EnvState`, `Observation`.

All three are `flax.struct` dataclasses (frozen pytrees). Market data and
features travel inside `EnvParams` as device arrays, so one compiled `step`
serves any dataset of the same shape, and `vmap(..., in_axes=None)` shares them
across environments without copies. Shapes: S symbols, T bars, N episode starts.
"""

from __future__ import annotations

import jax
from flax import struct

from jaxtrade.env.actions import NUM_ACTIONS
from jaxtrade.env.stats import RunningStats

POSITION_FEATURES = (
    "entry_ratio",  # close / entry price - 1 (0 when flat)
    "size",  # position value / (max_position * equity): share of the position limit used
    "unrealised_pnl",  # units * (close - entry) / equity
    "hold_time",  # log1p(bars held)
    "side",  # 1 long, 0 flat
)
PORTFOLIO_FEATURES = (
    "equity",  # equity / initial cash - 1
    "exposure",  # position value / equity
    "sharpe",  # running Sharpe of step returns, annualised, clipped to +-10
    "sortino",  # running Sortino of step returns, annualised, clipped to +-10
    "realised_pnl",  # realised PnL this episode / initial cash
    "trades",  # log1p(closed trades)
    "avg_duration",  # log1p(mean bars per closed trade)
    "win_rate",  # winning closed trades / closed trades (0 before the first)
)
NUM_POSITION = len(POSITION_FEATURES)  # 5
NUM_PORTFOLIO = len(PORTFOLIO_FEATURES)  # 8


@struct.dataclass
class EnvParams:
    """Everything the step reads and never changes: market arrays, costs, limits, reward weights."""

    technical: jax.Array  # (S, T, 23) float32 normalised technical features
    regime: jax.Array  # (S, T, 10) float32 regime indicators
    aux: jax.Array  # (S, T, 3) float32 external model probabilities
    open: jax.Array  # (S, T) float32 bar open (fill price before slippage)
    close: jax.Array  # (S, T) float32 bar close (marking and decision price)
    volatility: jax.Array  # (S, T) float32 per-bar volatility of log returns up to bar t (EWMA)
    next_ok: jax.Array  # (S, T) bool: bar t+1 is ready and inside the split, so a step from t is possible
    start_symbol: jax.Array  # (N,) int32 symbol of each valid episode start
    start_bar: jax.Array  # (N,) int32 decision bar of each valid episode start
    start_count: jax.Array  # () int32 starts in use: entries [0, start_count) of the table (the rest pads)
    horizon: jax.Array  # () int32 steps before truncation
    initial_cash: jax.Array  # () float32
    commission_bps: jax.Array  # () float32
    slippage_bps: jax.Array  # () float32
    max_position: jax.Array  # () float32 position value / equity cap
    stop_loss: jax.Array  # () float32, 0 = off
    take_profit: jax.Array  # () float32, 0 = off
    max_hold: jax.Array  # () int32 bars, 0 = off
    max_drawdown: jax.Array  # () float32, 0 = off
    ruin: jax.Array  # () float32 fraction of initial cash, 0 = off
    hurdle_rate: jax.Array  # () float32 annual rate a held position pays in the time_efficiency reward
    drawdown_free: jax.Array  # () float32 drawdown the drawdown reward lets pass
    bars_per_year: jax.Array  # () float32 annualisation of observed Sharpe/Sortino
    reward_weights: jax.Array  # (7,) float32 in REWARD_COMPONENTS order

    @property
    def num_starts(self) -> int:
        """Episode starts in use (host only)."""
        return int(self.start_count)


@struct.dataclass
class EnvState:
    """One episode's book and running statistics, all scalars; vmap adds the env axis."""

    symbol: jax.Array  # () int32 symbol traded this episode
    bar: jax.Array  # () int32 decision bar t (its close has just been seen)
    steps: jax.Array  # () int32 steps taken this episode
    cash: jax.Array  # () float32
    units: jax.Array  # () float32 units held (>= 0, long only)
    entry_price: jax.Array  # () float32 average cost per unit, commission included (0 flat)
    hold_time: jax.Array  # () int32 bars the open position has been held
    equity: jax.Array  # () float32 cash + units * close at `bar`
    peak_equity: jax.Array  # () float32 running maximum of equity this episode
    realised_pnl: jax.Array  # () float32 realised PnL this episode
    total_cost: jax.Array  # () float32 commission + slippage paid this episode
    trade_pnl: jax.Array  # () float32 realised PnL of the open position's partial sells
    trade_basis: jax.Array  # () float32 cash spent on the open position
    trades: jax.Array  # () int32 closed trades (round trips)
    wins: jax.Array  # () int32 closed trades with positive PnL
    trade_bars: jax.Array  # () int32 bars held, summed over closed trades
    gross_profit: jax.Array  # () float32 PnL summed over winning closed trades
    gross_loss: jax.Array  # () float32 -PnL summed over losing closed trades (>= 0)
    returns: RunningStats  # Welford moments of step returns


@struct.dataclass
class Observation:
    """What the agent sees at the close of the decision bar."""

    technical: jax.Array  # (24, 23) float32 the window of technical features ending at bar t
    aux: jax.Array  # (3,) float32 external model probabilities at bar t
    position: jax.Array  # (5,) float32 POSITION_FEATURES
    portfolio: jax.Array  # (8,) float32 PORTFOLIO_FEATURES
    regime: jax.Array  # (10,) float32 regime indicators at bar t
    action_mask: jax.Array  # (7,) bool valid actions

    def as_dict(self) -> dict[str, jax.Array]:
        """The observation as a plain dict (for Gymnasium and other dict-based code)."""
        return {
            "technical": self.technical,
            "aux": self.aux,
            "position": self.position,
            "portfolio": self.portfolio,
            "regime": self.regime,
            "action_mask": self.action_mask,
        }


def observation_shapes(window: int, num_technical: int, num_regime: int, num_aux: int) -> dict[str, tuple]:
    """Shape of every observation field for a given window and feature counts."""
    return {
        "technical": (window, num_technical),
        "aux": (num_aux,),
        "position": (NUM_POSITION,),
        "portfolio": (NUM_PORTFOLIO,),
        "regime": (num_regime,),
        "action_mask": (NUM_ACTIONS,),
    }
