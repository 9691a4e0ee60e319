"""Checkpoints: chunked training resumes bit for bit from disk; guards against overwriting and config drift."""

from __future__ import annotations

import json
from dataclasses import replace

import jax
import numpy as np
import pytest
from conftest import experiment_of, run_until

from jaxtrade.errors import ConfigError
from jaxtrade.experiment import Experiment, training_setup
from jaxtrade.train.history import read_history
from jaxtrade.train.loop import fit


def test_chunked_training_runs_and_resumes_bit_exactly(tiny_exp, tiny_setup, tmp_path):
    lines, seen = [], []
    straight, history = fit(tiny_setup, log=lines.append, on_metrics=lambda step, row: seen.append((step, row)))
    assert int(straight.updates_done) == 6 and len(history) == 3
    # The metrics hook saw every update once, in order, with its wall time, without a checkpoint folder.
    assert [step for step, _ in seen] == [u * tiny_setup.ppo.batch_size for u in range(1, 7)]
    assert [row["update"] for _, row in seen] == list(range(1, 7)) and "entropy" in seen[0][1]
    assert np.all(np.diff([row["wall_time"] for _, row in seen]) >= 0)
    assert lines[0].startswith("compiling the training program (2 updates") and "done in" in lines[1]
    assert any("] 6/6 updates 100% |" in line and "ETA 0:00" in line for line in lines)
    for m in history:
        for leaf in jax.tree.leaves(m):
            assert np.isfinite(leaf).all()
    assert (np.concatenate([m.entropy for m in history]) > 0).all()
    assert np.concatenate([m.episodes for m in history]).sum() > 0

    # The same run stopped (as if killed) after its checkpoint at update 4, then resumed from disk.
    run_until(tiny_setup, tmp_path, stop_after=4)
    before = read_history(tmp_path)["wall_time"]
    half = training_setup(experiment_of(tiny_exp.cfg))  # rebuilt from scratch
    resumed, _ = fit(half, checkpoint_dir=tmp_path, resume=True, log=None)
    assert int(resumed.updates_done) == 6
    # Every row keeps its own wall time through the resume, in metrics.jsonl and in the TensorBoard events.
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    walls = read_history(tmp_path)["wall_time"]
    np.testing.assert_array_equal(walls[:len(before)], before)
    acc = EventAccumulator(str(tmp_path))
    acc.Reload()
    np.testing.assert_allclose([e.wall_time for e in acc.Scalars("ppo/entropy")], walls, rtol=0, atol=1e-3)
    assert walls[-1] > walls[0]
    assert json.loads((tmp_path / "config.json").read_text()) == json.loads(json.dumps(half.config))
    for a, b in zip(jax.tree.leaves(straight.train_state), jax.tree.leaves(resumed.train_state), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_array_equal(jax.random.key_data(straight.key), jax.random.key_data(resumed.key))


def test_checkpoint_dir_guards(tiny_exp, tiny_setup, tmp_path):
    run_until(tiny_setup, tmp_path, stop_after=2)
    with pytest.raises(ConfigError, match="already holds checkpoints"):
        fit(tiny_setup, checkpoint_dir=tmp_path, log=None)
    cfg = tiny_exp.cfg
    other = training_setup(Experiment(replace(cfg, ppo=replace(cfg.ppo, ent_coef=0.05)), tiny_exp.data,
                                      tiny_exp.features))
    with pytest.raises(ConfigError, match=r"different config: ppo.ent_coef: 0.01 saved, 0.05 now"):
        fit(other, checkpoint_dir=tmp_path, resume=True, log=None)
    bigger = training_setup(Experiment(replace(cfg, agent=replace(cfg.agent, d_model=64, head_dim=64)),
                                       tiny_exp.data, tiny_exp.features))
    with pytest.raises(ConfigError, match=r"agent.d_model: 32 saved, 64 now; agent.head_dim: 32 saved, 64 now"):
        fit(bigger, checkpoint_dir=tmp_path, resume=True, log=None)  # named before any restore is tried
    with pytest.raises(ConfigError, match="resume needs a checkpoint directory"):
        fit(tiny_setup, resume=True, log=None)


def test_a_finished_run_extends_on_resume(tiny_exp, tiny_setup, tmp_path):
    fit(tiny_setup, checkpoint_dir=tmp_path, log=None)  # 6 updates, finished
    cfg = tiny_exp.cfg
    longer = training_setup(Experiment(replace(cfg, ppo=replace(cfg.ppo, num_updates=8)), tiny_exp.data,
                                       tiny_exp.features))
    lines = []
    runner, history = fit(longer, checkpoint_dir=tmp_path, resume=True, log=lines.append)
    assert int(runner.updates_done) == 8 and len(history) == 1
    assert "run extended from 6 to 8 updates" in lines[0]


def test_metrics_and_checkpoint_agree_after_a_crash_between_them(tiny_setup, tmp_path):
    """Killed after update 4's checkpoint, then again after writing update 6's rows (torn mid-line) but
    before its checkpoint: the resumed run's history holds updates 1..6 once each."""
    import json

    from jaxtrade.train.history import METRICS_FILE, read_history

    run_until(tiny_setup, tmp_path, stop_after=4)
    path = tmp_path / METRICS_FILE
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    assert [r["update"] for r in rows] == [1, 2, 3, 4]
    with path.open("a") as f:  # the next chunk's rows landed, its checkpoint did not; the last write tore
        f.write(json.dumps({**rows[-1], "update": 5}) + "\n" + json.dumps({**rows[-1], "update": 6})[:40])
    assert list(read_history(tmp_path)["update"]) == [1, 2, 3, 4, 5]  # the torn line is left out
    resumed, _ = fit(tiny_setup, checkpoint_dir=tmp_path, resume=True, log=None)
    assert int(resumed.updates_done) == 6
    history = read_history(tmp_path)
    assert list(history["update"]) == [1, 2, 3, 4, 5, 6]
    # The TensorBoard events follow the rows kept: one scalar per update, read back by TensorBoard itself.
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path))
    events.Reload()
    assert {"ppo/policy_loss", "ppo/entropy", "rollout/reward", "rollout/episode_return"} <= set(
        events.Tags()["scalars"])
    entropy = events.Scalars("ppo/entropy")
    assert [e.step for e in entropy] == list(history["env_steps"])
    np.testing.assert_allclose([e.value for e in entropy], history["entropy"], rtol=1e-6)
    path.write_text("{not json\n" + path.read_text())
    with pytest.raises(ConfigError, match="line 1 is not a JSON metrics row"):
        read_history(tmp_path)


