"""Experiment trackers behind the metrics hook: Weights & Biases or MLflow, imported only when asked for.

    with tracker("wandb", run_dir, config, name) as log:   # or "mlflow"; None: a no-op
        fit(setup, checkpoint_dir=run_dir, on_metrics=log)

Each update's metrics row (`fit`'s `on_metrics(env_steps, row)`, the same row as `metrics.jsonl`) is logged at
step = env steps, and the resolved config is recorded as the run's hyperparameters. Both work without a network:

- wandb: `WANDB_MODE=offline` (its own switch) writes the run under `run_dir/wandb/` for a later `wandb sync`;
  online, the project is `WANDB_PROJECT` (default "jaxtrade").
- mlflow: the tracking URI is MLflow's own (`MLFLOW_TRACKING_URI`: a server, or a local database such as
  `sqlite:///mlflow.db`, which needs the full `mlflow` package); the experiment is `MLFLOW_EXPERIMENT_NAME`
  (default "jaxtrade").

The packages come with the `track` extra (`pip install 'jaxtrade[track]'`: wandb and mlflow-skinny); a missing
one is named in the error.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from jaxtrade.errors import ConfigError

TRACKERS = ("wandb", "mlflow")
MetricsHook = Callable[[int, dict], None]


def _import(name: str):
    try:
        return __import__(name)
    except ImportError as exc:
        raise ConfigError(f"--track {name}: the {name} package is not installed (pip install "
                          f"'jaxtrade[track]', or pip install {name if name == 'wandb' else 'mlflow-skinny'})"
                          ) from exc


def flat_params(config: dict, prefix: str = "") -> dict[str, object]:
    """A nested config as {"ppo.learning_rate": 0.0003, ...}; lists as text (trackers take scalars)."""
    out: dict[str, object] = {}
    for key, value in config.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flat_params(value, path + "."))
        else:
            out[path] = value if isinstance(value, (int, float, str, bool)) or value is None else str(value)
    return out


def _scalars(row: dict) -> dict[str, float]:
    """The row's finite numbers (a list, such as the reward components, one entry per element)."""
    out = {}
    for key, value in row.items():
        values = value if isinstance(value, list) else [value]
        for i, v in enumerate(values):
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                out[f"{key}/{i}" if isinstance(value, list) else key] = float(v)
    return out


@contextlib.contextmanager
def tracker(kind: str | None, run_dir: str | Path | None, config: dict, name: str | None = None
            ) -> Iterator[MetricsHook | None]:
    """A metrics hook that logs to `kind` ("wandb", "mlflow") for the run's duration; None for no tracker.

    Raises:
      ConfigError: an unknown tracker, or its package is not installed.
    """
    if kind is None:
        yield None
        return
    if kind not in TRACKERS:
        raise ConfigError(f"--track: {kind!r} is not one of {list(TRACKERS)}")
    if kind == "wandb":
        wandb = _import("wandb")
        directory = Path(run_dir) if run_dir is not None else Path.cwd()
        directory.mkdir(parents=True, exist_ok=True)
        run = wandb.init(project=os.environ.get("WANDB_PROJECT", "jaxtrade"), name=name, dir=str(directory),
                         config=config, reinit="finish_previous")
        try:
            yield lambda step, row: run.log(_scalars(row), step=int(step), commit=True)  # the step is whole
        finally:
            run.finish()
        return
    mlflow = _import("mlflow")
    mlflow.set_experiment(os.environ.get("MLFLOW_EXPERIMENT_NAME", "jaxtrade"))
    with mlflow.start_run(run_name=name):
        mlflow.log_params(flat_params(config))
        yield lambda step, row: mlflow.log_metrics(_scalars(row), step=int(step))


__all__ = ["TRACKERS", "flat_params", "tracker"]
