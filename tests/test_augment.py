"""Training on synthetic symbols beside the real ones (`augment`): the real symbols' features, validation and
test params stay as they were; the synthetic symbols are on the real calendar and trade inside the split."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from conftest import TINY, experiment_of

from jaxtrade.config import config_from_dict, load_config
from jaxtrade.data.config import CRASH_MARKET, AugmentConfig
from jaxtrade.errors import ConfigError


def test_augmented_training_params_add_synthetic_symbols_and_leave_the_real_ones_alone(tiny_exp):
    cfg = load_config(TINY)
    exp = experiment_of(replace(cfg, augment=AugmentConfig(symbols=3, seed=1)))
    data, features = exp.training_market
    S = tiny_exp.data.num_symbols
    assert data.symbols == (*tiny_exp.data.symbols, "AUG000", "AUG001", "AUG002")
    np.testing.assert_array_equal(np.asarray(data.day), np.asarray(tiny_exp.data.day))
    np.testing.assert_array_equal(np.asarray(features.technical[:S]), np.asarray(tiny_exp.features.technical))
    assert np.asarray(features.ready[S:]).any(axis=1).all()

    plain, train = exp.params("train"), exp.train_params("train")
    assert plain.market.close.shape[0] == S and train.market.close.shape[0] == S + 3
    np.testing.assert_array_equal(np.asarray(train.market.tradeable[:S]), np.asarray(plain.market.tradeable))
    first, end = exp.bars("train")
    starts = np.asarray(train.starts.symbol)[:int(train.starts.count)]
    bars = np.asarray(train.starts.bar)[:int(train.starts.count)]
    assert set(starts.tolist()) == set(range(S + 3)) and first <= bars.min() and bars.max() + 1 < end
    assert float(train.rules.bars_per_year) == float(plain.rules.bars_per_year)
    # The synthetic symbols follow the crash market: shocks correlated through the market, and the same key
    # gives the same symbols.
    close = np.log(np.asarray(data.prices[S:, :, 3], np.float64))
    assert np.corrcoef(np.diff(close, axis=1)).min() > 0.2
    again = experiment_of(replace(cfg, augment=AugmentConfig(symbols=3, seed=1))).training_market[0]
    np.testing.assert_array_equal(np.asarray(again.prices), np.asarray(data.prices))
    # Off: the training params are the plain ones.
    assert tiny_exp.train_params("train").market.close.shape[0] == S


def test_augment_config_keeps_the_crash_market_under_partial_keys_and_names_calendar_keys():
    cfg = config_from_dict({"augment": {"symbols": 2, "synthetic": {"crash_rate": 1.0}}})
    assert cfg.augment.synthetic == replace(CRASH_MARKET, crash_rate=1.0)  # the other keys stay the crash market's
    with pytest.raises(ConfigError, match=r"augment.synthetic: \['num_bars'\] come from the real data"):
        config_from_dict({"augment": {"symbols": 2, "synthetic": {"num_bars": 500}}})
    with pytest.raises(ConfigError, match="augment.symbols: need an integer >= 0"):
        config_from_dict({"augment": {"symbols": -1}})
