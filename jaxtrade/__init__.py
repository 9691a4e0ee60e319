"""jaxtrade: a JAX-accelerated, end-to-end simulator for training trading agents with RL.

Data flows one way: data -> features -> env -> agents -> train -> evaluate.
"""

from jaxtrade.config import Config, config_from_dict, config_to_dict, load_config
from jaxtrade.data import (
    DataConfig,
    MarketData,
    SyntheticConfig,
    from_dataframe,
    generate,
    load_csv,
    load_data,
    load_parquet,
    load_sample,
)
from jaxtrade.errors import ConfigError, DataError
from jaxtrade.features import FeatureConfig, Features, cached_features, compute_features
from jaxtrade.version import __version__ as __version__

__all__ = [
    "Config", "ConfigError", "DataConfig", "DataError", "FeatureConfig", "Features", "MarketData",
    "SyntheticConfig", "cached_features", "compute_features", "config_from_dict", "config_to_dict",
    "from_dataframe", "generate", "load_agent", "load_config", "load_csv", "load_data", "load_parquet",
    "load_sample",
]


def __getattr__(name: str):
    """`jaxtrade.load_agent`, imported on first use (it pulls in the env, the agents and the trainer)."""
    if name == "load_agent":
        from jaxtrade.experiment.export import load_agent

        return load_agent
    raise AttributeError(f"module 'jaxtrade' has no attribute {name!r}")
