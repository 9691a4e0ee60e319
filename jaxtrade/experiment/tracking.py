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
import warnings
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


# What to do when a tracker cannot start: its usual causes, and how to run without a network.
FIXES = {"wandb": "log in (`wandb login`, or WANDB_API_KEY), or set WANDB_MODE=offline to write the run locally for "
                  "a later `wandb sync`",
         "mlflow": "point MLFLOW_TRACKING_URI at a reachable server or a local store (e.g. sqlite:///mlflow.db)"}


def _first_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:300]}"


def _start(kind: str, start: Callable):
    """`start()`; a tracker's own failure (login, server, URI) as a `ConfigError` that names the fix."""
    try:
        return start()
    except ConfigError:
        raise
    except Exception as exc:  # wandb and mlflow raise their own error types, and requests' / OS errors
        where = f" (MLFLOW_TRACKING_URI={os.environ['MLFLOW_TRACKING_URI']})" if (
            kind == "mlflow" and "MLFLOW_TRACKING_URI" in os.environ) else ""
        raise ConfigError(f"--track {kind}: could not start the run{where}: {_first_line(exc)}; {FIXES[kind]}, or "
                          f"train without --track") from exc


def _guarded(kind: str, log: MetricsHook) -> MetricsHook:
    """`log`, which on its first failure (a server gone mid-run) warns once and stops logging: training goes on."""
    failed: list[BaseException] = []

    def hook(step: int, row: dict) -> None:
        if failed:
            return
        try:
            log(step, row)
        except Exception as exc:
            failed.append(exc)
            warnings.warn(f"--track {kind}: logging failed at env step {step} ({_first_line(exc)}); training goes "
                          f"on without the tracker (the run folder's metrics.jsonl keeps every row)", RuntimeWarning,
                          stacklevel=2)
    return hook


def _finish(kind: str, finish: Callable, *args) -> None:
    """Close the tracker's run; a failure there warns (the training it recorded is done and saved)."""
    try:
        finish(*args)
    except Exception as exc:
        warnings.warn(f"--track {kind}: closing the run failed ({_first_line(exc)}); the training and its run "
                      f"folder are complete", RuntimeWarning, stacklevel=3)


@contextlib.contextmanager
def tracker(kind: str | None, run_dir: str | Path | None, config: dict, name: str | None = None
            ) -> Iterator[MetricsHook | None]:
    """A metrics hook that logs to `kind` ("wandb", "mlflow") for the run's duration; None for no tracker. A
    failure while logging or closing warns and lets the training go on.

    Raises:
      ConfigError: an unknown tracker, its package is not installed, or its run cannot start (not logged in, a
        server or URI that does not answer): the message names the fix.
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
        run = _start(kind, lambda: wandb.init(project=os.environ.get("WANDB_PROJECT", "jaxtrade"), name=name,
                                              dir=str(directory), config=config, reinit="finish_previous"))
        code = 0
        try:
            yield _guarded(kind, lambda step, row: run.log(_scalars(row), step=int(step), commit=True))
        except BaseException:
            code = 1
            raise
        finally:
            _finish(kind, run.finish, code)
        return
    mlflow = _import("mlflow")

    def start():
        mlflow.set_experiment(os.environ.get("MLFLOW_EXPERIMENT_NAME", "jaxtrade"))
        run = mlflow.start_run(run_name=name)
        try:
            mlflow.log_params(flat_params(config))
        except Exception:
            mlflow.end_run("FAILED")
            raise
        return run

    _start(kind, start)
    status = "FINISHED"
    try:
        yield _guarded(kind, lambda step, row: mlflow.log_metrics(_scalars(row), step=int(step)))
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM
        status = "KILLED"
        raise
    except BaseException:
        status = "FAILED"
        raise
    finally:
        _finish(kind, mlflow.end_run, status)


__all__ = ["TRACKERS", "flat_params", "tracker"]
