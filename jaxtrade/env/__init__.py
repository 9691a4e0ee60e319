"""The trading environment: a stateless gymnax-style `TradingEnv`, its typed containers,
accounting, online statistics, actions and masks, risk exits, and the shaped reward."""

from jaxtrade.env.accounting import (
    Book,
    Costs,
    Fill,
    borrow_fee,
    buy,
    cover,
    execute,
    mark_to_market,
    sell,
    short,
    unrealised_pnl,
)
from jaxtrade.env.actions import (
    ACTION_SIDE,
    BUY_FRACTION,
    LONG_ONLY,
    LONG_SHORT,
    NUM_ACTIONS,
    SELL_FRACTION,
    Action,
    ActionSpec,
    ActionTable,
    ExitReason,
    Order,
    ShortAction,
    StopReason,
    action_mask,
    action_table,
    close_all,
    decide,
    decode_action,
    forced_exit,
    greedy_action,
    largest_open,
    table_for,
    toward_exposure,
)
from jaxtrade.env.config import RULE_FIELDS, EnvConfig, RewardWeights, rules_from_config
from jaxtrade.env.env import TradingEnv
from jaxtrade.env.generator import StartGenerator, initial_state, uniform_start
from jaxtrade.env.params import (
    episode_starts,
    ewma_volatility,
    make_params,
    params_axes,
    select_starts,
    symbol_params,
    trading_bars,
)
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
from jaxtrade.env.stats import (
    RunningStats,
    running_sharpe,
    running_sortino,
    running_std,
    running_update,
)
from jaxtrade.env.types import (
    PORTFOLIO_FEATURES,
    POSITION_FEATURES,
    RISK_FEATURES,
    SIDE,
    EnvParams,
    EnvState,
    Market,
    Observation,
    Starts,
    StepInfo,
)

__all__ = [
    "ACTION_SIDE", "BUY_FRACTION", "LONG_ONLY", "LONG_SHORT", "NUM_ACTIONS", "PORTFOLIO_FEATURES",
    "POSITION_FEATURES", "RISK_FEATURES", "REGISTRY", "REWARD_COMPONENTS", "SELL_FRACTION", "SIDE", "Action",
    "ActionSpec", "ActionTable", "Book", "Market", "RULE_FIELDS", "Rules", "Starts", "rules_from_config",
    "Component", "Costs", "EnvConfig", "EnvParams", "EnvState", "ExitReason", "Fill", "Observation", "Order",
    "RewardComponents", "RewardFn", "RewardWeights", "RunningStats", "ShortAction", "StopReason", "StartGenerator",
    "StepInfo", "StepOutcome", "TradingEnv", "action_mask", "action_table", "borrow_fee", "buy", "close_all",
    "cover", "decide", "decode_action", "episode_starts", "ewma_volatility", "execute", "forced_exit",
    "greedy_action", "initial_state", "largest_open", "toward_exposure", "make_params", "mark_to_market",
    "params_axes", "running_sharpe", "running_sortino", "running_std", "running_update", "select_starts", "sell",
    "shaped_reward", "short", "symbol_params", "table_for", "trading_bars", "total_reward", "uniform_start",
    "unrealised_pnl"
]
