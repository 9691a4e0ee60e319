"""`DataConfig`: where the market data comes from, and `load_data` to fetch it."""

from __future__ import annotations

from dataclasses import dataclass, field

import jax

from jaxtrade.data.columns import TIME_UNITS
from jaxtrade.data.loaders import load_csv, load_parquet
from jaxtrade.data.samples import SAMPLES, load_sample
from jaxtrade.data.synthetic import SyntheticConfig, generate
from jaxtrade.data.types import MarketData
from jaxtrade.data.validation import BAD_ROWS
from jaxtrade.errors import ConfigError

SOURCES = ("sample", "csv", "parquet", "synthetic")


@dataclass(frozen=True)
class DataConfig:
    """Market data source; one of a bundled sample, CSV/parquet files, or the synthetic generator."""

    source: str = "sample"  # sample | csv | parquet | synthetic
    sample: str = "stocks_daily"  # bundled dataset when source == sample
    paths: tuple[str, ...] = ()  # files when source is csv or parquet
    symbols: tuple[str, ...] = ()  # symbols to keep, in order; empty = the source's default/all
    time_format: str | None = None  # strftime format of the time column; None = infer
    adjust: bool = True  # apply split/dividend adjustment from an adjusted-close column
    on_bad_rows: str = "error"  # error: list every bad row of a file; drop: make each a gap (csv, parquet)
    close_only: bool = False  # the files hold closes alone: open = high = low = close (fills at the close)
    time_unit: str | None = None  # epoch timestamps in s, ms, us or ns; None: dates as text
    seed: int = 0  # PRNG seed when source == synthetic
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)  # generator parameters

    def __post_init__(self):
        if self.source not in SOURCES:
            raise ConfigError(f"data.source: {self.source!r} is not one of {list(SOURCES)}")
        if self.source == "sample" and self.sample not in SAMPLES:
            raise ConfigError(f"data.sample: {self.sample!r} is not one of {sorted(SAMPLES)}")
        if len(set(self.symbols)) != len(self.symbols):
            raise ConfigError(f"data.symbols: a symbol is listed more than once in {list(self.symbols)}")
        if self.on_bad_rows not in BAD_ROWS:
            raise ConfigError(f"data.on_bad_rows: {self.on_bad_rows!r} is not one of {list(BAD_ROWS)}")
        if self.time_unit is not None and self.time_unit not in TIME_UNITS:
            raise ConfigError(f"data.time_unit: {self.time_unit!r} is not one of {list(TIME_UNITS)}")
        if self.source in ("csv", "parquet") and not self.paths:
            raise ConfigError(f"data.paths: source {self.source!r} needs at least one file")


# A crash-prone daily market in the range of large US stocks: a long bull (+20 %/yr at 20 % volatility, ~200
# bars), a shorter bear (-10 %/yr at 30 %, ~50 bars), crashes of -30 % over ~20 bars at 70 % volatility about
# once in three years; shocks correlated 0.4 through the market, but each symbol its own regime chain, so a
# symbol agent trained on N of them sees N times the crashes of one market-wide chain.
CRASH_MARKET = SyntheticConfig(
    drift=(0.20, -0.10), volatility=(0.20, 0.30), transition=((0.995, 0.005), (0.02, 0.98)),
    jump_intensity=2.0, jump_std=0.04, market_correlation=0.4,
    crash_rate=0.3, crash_depth=0.30, crash_bars=20.0, crash_volatility=0.70)
# Set by the real data when augmenting: the count by `AugmentConfig.symbols`, the bars by its calendar.
_CALENDAR_KEYS = ("num_symbols", "num_bars", "bars_per_year", "bar_seconds", "start")


@dataclass(frozen=True)
class AugmentConfig:
    """Synthetic symbols added to the training data only (training episodes start on them too; validation,
    test, backtests and walk-forward tests see only the real symbols): markets the real history may lack,
    e.g. crashes. They are generated on the real data's calendar, and their features computed on their own."""

    symbols: int = 0  # synthetic symbols appended to the training set; 0 = off
    seed: int = 0  # PRNG seed of the synthetic symbols
    # their generator (its calendar keys come from the real data)
    synthetic: SyntheticConfig = field(default_factory=lambda: CRASH_MARKET)

    def __post_init__(self):
        if not isinstance(self.symbols, int) or self.symbols < 0:
            raise ConfigError(f"augment.symbols: need an integer >= 0, got {self.symbols!r}")
        default = SyntheticConfig()
        fixed = [k for k in _CALENDAR_KEYS if getattr(self.synthetic, k) != getattr(default, k)]
        if fixed:
            raise ConfigError(f"augment.synthetic: {fixed} come from the real data (the count from "
                              f"augment.symbols, the bars from its calendar); remove them")


def load_data(cfg: DataConfig, min_bars: int = 2) -> MarketData:
    """Load the market data `cfg` describes; every symbol needs at least `min_bars` bars."""
    symbols = cfg.symbols or None
    if cfg.source == "sample":
        return load_sample(cfg.sample, symbols, min_bars=min_bars)
    if cfg.source == "synthetic":
        if cfg.synthetic.num_bars < min_bars:
            raise ConfigError(
                f"data.synthetic.num_bars: {cfg.synthetic.num_bars} bars, at least {min_bars} needed"
            )
        data = generate(jax.random.key(cfg.seed), cfg.synthetic).data
        return data.select(symbols) if symbols else data
    loader = load_csv if cfg.source == "csv" else load_parquet
    return loader(list(cfg.paths), symbols=symbols, time_format=cfg.time_format,
                  adjust=cfg.adjust, min_bars=min_bars, on_bad_rows=cfg.on_bad_rows, close_only=cfg.close_only,
                  time_unit=cfg.time_unit)
