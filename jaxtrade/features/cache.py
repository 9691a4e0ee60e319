"""On-disk cache of computed features, keyed by a hash of the data, the config and the code version."""

from __future__ import annotations

import hashlib
import io
import logging
import os
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from jaxtrade.data.types import MarketData
from jaxtrade.features.config import FeatureConfig
from jaxtrade.features.pipeline import TECHNICAL_FEATURES, Features, compute_features
from jaxtrade.files import replace_file

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
    feats = _read(path, data.valid.shape)
    if feats is not None:
        log.info("features read from cache %s", path)
        return feats, True
    feats = compute_features(data, cfg)
    _write(path, feats)
    return feats, False


def _read(path: Path, shape: tuple[int, ...]) -> Features | None:
    """The cached features at `path`, or None. An entry that does not read back whole (truncated, empty,
    corrupted, another shape) is a miss: it is deleted, so it cannot fail the next command too."""
    if not path.is_file():
        return None
    try:
        with np.load(path) as f:
            feats = Features(technical=jnp.asarray(f["technical"]), regime=jnp.asarray(f["regime"]),
                             ready=jnp.asarray(f["ready"]))
        if feats.technical.shape[:2] != shape or feats.ready.shape != shape:
            raise ValueError(f"holds {feats.ready.shape} (symbols, bars), the data has {shape}")
        return feats
    except Exception as exc:  # noqa: BLE001 (zip, pickle, EOF and OS errors all mean: not usable)
        log.warning("feature cache entry %s is unreadable (%s: %s); deleted, recomputing", path,
                    type(exc).__name__, exc)
        path.unlink(missing_ok=True)
        return None


def _write(path: Path, feats: Features) -> None:
    """Store `feats` at `path` whole (`replace_file`), so no half-written entry is ever read. The cache is an
    optimisation: a folder that cannot be written (read-only, full) is a warning, and leaves no temporary file."""
    buffer = io.BytesIO()
    np.savez(buffer, technical=np.asarray(feats.technical), regime=np.asarray(feats.regime),
             ready=np.asarray(feats.ready))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_file(path, buffer.getvalue())
        log.info("features computed and cached at %s", path)
    except OSError as exc:
        log.warning("could not write the feature cache at %s (%s); features are recomputed each time (set "
                    "--cache-dir or $JAXTRADE_CACHE_DIR to a writable folder, or pass --no-cache)", path.parent,
                    exc.strerror or exc)
