"""The trading environment: a stateless gymnax-style `TradingEnv`, its typed containers, actions, risk rules and
the shaped reward.

The names here are what building, stepping and changing an env takes. The building blocks live in their modules
and are imported from there: `env.accounting` (fills, costs, the book), `env.actions` (masks, decoding, risk
exits, greedy and target-exposure helpers), `env.params` (start tables, volatility, per-symbol params, the
portfolio's params), `env.stats` (running return statistics), `env.portfolio` (the shared-account env) and
`env.gym_adapter` (Gymnasium). A name that used to be here and is not any more still resolves, with a
`DeprecationWarning` naming its module.
"""

import importlib
import warnings

from jaxtrade.env.actions import (
    LONG_ONLY,
    LONG_SHORT,
    Action,
    ActionSpec,
    ActionTable,
    ExitReason,
    ShortAction,
    StopReason,
    action_table,
)
from jaxtrade.env.config import EnvConfig, RewardWeights
from jaxtrade.env.env import TradingEnv
from jaxtrade.env.generator import StartGenerator, initial_state, uniform_start
from jaxtrade.env.params import make_params, params_axes, select_starts
from jaxtrade.env.rewards import (
    REGISTRY,
    REWARD_COMPONENTS,
    Component,
    RewardComponents,
    RewardFn,
    StepOutcome,
    shaped_reward,
    total_reward,
)
from jaxtrade.env.rules import Rules
from jaxtrade.env.types import (
    PORTFOLIO_FEATURES,
    POSITION_FEATURES,
    RISK_FEATURES,
    EnvParams,
    EnvState,
    Market,
    Observation,
    Starts,
    StepInfo,
)

__all__ = [
    "LONG_ONLY", "LONG_SHORT", "PORTFOLIO_FEATURES", "POSITION_FEATURES", "REGISTRY", "REWARD_COMPONENTS",
    "RISK_FEATURES", "Action", "ActionSpec", "ActionTable", "Component", "EnvConfig", "EnvParams", "EnvState",
    "ExitReason", "Market", "Observation", "RewardComponents", "RewardFn", "RewardWeights", "Rules", "ShortAction",
    "StartGenerator", "Starts", "StepInfo", "StepOutcome", "StopReason", "TradingEnv", "action_table",
    "initial_state", "make_params", "params_axes", "select_starts", "shaped_reward", "total_reward",
    "uniform_start",
]

# Names this package exported before its API was curated: where each lives now.
_MOVED = {
    **dict.fromkeys(("Book", "Costs", "Fill", "borrow_fee", "buy", "cover", "execute", "mark_to_market", "sell",
                     "short", "unrealised_pnl"), "jaxtrade.env.accounting"),
    **dict.fromkeys(("NUM_ACTIONS", "Order", "action_mask", "close_all", "decide", "decode_action", "forced_exit",
                     "greedy_action", "largest_open", "table_for", "toward_exposure"), "jaxtrade.env.actions"),
    **dict.fromkeys(("RULE_FIELDS", "rules_from_config"), "jaxtrade.env.config"),
    **dict.fromkeys(("episode_starts", "ewma_volatility", "symbol_params", "trading_bars"), "jaxtrade.env.params"),
    **dict.fromkeys(("RunningStats", "running_sharpe", "running_sortino", "running_std", "running_update"),
                    "jaxtrade.env.stats"),
    "SIDE": "jaxtrade.env.types",
}
# The long-only table's columns, before action tables: read them from the table.
_LEGACY = {
    "BUY_FRACTION": ("LONG_ONLY.column('open')", lambda: tuple(float(x) for x in LONG_ONLY.column("open"))),
    "SELL_FRACTION": ("LONG_ONLY.column('close')", lambda: tuple(float(x) for x in LONG_ONLY.column("close"))),
    "ACTION_SIDE": ("LONG_ONLY.intent", lambda: tuple(int(x) for x in LONG_ONLY.intent)),
}


def __getattr__(name: str):
    if name in _MOVED:
        warnings.warn(f"jaxtrade.env.{name} is deprecated: import it from {_MOVED[name]}", DeprecationWarning,
                      stacklevel=2)
        return getattr(importlib.import_module(_MOVED[name]), name)
    if name in _LEGACY:
        instead, value = _LEGACY[name]
        warnings.warn(f"jaxtrade.env.{name} is deprecated: use jaxtrade.env.{instead}", DeprecationWarning,
                      stacklevel=2)
        return value()
    raise AttributeError(f"module 'jaxtrade.env' has no attribute {name!r}")
