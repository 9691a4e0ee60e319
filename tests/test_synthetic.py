"""The synthetic market: determinism, bar consistency, and statistics that match the parameters."""

from __future__ import annotations

import math

import jax
import numpy as np
import pytest

from jaxtrade.data.synthetic import SyntheticConfig, generate
from jaxtrade.data.types import CLOSE, HIGH, LOW, OPEN, VOLUME
from jaxtrade.errors import ConfigError

STATS_CFG = SyntheticConfig(num_symbols=16, num_bars=20_000, jump_intensity=0.0)


@pytest.fixture(scope="module")
def stats_market():
    return generate(jax.random.key(7), STATS_CFG)


def test_shapes_determinism_and_timestamps():
    cfg = SyntheticConfig(num_symbols=3, num_bars=50)
    a, b = generate(jax.random.key(0), cfg), generate(jax.random.key(0), cfg)
    c = generate(jax.random.key(1), cfg)
    assert a.data.prices.shape == (3, 50, 5) and a.regime.shape == (3, 50)
    np.testing.assert_array_equal(np.asarray(a.data.prices), np.asarray(b.data.prices))
    assert not np.array_equal(np.asarray(a.data.prices), np.asarray(c.data.prices))
    assert a.data.symbols == ("SYN000", "SYN001", "SYN002")
    assert np.asarray(a.data.valid).all()
    ts = a.data.timestamps()
    assert str(ts[0]) == "2000-01-03T00:00:00"
    weekdays = (np.asarray(a.data.day) + 3) % 7
    assert (weekdays < 5).all()  # daily bars fall on business days
    hourly = generate(jax.random.key(0), SyntheticConfig(num_symbols=1, num_bars=30, bar_seconds=3600))
    assert (np.diff(hourly.data.timestamps()).astype(int) == 3600).all()


def test_bars_are_consistent(stats_market):
    p = np.asarray(stats_market.data.prices, np.float64)
    assert np.isfinite(p).all() and (p > 0).all()
    assert (p[..., HIGH] >= np.maximum(p[..., OPEN], p[..., CLOSE]) * (1 - 1e-6)).all()
    assert (p[..., LOW] <= np.minimum(p[..., OPEN], p[..., CLOSE]) * (1 + 1e-6)).all()
    np.testing.assert_allclose(p[:, 0, CLOSE], STATS_CFG.initial_price, rtol=1e-6)


def test_per_regime_drift_and_volatility_match_parameters(stats_market):
    p = np.asarray(stats_market.data.prices, np.float64)
    regime = np.asarray(stats_market.regime)[:, 1:]
    ret = np.diff(np.log(p[..., CLOSE]), axis=1)
    dt = 1.0 / STATS_CFG.bars_per_year
    for k, (mu, sigma) in enumerate(zip(STATS_CFG.drift, STATS_CFG.volatility, strict=True)):
        x = ret[regime == k]
        assert x.size > 10_000
        expected_mean = (mu - 0.5 * sigma**2) * dt
        stderr = sigma * np.sqrt(dt) / np.sqrt(x.size)
        assert abs(x.mean() - expected_mean) < 4 * stderr, (k, x.mean(), expected_mean)
        assert abs(x.std() / np.sqrt(dt) - sigma) < 0.02 * sigma, (k, x.std() / np.sqrt(dt), sigma)


def test_regime_occupancy_and_persistence(stats_market):
    regime = np.asarray(stats_market.regime)
    occupancy = np.bincount(regime.ravel(), minlength=3) / regime.size
    np.testing.assert_allclose(occupancy, STATS_CFG.stationary_distribution(), atol=0.04)
    # Empirical transition frequencies match P.
    frm, to = regime[:, :-1].ravel(), regime[:, 1:].ravel()
    counts = np.zeros((3, 3))
    np.add.at(counts, (frm, to), 1)
    np.testing.assert_allclose(counts / counts.sum(1, keepdims=True), STATS_CFG.transition, atol=0.004)


def test_jumps_fatten_tails_at_the_given_rate():
    base = dict(num_symbols=8, num_bars=20_000, drift=(0.0,), volatility=(0.2,), transition=((1.0,),))
    calm = generate(jax.random.key(3), SyntheticConfig(**base, jump_intensity=0.0))
    jumpy = generate(jax.random.key(3), SyntheticConfig(**base, jump_intensity=12.6, jump_mean=0.0, jump_std=0.1))

    def returns(m):
        return np.diff(np.log(np.asarray(m.data.prices[..., CLOSE], np.float64)), axis=1).ravel()

    calm_r, jump_r = returns(calm), returns(jumpy)
    sd = 0.2 / np.sqrt(252)
    threshold = 6 * sd
    # Without jumps a 6-sigma move essentially never happens.
    assert (np.abs(calm_r) > threshold).sum() == 0
    # A bar with a jump has return ~ N(0, sd^2 + 0.1^2); jumps arrive with probability 12.6 / 252.
    expected = 12.6 / 252 * math.erfc(threshold / math.sqrt(2 * (sd**2 + 0.1**2)))
    frac = (np.abs(jump_r) > threshold).mean()
    assert abs(frac - expected) < 0.15 * expected, (frac, expected)


