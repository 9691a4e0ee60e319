"""A run's metrics history in its folder: `metrics.jsonl` (one strict JSON row per update) and TensorBoard
events (`jaxtrade.train.events`), appended before the checkpoint that counts them, cut back to the checkpoint
on resume; `read_history` reads it back."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from jaxtrade.errors import ConfigError
from jaxtrade.files import replace_file
from jaxtrade.train.events import append_events, rewrite_events
from jaxtrade.train.types import Metrics

METRICS_FILE = "metrics.jsonl"
CONFIG_FILE = "config.json"  # the resolved config of the run in its folder (hyperparameters for trackers)


def metrics_fields(metrics: Metrics) -> dict:
    """The metrics by name, the rollout-metrics hook's summary (`metrics.env`) flattened in beside the rest."""
    fields = {k: v for k, v in metrics._asdict().items() if k != "env"}
    if hasattr(metrics.env, "_asdict"):
        fields.update(metrics.env._asdict())
    return fields

def _json_value(v):
    """A metrics value as strict JSON: NaN and infinities (which strict readers reject) become null."""
    if isinstance(v, float) and not np.isfinite(v):
        return None
    if isinstance(v, list):
        return [_json_value(x) for x in v]
    return v


def _json_row(row: dict) -> str:
    """One strict JSON line (rows an older version wrote with NaN tokens are cleaned on the way)."""
    return json.dumps({k: _json_value(v) for k, v in row.items()}, allow_nan=False) + "\n"


def metrics_rows(metrics: Metrics, first_update: int, batch_size: int,
                 wall: tuple[float, float] | None = None) -> list[dict]:
    """One JSON-able dict per update of a chunk's (K,)-stacked host metrics; `update` counts from 1. `wall`: the
    chunk's (start, end) Unix times, spread evenly over its updates as each row's `wall_time`."""
    fields = metrics_fields(metrics)
    rows = []
    K = np.asarray(metrics.reward).shape[0]
    for i in range(K):
        update = first_update + i + 1
        row = {"update": update, "env_steps": update * batch_size}
        if wall is not None:
            row["wall_time"] = wall[0] + (wall[1] - wall[0]) * (i + 1) / K
        row.update({k: _json_value(np.asarray(v[i]).tolist()) for k, v in fields.items()})
        rows.append(row)
    return rows


def _metric_rows(path: Path) -> list[dict]:
    """The rows of a metrics file; a torn last line (a write cut short by a crash) is left out.

    Raises:
      ConfigError: a line other than the last does not parse.
    """
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    rows = []
    for i, line in enumerate(lines):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            if i == len(lines) - 1:
                break  # torn by a crash mid-write: the checkpoint never counted this chunk
            raise ConfigError(f"{path}: line {i + 1} is not a JSON metrics row; the file is damaged "
                              f"(delete it to start the history afresh)") from None
    return rows


def read_history(directory: str | Path) -> dict[str, np.ndarray]:
    """The per-update metrics a run wrote to `directory/metrics.jsonl`, as arrays keyed by field.

    Raises:
      ConfigError: no metrics file there, or a damaged one.
    """
    path = Path(directory) / METRICS_FILE
    if not path.exists():
        raise ConfigError(f"{path}: no training metrics (written by `jaxtrade train --checkpoint-dir`)")
    rows = _metric_rows(path)
    return {k: np.asarray([r[k] for r in rows]) for k in rows[0]} if rows else {}


ROLLOUT_FIELDS = ("episodes", "reward")  # the Metrics fields measured on the rollout, beside the hook's


def _event_tag(name: str) -> str:
    """TensorBoard tag of a metrics field: `rollout/...` (what the env returned), `ppo/...` (the update)."""
    return f"{'ppo' if name in Metrics._fields and name not in ROLLOUT_FIELDS else 'rollout'}/{name}"


def keep_history(directory: Path, upto: int) -> None:
    """Keep the metric rows of updates 1..`upto` (the checkpoint's) and drop the rest, torn lines included;
    the TensorBoard events are rebuilt from the rows kept."""
    path = directory / METRICS_FILE
    rows = [r for r in _metric_rows(path) if r["update"] <= upto] if path.exists() else []
    if path.exists():  # replaced whole: a kill mid-write leaves the old history, never a truncated one
        replace_file(path, "".join(_json_row(r) for r in rows).encode())
    rewrite_events(directory, rows, tag=_event_tag)


def append_history(directory: Path, rows: list[dict]) -> None:
    """Append rows (metrics.jsonl and TensorBoard events) and force them to disk (before the checkpoint that
    counts them is written)."""
    with (directory / METRICS_FILE).open("a") as f:
        f.writelines(_json_row(row) for row in rows)
        f.flush()
        os.fsync(f.fileno())
    append_events(directory, rows, tag=_event_tag)
