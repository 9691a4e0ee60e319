"""Gymnasium adapters: the JAX env as a `gymnasium.Env` and as a `gymnasium.vector.VectorEnv`.

For code written against Gymnasium (Stable-Baselines3, sb3-contrib's MaskablePPO
via `action_masks()`, CleanRL). Both wrap the same pure `TradingEnv`: the single
env jits `reset`/`step_env` and leaves resets to the caller, as Gymnasium
expects; the vector env jits the vmapped, auto-resetting `step` over all
sub-envs at once (`AutoresetMode.SAME_STEP`: a finished sub-env's last
observation is in `infos["final_obs"]`, flagged by `infos["_final_obs"]`).
Observations are dicts of NumPy arrays; `action_mask` is int8 (`MultiBinary`).

Import this module explicitly (`from jaxtrade.env.gym_adapter import ...`);
`import jaxtrade` does not import Gymnasium.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np

try:
    import gymnasium
    from gymnasium import spaces
    from gymnasium.vector import AutoresetMode
    from gymnasium.vector.utils import batch_space
except ImportError as exc:  # an optional extra; AutoresetMode arrived in gymnasium 1.1
    raise ImportError(f"jaxtrade.env.gym_adapter needs gymnasium >= 1.1, an optional extra: pip install "
                      f"'jaxtrade[gym]' ({exc})") from exc

from jaxtrade.env.env import TradingEnv
from jaxtrade.env.rewards import REWARD_COMPONENTS
from jaxtrade.env.types import EnvParams, Observation, StepInfo


def observation_space(env: TradingEnv, params: EnvParams) -> spaces.Dict:
    """The Gymnasium space of one observation."""
    fields: dict[str, spaces.Space] = {}
    for name, shape in env.observation_shapes(params).items():
        if name == "action_mask":
            fields[name] = spaces.MultiBinary(shape)
        else:
            fields[name] = spaces.Box(-np.inf, np.inf, shape, np.float32)
    return spaces.Dict(fields)


def _numpy_obs(obs: Observation) -> dict[str, np.ndarray]:
    out = {k: np.asarray(v) for k, v in obs.as_dict().items()}
    out["action_mask"] = out["action_mask"].astype(np.int8)
    return out


def _numpy_info(info: StepInfo) -> dict[str, Any]:
    out: dict[str, Any] = {f.name: np.asarray(getattr(info, f.name)) for f in dataclasses.fields(info)
           if f.name not in ("reward_components", "final_observation")}
    values: tuple[Any, ...] = tuple(info.reward_components)
    components = {name: np.asarray(v) for name, v in zip(REWARD_COMPONENTS, values, strict=True)}
    out["reward_components"] = components
    return out


def _env_for(params: EnvParams, env: TradingEnv | None) -> TradingEnv:
    """`env`, or a default env on the params' action table; a table that differs from the params' is refused."""
    env = env or TradingEnv(actions=params.actions)
    env.check_actions(params)
    return env


def _key_from(rng: np.random.Generator) -> jax.Array:
    return jax.random.key(int(rng.integers(0, 2**31 - 1)))


class TradingGymEnv(gymnasium.Env):
    """One trading env behind the Gymnasium API (no auto-reset: call `reset` after an episode ends).

    Args:
      params: `EnvParams` from `make_params` (market data, costs, limits).
      env: the JAX env to wrap; default `TradingEnv(actions=params.actions)` (the action table the params
        were made for: Discrete(13) under `env.allow_short`); another table is an error.
    """

    metadata = {"render_modes": []}

    def __init__(self, params: EnvParams, env: TradingEnv | None = None):
        self.env = _env_for(params, env)
        self.params = params
        self.observation_space = observation_space(self.env, params)
        self.action_space = spaces.Discrete(self.env.num_actions)
        self._reset = jax.jit(self.env.reset)
        self._step = jax.jit(self.env.step_env)
        self._state: Any = None  # set by reset
        self._mask: Any = None
        self._key: Any = None

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None or self._key is None:
            self._key = _key_from(self.np_random)
        self._key, key = jax.random.split(self._key)
        obs, self._state = self._reset(key, self.params)
        obs = _numpy_obs(obs)
        self._mask = obs["action_mask"].astype(bool)
        return obs, {"action_mask": self._mask.copy()}

    def step(self, action):
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        self._key, key = jax.random.split(self._key)
        obs, self._state, reward, terminated, truncated, info = self._step(
            key, self._state, np.int32(action), self.params)
        obs = _numpy_obs(obs)
        self._mask = obs["action_mask"].astype(bool)
        info = _numpy_info(info)
        info["action_mask"] = self._mask.copy()
        return obs, float(reward), bool(terminated), bool(truncated), info

    def action_masks(self) -> np.ndarray:
        """(A,) bool valid actions now (the sb3-contrib MaskablePPO hook)."""
        return self._mask.copy()


class TradingVectorEnv(gymnasium.vector.VectorEnv):
    """`num_envs` trading envs stepped together by one jitted, vmapped, auto-resetting step.

    Args:
      params: `EnvParams` shared by all sub-envs.
      num_envs: number of parallel episodes.
      env: the JAX env to wrap; default `TradingEnv(actions=params.actions)` (the action table the params
        were made for: Discrete(13) under `env.allow_short`); another table is an error.
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}

    def __init__(self, params: EnvParams, num_envs: int, env: TradingEnv | None = None):
        if not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs must be an integer >= 1, got {num_envs!r}")
        self.env = _env_for(params, env)
        self.params = params
        self.num_envs = num_envs
        self.single_observation_space = observation_space(self.env, params)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.single_action_space = spaces.Discrete(self.env.num_actions)
        self.action_space = spaces.MultiDiscrete(np.full(num_envs, self.env.num_actions))
        self._reset = jax.jit(jax.vmap(self.env.reset, in_axes=(0, None)))
        self._step = jax.jit(jax.vmap(self.env.step, in_axes=(0, 0, 0, None)))
        self._state: Any = None  # set by reset
        self._mask: Any = None
        self._key: Any = None

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None or self._key is None:
            self._np_random = np.random.default_rng(seed)
            self._key = _key_from(self._np_random)
        self._key, key = jax.random.split(self._key)
        obs, self._state = self._reset(jax.random.split(key, self.num_envs), self.params)
        obs = _numpy_obs(obs)
        self._mask = obs["action_mask"].astype(bool)
        return obs, {}

    def step(self, actions):
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        actions = np.asarray(actions, np.int32).reshape(self.num_envs)
        self._key, key = jax.random.split(self._key)
        obs, self._state, reward, terminated, truncated, info = self._step(
            jax.random.split(key, self.num_envs), self._state, actions, self.params)
        obs = _numpy_obs(obs)
        self._mask = obs["action_mask"].astype(bool)
        done = np.asarray(terminated) | np.asarray(truncated)
        infos = _numpy_info(info)
        infos["final_obs"] = _numpy_obs(info.final_observation)
        infos["_final_obs"] = done
        return obs, np.asarray(reward), np.asarray(terminated), np.asarray(truncated), infos

    def action_masks(self) -> np.ndarray:
        """(num_envs, A) bool valid actions now."""
        return self._mask.copy()
