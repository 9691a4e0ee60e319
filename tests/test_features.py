"""The feature pipeline: shapes, finiteness, no look-ahead, normalisation, temporal and ready masks."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from jaxtrade.data.loaders import from_dataframes
from jaxtrade.errors import ConfigError
from jaxtrade.features.config import INDICATOR_WARMUP, FeatureConfig
from jaxtrade.features.normalize import normalize
from jaxtrade.features.pipeline import (
    NUM_NORMALIZED,
    NUM_REGIME,
    NUM_TECHNICAL,
    REGIME_FEATURES,
    TECHNICAL_FEATURES,
    compute_features,
    regime_indicators,
    technical_raw,
)

MODES = ("zscore", "minmax", "robust")


def test_feature_counts():
    assert NUM_TECHNICAL == 23 and len(set(TECHNICAL_FEATURES)) == 23
    assert NUM_REGIME == 10 and len(set(REGIME_FEATURES)) == 10
    assert TECHNICAL_FEATURES[NUM_NORMALIZED:] == ("sentiment", "time_of_day", "day_of_week")


@pytest.mark.parametrize("mode", MODES)
def test_real_data_features_are_finite_and_bounded(stocks, mode):
    cfg = FeatureConfig(normalization=mode)
    f = compute_features(stocks, cfg)
    assert f.technical.shape == (4, 3270, 23) and f.regime.shape == (4, 3270, 10)
    tech, reg = np.asarray(f.technical), np.asarray(f.regime)
    assert np.isfinite(tech).all() and np.isfinite(reg).all()
    bound = 1.0 if mode == "minmax" else cfg.clip
    assert np.abs(tech[..., :NUM_NORMALIZED]).max() <= bound + 1e-6
    ready = np.asarray(f.ready)
    # Normalised features on ready bars are spread out, not collapsed to a constant.
    assert (tech[ready][:, :NUM_NORMALIZED].std(axis=0) > 0.1).all()


@pytest.mark.parametrize("mode", MODES)
def test_no_look_ahead(small_market, mode):
    """Changing any bar after t leaves every feature at bars <= t bit-for-bit unchanged."""
    cfg = FeatureConfig(normalization=mode, norm_window=60)
    base = compute_features(small_market, cfg)
    S, T, _ = small_market.prices.shape
    rng = np.random.default_rng(0)
    for t in (0, 30, 200, 450, T - 2):
        p = np.asarray(small_market.prices).copy()
        p[:, t + 1:, :4] *= rng.uniform(0.2, 5.0, size=(S, T - t - 1, 1))  # crashes and spikes
        p[:, t + 1:, 4] *= rng.uniform(0.0, 10.0, size=(S, T - t - 1))
        sent = np.asarray(small_market.sentiment).copy()
        sent[:, t + 1:] = rng.uniform(-1, 1, size=(S, T - t - 1))
        changed = small_market.replace(prices=jnp.asarray(p), sentiment=jnp.asarray(sent))
        f = compute_features(changed, cfg)
        for name in ("technical", "regime"):
            before, after = np.asarray(getattr(base, name)), np.asarray(getattr(f, name))
            np.testing.assert_array_equal(after[:, : t + 1], before[:, : t + 1], err_msg=f"{name} at t={t}")
            # The perturbation really reached the features after t.
            assert not np.array_equal(after[:, t + 1:], before[:, t + 1:]), (name, t)


def test_no_look_ahead_on_real_data(stocks):
    cut = 2000
    truncated = stocks.replace(prices=stocks.prices[:, : cut + 1], valid=stocks.valid[:, : cut + 1],
                               day=stocks.day[: cut + 1], second=stocks.second[: cut + 1],
                               sentiment=stocks.sentiment[:, : cut + 1], aux=stocks.aux[:, : cut + 1])
    full, part = technical_raw(stocks), technical_raw(truncated)
    np.testing.assert_array_equal(np.asarray(full)[:, : cut + 1], np.asarray(part))
    np.testing.assert_array_equal(np.asarray(regime_indicators(stocks))[:, : cut + 1],
                                  np.asarray(regime_indicators(truncated)))


def test_normalisation_hand_computed():
    x = jnp.array([1.0, 2.0, 3.0, 4.0])
    np.testing.assert_allclose(normalize(x, "minmax", 3, 5.0), [0.0, 1.0, 1.0, 1.0])
    np.testing.assert_allclose(normalize(jnp.array([3.0, 1.0, 2.0]), "minmax", 3, 5.0), [0.0, -1.0, 0.0])
    z = normalize(x, "zscore", 3, 5.0)
    np.testing.assert_allclose(z[2], (3 - 2) / np.std([1, 2, 3]), rtol=1e-6)
    np.testing.assert_allclose(z[0], 0.0)  # a flat window normalises to 0, not NaN
    r = normalize(x, "robust", 3, 5.0)
    np.testing.assert_allclose(r[2], (3 - 2) / (2.5 - 1.5), rtol=1e-6)
    np.testing.assert_allclose(normalize(jnp.array([0.0, 0.0, 100.0]), "zscore", 3, 1.0)[2], 1.0)


def test_normalised_series_statistics(small_market):
    raw = np.asarray(technical_raw(small_market))[0, :, 0]  # log returns, stationary
    x = jnp.asarray(raw)
    z = np.asarray(normalize(x, "zscore", 100, 5.0))[200:]
    assert abs(z.mean()) < 0.15 and 0.8 < z.std() < 1.2
    m = np.asarray(normalize(x, "minmax", 100, 5.0))[200:]
    assert m.min() >= -1 and m.max() <= 1 and m.min() < -0.9 and m.max() > 0.9
    r = np.asarray(normalize(x, "robust", 100, 5.0))[200:]
    assert abs(np.median(r)) < 0.1
    assert 0.4 < np.mean(np.abs(r) < 0.5) < 0.6  # half the values lie within the IQR


def test_temporal_features_and_sentiment_pass_through():
    times = pd.to_datetime(["2021-01-04 00:00", "2021-01-04 06:00", "2021-01-04 12:00",
                            "2021-01-05 18:00", "2021-01-07 12:00"])
    n = len(times)
    df = pd.DataFrame({"time": times.strftime("%Y-%m-%d %H:%M"), "open": 10.0, "high": 11.0,
                       "low": 9.0, "close": 10.0, "volume": 1.0, "sentiment": np.linspace(-0.5, 0.5, n)})
    data = from_dataframes({"A": df})
    raw = np.asarray(technical_raw(data))[0]
    tod = raw[:, TECHNICAL_FEATURES.index("time_of_day")]
    dow = raw[:, TECHNICAL_FEATURES.index("day_of_week")]
    np.testing.assert_allclose(tod, [0, 1, 0, -1, 0], atol=1e-6)
    week_phase = np.array([0, 0.25, 0.5, 1.75, 3.5]) / 7  # Monday 00:00 = 0
    np.testing.assert_allclose(dow, np.sin(2 * np.pi * week_phase), atol=1e-6)
    f = compute_features(data, FeatureConfig(norm_window=2))
    np.testing.assert_allclose(np.asarray(f.technical)[0, :, TECHNICAL_FEATURES.index("sentiment")],
                               np.linspace(-0.5, 0.5, n), rtol=1e-6)


def test_ready_mask(stocks):
    cfg = FeatureConfig(norm_window=100)
    ready = np.asarray(compute_features(stocks, cfg).ready)
    valid = np.asarray(stocks.valid)
    assert cfg.warmup == INDICATOR_WARMUP + 100 - 1
    assert not (ready & ~valid).any()
    for i in range(4):
        first = np.flatnonzero(valid[i])[0]
        assert not ready[i, : first + cfg.warmup].any()
        assert ready[i, first + cfg.warmup:].all()


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [(dict(normalization="l2"), "features.normalization: 'l2' is not one of"),
     (dict(norm_window=1), "features.norm_window: must be an integer >= 2"),
     (dict(clip=0.0), "features.clip: must be > 0")],
)
def test_bad_feature_config(kwargs, pattern):
    with pytest.raises(ConfigError, match=pattern):
        FeatureConfig(**kwargs)
