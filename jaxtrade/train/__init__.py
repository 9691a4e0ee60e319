"""Training: fully on-device PPO (`make_train`), its configs, and orbax checkpoints.

The host loop with progress lines and checkpoints is `jaxtrade.train.loop` (`build`, `fit`).
"""

from jaxtrade.train.checkpoint import FORMAT_VERSION, Checkpointer
from jaxtrade.train.config import PPOConfig, PPOHyperparams
from jaxtrade.train.ppo import (
    Metrics,
    RunnerState,
    Trainer,
    TrainState,
    Transition,
    compute_gae,
    make_optimizer,
    make_train,
)

__all__ = [
    "FORMAT_VERSION", "Checkpointer", "Metrics", "PPOConfig", "PPOHyperparams", "RunnerState", "TrainState",
    "Trainer", "Transition", "compute_gae", "make_optimizer", "make_train",
]
