"""Evaluation: fixed-length episodes under any policy, baseline policies, and performance metrics."""

from jaxtrade.evaluate import metrics, statistics
from jaxtrade.evaluate.policies import (
    BASELINES,
    HOLD_RULES,
    agent_policy,
    always_long_policy,
    cash_policy,
    random_policy,
    sma_crossover_policy,
    ts_momentum_policy,
    vol_target_hold_policy,
)
from jaxtrade.evaluate.rollout import (
    EpisodeResults,
    hold_episodes,
    run_episodes,
    run_policies,
    stack_policies,
    walk_forward,
    walk_forward_policies,
)

__all__ = [
    "metrics", "statistics", "BASELINES", "HOLD_RULES", "EpisodeResults", "agent_policy", "always_long_policy",
    "cash_policy", "hold_episodes", "random_policy", "run_episodes", "run_policies", "sma_crossover_policy",
    "stack_policies", "ts_momentum_policy", "vol_target_hold_policy", "walk_forward", "walk_forward_policies"
]
