"""The walk-forward's result containers (host data), apart so that the retraining, the shared account and the
report read them without importing each other."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from jaxtrade.data.splits import Fold
from jaxtrade.evaluate.stitch import Stitched


@dataclass
class Books:
    """The shared account's stitched records (host data; N = bars from the first out-of-sample bar)."""

    returns: dict  # policy name -> (N,) the account's returns, stitched over the folds
    live: np.ndarray  # (N,) bool: bars the account's record covers
    stops: dict  # name -> [(StopReason, bar, count)] of the folds a stop liquidated: the latest, and how many
    trades: dict  # name -> {"trades", "wins", "gross_profit", "gross_loss", "cost"} summed over the folds
    judged: str = "agents ensemble"  # the agents' row the targets are checked on (the capped one with caps)
    seed_rows: dict = field(default_factory=dict)  # `portfolio.seed_capital` -> its row here (capped with caps)
    groups: dict = field(default_factory=dict)  # `WalkForwardSpec.groups`: each group's row -> its seeds


@dataclass
class InnerChoice:
    """Each fold's inner validation slice and the seed chosen on it (host data; `WalkForwardSpec.inner`)."""

    slices: list[tuple[int, int]]  # (F,) each slice as a fold's `test` range (decisions from its first bar's close)
    sharpe: np.ndarray  # (F, K) each seed's agents' Sharpe on the fold's slice (NaN: under the minimum bars)
    chosen: np.ndarray  # (F,) int: the index of the seed chosen (the highest Sharpe; the first when none has one)


@dataclass
class WalkForwardResult:
    """What a walk-forward retraining measured (host data)."""

    folds: list[Fold]
    seeds: tuple[int, ...]
    policies: list[str]  # the record's policy axis: agent per seed, the ensemble, the baselines, buy_and_hold
    symbols: tuple[str, ...]
    stitched: Stitched
    bars_per_year: float
    seconds: dict  # wall time: {"train": ..., "test": ..., "total": ...}
    net_params: object  # the trained networks' params, leading axes (fold, seed)
    books: Books | None = None  # the shared-account portfolio (several symbols)
    master_params: object = None  # the learned masters' params, leading axes (fold, seed) (with a master config)
    master_config: dict | None = None  # the master config they were trained with
    inner: InnerChoice | None = None  # the inner slices and the seeds chosen on them (`WalkForwardSpec.inner`)


__all__ = ["Books", "InnerChoice", "WalkForwardResult"]
