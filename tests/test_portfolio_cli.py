"""`jaxtrade train-portfolio`: a learned master over checkpointed symbol agents, checkpointed and resumable,
backtested on the shared account; clear errors when the agents are missing or saw another market."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from conftest import TINY, experiment_of

from jaxtrade import cli
from jaxtrade.config import load_config
from jaxtrade.experiment import training_setup
from jaxtrade.train.events import EVENTS_FILE
from jaxtrade.train.loop import fit

# configs/tiny.yaml with a small MLP for the symbol agents (compiles in a fraction of the transformer's time).
BASE = TINY.read_text().split("agent:")[0] + "agent: {kind: mlp, mlp_hidden: [16], head_dim: 16}\n" + \
    "ppo:" + TINY.read_text().split("ppo:")[1]


@pytest.fixture(scope="module")
def agents(tmp_path_factory):
    """Symbol agents trained for 6 updates, checkpointed."""
    folder = tmp_path_factory.mktemp("agents")
    (folder.parent / "agents.yaml").write_text(BASE)
    fit(training_setup(experiment_of(load_config(folder.parent / "agents.yaml"))), checkpoint_dir=folder, log=None)
    return folder


def _config(tmp_path, agents, extra=""):
    path = tmp_path / "portfolio.yaml"
    path.write_text(BASE + f"portfolio:\n  symbol_agents: {agents}\n  total_limit: 0.9\n" + extra)
    return path


@pytest.mark.slow  # > 30 s on 2 cores; `pytest -m 'not slow'` for a quick pass
def test_train_portfolio_checkpoints_resumes_and_reports_the_learned_master(agents, tmp_path, capsys, monkeypatch):
    import shutil

    # Trained from tmp_path with the agents' folder named relative to it (a copy: extended below).
    shutil.copytree(agents, tmp_path / "agents")
    monkeypatch.chdir(tmp_path)
    agents = "agents"
    master = tmp_path / "master"
    args = ["train-portfolio", "--config", str(_config(tmp_path, agents)), "--checkpoint-dir", str(master),
            "--plots", str(tmp_path / "plots")]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert f"a learned master over the symbol agents of {agents} (update 6, greedy, frozen); 2 symbols on one " \
           "account" in out
    assert "] 6/6 updates 100%" in out and "opens (long or short) never past 90% gross" in out
    for row in ("agents ", "agents + master", "agents + learned master", "equal weight, held"):
        assert f"\n  {row}" in out, row
    assert sorted(int(p.name) for p in master.iterdir() if p.name.isdigit()) == [2, 4, 6]
    rows = [json.loads(x) for x in (master / "metrics.jsonl").read_text().splitlines()]
    assert [r["update"] for r in rows] == [1, 2, 3, 4, 5, 6] and (master / EVENTS_FILE).exists()
    assert (tmp_path / "plots" / "portfolio_validation.png").read_bytes()[:4] == b"\x89PNG"

    # The master's run restores (network, optimiser, portfolio states and proposals, checksum verified).
    from jaxtrade.experiment import load_experiment, master_setup, symbol_agents

    exp = load_experiment(_config(tmp_path, agents))
    lines = []
    runner, _ = fit(master_setup(exp, *symbol_agents(exp)[:2]), checkpoint_dir=master, resume=True,
                    log=lines.append)
    assert int(runner.updates_done) == 6 and lines == [f"resumed from {master} at update 6"]

    # Evaluated from another working directory: the run stored the agents' folder as an absolute path.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    report = tmp_path / "test.json"
    assert cli.main(["eval-portfolio", "--checkpoint", str(master), "--split", "test", "--report", str(report)]) == 0
    out = capsys.readouterr().out
    assert f"jaxtrade eval-portfolio: {master} at update 6, the test split (bars 630..699)" in out
    assert "seed targets on the learned master's portfolio equity: return >= +12 %:" in out
    saved = json.loads(report.read_text())
    assert saved["meta"]["split"] == "test" and "agents + learned master" in {r["policy"] for r in saved["rows"]}
    assert saved["meta"]["record"]["symbol_agents"]["path"] == str(tmp_path / "agents")

    # The agents' run is extended after the master trained: eval-portfolio still reads the agents the master was
    # trained over (update 6, checksum verified); once that update is rotated away, it refuses.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "agents.yaml").write_text(BASE)
    base = experiment_of(load_config(tmp_path / "agents.yaml"))
    for updates in (8, 12):
        cfg = replace(base.cfg, ppo=replace(base.cfg.ppo, num_updates=updates))
        fit(training_setup(type(base)(cfg, base.data, base.features)), checkpoint_dir=tmp_path / "agents",
            resume=True, log=None)
        code = cli.main(["eval-portfolio", "--checkpoint", str(master), "--split", "test"])
        captured = capsys.readouterr()
        if updates == 8:
            assert code == 0 and f"symbol agents of {tmp_path / 'agents'} (update 6," in captured.out
        else:
            assert code == 2 and "no longer holds update 6, the agents this run was trained over (it keeps " \
                                  "[8, 10, 12])" in captured.err


def test_train_portfolio_refuses_agents_of_another_market_or_none(agents, tmp_path, capsys):
    other = _config(tmp_path, agents).read_text().replace("horizon: 64", "horizon: 64\n  commission_bps: 25.0")
    (tmp_path / "other.yaml").write_text(other)
    assert cli.main(["train-portfolio", "--config", str(tmp_path / "other.yaml")]) == 2
    err = capsys.readouterr().err
    assert "was trained with other settings: env.commission_bps: 10.0 there, 25.0 here" in err
    (tmp_path / "none.yaml").write_text(BASE)
    assert cli.main(["train-portfolio", "--config", str(tmp_path / "none.yaml")]) == 2
    assert "portfolio.symbol_agents: name the checkpoint folder" in capsys.readouterr().err
    (tmp_path / "typo.yaml").write_text(BASE + f"portfolio:\n  symbol_agents: {tmp_path / 'nope'}\n")
    assert cli.main(["train-portfolio", "--config", str(tmp_path / "typo.yaml")]) == 2
    assert "no checkpoint directory there" in capsys.readouterr().err


def test_a_master_run_resumes_bit_exactly(agents, tmp_path):
    """Stopped (as if killed) after its checkpoint at update 2, the master's run resumes to the same parameters,
    optimiser state and key as a run that never stopped."""
    import jax
    import numpy as np

    from jaxtrade.experiment import load_experiment, master_setup, symbol_agents

    exp = load_experiment(_config(tmp_path, agents))
    exp = type(exp)(replace(exp.cfg, ppo=replace(exp.cfg.ppo, num_updates=4)), exp.data, exp.features)
    frozen = symbol_agents(exp)[:2]
    straight, _ = fit(master_setup(exp, *frozen), log=None)

    class Stop(Exception):
        pass

    def stop_after_two(line):
        if "] 2/4 updates" in line:
            raise Stop

    with pytest.raises(Stop):
        fit(master_setup(exp, *frozen), checkpoint_dir=tmp_path / "m", log=stop_after_two)
    resumed, _ = fit(master_setup(exp, *frozen), checkpoint_dir=tmp_path / "m", resume=True, log=None)
    assert int(resumed.updates_done) == 4
    for a, b in zip(jax.tree.leaves(straight.train_state), jax.tree.leaves(resumed.train_state), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    for a, b in zip(jax.tree.leaves(straight.env_state), jax.tree.leaves(resumed.env_state), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_a_joint_run_starts_from_the_symbol_agents_and_evaluates(agents, tmp_path, capsys):
    """`portfolio.mode: joint`: the symbol agents train with the master, starting from their checkpoint (a
    learning rate of 1e-9 leaves them where they started, so the restored run's agents equal the checkpoint's);
    eval-portfolio restores the joint run; agents of another architecture are refused."""
    import jax
    import numpy as np

    from jaxtrade.experiment import (
        joint_setup,
        load_experiment,
        portfolio_run,
        symbol_agents,
        train_portfolio,
    )
    from jaxtrade.experiment.workflows import restore_runner
    from jaxtrade.train.checkpoint import Checkpointer

    config = _config(tmp_path, agents, "  mode: joint\n")
    config.write_text(config.read_text().replace("num_updates: 6", "num_updates: 2")
                      .replace("learning_rate: 0.0003", "learning_rate: 1.0e-9"))
    joint = tmp_path / "joint"
    assert cli.main(["train-portfolio", "--config", str(config), "--checkpoint-dir", str(joint)]) == 0
    out = capsys.readouterr().out
    assert f"the symbol agents (from {agents} (update 6)) and a learned master, trained jointly; 2 symbols" in out
    assert "] 2/2 updates 100%" in out and '"agents" are the symbol agents trained with the master' in out
    assert "\n  agents + learned master" in out

    exp = load_experiment(config)
    ckpt = Checkpointer(joint, create=False)
    run = portfolio_run(exp, warm_start=False)
    runner, _ = restore_runner(ckpt, run.setup, log=print)
    ckpt.close()
    trained, master = run.policies(runner.train_state.params)
    start = symbol_agents(exp)[1]
    moved = []
    for a, b in zip(jax.tree.leaves(start), jax.tree.leaves(trained), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)
        moved.append(float(np.abs(np.asarray(a) - np.asarray(b)).max()))
    # ... yet the portfolio reward's gradient reaches both networks: Adam moves every parameter with a gradient.
    assert max(moved) > 0
    master_start = joint_setup(exp, start).initial_params["params"]["master"]
    assert max(float(np.abs(np.asarray(a) - np.asarray(b)).max()) for a, b in zip(
        jax.tree.leaves(master_start), jax.tree.leaves(master["params"]), strict=True)) > 0
    rows = [json.loads(x) for x in (joint / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all(np.isfinite(r["policy_loss"]) and np.isfinite(r["entropy"]) for r in rows)

    # Resumed, a joint run restores its agents from its own checkpoint: the agents' folder is not needed (no
    # log: the finished run's report is not printed again).
    agents.rename(agents.with_name("agents_moved"))
    try:
        _, resumed = train_portfolio(exp, str(joint), resume=True, log=None)
    finally:
        agents.with_name("agents_moved").rename(agents)
    assert int(resumed.updates_done) == 2
    for a, b in zip(jax.tree.leaves(runner.train_state), jax.tree.leaves(resumed.train_state), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

    assert cli.main(["eval-portfolio", "--checkpoint", str(joint), "--split", "test"]) == 0
    out = capsys.readouterr().out
    assert f"{joint} at update 2, the test split" in out and "seed targets on the learned master's" in out

    other = tmp_path / "other.yaml"
    other.write_text(config.read_text().replace("mlp_hidden: [16]", "mlp_hidden: [8]"))
    assert cli.main(["train-portfolio", "--config", str(other)]) == 2
    assert "was trained with other settings: agent.mlp_hidden" in capsys.readouterr().err
