"""Probe environments for the generic PPO trainer, in the style of rejax / bsuite / Andy Jones' debugging
probes: each isolates one piece of value or advantage estimation, with a known exact answer.

All follow the gymnax contract the trainer speaks: reset(key, params) -> (obs, state); step(key, state,
action, params) -> (obs, state, reward, terminated, truncated, info) with auto-reset and the finished
episode's last observation in info["final_observation"]. Observations are (1,) float32 arrays.
"""

from __future__ import annotations

from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp


class ProbeState(NamedTuple):
    t: jax.Array  # () int32 steps taken this episode
    sign: jax.Array  # () float32 +-1 drawn at reset (the observation-dependent probe)


class Probe:
    """One probe, by `kind`:

    - constant:     obs 0, reward 1, every step terminates.                      V = 1
    - observation:  obs +-1 at random, reward = obs, every step terminates.       V(obs) = obs
    - discount:     obs 0 then obs 1; reward 0 then 1; terminates after two.       V(0) = gamma, V(1) = 1
    - action:       obs 0, reward 1 for action 1 else 0, every step terminates.   pi(1) -> 1, V -> 1
    - truncation:   obs 0, reward 1, never terminates, truncated every 3 steps.  V = 1 / (1 - gamma)
    """

    num_actions = 2

    def __init__(self, kind: str):
        if kind not in ("constant", "observation", "discount", "action", "truncation"):
            raise ValueError(kind)
        self.kind = kind

    def _obs(self, state: ProbeState) -> jax.Array:
        if self.kind == "observation":
            return state.sign[None]
        if self.kind == "discount":
            return state.t.astype(jnp.float32)[None]
        return jnp.zeros((1,), jnp.float32)

    def reset(self, key, params=None):
        state = ProbeState(jnp.zeros((), jnp.int32), jnp.where(jax.random.bernoulli(key), 1.0, -1.0))
        return self._obs(state), state

    def step(self, key, state: ProbeState, action, params=None):
        obs = self._obs(state)
        reward = {
            "constant": jnp.float32(1.0),
            "observation": state.sign,
            "discount": jnp.where(state.t == 1, 1.0, 0.0),
            "action": jnp.where(action == 1, 1.0, 0.0),
            "truncation": jnp.float32(1.0),
        }[self.kind]
        nxt = ProbeState(state.t + 1, state.sign)
        terminated = (nxt.t >= 2) if self.kind == "discount" else jnp.asarray(self.kind != "truncation")
        truncated = (nxt.t >= 3) & (self.kind == "truncation")
        final = self._obs(nxt)
        fresh_obs, fresh = self.reset(key)
        done = terminated | truncated
        state = jax.tree.map(lambda a, b: jnp.where(done, a, b), fresh, nxt)
        del obs
        return jnp.where(done, fresh_obs, final), state, reward, terminated, truncated, {"final_observation": final}


class ProbeNet(nn.Module):
    """obs (B, 1) -> (logits (B, 2), value (B,)): separate small MLPs for the actor and the critic."""

    @nn.compact
    def __call__(self, obs):
        h = nn.tanh(nn.Dense(32)(obs))
        v = nn.Dense(1)(nn.tanh(nn.Dense(32)(obs)))[..., 0]
        return nn.Dense(2)(h), v
