"""Walk-forward splits: train, validation and test as consecutive, non-overlapping bar ranges by date.

Splits cut the common time axis, so every symbol is split at the same moment and
no bar is in two splits. Episodes of a split decide and fill only inside it; their
observation windows may look back into earlier bars (the past is known).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from jaxtrade.data.types import MarketData
from jaxtrade.errors import ConfigError

SPLITS = ("train", "validation", "test")


def _parse(name: str, value: str | None) -> np.datetime64 | None:
    if value is None:
        return None
    try:
        return np.datetime64(value, "s")
    except ValueError:
        raise ConfigError(f"split.{name}: {value!r} is not an ISO date/time (e.g. 2011-01-01)") from None


@dataclass(frozen=True)
class SplitConfig:
    """Where the splits start: by dates when given, else by shares of the bars."""

    train_end: str | None = None  # first timestamp of validation (ISO, UTC); None = use train_fraction
    valid_end: str | None = None  # first timestamp of test (ISO, UTC); None = use valid_fraction
    train_fraction: float = 0.7  # share of bars in train when train_end is not given
    valid_fraction: float = 0.15  # share of bars in validation when valid_end is not given

    def __post_init__(self):
        for name in ("train_fraction", "valid_fraction"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < 1 or math.isnan(v):
                raise ConfigError(f"split.{name}: must be in [0, 1), got {v!r}")
        if self.train_fraction <= 0:
            raise ConfigError("split.train_fraction: must be > 0")
        if self.train_fraction + self.valid_fraction >= 1:
            raise ConfigError("split: train_fraction + valid_fraction must leave bars for the test split (< 1)")
        a, b = _parse("train_end", self.train_end), _parse("valid_end", self.valid_end)
        if a is not None and b is not None and not a < b:
            raise ConfigError(f"split: train_end {self.train_end} must come before valid_end {self.valid_end}")


def split_bars(cfg: SplitConfig, data: MarketData) -> dict[str, tuple[int, int]]:
    """{"train": (0, a), "validation": (a, b), "test": (b, T)} bar ranges of `data`'s time axis."""
    T = data.num_bars
    ts = data.timestamps()
    a_time, b_time = _parse("train_end", cfg.train_end), _parse("valid_end", cfg.valid_end)
    a = int(np.searchsorted(ts, a_time)) if a_time is not None else int(round(T * cfg.train_fraction))
    if b_time is not None:
        b = int(np.searchsorted(ts, b_time))
    else:
        b = min(T, a + int(round(T * cfg.valid_fraction)))
    if not 0 < a <= b < T:
        raise ConfigError(f"split: cuts at bars {a} and {b} of {T} ({ts[0]} .. {ts[-1]}) leave an empty train or "
                          f"test split")
    return {"train": (0, a), "validation": (a, b), "test": (b, T)}
