"""Bundled real market data, shipped inside the package (`jaxtrade/data/sample_data/`, with its sources and
licences): no data package, no network.

- ``stocks_daily``: daily AAPL, GOOG, IBM, MSFT (and FB) bars, 2000-03-01 to
  2013-03-01, from `bokeh-sampledata` (Quandl WIKI prices, public domain).
  Prices are split- and dividend-adjusted with the source's adjusted close.
- ``eurusd_hourly``: hourly EURUSD ask bars for 2017 from `gym-anytrading` (MIT).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from jaxtrade.data.loaders import load_csv
from jaxtrade.data.types import DataError, MarketData

DATA_DIR = Path(__file__).parent / "sample_data"


@dataclass(frozen=True)
class Sample:
    filename: str  # data file in `DATA_DIR`
    default_symbols: tuple[str, ...]  # symbols loaded when none are asked for
    time_format: str | None  # strftime format of the time column
    symbol: str | None  # symbol name for single-symbol files


SAMPLES: dict[str, Sample] = {
    "stocks_daily": Sample(
        filename="stocks.csv.gz",
        default_symbols=("AAPL", "GOOG", "IBM", "MSFT"),
        time_format="%Y-%m-%d",
        symbol=None,
    ),
    "eurusd_hourly": Sample(
        filename="FOREX_EURUSD_1H_ASK.csv.gz",
        default_symbols=("EURUSD",),
        time_format="%d.%m.%Y %H:%M:%S.%f",
        symbol="EURUSD",
    ),
}


def sample_path(name: str) -> Path:
    """Path of a bundled sample's data file."""
    if name not in SAMPLES:
        raise DataError(f"unknown sample {name!r}; available: {sorted(SAMPLES)}")
    path = DATA_DIR / SAMPLES[name].filename
    if not path.exists():
        raise DataError(f"sample {name!r}: {path} is missing from the installed jaxtrade; reinstall it")
    return path


def load_sample(name: str, symbols: Sequence[str] | None = None, *, min_bars: int = 2) -> MarketData:
    """Load a bundled real dataset (see the module docstring) as `MarketData`."""
    path = sample_path(name)
    sample = SAMPLES[name]
    symbols = tuple(symbols) if symbols else sample.default_symbols
    source = {sample.symbol: path} if sample.symbol else path
    return load_csv(source, symbols=symbols, time_format=sample.time_format, min_bars=min_bars)
