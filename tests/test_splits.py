"""Walk-forward splits by date or share of bars."""

from __future__ import annotations

import numpy as np
import pytest

from jaxtrade.data.splits import SplitConfig, split_bars
from jaxtrade.errors import ConfigError


def test_date_splits_are_contiguous_and_cut_at_the_dates(stocks):
    splits = split_bars(SplitConfig(train_end="2011-01-01", valid_end="2012-07-01"), stocks)
    ts = stocks.timestamps()
    (a0, a1), (b0, b1), (c0, c1) = splits["train"], splits["validation"], splits["test"]
    assert a0 == 0 and a1 == b0 and b1 == c0 and c1 == stocks.num_bars  # no gap, no overlap
    assert ts[a1 - 1] < np.datetime64("2011-01-01") <= ts[a1]
    assert str(ts[a1])[:10] == "2011-01-03"  # the first trading day of 2011
    assert ts[b1 - 1] < np.datetime64("2012-07-01") <= ts[b1]


def test_fraction_splits(small_market):
    splits = split_bars(SplitConfig(train_fraction=0.6, valid_fraction=0.25), small_market)
    assert splits == {"train": (0, 420), "validation": (420, 595), "test": (595, 700)}
    assert split_bars(SplitConfig(train_fraction=0.8, valid_fraction=0.0), small_market)["validation"] == (560, 560)


def test_splits_outside_the_data_are_rejected(stocks):
    with pytest.raises(ConfigError, match="empty train or test split"):
        split_bars(SplitConfig(train_end="2011-01-01", valid_end="2030-01-01"), stocks)
    with pytest.raises(ConfigError, match="empty train or test split"):
        split_bars(SplitConfig(train_end="1990-01-01"), stocks)
