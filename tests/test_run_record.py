"""What a checkpoint records of its inputs (data fingerprints, split ranges, absolute paths) and how later
commands use it; estimates that refuse runs too large for the machine before allocating."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest
from conftest import TINY, run_until

from jaxtrade import cli
from jaxtrade.errors import ConfigError
from jaxtrade.evaluate.policies import random_policy
from jaxtrade.evaluate.rollout import run_episodes
from jaxtrade.experiment import Experiment
from jaxtrade.experiment.provenance import compare_data, data_record, resolve_paths
from jaxtrade.train.loop import fit


def _with(exp: Experiment, data) -> Experiment:
    return Experiment(exp.cfg, data, exp.features)


def test_the_data_record_names_what_changed(tiny_exp):
    saved = data_record(tiny_exp)
    a, b = tiny_exp.bars("train")
    assert saved["splits"]["train"]["bars"] == [a, b] and set(saved["fingerprints"]) == set(tiny_exp.data.symbols)
    assert compare_data(saved, tiny_exp, "test") == ([], [])
    prices = tiny_exp.data.prices
    sym = tiny_exp.data.symbols[1]
    # A close edited in the test split: named in a note, the evaluation goes on.
    later = _with(tiny_exp, tiny_exp.data.replace(prices=prices.at[1, -5, 3].multiply(1.01)))
    problems, notes = compare_data(saved, later, "test")
    assert problems == [] and notes == [f"bars after training differ ({sym} test)"]
    # A close edited in the training bars: refused.
    edited = _with(tiny_exp, tiny_exp.data.replace(prices=prices.at[1, a + 100, 3].multiply(1.01)))
    problems, _ = compare_data(saved, edited, "test")
    assert problems == [f"the training bars of {sym} differ from those the run trained on"]
    # The files lose their last 100 bars: the fraction split moves, and the test split reaches into training.
    cut = _with(tiny_exp, jax.tree.map(lambda x: x[..., :-100, :] if x.ndim == 3 else x[..., :-100],
                                       tiny_exp.data))
    problems, notes = compare_data(saved, cut, "test")
    assert problems[0].startswith("the train split now spans") and "overlaps the bars the run trained on" in \
        problems[-1]
    assert notes[0].startswith(f"{tiny_exp.data.num_bars - 100:,} bars")
    assert compare_data(None, cut, "test") == ([], [])  # a run saved before records: nothing to compare


def test_a_resume_on_changed_data_is_refused(tiny_setup, tmp_path):
    run_until(tiny_setup, tmp_path, stop_after=2)
    record = tiny_setup.record["data"]
    sym = next(iter(record["fingerprints"]))
    changed = {**record, "fingerprints": {**record["fingerprints"], sym: {**record["fingerprints"][sym],
                                                                         "train": "0" * 16}}}
    with pytest.raises(ConfigError, match=rf"the run's inputs changed since its checkpoint: data.fingerprints.{sym}"
                                          r".train: '[0-9a-f]{16}' saved, '0{16}' now"):
        fit(dataclasses.replace(tiny_setup, record={"data": changed}), checkpoint_dir=tmp_path, resume=True,
            log=None)


def test_paths_are_stored_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = {"data": {"source": "csv", "paths": ["a.csv", "/abs/b.csv"]}, "portfolio": {"symbol_agents": "runs/x"}}
    assert resolve_paths(config) == {"data": {"source": "csv", "paths": [str(tmp_path / "a.csv"), "/abs/b.csv"]},
                                     "portfolio": {"symbol_agents": str(tmp_path / "runs" / "x")}}
    assert config["portfolio"]["symbol_agents"] == "runs/x"  # the config itself keeps what the user wrote


def test_runs_too_large_for_the_machine_are_refused_before_allocating(capsys, tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text(TINY.read_text().replace("num_envs: 16", "num_envs: 100000000"))
    assert cli.main(["train", "--config", str(big), "--no-cache"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the training carry of 100,000,000 envs") and "GB are available: lower " \
        "ppo.num_envs" in err and len(err.splitlines()) == 1


def test_backtest_episodes_never_outgrow_the_data(tiny_exp):
    # An env horizon of ten million: the rollout's per-step arrays are as long as the data allows, not 10^7.
    params = tiny_exp.params("test")
    r = jax.jit(lambda k: run_episodes(tiny_exp.env, params, random_policy, k, 4, 10_000_000))(jax.random.key(0))
    assert r.step_returns.shape == (4, tiny_exp.data.num_bars - 1) and np.isfinite(r.step_returns).all()


def test_an_empty_validation_split_skips_the_portfolio_backtest_with_a_word(tiny_exp):
    from jaxtrade.experiment import training_setup
    from jaxtrade.experiment.workflows import portfolio_report

    cfg = tiny_exp.cfg
    exp = Experiment(dataclasses.replace(cfg, split=dataclasses.replace(cfg.split, valid_fraction=0.0)),
                     tiny_exp.data, tiny_exp.features)
    lines = []
    assert portfolio_report(training_setup(exp), exp, "validation", None, lines.append) == []
    assert lines == ["no portfolio backtest: the validation split is empty (see `split:` in the config)"]


def test_eval_refuses_data_the_run_did_not_train_on_and_notes_later_changes(tiny_exp):
    from jaxtrade.experiment.workflows import check_data

    meta = {"record": tiny_exp.record}
    a = tiny_exp.bars("train")[0]
    edited = _with(tiny_exp, tiny_exp.data.replace(prices=tiny_exp.data.prices.at[0, a + 50, 3].multiply(0.9)))
    with pytest.raises(ConfigError, match=r"runs/x: the data are not those the run trained on: the training bars of "
                                          r"SYN000 differ .* \(restore the data it trained on, or train again"):
        check_data(meta, edited, "test", "runs/x")
    lines = []
    later = _with(tiny_exp, tiny_exp.data.replace(prices=tiny_exp.data.prices.at[0, -3, 3].multiply(0.9)))
    check_data(meta, later, "test", "runs/x", lines.append)
    assert lines == ["note: the data differ from the run's: bars after training differ (SYN000 test)"]


def test_history_files_are_replaced_whole_or_not_at_all(tmp_path, monkeypatch):
    import jaxtrade.files
    from jaxtrade.files import replace_file

    path = tmp_path / "metrics.jsonl"
    path.write_text("old rows\n")

    def killed(*_):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(jaxtrade.files.os, "replace", killed)
    with pytest.raises(OSError):
        replace_file(path, b"new rows\n")
    assert path.read_text() == "old rows\n" and [p.name for p in tmp_path.iterdir()] == ["metrics.jsonl"]
    monkeypatch.undo()
    replace_file(path, b"new rows\n")
    assert path.read_text() == "new rows\n" and [p.name for p in tmp_path.iterdir()] == ["metrics.jsonl"]


def test_memory_limits_of_the_process_count(monkeypatch):
    import resource

    from jaxtrade.train import memory

    free = memory.available_bytes()
    assert free is not None and free > 0
    monkeypatch.setattr(resource, "getrlimit", lambda what: (1 << 20, 1 << 20))  # `ulimit -v 1024`
    assert memory.available_bytes() == 0  # the process already maps more than 1 MiB
    with pytest.raises(ConfigError, match=r"the carry needs about 0.0 GB, and 0.0 GB are available: smaller"):
        memory.check_fits("the carry", 1000, "smaller")


def test_a_signal_during_a_write_is_delivered_after_it():
    import os
    import signal

    from jaxtrade.files import deferred_signals

    class Stop(Exception):
        pass

    def stop(signum, frame):
        raise Stop

    previous = signal.signal(signal.SIGTERM, stop)
    finished = []
    try:
        with pytest.raises(Stop), deferred_signals():
            os.kill(os.getpid(), signal.SIGTERM)  # as if sent while a checkpoint is being written
            finished.append("the write")
        assert finished == ["the write"] and signal.getsignal(signal.SIGTERM) is stop
    finally:
        signal.signal(signal.SIGTERM, previous)