def test_volume_rises_with_volatility(stats_market):
    regime = np.asarray(stats_market.regime)
    log_v = np.log(np.asarray(stats_market.data.prices[..., VOLUME], np.float64))
    means = [log_v[regime == k].mean() for k in range(3)]
    order = np.argsort(STATS_CFG.volatility)
    assert means[order[0]] < means[order[1]] < means[order[2]]


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        (dict(num_symbols=0), "num_symbols must be >= 1"),
        (dict(num_bars=1), "num_bars must be >= 2"),
        (dict(volatility=(0.1, 0.1)), "volatility needs 3 entries"),
        (dict(volatility=(0.1, -0.1, 0.2)), "volatility entries must be > 0"),
        (dict(transition=((0.5, 0.5, 0.1), (0.1, 0.8, 0.1), (0.1, 0.1, 0.8))), "rows must sum to 1"),
        (dict(transition=((1.0, 0.0), (0.0, 1.0))), "3x3 matrix"),
        (dict(jump_intensity=-1.0), "jump_intensity must be >= 0"),
        (dict(initial_price=0.0), "initial_price must be > 0"),
        (dict(start="someday"), "is not a date"),
        (dict(num_sectors=5), r"num_sectors must be in \[1, num_symbols\]"),
        (dict(market_correlation=0.7, sector_correlation=0.4), "sum <= 1"),
        (dict(sector_correlation=-0.1), "must be >= 0"),
        (dict(crash_rate=-1.0), "crash_rate must be >= 0"),
        (dict(crash_rate=1.0, crash_depth=1.0), r"crash_depth must be in \(0, 1\)"),
        (dict(crash_rate=1.0, crash_bars=0.5), "crash_bars must be >= 1"),
    ],
)
def test_bad_config_values_are_named(kwargs, pattern):
    with pytest.raises(ConfigError, match=pattern):
        SyntheticConfig(**kwargs)


def test_market_and_sector_factors_set_the_correlations():
    """Shocks correlate by rho_m across sectors and rho_m + rho_g within one; no factors leaves them as before."""
    one_regime = dict(num_symbols=12, num_bars=20_000, jump_intensity=0.0, drift=(0.0,), volatility=(0.2,),
                      transition=((1.0,),), gap_std=0.0)
    cfg = SyntheticConfig(num_sectors=3, market_correlation=0.3, sector_correlation=0.4, **one_regime)
    close = np.asarray(generate(jax.random.key(3), cfg).data.prices[..., CLOSE], np.float64)
    corr = np.corrcoef(np.diff(np.log(close), axis=1))
    sector = np.arange(12) % 3
    same = (sector[:, None] == sector[None, :]) & ~np.eye(12, dtype=bool)
    across = sector[:, None] != sector[None, :]
    assert abs(corr[same].mean() - 0.7) < 0.02 and abs(corr[across].mean() - 0.3) < 0.02
    assert corr[same].min() > 0.65 and corr[across].max() < 0.35

    plain = SyntheticConfig(**one_regime)
    again = SyntheticConfig(num_sectors=3, **one_regime)  # factors with zero weight: the same market
    np.testing.assert_array_equal(np.asarray(generate(jax.random.key(3), plain).data.prices),
                                  np.asarray(generate(jax.random.key(3), again).data.prices))


def test_crash_regime_hits_every_symbol_at_the_configured_rate_length_depth_and_volatility():
    """A shared chain with crashes: every symbol is in the same regime on every bar; crashes start at
    crash_rate a year, last crash_bars on average, fall log(1 - crash_depth) over a mean-length crash in
    expectation, at crash_volatility; without crash_rate the configured chain is unchanged."""
    cfg = SyntheticConfig(num_symbols=4, num_bars=40_000, jump_intensity=0.0, shared_regime=True,
                          market_correlation=0.5, drift=(0.8,), volatility=(0.2,), transition=((1.0,),),
                          crash_rate=2.0, crash_depth=0.3, crash_bars=15.0, crash_volatility=0.8)
    m = generate(jax.random.key(11), cfg)  # drift 0.8/yr outside crashes keeps the float32 prices in range
    regime = np.asarray(m.regime)
    assert cfg.num_regimes == 2 and cfg.crash_regime == 1
    assert (regime == regime[:1]).all()  # one market-wide chain
    crash = regime[0] == 1
    starts = np.flatnonzero(crash[1:] & ~crash[:-1]) + 1
    years = cfg.num_bars / cfg.bars_per_year
    rate = starts.size / (years * (1 - crash.mean()))  # starts per year spent outside a crash
    assert abs(rate - 2.0) < 4 * np.sqrt(2.0 * years) / years, rate
    assert abs(crash.sum() / starts.size - 15.0) < 2.0, crash.sum() / starts.size  # mean length (~320 crashes)
    np.testing.assert_allclose(cfg.regime_transition().sum(axis=1), 1.0, atol=1e-12)
    ret = np.diff(np.log(np.asarray(m.data.prices[..., CLOSE], np.float64)), axis=1)[:, crash[1:]]
    dt = 1.0 / cfg.bars_per_year
    assert abs(ret.std() / np.sqrt(dt) - 0.8) < 0.03, ret.std() / np.sqrt(dt)
    per_bar = np.log(0.7) / 15.0
    assert abs(ret.mean() - per_bar) < 4 * 0.8 * np.sqrt(dt) / np.sqrt(ret.size / 2), (ret.mean(), per_bar)

    plain = dict(num_symbols=2, num_bars=500)
    np.testing.assert_array_equal(np.asarray(generate(jax.random.key(1), SyntheticConfig(**plain)).data.prices),
                                  np.asarray(generate(jax.random.key(1), SyntheticConfig(**plain, crash_depth=0.5))
                                             .data.prices))
