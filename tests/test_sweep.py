"""Sweeps: symbols x seeds x hyperparameters x reward weights in one vmapped program."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from jaxtrade import cli
from jaxtrade.config import load_config
from jaxtrade.data.config import load_data
from jaxtrade.errors import ConfigError
from jaxtrade.experiment import Experiment, SweepSpec, parse_setting, sweep, sweep_runs
from jaxtrade.features import compute_features

TINY = Path(__file__).parents[1] / "configs" / "tiny.yaml"


@pytest.fixture(scope="module")
def tiny():
    cfg = load_config(TINY)
    cfg = replace(cfg, ppo=replace(cfg.ppo, num_updates=2, updates_per_chunk=1))
    data = load_data(cfg.data, min_bars=cfg.min_bars)
    return cfg, data, compute_features(data, cfg.features)


def test_sweep_trains_every_run_in_one_program(tiny):
    cfg, data, features = tiny
    spec = SweepSpec(seeds=(0,), per_symbol=True,
                     grid=(("ppo.learning_rate", (1e-4, 1e-3)), ("env.reward.pnl", (0.4, 0.8))))
    lines = []
    rows = sweep(Experiment(cfg, data, features), spec, episodes=32, log=lines.append)
    assert len(rows) == 2 * 2 * 2
    progress = [x for x in lines if "updates" in x and "ETA" in x]  # one bar line per chunk, after the compile
    assert len(progress) == 2 and "] 2/2 updates 100%" in progress[-1]
    assert lines[0] == "sweep: compiling the 8 runs' training program ..." and "done in" in lines[1]
    assert lines[-1].startswith("sweep: backtesting the 8 runs on the validation split (32 episodes each): done")
    assert [r["symbol"] for r in rows] == ["SYN000"] * 4 + ["SYN001"] * 4
    assert ([(r["ppo.learning_rate"], r["env.reward.pnl"]) for r in rows[:4]]
            == [(1e-4, 0.4), (1e-4, 0.8), (1e-3, 0.4), (1e-3, 0.8)])
    for r in rows:
        assert np.isfinite([v for k, v in r.items() if k.startswith(("valid_", "train_"))]).all()
        assert r["valid_episodes"] == 32
    assert len({round(r["valid_mean_return"], 9) for r in rows}) > 1


def test_reward_weights_and_symbols_reach_each_run(tiny):
    import jax

    from jaxtrade.agents import ActorCritic
    from jaxtrade.env import TradingEnv, make_params
    from jaxtrade.experiment.sweep import _run_params
    from jaxtrade.train import PPOHyperparams, make_train

    cfg, data, features = tiny
    spec = SweepSpec(seeds=(0,), per_symbol=True, grid=(("env.reward.pnl", (0.4, 0.8)),))
    runs = sweep_runs(cfg, spec, data.symbols)
    params, axes = _run_params(make_params(data, features, cfg.env, window=cfg.window), runs, True)
    trainer = make_train(replace(cfg.ppo, num_updates=1), TradingEnv(), ActorCritic(cfg.agent))
    hp = PPOHyperparams.from_config(cfg.ppo)
    keys = jax.numpy.stack([jax.random.key(0)] * len(runs))
    runner, m = jax.jit(jax.vmap(trainer.train, in_axes=(0, None, axes)))(keys, hp, params)
    symbols = np.asarray(runner.env_state.symbol)  # (runs, envs): every env trades its run's symbol
    assert (symbols == np.array([[0], [0], [1], [1]])).all()
    reward, pnl = np.asarray(m.reward)[:, 0], np.asarray(m.env.reward_components)[:, 0, 0]
    assert abs(pnl[0]) > 1e-4
    np.testing.assert_allclose(reward[1] - reward[0], 0.4 * pnl[0], rtol=1e-3, atol=1e-7)
    np.testing.assert_allclose(reward[3] - reward[2], 0.4 * pnl[2], rtol=1e-3, atol=1e-7)


def test_rules_sweep_like_reward_weights(tiny):
    """A cost or a limit is a sweep setting: each run's params carry its own value, one compiled step."""
    import jax

    from jaxtrade.env import Action, TradingEnv, make_params
    from jaxtrade.experiment.sweep import _run_params

    cfg, data, features = tiny
    spec = SweepSpec(grid=(parse_setting("env.commission_bps=0,50"), parse_setting("env.max_hold=5,20")))
    runs = sweep_runs(cfg, spec, data.symbols)
    assert [r["config"].env.max_hold for r in runs] == [5, 20, 5, 20]  # ints stay ints
    params, axes = _run_params(make_params(data, features, cfg.env, window=cfg.window), runs, False)
    np.testing.assert_array_equal(params.rules.commission_bps, [0, 0, 50, 50])
    np.testing.assert_array_equal(params.rules.max_hold, [5, 20, 5, 20])
    assert params.market.close.ndim == 2  # the market is shared, not copied per run
    env = TradingEnv()
    _, state = env.reset(jax.random.key(0), jax.tree.map(lambda x, a: x if a is None else x[0], params, axes))
    cost = jax.vmap(lambda p: env.step_env(jax.random.key(0), state, Action.BUY_LARGE, p)[5].cost,
                    in_axes=(axes,))(params)
    assert float(cost[0]) < float(cost[2])
    with pytest.raises(ConfigError, match="cannot be swept"):
        SweepSpec(grid=(("env.horizon", (10.0,)),))


