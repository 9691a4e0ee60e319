"""Rollout metrics hooks: what the trainer records from each step's info.

`TradingMetrics` reads any info with the `TradingInfo` fields (`env.types.AccountInfo`, which the single-symbol
env's `StepInfo` and the portfolio env's `PortfolioInfo` extend); `NoMetrics` records nothing. Another env brings
its own hook (`make_setup(..., metrics=...)`): `fit` logs and writes whatever fields its summary has.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

import jax
import jax.numpy as jnp


class TradingInfo(Protocol):
    """What `TradingMetrics` reads of a step's (batched) info."""

    episode_return: jax.Array  # (N,) equity / initial cash - 1 at the step's close
    reward_components: tuple  # the reward's components, each (N,) (`env.rewards.RewardComponents`)


class TradingSummary(NamedTuple):
    """A rollout of the trading env, summarised."""

    episode_return: jax.Array  # () mean equity return of the episodes that ended in the rollout
    reward_components: jax.Array  # (C,) mean per-step reward components


class TradingMetrics:
    """Episode equity returns and reward components from a `TradingInfo` (`StepInfo`, `PortfolioInfo`)."""

    def record(self, info: TradingInfo) -> tuple[jax.Array, jax.Array]:
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
