"""The trading environment (in progress): pure accounting and online statistics so far."""

from jaxtrade.env.accounting import Fill, buy, mark_to_market, sell, unrealised_pnl
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
    "DiffSharpeState", "Fill", "RunningStats", "buy", "differential_sharpe", "mark_to_market",
    "running_sharpe", "running_sortino", "running_std", "running_update", "sell", "unrealised_pnl",
]
