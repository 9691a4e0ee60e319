"""Market data: the `MarketData` pytree, CSV/parquet loaders, bundled samples, synthetic markets."""

from jaxtrade.data.config import DataConfig, load_data
from jaxtrade.data.loaders import (
    align,
    from_dataframe,
    from_dataframes,
    load_csv,
    load_parquet,
    validate_frame,
)
from jaxtrade.data.samples import SAMPLES, load_sample, sample_path
from jaxtrade.data.splits import SPLITS, SplitConfig, split_bars
from jaxtrade.data.synthetic import SyntheticConfig, SyntheticMarket, generate
from jaxtrade.data.types import CLOSE, HIGH, LOW, OPEN, PRICE_FIELDS, VOLUME, MarketData

__all__ = [
    "CLOSE", "HIGH", "LOW", "OPEN", "PRICE_FIELDS", "SAMPLES", "SPLITS", "VOLUME", "SplitConfig", "split_bars",
    "DataConfig", "MarketData", "SyntheticConfig", "SyntheticMarket",
    "align", "from_dataframe", "from_dataframes", "generate", "load_csv", "load_data", "load_parquet",
    "load_sample", "sample_path", "validate_frame",
]