def test_reading_a_run_never_creates_folders_and_checks_the_step(tiny_setup, tmp_path):
    from jaxtrade.train.checkpoint import Checkpointer

    with pytest.raises(ConfigError, match="no checkpoint directory there"):
        Checkpointer(tmp_path / "tpyo", create=False)
    assert not (tmp_path / "tpyo").exists()
    run_until(tiny_setup, tmp_path / "run", stop_after=4)
    ckpt = Checkpointer(tmp_path / "run", create=False)
    with pytest.raises(ConfigError, match=r"no checkpoint at step 99; the steps kept are \[2, 4\]"):
        ckpt.metadata(99)
    assert ckpt.metadata(2)["update"] == 2
    ckpt.close()


def test_one_writer_per_run_folder(tiny_setup, tmp_path):
    from jaxtrade.train.checkpoint import Checkpointer

    first = Checkpointer(tmp_path / "run")
    with pytest.raises(ConfigError, match=r"another run is writing here \(process \d+\)"):
        Checkpointer(tmp_path / "run")
    with pytest.raises(ConfigError, match="another run is writing here"):
        fit(tiny_setup, checkpoint_dir=tmp_path / "run", log=None)  # refused before any update or metrics row
    assert not (tmp_path / "run" / "metrics.jsonl").exists()
    first.close()
    Checkpointer(tmp_path / "run").close()  # released on close (and by the OS if the writer dies)


