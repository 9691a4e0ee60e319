"""Checkpoints: chunked training resumes bit for bit from disk; guards against overwriting and config drift."""

from __future__ import annotations

from dataclasses import replace

import jax
import numpy as np
import pytest
from conftest import experiment_of

from jaxtrade.errors import ConfigError
from jaxtrade.experiment import Experiment, training_setup
from jaxtrade.train.loop import fit


def test_chunked_training_runs_and_resumes_bit_exactly(tiny_exp, tiny_setup, tmp_path):
    lines = []
    straight, history = fit(tiny_setup, log=lines.append)
    assert int(straight.updates_done) == 6 and len(history) == 3
    assert any(line.startswith("update     6/6") for line in lines)
    for m in history:
        for leaf in jax.tree.leaves(m):
            assert np.isfinite(leaf).all()
    assert (np.concatenate([m.entropy for m in history]) > 0).all()
    assert np.concatenate([m.episodes for m in history]).sum() > 0

    # The same run stopped (as if killed) after its checkpoint at update 4, then resumed from disk.
    _run_until(tiny_setup, tmp_path, stop_after=4)
    half = training_setup(experiment_of(tiny_exp.cfg))  # rebuilt from scratch
    resumed, _ = fit(half, checkpoint_dir=tmp_path, resume=True, log=None)
    assert int(resumed.updates_done) == 6
    for a, b in zip(jax.tree.leaves(straight.train_state), jax.tree.leaves(resumed.train_state), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_array_equal(jax.random.key_data(straight.key), jax.random.key_data(resumed.key))


def _run_until(setup, ckpt_dir, stop_after):
    """Train chunk by chunk with checkpoints and stop (as if killed) once `stop_after` updates are saved."""
    class Stop(Exception):
        pass

    def log(line):
        if line.startswith(f"update {stop_after:>5}/"):
            raise Stop

    with pytest.raises(Stop):
        fit(setup, checkpoint_dir=ckpt_dir, log=log)


def test_checkpoint_dir_guards(tiny_exp, tiny_setup, tmp_path):
    _run_until(tiny_setup, tmp_path, stop_after=2)
    with pytest.raises(ConfigError, match="already holds checkpoints"):
        fit(tiny_setup, checkpoint_dir=tmp_path, log=None)
    cfg = tiny_exp.cfg
    other = training_setup(Experiment(replace(cfg, ppo=replace(cfg.ppo, ent_coef=0.05)), tiny_exp.data,
                                      tiny_exp.features))
    with pytest.raises(ConfigError, match="different config"):
        fit(other, checkpoint_dir=tmp_path, resume=True, log=None)
    with pytest.raises(ConfigError, match="resume needs a checkpoint directory"):
        fit(tiny_setup, resume=True, log=None)
