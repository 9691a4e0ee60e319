"""The trading environment (in progress): accounting, online statistics, actions, masks and risk exits."""

from jaxtrade.env.accounting import Fill, buy, mark_to_market, sell, unrealised_pnl
from jaxtrade.env.actions import (
    BUY_FRACTION,
    NUM_ACTIONS,
    SELL_FRACTION,
    Action,
    ExitReason,
    action_mask,
    decode_action,
    forced_exit,
)
from jaxtrade.env.stats import (
    DiffSharpeState,
    RunningStats,
    differential_sharpe,
    running_sharpe,
    running_sortino,
    running_std,
    running_update,
)

__all__ = [
    "BUY_FRACTION", "NUM_ACTIONS", "SELL_FRACTION", "Action", "ExitReason", "action_mask",
    "decode_action", "forced_exit",
    "DiffSharpeState", "Fill", "RunningStats", "buy", "differential_sharpe", "mark_to_market",
    "running_sharpe", "running_sortino", "running_std", "running_update", "sell", "unrealised_pnl",
]
