"""Orbax checkpoints of the whole training carry, with the resolved config and a format version.

A checkpoint holds the `RunnerState` (network parameters, optimiser state, env
states, the next observations, the PRNG key and the update counter), so a
restored run continues bit for bit, plus JSON metadata: the format version, the
resolved config, the update count and env steps. Restores go into an abstract
target built with `jax.eval_shape`, so nothing is allocated twice.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from jaxtrade.errors import ConfigError
from jaxtrade.files import lock_file, unlock_file
from jaxtrade.train.ppo import RunnerState

FORMAT_VERSION = 4  # 4: the risk observation (network inputs); 3: signed book (short-selling params),
# RunnerState.updates_done; 2: return_scale


def _storable(runner: RunnerState) -> RunnerState:
    """Typed PRNG keys are stored as their raw uint32 data."""
    return runner._replace(key=jax.random.key_data(runner.key))


class Checkpointer:
    """Saves and restores `RunnerState`s under `directory` (keeps the newest `max_to_keep`)."""

    def __init__(self, directory: str | Path, max_to_keep: int = 3, create: bool = True):
        """`create=False` opens an existing run for reading: a missing folder is an error, never made.

        Raises:
          ConfigError: `create` is off and `directory` does not exist.
        """
        self.directory = Path(directory).absolute()
        if self.directory.exists() and not self.directory.is_dir():
            raise ConfigError(f"{self.directory}: is a file, not a checkpoint directory (name a folder)")
        if not create and not self.directory.is_dir():
            raise ConfigError(f"{self.directory}: no checkpoint directory there (runs are written by "
                              f"`jaxtrade train --checkpoint-dir DIR`)")
        self._lock = None
        if create and jax.process_index() == 0:  # one writer per run folder (process 0 speaks for a job)
            self.directory.mkdir(parents=True, exist_ok=True)
            self._lock = _lock(self.directory / LOCK_FILE)
        self.manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=create),
        )

    def save(self, runner: RunnerState, config: dict, extra: dict | None = None) -> int:
        """Write `runner` as step = its update count; returns the step."""
        step = int(runner.updates_done.addressable_data(0))  # replicated; readable in every process
        meta = {"format_version": FORMAT_VERSION, "update": step, "config": config,
                "checksum": checksum(_storable(runner)), **(extra or {})}
        self.manager.save(step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(_storable(runner)), meta=ocp.args.JsonSave(meta)))
        self.manager.wait_until_finished()
        return step

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def metadata(self, step: int | None = None) -> dict:
        """The JSON metadata of a checkpoint (default: the latest, listed afresh)."""
        step = self._step(step)
        return self.manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]

    def restore(self, abstract_runner: Any, step: int | None = None, sharding: Any = None
                ) -> tuple[RunnerState, dict]:
        """Restore into the structure of `abstract_runner` (e.g. `jax.eval_shape(init, key, hp, env_params)`).

        `sharding`: a tree like the runner with a `jax.sharding.Sharding` per leaf
        (e.g. `Setup.runner_sharding`); None restores onto the default device.

        Raises:
          ConfigError: no checkpoint, or one written by another format version.
        """
        step = self._step(step)
        meta = self.metadata(step)
        if meta.get("format_version") != FORMAT_VERSION:
            raise ConfigError(f"{self.directory}: checkpoint format {meta.get('format_version')!r}, "
                              f"this jaxtrade reads {FORMAT_VERSION}: train again, or restore it with the "
                              f"jaxtrade version that wrote it")
        target = jax.eval_shape(_storable, abstract_runner)
        if sharding is not None:
            target = jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s), target, sharding)
        restored = self.manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(target)))
        state = restored["state"]
        if "checksum" in meta and checksum(state) != meta["checksum"]:
            raise ConfigError(f"{self.directory}: step {step}'s saved state does not match its checksum "
                              f"(the files were changed or damaged after saving)")
        if not all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(state.train_state)
                   if np.issubdtype(x.dtype, np.inexact) and getattr(x, "is_fully_addressable", True)):
            raise ConfigError(f"{self.directory}: step {step} holds non-finite network parameters (the run "
                              f"diverged before it); restore an earlier step, or train again")
        return state._replace(key=jax.random.wrap_key_data(state.key)), meta

    def newest_metadata(self) -> dict:
        """The metadata of the newest step whose metadata reads (a damaged newer step is passed over).

        Raises:
          ConfigError: no step's metadata reads.
        """
        self.manager.reload()
        for step in sorted(self.manager.all_steps(), reverse=True):
            try:
                return self.metadata(step)
            except Exception:  # noqa: BLE001 (a damaged step: try the one before)
                continue
        raise ConfigError(f"{self.directory}: no checkpoint with readable metadata")

    def restore_newest_valid(self, abstract_runner: Any, sharding: Any = None
                             ) -> tuple[RunnerState, dict, list[str]]:
        """Restore the newest step that restores and verifies, skipping damaged ones.

        Returns:
          (runner, meta, skipped): `skipped` says which newer steps were passed over and why.

        Raises:
          ConfigError: no step restores (each one's reason listed).
        """
        skipped, tried = [], set()
        while True:
            # Listed afresh each time: a run still training beside us saves new steps and rotates old ones away.
            self.manager.reload()
            steps = [s for s in sorted(self.manager.all_steps(), reverse=True) if s not in tried]
            if not steps:
                break
            step = steps[0]
            tried.add(step)
            try:
                runner, meta = self.restore(abstract_runner, step, sharding)
            except Exception as exc:  # orbax and tensorstore raise many kinds for damaged files
                self.manager.reload()
                if step not in self.manager.all_steps():
                    continue  # rotated away by the live run while we read it: not damaged, try the newest again
                skipped.append(f"step {step}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
                continue
            return runner, meta, skipped
        raise ConfigError(f"{self.directory}: no checkpoint restores: " + "; ".join(skipped or ["none saved"]))

    def _step(self, step: int | None) -> int:
        if step is None:
            self.manager.reload()  # the newest now, not when this reader opened the folder
        steps = sorted(self.manager.all_steps())
        if not steps:
            raise ConfigError(f"{self.directory}: no checkpoint to restore")
        if step is None:
            return steps[-1]
        if step not in steps:
            raise ConfigError(f"{self.directory}: no checkpoint at step {step}; the steps kept are {steps}")
        return step

    def close(self) -> None:
        self.manager.close()
        if self._lock is not None:
            unlock_file(self._lock)
            self._lock = None


LOCK_FILE = ".lock"


def checksum(tree: Any) -> str:
    """SHA-256 over the bytes, shapes and dtypes of every fully addressable leaf, in tree order."""
    h = hashlib.sha256()
    for leaf in jax.tree.leaves(tree):
        if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
            continue  # sharded across processes: orbax's own per-shard checks cover it
        x = np.asarray(leaf)
        h.update(f"{x.dtype}{x.shape}".encode())
        h.update(np.ascontiguousarray(x).tobytes())
    return h.hexdigest()


def _lock(path: Path):
    """An exclusive lock on `path` held by this process until released (the OS drops it if we die).

    Raises:
      ConfigError: another process holds it.
    """
    handle = lock_file(path)
    if isinstance(handle, str):
        raise ConfigError(f"{path.parent}: another run is writing here (process {handle}); wait for it to "
                          f"finish or train into another directory")
    return handle
