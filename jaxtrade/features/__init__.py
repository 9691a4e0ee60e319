"""Features: 23 technical features and 10 regime indicators per bar, past-only, in jnp."""

from jaxtrade.features.cache import cache_key, cached_features, default_cache_dir
from jaxtrade.features.config import FeatureConfig
from jaxtrade.features.normalize import NORMALIZATIONS, normalize
from jaxtrade.features.pipeline import (
    NUM_REGIME,
    NUM_TECHNICAL,
    REGIME_FEATURES,
    TECHNICAL_FEATURES,
    Features,
    compute_features,
    regime_indicators,
    technical_raw,
)

__all__ = [
    "NORMALIZATIONS", "NUM_REGIME", "NUM_TECHNICAL", "REGIME_FEATURES", "TECHNICAL_FEATURES",
    "FeatureConfig", "Features",
    "cache_key", "cached_features", "compute_features", "default_cache_dir", "normalize",
    "regime_indicators", "technical_raw",
]
