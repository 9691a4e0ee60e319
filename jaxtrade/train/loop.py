"""The host-side training loop (impure): jitted chunks of updates, progress lines, orbax checkpoints.

All learning happens inside `Trainer.run_chunk`, one jitted call per
`updates_per_chunk` updates with no host syncs inside; between chunks this loop
reads the chunk's metrics, prints a progress line and saves a checkpoint.

Data parallel: `make_setup` lays a 1-D "data" mesh over the devices (default: every
device of every process, so after `jax.distributed.initialize()` it spans
hosts). The env axis of the carry (env states, observations) is sharded over
the mesh; parameters, optimiser state, key and market data are replicated. The
program is the single-device program partitioned by XLA: every device steps its
own envs and the loss means (hence the gradients) are averaged across devices,
so for the same total batch the run follows the same learning curve as on one
device (up to float summation order).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxtrade.agents.networks import ActorCritic
from jaxtrade.errors import ConfigError, TrainingError
from jaxtrade.files import deferred_signals, replace_file
from jaxtrade.progress import Progress, working
from jaxtrade.train.checkpoint import Checkpointer
from jaxtrade.train.config import PPOConfig, PPOHyperparams
from jaxtrade.train.history import (
    CONFIG_FILE,
    append_history,
    keep_history,
    metrics_fields,
    metrics_rows,
)
from jaxtrade.train.memory import check_fits, tree_bytes
from jaxtrade.train.ppo import Metrics, RunnerState, Trainer, categorical, make_train
from jaxtrade.train.resume import RESUMABLE_CHANGES, config_differences, describe_differences, setting_at
from jaxtrade.train.types import Distribution, Environment, RolloutMetrics


@dataclass
class Setup:
    """Everything a training run is built from (`jaxtrade.experiment.training_setup` builds it from a config)."""

    ppo: PPOConfig
    env: Environment  # any env the trainer takes (`train.types.Environment`), e.g. `TradingEnv`
    env_params: Any  # its params pytree (`EnvParams` for the trading env)
    network: ActorCritic
    trainer: Trainer
    hp: PPOHyperparams
    mesh: Mesh  # 1-D ("data",) mesh the env axis is sharded over
    config: dict  # the run's resolved config: saved with every checkpoint, compared on resume
    initial_params: Any = None  # a fresh run starts from these network parameters (a warm start), else from init
    record: dict = field(default_factory=dict)  # what identifies the run's inputs beyond its config (the data's
    # fingerprints and splits, a master's symbol agents): saved with every checkpoint, compared on resume

    @property
    def replicated(self) -> NamedSharding:
        return NamedSharding(self.mesh, P())

    @property
    def batch_sharding(self) -> NamedSharding:
        """Arrays with a leading env axis: split over the "data" mesh axis."""
        return NamedSharding(self.mesh, P("data"))

    def runner_sharding(self, runner) -> RunnerState:
        """The sharding of every leaf of a `RunnerState` (concrete or abstract)."""
        rep = jax.tree.map(lambda _: self.replicated, runner)
        batch = jax.tree.map(lambda _: self.batch_sharding, (runner.env_state, runner.obs))
        scale = rep.return_scale._replace(discounted=self.batch_sharding)
        return rep._replace(env_state=batch[0], obs=batch[1], return_scale=scale)


def data_mesh(num_envs: int, devices: list | None = None) -> Mesh:
    """A 1-D ("data",) mesh over `devices` (default: all, across processes) that splits `num_envs` evenly.

    Raises:
      ConfigError: num_envs not divisible by the number of devices.
    """
    devices = jax.devices() if devices is None else list(devices)
    if num_envs % len(devices):
        raise ConfigError(f"ppo.num_envs: {num_envs} envs cannot be split evenly over {len(devices)} devices")
    return Mesh(np.asarray(devices), ("data",))


def make_setup(ppo: PPOConfig, env: Environment, env_params: Any, network: ActorCritic, config: dict,
               devices: list | None = None, distribution: Distribution = categorical,
               initial_params: Any = None, record: dict | None = None,
               metrics: RolloutMetrics | None = None) -> Setup:
    """Shard the params over a data mesh and build the trainer (data parallel over `devices`); any env and
    actor-critic the trainer takes (`train.types`), with its action `distribution` and its rollout `metrics`
    hook (default `TradingMetrics`: what the env's info says per step, summarised per update; `fit` logs and
    writes whatever fields the hook's summary has); a fresh run starts from `initial_params` when given (the
    network's full parameter tree); `record` identifies its inputs."""
    mesh = data_mesh(ppo.num_envs, devices)
    env_params = jax.device_put(env_params, NamedSharding(mesh, P()))
    trainer = make_train(ppo, env, network, batch_sharding=NamedSharding(mesh, P("data")), distribution=distribution,
                         metrics=metrics)
    hp = jax.device_put(PPOHyperparams.from_config(ppo), NamedSharding(mesh, P()))
    return Setup(ppo, env, env_params, network, trainer, hp, mesh, config, initial_params, record or {})


def to_host(tree):
    """Numpy copies of replicated (or fully addressable) arrays; works in every process of a multi-host run."""
    def get(x):
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            x = x.addressable_data(0)
        return np.asarray(x)
    return jax.tree.map(get, tree)


def format_metrics(bar: Progress | str, env_steps: int, steps_per_s: float, m: Metrics) -> str:
    """One progress line: the bar over updates (with ETA), then the last update of the chunk."""
    episode_return = getattr(m.env, "episode_return", None)  # a trading env's hook; another env's may lack it
    episodes = (f"return {float(episode_return):+8.3%} ({int(m.episodes)} eps)" if episode_return is not None
                else f"{int(m.episodes)} eps")
    return (f"{bar} | {env_steps:>11,} env steps | {steps_per_s:>10,.0f} steps/s | "
            f"{episodes} | reward {float(m.reward):+.4f} | "
            f"pi {float(m.policy_loss):+.4f} | v {float(m.value_loss):.4f} | H {float(m.entropy):.3f} | "
            f"kl {float(m.approx_kl):.5f} | lr {float(m.learning_rate):.2e}")


def first_non_finite(metrics: Metrics) -> tuple[int, list[str]] | None:
    """(index, names) of the first update in a chunk's (K,)-stacked host metrics with a NaN or infinite value,
    and which quantities are; None when all are finite."""
    bad = {k: ~(np.isfinite(np.asarray(v, np.float64)).reshape(len(v), -1).all(axis=1))  # (K,) any non-finite
           for k, v in metrics_fields(metrics).items()}
    rows = [int(np.flatnonzero(b)[0]) for b in bad.values() if b.any()]
    if not rows:
        return None
    i = min(rows)
    return i, [k for k, b in bad.items() if np.asarray(b)[i]]


@jax.jit
def all_finite(tree) -> jax.Array:
    """() bool: every floating-point leaf of `tree` is finite (one device reduction; vmap it over a run axis)."""
    leaves = [x for x in jax.tree.leaves(tree) if jax.numpy.issubdtype(x.dtype, jax.numpy.inexact)]
    return jax.numpy.all(jax.numpy.stack([jax.numpy.isfinite(x).all() for x in leaves]))


def diverged(update: int, what: list[str], ppo: PPOConfig, ckpt: Checkpointer | None) -> TrainingError:
    """The error that stops a run at its first non-finite update, naming it, what was kept and what to try."""
    kept = (f"nothing of this chunk was saved; the last good checkpoint is update {ckpt.latest_step()} in "
            f"{ckpt.directory}" if ckpt is not None and ckpt.latest_step() is not None
            else "nothing of this chunk was saved")
    return TrainingError(
        f"training diverged at update {update}: {', '.join(what)} not finite; {kept}. Try a smaller "
        f"ppo.learning_rate (now {ppo.learning_rate:g}) or ppo.max_grad_norm (now {ppo.max_grad_norm:g}), "
        f"smaller env.reward weights, or ppo.normalize_rewards: true, then train into a new directory")


def _check_resumable(ckpt: Checkpointer, setup: Setup) -> dict:
    """The newest checkpoint's config, once it is checked to be this run's: the same settings (but those a
    resume may change) and the same inputs.

    Raises:
      ConfigError: naming each setting or input that differs.
    """
    newest = ckpt.newest_metadata()
    saved = newest["config"]  # compared before restoring: another model cannot restore
    changed = [k for k in config_differences(saved, setup.config) if k not in RESUMABLE_CHANGES]
    if changed:
        raise ConfigError(f"{ckpt.directory}: the checkpoint was written with a different config: "
                          + describe_differences(saved, setup.config, changed, "saved", "now")
                          + " (resume with the saved config, or train into another directory)")
    saved_record = newest.get("record")
    drift = config_differences(saved_record, setup.record) if saved_record is not None else []
    if drift:
        raise ConfigError(f"{ckpt.directory}: the run's inputs changed since its checkpoint: "
                          + describe_differences(saved_record, setup.record, drift, "saved", "now")
                          + " (resume with the data and agents it trained on, or train into another directory)")
    return saved


def _start(setup: Setup, ckpt: Checkpointer | None, resume: bool, key: jax.Array, abstract, sharding,
           log: Callable[[str], None] | None) -> RunnerState:
    """The run's first carry: the newest valid checkpoint's (`resume`, when there is one; its metrics history
    cut back to it), else a fresh one (a history left without a checkpoint cleared).

    Raises:
      ConfigError: resume without a folder, checkpoints in the folder without resume, or a checkpoint of
        another run.
    """
    ppo = setup.ppo
    if resume and ckpt is None:
        raise ConfigError("resume needs a checkpoint directory")
    latest = ckpt.latest_step() if ckpt is not None else None  # one listing of the folder
    if ckpt is not None and latest is not None and not resume:
        raise ConfigError(f"{ckpt.directory} already holds checkpoints (latest update {latest}); "
                          f"resume from them or choose another directory")
    if ckpt is None or latest is None:
        if ckpt is not None:
            keep_history(ckpt.directory, 0)  # rows left by a run that stopped before its first checkpoint
        return jax.jit(setup.trainer.init, out_shardings=sharding)(key, setup.hp, setup.env_params,
                                                                   setup.initial_params)
    saved = _check_resumable(ckpt, setup)
    runner, _, skipped = ckpt.restore_newest_valid(abstract, sharding=sharding)
    keep_history(ckpt.directory, int(to_host(runner.updates_done)))
    if log:
        for reason in skipped:
            log(f"skipped a damaged checkpoint: {reason}")
        before = setting_at(saved, "ppo.num_updates")
        log(f"resumed from {ckpt.directory} at update {int(to_host(runner.updates_done))}"
            + (f", run extended from {before} to {ppo.num_updates} updates" if before != ppo.num_updates else ""))
    return runner


def _compile_chunk(run_chunk, runner: RunnerState, hp, env_params, n: int, batch_size: int, size_hint: str,
                   log: Callable[[str], None] | None):
    """The training program for a chunk of `n` updates, compiled, its device memory checked before it runs."""
    with working(f"compiling the training program ({n} updates of {batch_size:,} env steps per call)", log):
        compiled = run_chunk.lower(runner, hp, env_params, n).compile()
    use = compiled.memory_analysis()
    if use is not None:  # per device; the carry is donated, so the temporaries are what it adds
        check_fits(f"one training call ({n} updates of {batch_size:,} env steps)", int(use.temp_size_in_bytes),
                   size_hint)
    return compiled


def _record_chunk(setup: Setup, ckpt: Checkpointer | None, runner: RunnerState, rows: list[dict], update: int,
                  on_metrics: Callable[[int, dict], None] | None) -> None:
    """A finished chunk's rows to the metrics hook, then (with a run folder) to the history and a checkpoint."""
    if on_metrics is not None and jax.process_index() == 0:
        for row in rows:
            on_metrics(row["env_steps"], row)
    if ckpt is not None:
        # Metrics first, then the checkpoint: a crash between them leaves rows past the checkpoint, which a
        # resume drops (`keep_history`), never a checkpoint whose rows are missing. Ctrl-C or SIGTERM during the
        # writes stops the run after them.
        with deferred_signals():
            if jax.process_index() == 0:
                append_history(ckpt.directory, rows)
            ckpt.save(runner, setup.config, {"env_steps": update * setup.ppo.batch_size, "record": setup.record})


def fit(
    setup: Setup,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    log: Callable[[str], None] | None = print,
    on_metrics: Callable[[int, dict], None] | None = None,
) -> tuple[RunnerState, list[Metrics]]:
    """Train `setup.ppo.num_updates` updates in chunks; returns the final state and per-chunk metrics.

    Args:
      setup: from `make_setup` (or `jaxtrade.experiment.training_setup`).
      checkpoint_dir: where to save a checkpoint after every chunk (None: no checkpoints), and
        append every update's metrics to `metrics.jsonl` (see `read_history`) and to a TensorBoard
        event file (`tensorboard --logdir checkpoint_dir`); the resolved config goes to `config.json`.
      resume: continue from the latest checkpoint in `checkpoint_dir` (bit-exact) when there is
        one, else start fresh; a finished run just returns its final state.
      log: progress-line sink (None: silent).
      on_metrics: called as `on_metrics(env_steps, row)` for every update once its chunk is done (process 0
        only), `row` the update's metrics by name as in `metrics.jsonl` (with `update` and `wall_time`): the
        place for a tracker (`wandb.log(row, step=env_steps)`, `mlflow.log_metrics(row, step=...)`).
    """
    ppo, trainer, hp, env_params = setup.ppo, setup.trainer, setup.hp, setup.env_params
    key = jax.jit(lambda: jax.random.key(ppo.seed), out_shardings=setup.replicated)()
    abstract = jax.eval_shape(trainer.init, key, hp, env_params)
    sharding = setup.runner_sharding(abstract)
    size_hint = "lower ppo.num_envs or ppo.rollout_len (or train on a device with more memory)"
    check_fits(f"the training carry of {ppo.num_envs:,} envs (their states, observations, the networks)",
               tree_bytes(abstract) // len(setup.mesh.devices.flat), size_hint)
    ckpt = Checkpointer(checkpoint_dir) if checkpoint_dir is not None else None
    try:
        runner = _start(setup, ckpt, resume, key, abstract, sharding, log)
        run_chunk = jax.jit(trainer.run_chunk, static_argnums=3, donate_argnums=0,
                            out_shardings=(sharding, setup.replicated))
        if ckpt is not None and jax.process_index() == 0:  # the run's settings beside its checkpoints, readable
            replace_file(ckpt.directory / CONFIG_FILE, json.dumps(setup.config, indent=2, default=str).encode())
        compiled = {}  # chunk length -> compiled program (the last chunk may be shorter)
        history: list[Metrics] = []
        update = int(to_host(runner.updates_done))
        bar = None
        while update < ppo.num_updates:
            n = min(ppo.updates_per_chunk, ppo.num_updates - update)
            if n not in compiled:
                compiled[n] = _compile_chunk(run_chunk, runner, hp, env_params, n, ppo.batch_size, size_hint, log)
            bar = bar or Progress(ppo.num_updates, update, "updates")  # made after the compile: ETA from running
            t, wall_start = time.perf_counter(), time.time()
            runner, metrics = compiled[n](runner, hp, env_params)
            metrics = to_host(metrics)
            dt = time.perf_counter() - t
            # A non-finite update stops the run before anything of its chunk is written (the checkpoints kept
            # are the last good ones), naming the first bad update and quantity.
            bad = first_non_finite(metrics)
            if bad is not None or not bool(to_host(all_finite(runner.train_state))):
                i, what = bad if bad is not None else (n - 1, ["the network parameters"])
                raise diverged(update + i + 1, what, ppo, ckpt)
            history.append(metrics)
            first, update = update, int(to_host(runner.updates_done))
            _record_chunk(setup, ckpt, runner, metrics_rows(metrics, first, ppo.batch_size,
                                                            (wall_start, wall_start + dt)), update, on_metrics)
            bar.advance(update - first)
            if log:
                last = jax.tree.map(lambda x: x[-1], metrics)
                log(format_metrics(bar, update * ppo.batch_size, n * ppo.batch_size / dt, last))
        return runner, history
    finally:  # on any exit (an error, Ctrl-C): release the run's lock and flush orbax
        if ckpt is not None:
            ckpt.close()