def test_resume_skips_a_damaged_newest_step(tiny_setup, tmp_path):
    """Step 4's saved state is altered after saving (its checksum no longer matches) and, in a second run,
    its data files are truncated: resume says which step it skipped and why, and continues from step 2."""
    import json

    from jaxtrade.train.history import read_history

    run_until(tiny_setup, tmp_path, stop_after=4)
    meta_file = tmp_path / "4" / "meta" / "metadata"
    meta = json.loads(meta_file.read_text())
    meta_file.write_text(json.dumps({**meta, "checksum": "0" * 64}))  # as if the state had been changed
    lines = []
    resumed, _ = fit(tiny_setup, checkpoint_dir=tmp_path, resume=True, log=lines.append)
    assert any("skipped a damaged checkpoint: step 4" in x and "checksum" in x for x in lines)
    assert any(x.startswith("resumed from") and "at update 2" in x for x in lines)
    assert int(resumed.updates_done) == 6 and list(read_history(tmp_path)["update"]) == [1, 2, 3, 4, 5, 6]

    other = tmp_path / "truncated"
    run_until(tiny_setup, other, stop_after=4)
    for data in (other / "4" / "state").rglob("d/*"):
        data.write_bytes(data.read_bytes()[:7])
    lines = []
    resumed, _ = fit(tiny_setup, checkpoint_dir=other, resume=True, log=lines.append)
    assert any("skipped a damaged checkpoint: step 4" in x for x in lines) and int(resumed.updates_done) == 6


def test_a_diverging_run_stops_before_saving_and_names_the_update(tiny_setup, tmp_path):
    """Resumed from a good checkpoint at update 2 with a learning rate of 1e30 (beyond what the config accepts):
    the run stops at the first non-finite update, naming it, and leaves the good checkpoint and history alone;
    a checkpoint holding non-finite parameters is refused on restore and passed over by a resume or eval."""
    import dataclasses
    import json

    import jax.numpy as jnp

    from jaxtrade.errors import TrainingError
    from jaxtrade.train.checkpoint import Checkpointer
    from jaxtrade.train.history import METRICS_FILE, read_history

    run_until(tiny_setup, tmp_path, stop_after=2)
    hot = dataclasses.replace(tiny_setup, hp=tiny_setup.hp.replace(learning_rate=jnp.float32(1e30)))
    with pytest.raises(TrainingError, match=r"training diverged at update [34]: .*not finite; nothing of this "
                                            r"chunk was saved; the last good checkpoint is update 2 in .* Try a "
                                            r"smaller ppo.learning_rate"):
        fit(hot, checkpoint_dir=tmp_path, resume=True, log=None)
    ckpt = Checkpointer(tmp_path, create=False)
    assert ckpt.latest_step() == 2 and list(read_history(tmp_path)["update"]) == [1, 2]
    for line in (tmp_path / METRICS_FILE).read_text().splitlines():  # strict JSON: no NaN / Infinity tokens
        json.loads(line, parse_constant=lambda token: pytest.fail(f"non-JSON token {token}"))

    # A checkpoint with NaN parameters (as older versions wrote): refused by step, skipped when none is named.
    abstract = jax.eval_shape(tiny_setup.trainer.init, jax.random.key(0), tiny_setup.hp, tiny_setup.env_params)
    good, _ = ckpt.restore(abstract)
    ckpt.close()
    nan = good._replace(train_state=jax.tree.map(lambda x: x * jnp.nan if jnp.issubdtype(x.dtype, jnp.floating)
                                                 else x, good.train_state),
                        updates_done=good.updates_done + 2)
    writer = Checkpointer(tmp_path)
    writer.save(nan, tiny_setup.config)
    with pytest.raises(ConfigError, match="step 4 holds non-finite network parameters"):
        writer.restore(abstract, 4)
    runner, meta, skipped = writer.restore_newest_valid(abstract)
    assert meta["update"] == 2 and "non-finite" in skipped[0]
    writer.close()


def test_eval_beside_a_live_run_finds_the_newest_step(tiny_setup, tmp_path):
    """A reader that opened the folder before the writer saved more (and rotated old steps away) still restores
    the newest step, never an error about the steps it listed first."""
    from jaxtrade.train.checkpoint import Checkpointer

    run_until(tiny_setup, tmp_path, stop_after=2)
    reader = Checkpointer(tmp_path, create=False)
    assert reader.latest_step() == 2
    abstract = jax.eval_shape(tiny_setup.trainer.init, jax.random.key(0), tiny_setup.hp, tiny_setup.env_params)
    writer = Checkpointer(tmp_path, max_to_keep=1)
    runner, _ = writer.restore(abstract)
    for more in (2, 4):  # the live run saves updates 4 and 6; keeping 1, step 2 is rotated away
        writer.save(runner._replace(updates_done=runner.updates_done + more), tiny_setup.config)
    assert not (tmp_path / "2").exists()
    restored, meta, skipped = reader.restore_newest_valid(abstract)
    assert meta["update"] == 6 and skipped == [] and reader.metadata()["update"] == 6
    reader.close()
    writer.close()
