"""Hypothesis properties of whole rollouts on hostile price paths: crashes, gaps, tiny and huge prices."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxtrade.data.types import MarketData
from jaxtrade.env import EnvConfig, TradingEnv, make_params, select_starts
from jaxtrade.features import FeatureConfig, compute_features

S, T = 2, 260
NUM_ENVS, NUM_STEPS = 64, 120
FEATURES = FeatureConfig(norm_window=20)  # warm-up 139 bars


def hostile_market(seed, scale, vol, crash_bar, crash, gap_bars, open_jump, jump_prob=0.0) -> MarketData:
    """Random-walk bars with a one-bar crash, large opening jumps and missing bars on symbol 1; with
    `jump_prob`, each bar's close also jumps by up to +-90 % with that probability."""
    rng = np.random.default_rng(seed)
    log_ret = rng.normal(0.0, vol, (S, T))
    log_ret[:, crash_bar] += np.log1p(-crash)
    jumps = rng.random((S, T)) < jump_prob
    log_ret += np.where(jumps, np.log1p(rng.uniform(-0.9, 0.9, (S, T))), 0.0)
    close = scale * np.exp(np.cumsum(log_ret, axis=1))
    prev = np.concatenate([close[:, :1], close[:, :-1]], axis=1)
    jump = np.exp(rng.uniform(-open_jump, open_jump, (S, T)))
    open_ = prev * jump
    high = np.maximum(open_, close) * (1 + rng.uniform(0, vol + 1e-3, (S, T)))
    low = np.minimum(open_, close) / (1 + rng.uniform(0, vol + 1e-3, (S, T)))
    volume = rng.uniform(0, 1e6, (S, T))
    valid = np.ones((S, T), bool)
    valid[1, gap_bars] = False
    prices = np.stack([open_, high, low, close, volume], axis=-1).astype(np.float32)
    # Missing bars are stored as the last real close with zero volume, as the loaders do.
    for t in sorted(gap_bars):
        prices[1, t, :4] = prices[1, t - 1, 3]
        prices[1, t, 4] = 0.0
    return MarketData(
        prices=jnp.asarray(prices), valid=jnp.asarray(valid),
        day=jnp.arange(T, dtype=jnp.int32) + 18_000, second=jnp.zeros(T, jnp.int32),
        sentiment=jnp.zeros((S, T), jnp.float32), aux=jnp.full((S, T, 3), 1 / 3, jnp.float32),
        symbols=("A", "B"),
    )


def padded(params):
    """Pad the start table to a fixed length so every example reuses one compiled rollout."""
    return select_starts(params, np.ones(params.num_starts, bool), S * T)


def random_rollout(env: TradingEnv, preference=0.0):
    """A jitted (params, key) -> per-step record of NUM_ENVS auto-resetting episodes under a random masked
    policy (`preference`: logits added per action, e.g. to favour opening)."""

    @jax.jit
    def rollout(params, key):
        k_reset, k_run = jax.random.split(key)
        obs, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(k_reset, NUM_ENVS), params)
        step = jax.vmap(env.step, in_axes=(0, 0, 0, None))

        def body(carry, key):
            obs, state = carry
            k_act, k_step = jax.random.split(key)
            action = jax.random.categorical(k_act, jnp.where(obs.action_mask, jnp.asarray(preference), -jnp.inf))
            mask_before = obs.action_mask
            obs, new_state, reward, terminated, truncated, info = step(
                jax.random.split(k_step, NUM_ENVS), state, action, params)
            final = info.final_observation
            return (obs, new_state), dict(obs=obs, final=final, reward=reward, info=info, mask=mask_before,
                                          state=state, terminated=terminated, truncated=truncated)

        return jax.lax.scan(body, (obs, state), jax.random.split(k_run, NUM_STEPS))[1]

    return rollout


rollout = random_rollout(TradingEnv())


@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    scale=st.sampled_from([1e-4, 0.01, 1.0, 1e3, 1e5]),
    vol=st.floats(0.0, 0.15),
    crash_bar=st.integers(140, 258),
    crash=st.floats(0.0, 0.95),
    gap_bars=st.sets(st.integers(150, 255), max_size=12),
    open_jump=st.floats(0.0, 1.0),
    max_position=st.floats(0.05, 1.0),
)
def test_rollouts_stay_finite_solvent_and_respect_masks(seed, scale, vol, crash_bar, crash, gap_bars, open_jump,
                                                        max_position):
    data = hostile_market(seed, scale, vol, crash_bar, crash, sorted(gap_bars), open_jump)
    features = compute_features(data, FEATURES)
    cfg = EnvConfig(horizon=40, max_position=max_position, stop_loss=0.03, take_profit=0.05, max_hold=15)
    params = padded(make_params(data, features, cfg))
    out = jax.tree.map(np.asarray, rollout(params, jax.random.key(seed)))

    for name in ("obs", "final"):
        for leaf in jax.tree.leaves(out[name]):
            assert np.isfinite(leaf).all(), name
    assert np.isfinite(out["reward"]).all()
    assert all(np.isfinite(c).all() for c in out["info"].reward_components)

    # The book after each step (the final observation's state) is solvent and adds up.
    info = out["info"]
    assert (info.cost >= 0).all()
    state = out["state"]
    assert (state.cash >= 0).all() and (state.units >= 0).all()
    close = np.asarray(params.market.close)[state.symbol, state.bar]
    np.testing.assert_allclose(state.equity, state.cash + state.units * close, rtol=2e-5,
                               atol=1e-6 * cfg.initial_cash)
    assert (state.equity > 0).all()
    # Every executed order was allowed by the mask the agent saw, unless a risk rule forced the sale.
    executed = info.executed_action
    allowed = np.take_along_axis(out["mask"], executed[..., None], axis=-1)[..., 0]
    assert (allowed | (info.exit_reason > 0)).all()
    assert (executed != 0).mean() > 0.3 and (state.units > 0).any()  # the policy really traded
    # Missing bars are stepped through but never traded into or out of (nothing fills where the symbol cannot
    # trade, not even a forced exit), and no episode decides past the symbol's data.
    tradeable = np.asarray(params.market.tradeable)[state.symbol, state.bar]
    assert (tradeable | ((executed == 0) & (info.turnover == 0))).all()
    assert np.asarray(params.market.next_ok)[state.symbol, state.bar].all()
