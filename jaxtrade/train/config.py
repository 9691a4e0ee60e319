"""`PPOConfig` (static loop shape + default hyperparameters) and `PPOHyperparams` (the traced numbers)."""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
from flax import struct

from jaxtrade.errors import ConfigError


@dataclass(frozen=True)
class PPOConfig:
    """PPO settings. Integers fix the compiled program's shape; floats become traced `PPOHyperparams`."""

    num_envs: int = 64  # parallel episodes in each rollout
    rollout_len: int = 128  # steps per env per update
    num_updates: int = 100  # PPO updates in the whole run
    update_epochs: int = 4  # passes over each rollout
    num_minibatches: int = 4  # minibatches per pass (each holds rollout_len / num_minibatches steps of every env)
    updates_per_chunk: int = 10  # updates per jitted call between host progress/checkpoints
    learning_rate: float = 3e-4  # Adam step size (linearly annealed to 0 when anneal_lr)
    anneal_lr: bool = True  # linear learning-rate decay over num_updates
    gamma: float = 0.99  # discount
    gae_lambda: float = 0.95  # GAE lambda
    clip_eps: float = 0.2  # PPO ratio clip (also the value clip)
    vf_coef: float = 0.5  # value loss weight
    ent_coef: float = 0.01  # entropy bonus weight
    max_grad_norm: float = 0.5  # global gradient-norm clip
    normalize_advantages: bool = True  # per-minibatch advantage standardisation
    normalize_rewards: bool = False  # divide rewards by the running std of the discounted return (value targets ~1)
    seed: int = 0  # PRNG seed of the run

    def __post_init__(self):
        for name in ("num_envs", "rollout_len", "num_updates", "update_epochs", "num_minibatches",
                     "updates_per_chunk"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"ppo.{name}: must be an integer >= 1, got {v!r}")
        if self.rollout_len % self.num_minibatches:
            raise ConfigError(f"ppo.num_minibatches: {self.num_minibatches} does not divide rollout_len = "
                              f"{self.rollout_len} (each minibatch takes an equal share of every env's steps)")
        # Upper bounds far past any sensible setting, so that float32 arithmetic on them stays finite.
        for name, lo, hi in (("learning_rate", 0, 1), ("gamma", 0, 1), ("gae_lambda", 0, 1),
                             ("clip_eps", 0, 10), ("max_grad_norm", 0, 1e6)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (lo < v <= hi):
                raise ConfigError(f"ppo.{name}: must be in ({lo}, {hi:g}], got {v!r}")
        for name in ("vf_coef", "ent_coef"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (0 <= v <= 1e3):
                raise ConfigError(f"ppo.{name}: must be in [0, 1000], got {v!r}")

    @property
    def batch_size(self) -> int:
        """Transitions per update: num_envs * rollout_len."""
        return self.num_envs * self.rollout_len

    def updates_for(self, total_timesteps: int) -> int:
        """PPO updates for at least `total_timesteps` env steps (SB3's and CleanRL's run length): rounded up to
        whole updates of batch_size steps, so a run takes ceil(total / batch_size) * batch_size steps.

        Raises:
          ConfigError: a total below 1.
        """
        if isinstance(total_timesteps, bool) or not isinstance(total_timesteps, int) or total_timesteps < 1:
            raise ConfigError(f"total timesteps: must be an integer >= 1, got {total_timesteps!r}")
        return -(-total_timesteps // self.batch_size)

    @property
    def minibatch_size(self) -> int:
        return self.batch_size // self.num_minibatches

    @property
    def num_chunks(self) -> int:
        """Host-loop iterations; the last chunk may be shorter."""
        return -(-self.num_updates // self.updates_per_chunk)


class PPOHyperparams(struct.PyTreeNode):
    """The numeric PPO hyperparameters as traced scalars: a sweep over them is a `vmap`."""

    learning_rate: jax.Array  # ()
    gamma: jax.Array  # ()
    gae_lambda: jax.Array  # ()
    clip_eps: jax.Array  # ()
    vf_coef: jax.Array  # ()
    ent_coef: jax.Array  # ()
    max_grad_norm: jax.Array  # ()

    @classmethod
    def from_config(cls, cfg: PPOConfig) -> PPOHyperparams:
        f = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
        return cls(f(cfg.learning_rate), f(cfg.gamma), f(cfg.gae_lambda), f(cfg.clip_eps), f(cfg.vf_coef),
                   f(cfg.ent_coef), f(cfg.max_grad_norm))
