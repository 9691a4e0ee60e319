"""Agents: the transformer actor-critic (shared across symbols) and its categorical policy."""

from jaxtrade.agents.config import TransformerConfig
from jaxtrade.agents.networks import (
    MASKED_LOGIT,
    ActorCritic,
    ActorHead,
    CriticHead,
    EncoderBlock,
    TransformerTorso,
    count_params,
    policy,
    sinusoidal_positions,
)

__all__ = [
    "MASKED_LOGIT", "ActorCritic", "ActorHead", "CriticHead", "EncoderBlock", "TransformerConfig",
    "TransformerTorso", "count_params", "policy", "sinusoidal_positions",
]
