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


@dataclass(frozen=True)
class Fold:
    """One walk-forward fold as bar ranges of the time axis (first, end), end exclusive.

    `train`: the bars its agent trains on (episodes decide, fill and are marked only inside them).
    `test`: (B - 1, B'): the agent decides from the close of bar B - 1, so the fold's record marks bars
    B .. B' - 1, and the next fold's test starts at (B' - 1, ...): the folds' records join without a gap.
    """

    train: tuple[int, int]
    test: tuple[int, int]


def parse_scheme(scheme: str) -> float | None:
    """'expanding' -> None (train from the first bar); 'rolling:YEARS' -> YEARS of training before each test."""
    if scheme == "expanding":
        return None
    kind, _, years = scheme.partition(":")
    try:
        value = float(years)
    except ValueError:
        value = math.nan
    if kind != "rolling" or not value > 0:
        raise ConfigError(f"walk-forward scheme: {scheme!r} is not 'expanding' or 'rolling:YEARS' (e.g. rolling:3)")
    return value


def walk_forward_folds(data: MarketData, folds: str | int, first_test: int, embargo: int, window: int,
                       scheme: str = "expanding") -> list[Fold]:
    """Folds whose test periods tile the bars from `first_test` to the end of the data.

    Args:
      folds: "yearly" (a test period per calendar year, the first from `first_test`, the last to the data's end)
        or N (N test periods of equal bar counts).
      first_test: the first bar marked out of sample.
      embargo: bars left out between a fold's training end and the first bar its agent decides on; at least
        `window`, so no bar of the training range is inside a test observation.
      scheme: "expanding" (train from bar 0) or "rolling:YEARS" (the YEARS before the test period).

    Raises:
      ConfigError: an embargo below the window, too few bars, or an unknown scheme.
    """
    T = data.num_bars
    if not isinstance(embargo, int) or embargo < window:
        raise ConfigError(f"walk-forward embargo: need at least the observation window ({window} bars), got "
                          f"{embargo!r}")
    years = parse_scheme(scheme)
    if not 0 < first_test < T - 1:
        raise ConfigError(f"walk-forward: the first test bar {first_test} leaves no bars before or after it "
                          f"(data of {T} bars)")
    ts = data.timestamps()
    if folds == "yearly":
        year = ts.astype("datetime64[Y]")
        cuts = [first_test] + [int(b) for b in np.flatnonzero(year[1:] != year[:-1]) + 1 if b > first_test]
    elif isinstance(folds, int) and not isinstance(folds, bool) and folds >= 1:
        cuts = [int(round(first_test + i * (T - first_test) / folds)) for i in range(folds)]
    else:
        raise ConfigError(f"walk-forward folds: 'yearly' or a number of folds >= 1, got {folds!r}")
    ends = cuts[1:] + [T]
    out = []
    for begin, end in zip(cuts, ends, strict=True):
        if end - begin < 2:
            raise ConfigError(f"walk-forward: a test period of {end - begin} bar(s) at bar {begin}; use fewer folds")
        train_end = begin - embargo
        start = 0 if years is None else int(np.searchsorted(
            ts, ts[begin] - np.timedelta64(int(round(years * 365.25 * 86_400)), "s")))
        if train_end - start < 2:
            raise ConfigError(f"walk-forward: the fold tested from {ts[begin]} has no training bars before its "
                              f"embargo of {embargo} bars; start testing later")
        out.append(Fold(train=(start, train_end), test=(begin - 1, end)))
    return out
