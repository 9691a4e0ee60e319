"""On-disk cache of computed features, keyed by a hash of the data, the config and the code version."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from jaxtrade.data.types import MarketData
from jaxtrade.features.config import FeatureConfig
from jaxtrade.features.pipeline import TECHNICAL_FEATURES, Features, compute_features

# Bump when feature definitions change so stale cache entries are never read.
FEATURE_VERSION = 1
log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """$JAXTRADE_CACHE_DIR, else ~/.cache/jaxtrade/features."""
    env = os.environ.get("JAXTRADE_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "jaxtrade" / "features"


def cache_key(data: MarketData, cfg: FeatureConfig) -> str:
    """sha256 over every array of `data`, its symbols, `cfg` and the feature version."""
    h = hashlib.sha256()
    h.update(f"v{FEATURE_VERSION}|{cfg!r}|{data.symbols!r}|{TECHNICAL_FEATURES!r}".encode())
    for arr in (data.prices, data.valid, data.day, data.second, data.sentiment, data.aux):
        a = np.ascontiguousarray(np.asarray(arr))
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def cached_features(
    data: MarketData, cfg: FeatureConfig = FeatureConfig(), cache_dir: str | os.PathLike | None = None
) -> tuple[Features, bool]:
    """Features of `data`, read from the cache when present, else computed and stored.

    Args:
      data: the market data.
      cfg: feature settings.
      cache_dir: folder of the cache (default: `default_cache_dir()`).

    Returns:
      (features, hit): hit is True when they came from the cache.
    """
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = folder / f"features-{cache_key(data, cfg)}.npz"
    if path.exists():
        try:
            with np.load(path) as f:
                feats = Features(
                    technical=jnp.asarray(f["technical"]),
                    regime=jnp.asarray(f["regime"]),
                    ready=jnp.asarray(f["ready"]),
                )
            log.info("features read from cache %s", path)
            return feats, True
        except (OSError, KeyError, ValueError) as exc:
            log.warning("ignoring unreadable feature cache %s: %s", path, exc)
    feats = compute_features(data, cfg)
    folder.mkdir(parents=True, exist_ok=True)
    # Write to a temporary file and rename, so a crash never leaves a half-written entry.
    with tempfile.NamedTemporaryFile(dir=folder, suffix=".npz", delete=False) as tmp:
        np.savez(tmp, technical=np.asarray(feats.technical), regime=np.asarray(feats.regime),
                 ready=np.asarray(feats.ready))
    os.replace(tmp.name, path)
    log.info("features computed and cached at %s", path)
    return feats, False
