"""Evaluation: fixed-length episodes under any policy, and baseline policies."""

from jaxtrade.evaluate.rollout import (
    BASELINES,
    EpisodeResults,
    agent_policy,
    buy_and_hold_policy,
    cash_policy,
    random_policy,
    run_episodes,
)

__all__ = ["BASELINES", "EpisodeResults", "agent_policy", "buy_and_hold_policy", "cash_policy", "random_policy",
           "run_episodes"]
