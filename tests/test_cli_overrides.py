"""Overrides on the command line: --set KEY=VALUE (YAML values, merged before validation), --seed,
--total-timesteps, and the default run folder."""

from __future__ import annotations

import re

import pytest
from conftest import TINY

import jaxtrade.experiment
from jaxtrade import cli
from jaxtrade.config import apply_overrides
from jaxtrade.errors import ConfigError
from jaxtrade.experiment import sweepable


def test_apply_overrides_sets_nested_yaml_values_and_names_bad_ones():
    values = {"ppo": {"learning_rate": 0.1}, "window": 24}
    out = apply_overrides(values, ["ppo.learning_rate=3e-4", "data.symbols=[AAPL, MSFT]", "env.reward.pnl=1",
                                   "agent.kind=mlp"])
    assert out == {"ppo": {"learning_rate": "3e-4"}, "window": 24, "data": {"symbols": ["AAPL", "MSFT"]},
                   "env": {"reward": {"pnl": 1}}, "agent": {"kind": "mlp"}}  # 3e-4: YAML 1.1, the loader reads it
    assert values == {"ppo": {"learning_rate": 0.1}, "window": 24}  # the input is left alone
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        apply_overrides(values, ["ppo.learning_rate"])
    with pytest.raises(ConfigError, match="window is a value, not a section"):
        apply_overrides(values, ["window.size=3"])


def test_train_takes_overrides_a_seed_a_total_and_writes_to_a_new_run_folder(monkeypatch, tmp_path, capsys):
    seen = {}
    monkeypatch.setattr(jaxtrade.experiment, "train", lambda exp, ckpt, *a, **k: seen.update(cfg=exp.cfg, ckpt=ckpt))
    monkeypatch.chdir(tmp_path)
    assert cli.main(["train", "--config", str(TINY), "--no-cache", "--set", "ppo.learning_rate=1e-4",
                     "--set", "data.synthetic.num_symbols=3", "--set", "env.reward={pnl: 1.0}", "--seed", "7",
                     "--total-timesteps", "1000"]) == 0
    cfg, out = seen["cfg"], capsys.readouterr().out
    assert cfg.ppo.learning_rate == 1e-4 and cfg.data.synthetic.num_symbols == 3 and cfg.ppo.seed == 7
    assert cfg.env.reward.pnl == 1.0 and cfg.env.reward.cost == 0.15  # the section's other keys kept
    assert cfg.ppo.num_updates == 2 and "2 updates of 16 envs x 32 steps = 1,024 env steps" in out  # rounded up
    assert re.fullmatch(r"runs/tiny-s7-\d{8}-\d{6}", seen["ckpt"]) and f"run folder: {seen['ckpt']}" in out

    for argv, message in (
            (["--set", "ppo.learning_rat=1"],
             r"with --set ppo.learning_rat=1: ppo: unknown key\(s\) \['learning_rat'\]"),
            (["--set", "ppo.learning_rate=2"], r"ppo.learning_rate: must be in \(0, 1\]"),
            (["--resume"], "--resume: give the run folder to continue with --checkpoint-dir"),
            (["--updates", "3", "--total-timesteps", "5"], "give one"),
            (["--total-timesteps", "0"], "total timesteps: must be an integer >= 1")):
        assert cli.main(["train", "--config", str(TINY), "--no-cache", *argv]) == 2
        assert re.search(message, capsys.readouterr().err), argv


def test_a_sweep_set_is_a_grid_axis_on_numbers_of_a_sweepable_setting_else_an_override():
    assert sweepable("ppo.learning_rate=1e-4,3e-4") and sweepable("env.stop_loss=0.05")
    assert not sweepable("ppo.num_updates=50") and not sweepable("data.symbols=[AAPL]")
    assert not sweepable("ppo.learning_rate=fast")


def test_names_from_sb3_and_cleanrl_map_to_ours_exactly():
    from jaxtrade.config import config_from_dict

    cfg = config_from_dict({"ppo": {"n_envs": 32, "n_steps": 16, "n_epochs": 3, "clip_range": 0.1,
                                    "num_minibatches": 2}})
    assert (cfg.ppo.num_envs, cfg.ppo.rollout_len, cfg.ppo.update_epochs, cfg.ppo.clip_eps) == (32, 16, 3, 0.1)
    with pytest.raises(ConfigError, match="n_envs and num_envs name the same setting"):
        config_from_dict({"ppo": {"n_envs": 32, "num_envs": 64}})
    with pytest.raises(ConfigError, match="ours is ppo.num_minibatches"):
        config_from_dict({"ppo": {"batch_size": 64}})


def test_a_new_cli_workflow_is_one_registered_function(capsys):
    """A workflow added as the extending page says (its function, one `@cli.command` with its options and the
    shared option groups it takes) gets a parser, --set and the one-line error printing; nothing else is
    touched."""
    seen = {}

    def args(p):
        p.add_argument("--config", required=True)
        p.add_argument("--bars", type=int, default=10)

    @cli.command("symbols", "print the config's symbols", args, ("common", "overrides"))
    def _symbols(a):
        cfg = cli._config(a)
        seen["symbols"] = cfg.data.symbols
        print(" ".join(cfg.data.symbols[:a.bars]))
        return 0

    try:
        assert cli.main(["symbols", "--config", str(TINY), "--set", "data.symbols=[AAPL, IBM]"]) == 0
        assert seen["symbols"] == ("AAPL", "IBM") and capsys.readouterr().out.strip() == "AAPL IBM"
        assert "print the config's symbols" in cli.build_parser().format_help()
        assert cli.main(["symbols", "--config", str(TINY), "--set", "window=-1"]) == 2
        assert "window: must be an integer >= 1" in capsys.readouterr().err
    finally:
        cli.COMMANDS.pop("symbols")
    with pytest.raises(ValueError, match="unknown option groups"):
        cli.command("bad", "", args, ("common", "gpu"))
