"""Rollout metrics hooks: what the trainer records from each step's info.

`TradingMetrics` reads the trading env's `StepInfo` (episode return, reward
components); `EpisodeReturns` works for any env, from the rewards alone.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp


class TradingSummary(NamedTuple):
    """A rollout of the trading env, summarised."""

    episode_return: jax.Array  # () mean equity return of the episodes that ended in the rollout
    reward_components: jax.Array  # (C,) mean per-step reward components


class TradingMetrics:
    """Episode equity returns and reward components from `jaxtrade.env.StepInfo`."""

    def record(self, info) -> tuple[jax.Array, jax.Array]:
        return info.episode_return, jnp.stack(info.reward_components, -1)

    def summarise(self, records, done: jax.Array) -> TradingSummary:
        episode_return, components = records
        ended = jnp.maximum(done.sum(), 1)
        return TradingSummary(jnp.where(done, episode_return, 0.0).sum() / ended, components.mean(axis=(0, 1)))


class NoMetrics:
    """Records nothing (for envs whose info the trainer need not read)."""

    def record(self, info) -> tuple:
        return ()

    def summarise(self, records, done: jax.Array) -> tuple:
        return ()
