"""The JAX env against the plain NumPy reference, step by step, over thousands of random episodes."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import with_gaps
from reference_env import ReferenceEnv, reference_params

from jaxtrade.env import EnvConfig, RewardWeights, TradingEnv, make_params
from jaxtrade.env.rewards import REWARD_COMPONENTS
from jaxtrade.features import FeatureConfig, compute_features

NUM_ENVS, NUM_STEPS = 256, 200
ALL_ON = dict.fromkeys(REWARD_COMPONENTS, 1.0)  # every reward component's weight at 1


def random_rollout(env, params, key, num_envs, num_steps):
    """Auto-resetting rollout; 80 % of actions drawn from the mask, 20 % anything in [-1, A] (invalid too)."""
    k_reset, k_run = jax.random.split(key)
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(k_reset, num_envs), params)
    step = jax.vmap(env.step, in_axes=(0, 0, 0, None))

    def body(carry, key):
        obs, state = carry
        k_mask, k_any, k_mix, k_step = jax.random.split(key, 4)
        masked = jax.random.categorical(k_mask, jnp.where(obs.action_mask, 0.0, -jnp.inf))
        anything = jax.random.randint(k_any, (num_envs,), -1, env.num_actions + 1)
        action = jnp.where(jax.random.uniform(k_mix, (num_envs,)) < 0.8, masked, anything)
        obs, state, reward, terminated, truncated, info = step(
            jax.random.split(k_step, num_envs), state, action, params)
        done = terminated | truncated  # the state was reset: its stop record is the new episode's
        out = dict(action=action, reward=reward, terminated=terminated, truncated=truncated, info=info,
                   obs=obs, symbol=state.symbol, bar=state.bar, side=info.final_observation.position[:, 4],
                   stop_reason=jnp.where(done, -9, state.stop_reason), stop_bar=jnp.where(done, -9, state.stop_bar),
                   stops=jnp.where(done, -9, state.stops))
        return (obs, state), out

    run = jax.jit(lambda o, s, k: jax.lax.scan(body, (o, s), jax.random.split(k, num_steps))[1])
    return jax.tree.map(np.asarray, (obs, state, run(obs, state, k_run)))


CASES = {
    # Real daily stocks with tight risk limits, full position sizes and every reward weight on:
    # stop losses, take profits, max-hold exits, drawdown terminations, truncations and drift over the
    # position cap all occur.
    "stocks-tight": ("stocks", EnvConfig(
        horizon=60, max_position=0.09, stop_loss=0.02, take_profit=0.03, max_hold=10, max_drawdown=0.03,
        ruin=0.99, commission_bps=20.0, slippage_bps=10.0,
        reward=RewardWeights(**ALL_ON))),
    # Synthetic regime-switching bars with 4 % of the bars missing (carried at the last close, nothing fills),
    # default costs and weights, short norm window, run as a backtest: a drawdown stop liquidates and the
    # episode runs on in cash (no stop loss, so positions are still open when it fires).
    "synthetic-gaps-backtest": ("small_market", EnvConfig(horizon=50, max_drawdown=0.02, stop_loss=0.0)),
    # The tight stocks case with a penalty on the step the drawdown stop (or ruin) fires.
    "stocks-stop-penalty": ("stocks", EnvConfig(
        horizon=60, max_position=0.09, max_drawdown=0.03, ruin=0.99, stop_penalty=25.0, stop_loss=0.0,
        take_profit=0.0, max_hold=0)),
    # A drawdown stop that de-risks: the book is closed, waits 5 bars in cash and trades again from a reset
    # peak; episodes run on through several stops, each charged the penalty once; ruin stays terminal.
    "stocks-cooldown": ("stocks", EnvConfig(
        horizon=100, max_position=0.5, max_drawdown=0.02, stop_cooldown=3, ruin=0.95, stop_penalty=25.0,
        stop_loss=0.0, take_profit=0.0, max_hold=0)),
    # Long and short on real stocks, positions up to half of equity, a 3 %/yr borrow fee, mirrored exits,
    # a maintenance margin set above 1 in the params (not a valid config value) so buy-ins fire often, and
    # orders sized by risk (a 15 % volatility target).
    "stocks-short": ("stocks", EnvConfig(
        horizon=60, allow_short=True, max_position=0.5, stop_loss=0.02, take_profit=0.03, max_hold=10,
        max_drawdown=0.05, borrow_bps=300.0, vol_target=0.15,
        reward=RewardWeights(**ALL_ON))),
}
MARGIN_OVERRIDE = {"stocks-short": 2.5}
ENVS = {"stocks-cooldown": 128}  # stops fire often there: half the envs still see hundreds (suite time)


@pytest.mark.parametrize("case", sorted(CASES))
def test_env_matches_reference_step_by_step(case, request):
    fixture, cfg = CASES[case]
    data = request.getfixturevalue(fixture)
    backtest = case.endswith("backtest")
    if backtest:
        data = with_gaps(data, 0.04)
    features = compute_features(data, FeatureConfig(norm_window=60 if fixture == "small_market" else 252))
    params = make_params(data, features, cfg)
    if backtest:
        params = params.evaluation()
    if case in MARGIN_OVERRIDE:
        params = params.replace(rules=params.rules.replace(short_margin=jnp.float32(MARGIN_OVERRIDE[case])))
    env = TradingEnv(actions=cfg.actions)
    num_envs = ENVS.get(case, NUM_ENVS)
    obs0, state0, out = random_rollout(env, params, jax.random.key(7), num_envs, NUM_STEPS)
    p = reference_params(params)
    ref = ReferenceEnv(p, allow_short=cfg.allow_short, on_stop=params.on_stop)

    final = out["info"].final_observation
    components = np.stack(out["info"].reward_components, axis=-1)
    got = {"reward": out["reward"], "components": components, "equity": out["info"].equity,
           "position": final.position, "portfolio": final.portfolio, "risk": final.risk}
    want = {k: np.zeros(v.shape, np.float64) for k, v in got.items()}
    episodes = stops_fired = 0
    for i in range(num_envs):
        ref_obs = ref.start(int(state0.symbol[i]), int(state0.bar[i]))
        np.testing.assert_array_equal(ref_obs["technical"], obs0.technical[i])
        episodes += 1
        for t in range(NUM_STEPS):
            o, reward, terminated, truncated, info = ref.step(int(out["action"][t, i]))
            where = f"env {i} step {t}"
            assert terminated == out["terminated"][t, i], where
            assert truncated == out["truncated"][t, i], where
            assert info["executed_action"] == out["info"].executed_action[t, i], where
            assert info["invalid_action"] == out["info"].invalid_action[t, i], where
            assert info["exit_reason"] == out["info"].exit_reason[t, i], where
            if not (terminated or truncated):
                assert ((info["stop_reason"], info["stop_bar"], info["stops"])
                        == (out["stop_reason"][t, i], out["stop_bar"][t, i], out["stops"][t, i])), where
            stops_fired += info["stop_fired"]
            for name in ("technical", "regime", "aux", "action_mask"):
                np.testing.assert_array_equal(o[name], getattr(final, name)[t, i], err_msg=f"{name} {where}")
            want["reward"][t, i], want["components"][t, i] = reward, info["components"]
            want["equity"][t, i] = info["equity"]
            for name in ("position", "portfolio", "risk"):
                want[name][t, i] = o[name]
            if terminated or truncated:
                o = ref.start(int(out["symbol"][t, i]), int(out["bar"][t, i]))
                episodes += 1
            else:  # without a reset the returned observation is the final one
                np.testing.assert_array_equal(out["obs"].technical[t, i], final.technical[t, i])
            np.testing.assert_allclose(o["position"], out["obs"].position[t, i], atol=1e-4, err_msg=where)

    assert episodes >= 500 * num_envs // NUM_ENVS
    init = p["initial_cash"]
    np.testing.assert_allclose(got["equity"] / init, want["equity"] / init, rtol=0, atol=1e-5)
    np.testing.assert_allclose(got["position"], want["position"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got["portfolio"], want["portfolio"], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(got["risk"], want["risk"], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(got["components"], want["components"], rtol=1e-4, atol=2e-4)
    np.testing.assert_allclose(got["reward"], want["reward"], rtol=1e-4, atol=2e-4)

    # The random policy really exercised the rules being compared.
    scale = got["risk"][..., 4]
    if cfg.vol_target > 0:  # orders were sized by risk, some smaller and some larger than the table's
        assert (scale < 0.8).mean() > 0.1 and (scale > 1.0).any()
    else:
        np.testing.assert_array_equal(scale, 1.0)
    if cfg.stop_penalty > 0:  # charged once per stop, on the step it fired
        charged = got["components"][..., REWARD_COMPONENTS.index("drawdown")] <= -cfg.stop_penalty
        assert charged.sum() == stops_fired > 20
        if cfg.stop_cooldown == 0:
            assert stops_fired == out["terminated"].sum()
    info = out["info"]
    assert info.invalid_action.sum() > 100
    assert out["truncated"].sum() > 50
    assert info.trade_closed.sum() > 100
    fired = {name for name, any_ in zip(REWARD_COMPONENTS, (components != 0).any(axis=(0, 1)), strict=True) if any_}
    # Every component but hold (idle steps) and sizing (drift over the cap) fires in every case.
    assert set(REWARD_COMPONENTS) - {"hold", "sizing"} <= fired and ("sizing" in fired or case == "stocks-short")
    if case == "stocks-tight":
        assert np.isin([1, 2, 3], info.exit_reason).all()  # stop loss, take profit, max hold
        assert out["terminated"].sum() > 10
        assert "hold" in fired
    if backtest:  # gaps were stepped through, stops liquidated and the episodes ran on flat
        assert not out["terminated"].any()
        assert (~np.asarray(params.market.tradeable)[out["symbol"], out["bar"] - 1]).sum() > 100
        assert (info.exit_reason == 5).sum() > 20 and (out["stop_reason"] == 1).sum() > 1000
    if case == "stocks-cooldown":  # stops de-risked and trading resumed: several stops in one episode,
        # liquidations at the stop, no drawdown stop ended an episode, ruin did
        assert (out["stops"] >= 2).sum() > 100 and (info.exit_reason == 5).sum() > 100
        assert 0 < out["terminated"].sum() < stops_fired / 4
    if case == "stocks-short":
        assert (out["side"] < 0).mean() > 0.2 and (out["side"] > 0).mean() > 0.2  # both sides held
        assert np.isin([1, 2, 3, 4], info.exit_reason).all()  # stop, take profit, max hold, buy-in
        assert (info.borrow > 0).mean() > 0.2 and (info.borrow[out["side"] > 0] == 0).all()
