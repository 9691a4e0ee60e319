"""The trading environment: a stateless gymnax-style `TradingEnv`, its typed containers,
accounting, online statistics, actions and masks, risk exits, and the shaped reward."""

from jaxtrade.env.accounting import Fill, buy, mark_to_market, sell, unrealised_pnl
from jaxtrade.env.actions import (
    ACTION_SIDE,
    BUY_FRACTION,
    NUM_ACTIONS,
    SELL_FRACTION,
    Action,
    ExitReason,
    action_mask,
    decode_action,
    forced_exit,
    greedy_action,
)
from jaxtrade.env.config import EnvConfig, RewardWeights
from jaxtrade.env.env import TradingEnv
from jaxtrade.env.generator import (
    START_FIELDS,
    StartGenerator,
    episode_starts,
    initial_state,
    make_params,
    params_axes,
    select_starts,
    symbol_params,
    uniform_start,
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
    EnvParams,
    EnvState,
    Observation,
)

__all__ = [
    "ACTION_SIDE", "BUY_FRACTION", "NUM_ACTIONS", "REGISTRY", "Component", "PORTFOLIO_FEATURES", "POSITION_FEATURES", "REWARD_COMPONENTS",
    "SELL_FRACTION", "START_FIELDS", "Action", "EnvConfig", "EnvParams", "EnvState", "ExitReason", "Fill",
    "Observation", "RewardComponents", "RewardFn", "RewardWeights", "RunningStats", "StartGenerator",
    "StepOutcome", "TradingEnv", "action_mask", "buy", "decode_action", "episode_starts",
    "forced_exit", "greedy_action", "initial_state", "make_params", "mark_to_market", "params_axes", "running_sharpe", "running_sortino",
    "running_std", "running_update", "select_starts", "sell", "shaped_reward", "symbol_params", "total_reward", "uniform_start", "unrealised_pnl",
]
