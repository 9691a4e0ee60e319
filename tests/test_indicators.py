"""Indicator parity with the `ta` reference implementation on real market data."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from jaxtrade.features.pipeline import TECHNICAL_FEATURES, technical_raw

ta = pytest.importorskip("ta")  # a dev dependency: installed by `make test`

BURN_IN = 300  # bars for differently-seeded recursions (ta's first values) to forget their start


def _reference(prices: np.ndarray) -> dict[str, np.ndarray]:
    o, h, lo, c, v = (pd.Series(prices[:, i]) for i in range(5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        macd = ta.trend.MACD(c, window_slow=26, window_fast=12, window_sign=9)
        bb = ta.volatility.BollingerBands(c, window=20, window_dev=2)
        stoch = ta.momentum.StochasticOscillator(h, lo, c, window=14, smooth_window=3)
        ref = {
            "log_return": np.log(c / c.shift(1)),
            "sma_ratio": c / ta.trend.SMAIndicator(c, 20).sma_indicator() - 1,
            "ema_ratio": c / ta.trend.EMAIndicator(c, 50).ema_indicator() - 1,
            "rsi": ta.momentum.RSIIndicator(c, 14).rsi() / 100,
            "macd": macd.macd() / c,
            "macd_signal": macd.macd_signal() / c,
            "bb_pctb": bb.bollinger_pband(),
            "bb_width": bb.bollinger_wband() / 100,
            "atr": ta.volatility.AverageTrueRange(h, lo, c, 14).average_true_range() / c,
            "stoch_k": stoch.stoch() / 100,
            "stoch_d": stoch.stoch_signal() / 100,
            "adx": ta.trend.ADXIndicator(h, lo, c, 14).adx() / 100,
            "obv_flow": ta.volume.OnBalanceVolumeIndicator(c, v).on_balance_volume().diff(20)
            / v.rolling(20).sum(),
            "volatility": np.log(c / c.shift(1)).rolling(20).std(ddof=0),
            "roc": ta.momentum.ROCIndicator(c, 10).roc() / 100,
            "gap": np.log(o / c.shift(1)),
            "body": np.log(c / o),
        }
    return {k: np.asarray(s, np.float64) for k, s in ref.items()}


@pytest.mark.parametrize(("sample", "symbol"), [("stocks", 0), ("stocks", 2), ("eurusd", 0)],
                         ids=["AAPL", "IBM", "EURUSD"])
def test_indicators_match_ta(request, sample, symbol):
    data = request.getfixturevalue(sample)
    raw = np.asarray(technical_raw(data), np.float64)[symbol]
    ref = _reference(np.asarray(data.prices, np.float64)[symbol])
    # ta's ADX leaves its last bar at a placeholder value; compare up to the bar before.
    span = slice(BURN_IN, -1)
    for name, expected in ref.items():
        got = raw[span, TECHNICAL_FEATURES.index(name)]
        want = expected[span]
        assert np.isfinite(want).all(), name
        scale = max(np.abs(want).max(), 1e-12)
        err = np.abs(got - want).max() / scale
        assert err < 1e-4, f"{name}: max error {err:.2e} of scale {scale:.2e}"


def _pandas_reference(prices: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The columns `ta` has no indicator for, written plainly with pandas rolling windows."""
    o, h, lo, c, v = (pd.Series(prices[:, i]) for i in range(5))
    ret = np.log(c / c.shift(1))
    vol20, vol100 = ret.rolling(20).std(ddof=0), ret.rolling(100).std(ddof=0)
    log_v = np.log1p(v)
    high100, low100 = h.rolling(100).max(), lo.rolling(100).min()
    technical = {
        "high_rel": np.log(h / c),
        "low_rel": np.log(lo / c),
        "rel_volume": log_v - log_v.rolling(20).mean(),
    }
    regime = {
        "vol_level": np.log(vol20 / vol100 + 1e-6),
        "vol_trend": np.log(vol20 / vol20.shift(20) + 1e-6),
        "trend_direction": np.log(c.rolling(20).mean() / c.rolling(100).mean()),
        "trend_efficiency": (c - c.shift(20)).abs() / (c - c.shift(1)).abs().rolling(20).sum(),
        "momentum": (ret.rolling(20).sum() / (vol20 * np.sqrt(20))).clip(-10, 10),
        "long_momentum": (ret.rolling(100).sum() / (vol100 * 10)).clip(-10, 10),
        "autocorrelation": ret.rolling(50).corr(ret.shift(1)),
        "volume_regime": np.log((v.rolling(20).mean() + 1) / (v.rolling(100).mean() + 1)),
        "drawdown": np.log(c / high100),
        "range_position": (c - low100) / (high100 - low100),
    }
    as_np = lambda d: {k: np.asarray(s, np.float64) for k, s in d.items()}  # noqa: E731
    return as_np(technical), as_np(regime)


@pytest.mark.parametrize(("sample", "symbol"), [("stocks", 3), ("eurusd", 0)], ids=["MSFT", "EURUSD"])
def test_remaining_columns_and_regime_indicators_match_pandas(request, sample, symbol):
    from jaxtrade.features.pipeline import REGIME_FEATURES, regime_indicators

    data = request.getfixturevalue(sample)
    technical_ref, regime_ref = _pandas_reference(np.asarray(data.prices, np.float64)[symbol])
    raw = np.asarray(technical_raw(data), np.float64)[symbol]
    regime = np.asarray(regime_indicators(data), np.float64)[symbol]
    for names, got_all, refs in ((TECHNICAL_FEATURES, raw, technical_ref), (REGIME_FEATURES, regime, regime_ref)):
        for name, want in refs.items():
            got = got_all[BURN_IN:, names.index(name)]
            want = want[BURN_IN:]
            assert np.isfinite(want).all(), name
            scale = max(np.abs(want).max(), 1e-12)
            err = np.abs(got - want).max() / scale
            assert err < 2e-4, f"{name}: max error {err:.2e} of scale {scale:.2e}"
