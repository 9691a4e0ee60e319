"""Evaluation: fixed-length episodes under any policy, baseline policies, and performance metrics."""

from jaxtrade.evaluate import metrics, statistics
from jaxtrade.evaluate.rollout import (
    BASELINES,
    HOLD_RULES,
    EpisodeResults,
    agent_policy,
    always_long_policy,
    cash_policy,
    hold_episodes,
    random_policy,
    run_episodes,
    run_policies,
    sma_crossover_policy,
    stack_policies,
    ts_momentum_policy,
    vol_target_hold_policy,
    walk_forward,
    walk_forward_policies,
)

__all__ = [
    "metrics", "statistics", "BASELINES", "HOLD_RULES", "EpisodeResults", "agent_policy", "always_long_policy",
    "cash_policy", "hold_episodes", "random_policy", "run_episodes", "run_policies", "sma_crossover_policy",
    "stack_policies", "ts_momentum_policy", "vol_target_hold_policy", "walk_forward", "walk_forward_policies"
]
