"""`DataConfig`: where the market data comes from, and `load_data` to fetch it."""

from __future__ import annotations

from dataclasses import dataclass, field

import jax

from jaxtrade.data.loaders import load_csv, load_parquet
from jaxtrade.data.samples import SAMPLES, load_sample
from jaxtrade.data.synthetic import SyntheticConfig, generate
from jaxtrade.data.types import MarketData
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
    seed: int = 0  # PRNG seed when source == synthetic
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)  # generator parameters

    def __post_init__(self):
        if self.source not in SOURCES:
            raise ConfigError(f"data.source: {self.source!r} is not one of {list(SOURCES)}")
        if self.source == "sample" and self.sample not in SAMPLES:
            raise ConfigError(f"data.sample: {self.sample!r} is not one of {sorted(SAMPLES)}")
        if len(set(self.symbols)) != len(self.symbols):
            raise ConfigError(f"data.symbols: a symbol is listed more than once in {list(self.symbols)}")
        if self.source in ("csv", "parquet") and not self.paths:
            raise ConfigError(f"data.paths: source {self.source!r} needs at least one file")


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
                  adjust=cfg.adjust, min_bars=min_bars)
