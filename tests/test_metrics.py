"""Return metrics against quantstats on real returns, with masks and vectorised over series."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import quantstats as qs

from jaxtrade.data.types import CLOSE
from jaxtrade.evaluate import metrics as M


def real_returns(data, symbol, bars):
    i = data.symbols.index(symbol)
    close = np.asarray(data.prices[i, :, CLOSE], np.float64)[np.asarray(data.valid[i])]
    r = close[1:] / close[:-1] - 1.0
    return pd.Series(r[-bars:], index=pd.bdate_range("2010-01-04", periods=bars))


def quantstats_metrics(r: pd.Series, periods: float) -> dict:
    return {
        "total_return": qs.stats.comp(r),
        "annualised_return": qs.stats.cagr(r, periods=periods),
        "volatility": qs.stats.volatility(r, periods=periods),
        "sharpe": qs.stats.sharpe(r, periods=periods),
        "sortino": qs.stats.sortino(r, periods=periods),
        "max_drawdown": qs.stats.max_drawdown(r),
        "calmar": qs.stats.calmar(r, periods=periods),
    }


@pytest.mark.parametrize(("sample", "symbol", "periods"), [("stocks", "AAPL", 252), ("stocks", "IBM", 252),
                                                           ("eurusd", "EURUSD", 6_200)])
def test_metrics_match_quantstats_on_real_returns(sample, symbol, periods, request):
    r = real_returns(request.getfixturevalue(sample), symbol, 1500)
    ours = {k: float(v) for k, v in M.summarize(np.float32(r.to_numpy()), periods).items()}
    theirs = quantstats_metrics(r, periods)
    for name, want in theirs.items():
        assert ours[name] == pytest.approx(want, rel=2e-4, abs=1e-6), name
    assert float(M.win_rate(np.float32(r.to_numpy()))) == pytest.approx(qs.stats.win_rate(r), rel=1e-6)
    assert float(M.profit_factor(np.float32(r.to_numpy()))) == pytest.approx(qs.stats.profit_factor(r), rel=1e-4)


def test_masks_and_batches_equal_shorter_series(stocks):
    a = real_returns(stocks, "MSFT", 800)
    b = real_returns(stocks, "GOOG", 500)
    batch = np.zeros((2, 800), np.float32)
    batch[0], batch[1, :500] = a, b
    mask = np.zeros((2, 800), bool)
    mask[0], mask[1, :500] = True, True
    batch[1, 500:] = 0.5  # garbage after the end must not count
    got = {k: np.asarray(v) for k, v in M.summarize(batch, 252.0, mask).items()}
    for row, series in enumerate((a, b)):
        for name, want in quantstats_metrics(series, 252).items():
            assert got[name][row] == pytest.approx(want, rel=2e-4, abs=1e-6), (row, name)


def test_degenerate_series_give_zero_ratios():
    flat = np.zeros((3, 50), np.float32)
    out = {k: np.asarray(v) for k, v in M.summarize(flat, 252.0).items()}
    for name, value in out.items():
        np.testing.assert_array_equal(value, 0.0, err_msg=name)
    assert float(M.win_rate(flat[0])) == 0.0 and float(M.profit_factor(flat[0])) == 0.0
    up = np.full(20, 0.01, np.float32)  # no losses: no drawdown, an infinite profit factor (as quantstats)
    assert float(M.max_drawdown(up)) == 0.0 and float(M.win_rate(up)) == 1.0
    assert float(M.profit_factor(up)) == np.inf
    # A first-period loss is a drawdown from the starting wealth.
    assert float(M.max_drawdown(np.array([-0.1, 0.05, 0.05], np.float32))) == pytest.approx(-0.1, rel=1e-6)
