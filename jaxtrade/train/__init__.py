"""Training: fully on-device PPO (`make_train`), its configs, and orbax checkpoints.

The trainer is generic over the env (`Environment`), the network (`ActorCritic`), the action
distribution and the rollout metrics hook. The host loop with progress lines, checkpoints and the metrics
hook is `fit` over a `make_setup` (`jaxtrade.train.loop`).
"""

from jaxtrade.train.checkpoint import FORMAT_VERSION, Checkpointer
from jaxtrade.train.config import PPOConfig, PPOHyperparams
from jaxtrade.train.hooks import NoMetrics, TradingInfo, TradingMetrics, TradingSummary
from jaxtrade.train.loop import Setup, fit, make_setup
from jaxtrade.train.ppo import (
    categorical,
    compute_gae,
    make_optimizer,
    make_train,
    ppo_loss,
    scale_rewards,
)
from jaxtrade.train.types import (
    ActorCritic,
    Distribution,
    Environment,
    LossStats,
    Metrics,
    ReturnScale,
    RolloutMetrics,
    RunnerState,
    Trainer,
    TrainState,
    Transition,
)

__all__ = [
    "FORMAT_VERSION", "ActorCritic", "Checkpointer", "Distribution", "Environment", "LossStats", "Metrics",
    "NoMetrics", "PPOConfig", "Setup", "PPOHyperparams", "ReturnScale", "RolloutMetrics", "RunnerState",
    "TrainState", "Trainer", "TradingInfo", "TradingMetrics", "TradingSummary", "Transition", "categorical",
    "compute_gae", "fit", "make_optimizer", "make_setup", "make_train", "ppo_loss", "scale_rewards"
]
