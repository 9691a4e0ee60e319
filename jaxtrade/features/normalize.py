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
from jax import lax

from jaxtrade.features.rolling import (
    rolling_max,
    rolling_mean,
    rolling_min,
    rolling_std,
    rolling_windows,
    safe_div,
)

NORMALIZATIONS = ("zscore", "minmax", "robust")


def _robust(x: jax.Array, window: int) -> tuple[jax.Array, jax.Array]:
    """Rolling median and IQR of x (..., T), one column at a time to bound memory."""

    def per_series(s):  # (T,) -> two (T,)
        q = jnp.quantile(rolling_windows(s, window), jnp.array([0.25, 0.5, 0.75]), axis=-1)
        return q[1], q[2] - q[0]

    flat = x.reshape(-1, x.shape[-1])
    median, iqr = lax.map(per_series, flat)
    return median.reshape(x.shape), iqr.reshape(x.shape)


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
        median, iqr = _robust(x, window)
        return jnp.clip(safe_div(x - median, iqr), -clip, clip)
    raise ValueError(f"unknown normalization {mode!r}; choose from {NORMALIZATIONS}")
