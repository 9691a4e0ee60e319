"""Feature cache, YAML config loading/validation, and the command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jaxtrade import cli
from jaxtrade.config import Config, config_from_dict, config_to_dict, load_config
from jaxtrade.data.config import DataConfig, load_data
from jaxtrade.data.synthetic import SyntheticConfig
from jaxtrade.errors import ConfigError, DataError
from jaxtrade.evaluate import BASELINES
from jaxtrade.features import cache as cache_mod
from jaxtrade.features.cache import cache_key, cached_features
from jaxtrade.features.config import FeatureConfig
from jaxtrade.features.pipeline import compute_features

CONFIGS = sorted((Path(__file__).parents[1] / "configs").glob("*.yaml"))
CFG = FeatureConfig(norm_window=50)


def test_cache_hit_skips_work_and_returns_identical_features(small_market, tmp_path, monkeypatch):
    first, hit1 = cached_features(small_market, CFG, tmp_path)
    assert not hit1 and len(list(tmp_path.glob("features-*.npz"))) == 1

    def fail(*_):
        raise AssertionError("features recomputed despite a cache entry")

    monkeypatch.setattr(cache_mod, "compute_features", fail)
    second, hit2 = cached_features(small_market, CFG, tmp_path)
    assert hit2
    for name in ("technical", "regime", "ready"):
        np.testing.assert_array_equal(np.asarray(getattr(first, name)), np.asarray(getattr(second, name)))
    np.testing.assert_array_equal(np.asarray(first.technical),
                                  np.asarray(compute_features(small_market, CFG).technical))


def test_cache_key_changes_with_data_and_config(small_market):
    key = cache_key(small_market, CFG)
    assert key == cache_key(small_market, FeatureConfig(norm_window=50))
    assert key != cache_key(small_market, FeatureConfig(norm_window=51))
    assert key != cache_key(small_market, FeatureConfig(norm_window=50, normalization="robust"))
    bumped = small_market.replace(prices=small_market.prices.at[1, 500, 3].multiply(1.0001))
    assert key != cache_key(bumped, CFG)
    assert key != cache_key(small_market.replace(symbols=("A", "B")), CFG)


@pytest.mark.parametrize("damage", ["garbage", "empty", "truncated zip", "another shape"])
def test_an_unreadable_cache_entry_is_a_miss_deleted_and_named(small_market, tmp_path, caplog, damage):
    cached_features(small_market, CFG, tmp_path)
    (entry,) = tmp_path.glob("features-*.npz")
    whole = entry.read_bytes()
    if damage == "another shape":
        np.savez(entry, technical=np.zeros((1, 5, 23)), regime=np.zeros((1, 5, 10)), ready=np.zeros((1, 5), bool))
    else:
        entry.write_bytes({"garbage": b"truncated", "empty": b"", "truncated zip": whole[: len(whole) // 2]}[damage])
    feats, hit = cached_features(small_market, CFG, tmp_path)
    assert not hit and np.isfinite(np.asarray(feats.technical)).all()
    assert f"feature cache entry {entry} is unreadable" in caplog.text and "deleted, recomputing" in caplog.text
    _, hit = cached_features(small_market, CFG, tmp_path)  # rewritten whole: the next command reads it
    assert hit and entry.read_bytes() == whole


def test_an_unwritable_cache_folder_is_a_warning(small_market, tmp_path, caplog):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    feats, hit = cached_features(small_market, CFG, blocker / "cache")
    assert not hit and np.isfinite(np.asarray(feats.technical)).all()
    assert "could not write the feature cache" in caplog.text and "--no-cache" in caplog.text
    full = tmp_path / "full"
    full.mkdir()

    def no_space(*_):
        raise OSError(28, "No space left on device")

    import jaxtrade.files

    original = jaxtrade.files.os.fsync
    jaxtrade.files.os.fsync = no_space  # the disk fills during the write
    try:
        _, hit = cached_features(small_market, CFG, full)
    finally:
        jaxtrade.files.os.fsync = original
    assert not hit and list(full.iterdir()) == []  # no entry, no temporary file left behind


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_shipped_configs_load_and_round_trip(path):
    cfg = load_config(path)
    assert isinstance(cfg, Config)
    assert config_from_dict(config_to_dict(cfg)) == cfg


@pytest.mark.parametrize(
    ("values", "pattern"),
    [
        ({"featurez": {}}, r"top level: unknown key\(s\) \['featurez'\]"),
        ({"features": {"norm_windw": 5}}, r"features: unknown key\(s\) \['norm_windw'\]"),
        ({"features": {"norm_window": "big"}}, r"features.norm_window: expected an integer"),
        ({"features": {"norm_window": 2.5}}, r"features.norm_window: expected an integer"),
        ({"features": {"normalization": "l1"}}, r"features.normalization: 'l1' is not one of"),
        ({"data": {"source": "ftp"}}, r"data.source: 'ftp' is not one of"),
        ({"data": {"source": "csv"}}, r"data.paths: source 'csv' needs at least one file"),
        ({"data": {"adjust": "yes"}}, r"data.adjust: expected true/false"),
        ({"data": {"synthetic": {"transition": [[0.5, 0.6]]}}}, r"data.synthetic: SyntheticConfig:"),
        ({"data": {"symbols": "AAPL"}}, r"data.symbols: expected a list"),
        ({"env": {"max_position": 2.0}}, r"env.max_position: must be in \(0, 1\]"),
        ({"env": {"horizon": 0}}, r"env.horizon: must be an integer >= 1"),
        ({"env": {"commision_bps": 1.0}}, r"env: unknown key\(s\) \['commision_bps'\]"),
        ({"env": {"reward": {"pnl": "high"}}}, r"env.reward.pnl: expected a number"),
        ({"env": {"reward": {"pnl": float("inf")}}}, r"env.reward.pnl: must be a number in \[-10000, 10000\]"),
        ({"env": {"reward": {"pnl": 1e30}}}, r"env.reward.pnl: must be a number in \[-10000, 10000\]"),
        ({"ppo": {"learning_rate": 1e30}}, r"ppo.learning_rate: must be in \(0, 1\]"),
        ({"ppo": {"ent_coef": 1e30}}, r"ppo.ent_coef: must be in \[0, 1000\]"),
        ({"ppo": {"max_grad_norm": float("nan")}}, r"ppo.max_grad_norm: must be in \(0, 1e\+06\]"),
        ({"env": {"min_order": 0.5}}, r"env.min_order: must be in \[0, 0.02\]"),
        ({"window": 0}, r"window: must be an integer >= 1"),
        ({"portfolio": {"agent_caps": "risk"}}, r"portfolio.agent_caps: 'risk' is not one of"),
        ({"portfolio": {"cap_vol": 0.0}}, r"portfolio.cap_vol: an annual volatility in \(0, 5\]"),
        ({"split": {"train_end": "yesterday"}}, r"split.train_end: 'yesterday' is not an ISO date"),
        ({"split": {"train_end": "2012-01-01", "valid_end": "2011-01-01"}}, r"split: train_end .* before valid_end"),
        ({"split": {"train_fraction": 0.9, "valid_fraction": 0.1}}, r"split: train_fraction \+ valid_fraction"),
        ({"split": {"valid_fraction": -0.1}}, r"split.valid_fraction: must be in \[0, 1\)"),
        ([1, 2], r"config must be a mapping"),
    ],
)
def test_bad_config_values_name_the_field(values, pattern):
    with pytest.raises(ConfigError, match=pattern):
        config_from_dict(values)


def test_config_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("features: [unclosed")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(bad)
    bad.write_text("features:\n  clip: -1\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: features.clip: must be > 0"):
        load_config(bad)


def test_yaml_exponent_numbers_are_numbers(tmp_path):
    """PyYAML reads 3e-4 (YAML 1.1: no dot in the mantissa) as a string; float fields accept it."""
    path = tmp_path / "e.yaml"
    path.write_text("ppo: {learning_rate: 3e-4, ent_coef: 1E-2}\nenv: {commission_bps: 1e1, slippage_bps: 2.5e+0}\n")
    cfg = load_config(path)
    assert cfg.ppo.learning_rate == 3e-4 and cfg.ppo.ent_coef == 0.01
    assert cfg.env.commission_bps == 10.0 and cfg.env.slippage_bps == 2.5
    path.write_text("ppo: {learning_rate: 3e-4e}\n")
    with pytest.raises(ConfigError, match=r"ppo.learning_rate: expected a number, got '3e-4e'"):
        load_config(path)


def test_load_data_sources_and_min_bars(tmp_path):
    syn = load_data(config_from_dict({"data": {"source": "synthetic", "synthetic": {"num_symbols": 2,
                                                                                  "num_bars": 40}}}).data)
    assert syn.prices.shape == (2, 40, 5)
    with pytest.raises(ConfigError, match="num_bars: 40 bars, at least 400 needed"):
        load_data(DataConfig(source="synthetic", synthetic=SyntheticConfig(num_symbols=1, num_bars=40)), min_bars=400)
    with pytest.raises(DataError, match="series too short: 6225 bars, at least 10000 needed"):
        load_data(DataConfig(sample="eurusd_hourly"), min_bars=10_000)


def test_cli_summary_on_real_data(capsys, tmp_path):
    cfg = tmp_path / "q.yaml"
    cfg.write_text("data: {source: sample, sample: stocks_daily, symbols: [IBM, GOOG]}\n"
                   "features: {norm_window: 60}\nenv: {horizon: 20, max_drawdown: 0.0, ruin: 0.0}\n")
    args = ["summary", "--config", str(cfg), "--cache-dir", str(tmp_path / "c"), "--envs", "32"]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "2 symbols x 3270 bars" in out and "features computed" in out
    assert "GOOG" in out and "2004-08-19" in out and "rsi" in out and "drawdown" in out
    # IBM: 3270 bars - warm-up 179 - window 23 - one step = 3067 starts; GOOG listed later.
    assert "episode starts (IBM 3067, GOOG " in out and "horizon 20" in out
    assert "compiling a rollout of 32 episodes ...\ncompiling a rollout of 32 episodes: done in" in out
    assert "32 episodes of up to 20 steps" in out
    assert "; 0 stopped by the drawdown/ruin rules (then held in cash), mean 20 steps" in out
    assert "mean reward components per step: pnl" in out
    assert cli.main(args) == 0
    assert "features read from cache" in capsys.readouterr().out


def test_cli_reports_bad_config_without_traceback(capsys, tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("features: {normalization: median}\n")
    assert cli.main(["summary", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "features.normalization" in err and "Traceback" not in err


TINY = str(Path(__file__).parents[1] / "configs" / "tiny.yaml")


@pytest.mark.parametrize(("args", "message"), [
    (["summary", "--config", "{tmp}"], "is a directory, not a config file"),
    (["train", "--config", TINY, "--checkpoint-dir", "{tmp}/file"], "is a file, not a checkpoint directory"),
    (["eval", "--checkpoint", "{tmp}/file"], "is a file, not a checkpoint directory"),
    (["train", "--config", TINY, "--checkpoint-dir", "{tmp}/file/run"], "a file stands where a directory"),
])
def test_cli_paths_of_the_wrong_kind_are_one_line_errors(capsys, tmp_path, args, message):
    (tmp_path / "file").write_text("not a folder")
    assert cli.main([a.replace("{tmp}", str(tmp_path)) for a in args] + ["--no-cache"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and len(err.splitlines()) == 1


def test_every_command_takes_the_common_options(capsys):
    for command in ("summary", "train", "train-portfolio", "eval", "eval-portfolio", "sweep"):
        with pytest.raises(SystemExit):
            cli.main([command, "--help"])
        out = capsys.readouterr().out
        assert "--no-cache" in out and "--cache-dir" in out and "--verbose" in out, command


def test_cli_ctrl_c_says_how_to_resume(capsys, monkeypatch):
    def interrupted(*_, **__):
        raise KeyboardInterrupt

    monkeypatch.setattr("jaxtrade.experiment.load_experiment", interrupted)
    assert cli.main(["train", "--config", TINY, "--checkpoint-dir", "runs/x"]) == 130
    err = capsys.readouterr().err
    assert err == ("stopped by Ctrl-C: the chunk in flight was dropped, the checkpoints in runs/x are intact; run "
                   "the same command with --resume to continue from the last one\n")


def test_cli_sigterm_stops_cleanly_with_a_resume_hint(tmp_path):
    """A real SIGTERM (what `timeout` and schedulers send) to a training run after its first checkpoint: exit
    143 with one line saying how to resume, no traceback; the checkpoints and the history it kept agree."""
    import os
    import signal
    import subprocess
    import sys
    import time

    cfg = tmp_path / "long.yaml"
    cfg.write_text(Path(TINY).read_text().replace("num_updates: 6", "num_updates: 400"))
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "jaxtrade", "train", "--config", str(cfg), "--checkpoint-dir", str(run),
           "--no-cache", "--eval-episodes", "8"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ)
    deadline = time.time() + 300
    while not (run / "2").is_dir() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 143, err[-2000:]
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("stopped by SIGTERM: the chunk in")
    assert "--resume" in err
    saved = sorted(int(p.name) for p in run.iterdir() if p.name.isdigit())
    assert saved and saved[-1] < 400
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["update"] >= saved[-1]


def test_export_features_script(tmp_path):
    import importlib.util

    path = Path(__file__).parents[1] / "scripts" / "export_features.py"
    spec = importlib.util.spec_from_file_location("export_features", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cfg = tmp_path / "e.yaml"
    cfg.write_text("data: {source: sample, sample: eurusd_hourly}\nfeatures: {norm_window: 48}\n")
    out = tmp_path / "f.parquet"
    assert module.main(["--config", str(cfg), "--out", str(out), "--ready-only"]) == 0
    df = pd.read_parquet(out)
    assert df.shape[1] == 2 + 5 + 2 + 23 + 10
    assert len(df) == 6225 - FeatureConfig(norm_window=48).warmup
    assert df.ready.all() and np.isfinite(df.filter(like="tech_").to_numpy()).all()
    assert module.main(["--config", str(tmp_path / "missing.yaml"), "--out", str(out)]) == 2


@pytest.mark.slow  # > 30 s on 2 cores; `pytest -m 'not slow'` for a quick pass
def test_cli_train_checkpoints_and_backtests_then_eval_restores(capsys, tmp_path, monkeypatch):
    cfg = tmp_path / "t.yaml"
    cfg.write_text("data: {source: synthetic, seed: 3, synthetic: {num_symbols: 2, num_bars: 700}}\n"
                   "features: {norm_window: 60}\nenv: {horizon: 32}\n"
                   "split: {train_fraction: 0.7, valid_fraction: 0.15}\n"
                   "agent: {num_layers: 1, d_model: 16, num_heads: 2, mlp_dim: 32, head_dim: 16}\n"
                   "ppo: {num_envs: 8, rollout_len: 16, num_updates: 2, update_epochs: 1, num_minibatches: 2,"
                   " updates_per_chunk: 2}\nportfolio: {agent_caps: equal}\n")
    ckpt = tmp_path / "run"
    args = ["train", "--config", str(cfg), "--checkpoint-dir", str(ckpt), "--eval-episodes", "32",
            "--cache-dir", str(tmp_path / "c"), "--report", str(tmp_path / "valid.csv"),
            "--plots", str(tmp_path / "plots")]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "] 2/2 updates 100%" in out and "backtest on the validation split, bars 490..594" in out
    for policy in ("agent ", "agent_sampled", "buy_and_hold_rules", "buy_and_hold", "cash", "random", "sma_crossover"):
        assert f"\n  {policy}" in out
    # the agents under the config's caps (equal weight's) are the row the targets are checked on
    assert "seed targets on the agents' portfolio equity (agents, equal caps): return >= +12 %:" in out
    assert "profit factor >= 1.3:" in out and "phase-3 criterion" in out
    assert (ckpt / "2").is_dir()
    rows = pd.read_csv(tmp_path / "valid.csv")
    assert list(rows["policy"])[:2] == ["agent", "agent_sampled"] and (rows["episodes"] == 32).all()
    assert (rows.loc[rows["policy"] == "cash", "mean_return"] == 0).all()
    # Units and the episode length actually run (from the same rows the report saved).
    assert f"episodes ran {rows['steps'].min():.1f}-{rows['steps'].max():.1f} bars on average (up to 32" in out
    assert "in account currency (initial cash 100,000)" in out and "turnover: traded value as a multiple" in out
    agent_line = next(x for x in out.splitlines() if x.startswith("  agent "))
    assert f"{rows['turnover'][0]:.2f}x" in agent_line and f"{rows['mean_cost'][0]:,.0f}" in agent_line
    per_symbol = pd.read_csv(tmp_path / "valid_per_symbol.csv")  # walk-forward: every policy x symbol
    policies = 2 + len(BASELINES) + 1  # agent, agent_sampled, the baselines, literal buy_and_hold
    assert len(per_symbol) == policies * 2 and set(per_symbol["symbol"]) == {"SYN000", "SYN001"}
    assert "walk-forward on the validation split" in out
    assert "portfolio: all 2 symbols on one account (shared cash)" in out and "\n  agents + master" in out
    assert "\n  equal weight, held" in out and "\n  equal weight, rebal." in out and "\n  agents, equal caps" in out
    assert (per_symbol["first_bar"] >= 490).all() and (per_symbol["last_bar"] <= 595).all()
    for png in ("equity_validation.png", "training.png", "portfolio_validation.png"):
        assert (tmp_path / "plots" / png).read_bytes()[:4] == b"\x89PNG"
    assert [json.loads(x)["update"] for x in (ckpt / "metrics.jsonl").read_text().splitlines()] == [1, 2]
    assert cli.main(args) == 2  # the directory holds a run: refuse to overwrite without --resume
    assert "already holds checkpoints" in capsys.readouterr().err

    # eval restores the run from its checkpoint alone (config included) and backtests the test split. With more
    # symbols than the walk-forward shows a row for (here: more than 1), it prints their distribution instead
    # and plots a spread of them.
    monkeypatch.setattr("jaxtrade.experiment.workflows.SYMBOL_ROWS", 1)
    report = tmp_path / "test.json"
    assert cli.main(["eval", "--checkpoint", str(ckpt), "--episodes", "16", "--report", str(report),
                     "--cache-dir", str(tmp_path / "c"), "--plots", str(tmp_path / "test_plots")]) == 0
    out = capsys.readouterr().out
    assert "at update 2 (256 env steps)" in out and "backtest on the test split, bars 595..699" in out
    saved = json.loads(report.read_text())
    assert saved["meta"]["split"] == "test" and saved["meta"]["bars"] == [595, 700]
    assert {r["policy"] for r in saved["rows"]} >= {"agent", "buy_and_hold", "sma_crossover"}
    assert "over the 2 symbols (a row per symbol in the report" in out and "\n  SYN000 " not in out
    agent = [r for r in saved["per_symbol"] if r["policy"] == "agent"]
    median = float(np.median([r["mean_return"] for r in agent]))
    summary = next(x for x in out.splitlines() if x.startswith("  agent ") and "%" in x and "   2 " in x)
    assert f"{median:+.2%}" in summary and "the agent's best: SYN00" in out
    assert (tmp_path / "test_plots" / "equity_test.png").read_bytes()[:4] == b"\x89PNG"
    assert cli.main(["eval", "--checkpoint", str(tmp_path / "none")]) == 2
    assert "no checkpoint" in capsys.readouterr().err


@pytest.mark.parametrize("where", ["metrics", "orbax", "device memory"])
def test_cli_a_full_disk_is_one_line(capsys, tmp_path, monkeypatch, where):
    """The disk fills while a chunk's history (an OSError) or its checkpoint (orbax/tensorstore's own error) is
    written, or XLA runs out of device memory: one line naming the problem and how to go on."""
    import errno

    if where == "metrics":
        def full(directory, rows):
            raise OSError(errno.ENOSPC, "No space left on device", str(directory / "metrics.jsonl"))

        monkeypatch.setattr("jaxtrade.train.loop.append_history", full)
    elif where == "orbax":
        def full(self, *args, **kwargs):
            raise ValueError("RESOURCE_EXHAUSTED: Error writing local file: No space left on device [source ...]")

        monkeypatch.setattr("jaxtrade.train.checkpoint.Checkpointer.save", full)
    else:
        def full(self, *args, **kwargs):
            raise RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 91.2GiB.\nmore")

        monkeypatch.setattr("jaxtrade.train.checkpoint.Checkpointer.save", full)
    run = tmp_path / "run"
    assert cli.main(["train", "--config", TINY, "--checkpoint-dir", str(run), "--no-cache"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    if where == "metrics":
        assert err == f"error: {run / 'metrics.jsonl'}: no space left on the device; free some space, then resume " \
                      "with --resume\n"
    elif where == "device memory":
        assert err.startswith("error: out of memory (RESOURCE_EXHAUSTED: Out of memory while trying to allocate "
                              "91.2GiB.): lower ppo.num_envs")
    else:
        assert err.startswith("error: no space left on the device while writing; the chunk in flight was dropped, "
                              f"the checkpoints in {run} are intact")
