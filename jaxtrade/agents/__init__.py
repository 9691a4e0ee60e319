"""Agents: the actor-critic (transformer or MLP torso) (shared across symbols), its categorical policy, and the master
(portfolio) agent interface with a rule-based allocator."""

from jaxtrade.agents.config import TORSOS, AgentConfig, register_torso
from jaxtrade.agents.master import (
    Allocation,
    AllocationInput,
    ConfidenceAllocator,
    MasterAgent,
    exposure_change,
    gate_actions,
)
from jaxtrade.agents.networks import (
    MASKED_LOGIT,
    ActorCritic,
    ActorHead,
    CriticHead,
    EncoderBlock,
    MLPTorso,
    TransformerTorso,
    count_params,
    policy,
    sinusoidal_positions,
)

__all__ = [
    "Allocation", "AllocationInput", "ConfidenceAllocator", "MasterAgent", "exposure_change", "gate_actions",
    "MASKED_LOGIT", "ActorCritic", "AgentConfig", "MLPTorso", "ActorHead", "CriticHead", "EncoderBlock",
    "TORSOS", "TransformerTorso", "count_params", "policy", "register_torso",
    "sinusoidal_positions"
]


def __getattr__(name: str):
    if name == "TransformerConfig":  # deprecated: `AgentConfig` (the warning is the config module's)
        from jaxtrade.agents import config

        return config.TransformerConfig
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

