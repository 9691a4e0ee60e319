"""Safe arithmetic shared by every layer (the ground floor of the import graph)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

EPS = 1e-12


def safe_div(num: ArrayLike, den: ArrayLike, default: ArrayLike = 0.0) -> jax.Array:
    """num / den, with `default` where |den| is (near) zero."""
    ok = jnp.abs(den) > EPS
    return jnp.where(ok, num / jnp.where(ok, den, 1.0), default)
