"""The Gymnasium adapters: the env checker, agreement with the JAX env, vector auto-reset."""

from __future__ import annotations

import warnings

import jax
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from jaxtrade.env import REWARD_COMPONENTS, EnvConfig, TradingEnv, make_params
from jaxtrade.env.gym_adapter import TradingGymEnv, TradingVectorEnv


@pytest.fixture(scope="module")
def params(small_market, small_features):
    return make_params(small_market, small_features, EnvConfig(horizon=30, max_drawdown=0.02))


def test_single_env_passes_the_gymnasium_checker(params):
    env = TradingGymEnv(params)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env, skip_render_check=True)
    assert not [w for w in caught if "jaxtrade" in str(w.filename)]
    obs, info = env.reset(seed=3)
    assert env.observation_space.contains(obs)
    again, _ = env.reset(seed=3)
    for k in obs:
        np.testing.assert_array_equal(obs[k], again[k])


def test_single_env_replays_the_jax_env(params):
    env = TradingGymEnv(params)
    jax_env = TradingEnv()
    obs, info = env.reset(seed=0)
    state = env._state
    rng = np.random.default_rng(0)
    steps = 0
    while True:
        action = int(rng.choice(np.flatnonzero(env.action_masks())))
        obs, reward, terminated, truncated, info = env.step(action)
        _, state, want, *_ = jax_env.step_env(jax.random.key(0), state, action, params)
        assert reward == pytest.approx(float(want), rel=1e-4, abs=1e-6)  # jit vs eager float32
        assert env.observation_space.contains(obs)
        assert set(info["reward_components"]) == set(REWARD_COMPONENTS)
        steps += 1
        if terminated or truncated:
            break
    assert 1 <= steps <= 30
    with pytest.raises(RuntimeError, match="reset"):
        TradingGymEnv(params).step(0)


def test_vector_env_steps_all_envs_and_auto_resets(params):
    n = 16
    envs = TradingVectorEnv(params, num_envs=n)
    obs, _ = envs.reset(seed=1)
    assert envs.observation_space.contains(obs)
    assert obs["technical"].shape == (n, 24, 23)
    rng = np.random.default_rng(1)
    resets = 0
    for _ in range(80):
        masks = envs.action_masks()
        actions = np.array([rng.choice(np.flatnonzero(m)) for m in masks])
        obs, rewards, terminated, truncated, infos = envs.step(actions)
        assert rewards.shape == (n,) and np.isfinite(rewards).all()
        done = terminated | truncated
        np.testing.assert_array_equal(infos["_final_obs"], done)
        if done.any():
            resets += done.sum()
            # A reset sub-env starts flat at the initial cash; its final observation does not.
            np.testing.assert_array_equal(obs["position"][done], 0.0)
            np.testing.assert_array_equal(obs["portfolio"][done], 0.0)
        kept = ~done
        np.testing.assert_array_equal(infos["final_obs"]["technical"][kept], obs["technical"][kept])
    assert resets >= n * 2
    assert envs.action_space.shape == (n,)
    with pytest.raises(ValueError, match="num_envs"):
        TradingVectorEnv(params, num_envs=0)