def test_a_run_that_never_trades_is_not_marked_best():
    from jaxtrade.experiment import format_sweep
    from jaxtrade.experiment.sweep import best_run

    base = {"symbol": "all", "seed": 0, "train_episode_return": 0.0, "valid_mean_return": 0.0, "valid_sortino": 0.0,
            "valid_max_drawdown": 0.0, "valid_trades_per_episode": 0.0, "valid_win_rate": 0.0,
            "valid_profit_factor": 0.0}
    rows = [{**base, "run": 0, "valid_sharpe": 0.0, "valid_exposure": 0.0},  # cash: Sharpe 0
            {**base, "run": 1, "valid_sharpe": -0.4, "valid_exposure": 0.5},
            {**base, "run": 2, "valid_sharpe": -0.1, "valid_exposure": 0.3}]
    assert best_run(rows) == 2
    lines = format_sweep(rows, []).splitlines()
    assert lines[3].startswith("*") and not lines[1].startswith("*")
    assert best_run([rows[0]]) is None and not format_sweep([rows[0]], []).splitlines()[1].startswith("*")
    # A diverged run (its statistics NaN) is listed as such and never marked best, however high its Sharpe.
    nan = {**rows[1], "run": 3, "valid_sharpe": float("nan"), "diverged": "update 4 (policy_loss not finite)"}
    assert best_run(rows + [nan]) == 2
    assert format_sweep(rows + [nan], []).splitlines()[4].endswith("diverged at update 4 (policy_loss not finite): "
                                                                    "not evaluated")


def test_sweep_rejects_bad_settings(tiny):
    cfg, data, _ = tiny
    with pytest.raises(ConfigError, match="cannot be swept"):
        SweepSpec(grid=(("ppo.num_envs", (8.0,)),))
    with pytest.raises(ConfigError, match="NAME=V1,V2"):
        parse_setting("ppo.learning_rate")
    with pytest.raises(ConfigError, match="values must be numbers"):
        parse_setting("ppo.gamma=0.9,high")
    with pytest.raises(ConfigError, match="ppo.gamma"):
        sweep_runs(cfg, SweepSpec(grid=(parse_setting("ppo.gamma=0.9,1.5"),)), data.symbols)
    with pytest.raises(ConfigError, match="distinct seeds"):
        SweepSpec(seeds=(1, 1))


def test_cli_sweep_writes_a_results_table(tmp_path, capsys, monkeypatch):
    # The runs with ent_coef 0.02 are given a learning rate of 1e30 (beyond what a config accepts): they diverge
    # inside the one program, and are reported as such, never evaluated, ranked or pooled.
    import importlib

    import jax.numpy as jnp

    sweep_mod = importlib.import_module("jaxtrade.experiment.sweep")

    real = sweep_mod.PPOHyperparams.from_config

    class Hot:
        @staticmethod
        def from_config(cfg):
            hp = real(cfg)
            return hp.replace(learning_rate=jnp.float32(1e30)) if cfg.ent_coef == 0.02 else hp

    monkeypatch.setattr(sweep_mod, "PPOHyperparams", Hot)
    report = tmp_path / "sweep.csv"
    assert cli.main(["sweep", "--config", str(TINY), "--seeds", "0,1", "--set", "ppo.ent_coef=0.0,0.02",
                     "--episodes", "16", "--updates", "2", "--report", str(report)]) == 0
    out = capsys.readouterr().out
    assert "4 runs" in out and "valid ret" in out
    assert out.count("diverged at update") == 2 and out.count(": not evaluated") == 2
    assert "4 configurations tried: the number of trials a deflated Sharpe ratio" in out
    assert "ent_coef 0.02 (2 diverged seed(s) left out)" not in out  # every seed diverged: no pooled row
    import pandas as pd

    table = pd.read_csv(report)
    assert len(table) == 4 and list(table["seed"]) == [0, 0, 1, 1] and list(table["ppo.ent_coef"]) == [0.0, 0.02] * 2
    assert table["diverged"].isna().tolist() == [True, False, True, False]
    assert cli.main(["sweep", "--config", str(TINY), "--set", "ppo.warp=1"]) == 2
    assert "unknown key(s) ['warp']" in capsys.readouterr().err  # not sweepable: an override, checked as one
