"""Rolling, past-only normalisation of feature columns.

Three modes, each over the last `window` bars with bar t included:

- ``zscore``: (x - mean) / std, clipped to +-clip.
- ``minmax``: 2 (x - min) / (max - min) - 1, in [-1, 1] (0 when flat).
- ``robust``: (x - median) / IQR, clipped to +-clip (IQR = q75 - q25).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from jaxtrade.features.rolling import (
    rolling_max,
    rolling_mean,
    rolling_min,
    rolling_quantiles,
    rolling_std,
)
from jaxtrade.numeric import safe_div

NORMALIZATIONS = ("zscore", "minmax", "robust")


@partial(jax.jit, static_argnames=("mode", "window"))
def normalize(x: jax.Array, mode: str, window: int, clip: float) -> jax.Array:
    """Normalise each series of x along its last (time) axis.

    Args:
      x: (..., T) float array, e.g. (S, F, T).
      mode: one of "zscore", "minmax", "robust".
      window: bars in the rolling window (>= 2).
      clip: cap on |output| for zscore and robust.

    Returns:
      (..., T) normalised array; bar t uses bars t - window + 1 .. t only.
    """
    if mode == "zscore":
        out = safe_div(x - rolling_mean(x, window), rolling_std(x, window))
        return jnp.clip(out, -clip, clip)
    if mode == "minmax":
        lo, hi = rolling_min(x, window), rolling_max(x, window)
        return safe_div(2.0 * (x - lo), hi - lo, 1.0) - 1.0
    if mode == "robust":
        q25, median, q75 = rolling_quantiles(x, window, (0.25, 0.5, 0.75))
        return jnp.clip(safe_div(x - median, q75 - q25), -clip, clip)
    raise ValueError(f"unknown normalization {mode!r}; choose from {NORMALIZATIONS}")
