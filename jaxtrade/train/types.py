"""The trainer's typed containers and the protocols it trains against (env, actor-critic, rollout metrics).

The trainer knows nothing about trading: it speaks to any gymnax-style environment
(`Environment`), any actor-critic (`ActorCritic`: obs -> (distribution inputs, value)),
an injected action distribution, and a `RolloutMetrics` hook that says what to record
from each step's info and how to summarise a rollout.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import distrax
import jax
import jax.numpy as jnp

Distribution = Callable[[Any], distrax.Distribution]  # network output (logits, or a tuple) -> action distribution


class Environment(Protocol):
    """A stateless env (gymnax contract with split termination / truncation).

    `step` auto-resets and reports the finished episode's last observation as
    `info.final_observation` (or `info["final_observation"]`) for the truncation bootstrap.
    """

    def reset(self, key: jax.Array, params: Any, /) -> tuple[Any, Any]: ...

    def step(self, key: jax.Array, state: Any, action: Any, params: Any, /
             ) -> tuple[Any, Any, jax.Array, jax.Array, jax.Array, Any]: ...


class ActorCritic(Protocol):
    """A batched actor-critic (a flax module fits): apply(params, obs (B, ...)) -> (inputs (B, ...), value (B,))."""

    def init(self, key: jax.Array, obs: Any, /) -> Any: ...

    def apply(self, params: Any, obs: Any, /) -> Any: ...  # (distribution inputs, value)


class RolloutMetrics(Protocol):
    """What the trainer keeps from each step's info, and the per-update summary it makes of them."""

    def record(self, info: Any) -> Any:
        """(N, ...) values from one step's batched info."""

    def summarise(self, records: Any, done: jax.Array) -> Any:
        """Scalars from a rollout's (T, N, ...) records and (T, N) episode ends."""


def final_observation(info: Any) -> Any:
    """The last observation of each env's episode (the next one where it goes on)."""
    return info["final_observation"] if isinstance(info, dict) else info.final_observation


class TrainState(NamedTuple):
    """Network parameters and optimiser state."""

    params: Any  # flax parameter tree
    opt_state: Any  # optax state (its count drives the learning-rate schedule)


class ReturnScale(NamedTuple):
    """Running variance of the envs' discounted returns, to scale rewards (as CleanRL's NormalizeReward)."""

    count: jax.Array  # type: ignore[assignment]  # () float32 samples seen (a field, over tuple.count)
    mean: jax.Array  # () float32
    var: jax.Array  # () float32
    discounted: jax.Array  # (N,) float32 each env's discounted return so far this episode

    @classmethod
    def zeros(cls, num_envs: int) -> ReturnScale:
        z = jnp.zeros((), jnp.float32)
        return cls(z, z, jnp.ones((), jnp.float32), jnp.zeros((num_envs,), jnp.float32))


class RunnerState(NamedTuple):
    """The full carry of the training loop: restoring it resumes a run bit for bit."""

    train_state: TrainState
    env_state: Any  # (N,) batched env states
    obs: Any  # (N,) batched, the next decision's observation
    key: jax.Array  # PRNG key
    updates_done: jax.Array  # () int32 PPO updates applied so far
    return_scale: ReturnScale  # reward scaling statistics (unused unless cfg.normalize_rewards)


class Transition(NamedTuple):
    """One rollout step for all envs; the rollout stacks them to (T, N, ...)."""

    obs: Any  # (N, ...) the observation acted on
    action: jax.Array  # (N,) action taken
    log_prob: jax.Array  # (N,) behaviour policy log-probability
    value: jax.Array  # (N,) V(obs)
    reward: jax.Array  # (N,) the reward learned from (scaled when cfg.normalize_rewards)
    env_reward: jax.Array  # (N,) the env's reward
    terminated: jax.Array  # (N,) bool: no bootstrap
    truncated: jax.Array  # (N,) bool: bootstrap from the final observation
    bootstrap_value: jax.Array  # (N,) V(final observation of this step)
    records: Any  # the `RolloutMetrics.record` of this step's info


class LossStats(NamedTuple):
    """What one minibatch's PPO loss reports (scalars)."""

    policy_loss: jax.Array
    value_loss: jax.Array
    entropy: jax.Array
    approx_kl: jax.Array  # mean (r - 1) - log r
    clip_fraction: jax.Array  # share of samples with |r - 1| > clip_eps


class Metrics(NamedTuple):
    """Per-update training metrics (scalars; chunks stack them to (K,))."""

    episodes: jax.Array  # episodes that ended in this rollout
    reward: jax.Array  # mean per-step env reward (before any scaling)
    policy_loss: jax.Array
    value_loss: jax.Array
    entropy: jax.Array
    approx_kl: jax.Array  # mean over minibatches of (r - 1) - log r
    clip_fraction: jax.Array  # share of samples with |r - 1| > clip_eps
    grad_norm: jax.Array  # global gradient norm before clipping
    learning_rate: jax.Array
    env: Any  # the `RolloutMetrics.summarise` of the rollout


class Trainer(NamedTuple):
    """The pure functions `make_train` returns (see `jaxtrade.train.ppo`)."""

    init: Callable[..., RunnerState]  # (key, hp, env_params, params=None) -> RunnerState
    update: Callable[..., tuple[RunnerState, Metrics]]  # (runner, hp, env_params) -> one update
    run_chunk: Callable[..., tuple[RunnerState, Metrics]]  # (runner, hp, env_params, K) -> K updates
    train: Callable[..., tuple[RunnerState, Metrics]]  # (key, hp, env_params) -> the whole run
