"""Train the tiny config on one device and data-parallel over many; print the learning curves as JSON.

    parallel_run.py OUT_DIR                           one process: one device vs all local devices
    parallel_run.py OUT_DIR PORT PROCESS PROCESSES    one of PROCESSES processes (jax.distributed on localhost)

Run in fresh processes with XLA_FLAGS=--xla_force_host_platform_device_count=K
(see test_parallel.py): the flag must be set before JAX starts.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import jax
import numpy as np

from jaxtrade.config import load_config
from jaxtrade.data.config import load_data
from jaxtrade.experiment import Experiment, training_setup
from jaxtrade.features import compute_features
from jaxtrade.train.history import metrics_fields
from jaxtrade.train.loop import fit, to_host

TINY = Path(__file__).parents[1] / "configs" / "tiny.yaml"


def curve(runner, history) -> dict:
    metrics = jax.tree.map(lambda *x: np.concatenate(x), *history)
    out = {k: np.asarray(v).tolist() for k, v in metrics_fields(metrics).items()}
    out["env_state_devices"] = len(runner.env_state.cash.sharding.device_set)
    out["env_state_shard"] = list(runner.env_state.cash.addressable_shards[0].data.shape)
    out["actor_kernel"] = to_host(runner.train_state.params["params"]["actor"]["Dense_1"]["kernel"]).tolist()
    return out


def main(out_dir: str, port: int | None = None, process: int = 0, processes: int = 1) -> None:
    if port is not None:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(f"localhost:{port}", num_processes=processes, process_id=process)
    cfg = load_config(TINY)
    cfg = replace(cfg, ppo=replace(cfg.ppo, num_updates=4, updates_per_chunk=2))
    data = load_data(cfg.data, min_bars=cfg.min_bars)
    features = compute_features(data, cfg.features)
    out = {"devices": jax.device_count(), "processes": jax.process_count()}
    runs = (("all", None),) if port is not None else (("one", jax.devices()[:1]), ("all", None))
    for name, devices in runs:
        setup = training_setup(Experiment(cfg, data, features), devices=devices)
        ckpt = Path(out_dir) / name
        runner, history = fit(setup, checkpoint_dir=ckpt, log=None)
        out[name] = curve(runner, history)
        if name == "all" and port is None:  # resume the sharded run from update 2: same final parameters
            shutil.rmtree(ckpt / "4")
            resumed, _ = fit(setup, checkpoint_dir=ckpt, resume=True, log=None)
            out["resumed_equal"] = bool(jax.tree.all(jax.tree.map(
                lambda a, b: np.array_equal(np.asarray(a), np.asarray(b)),
                resumed.train_state.params, runner.train_state.params)))
    if jax.process_index() == 0:
        print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1], *(int(a) for a in sys.argv[2:]))
