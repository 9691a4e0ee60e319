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
