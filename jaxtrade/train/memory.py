"""Memory estimates made before allocating, so a run too large for the machine stops with a clear error instead of
being killed by the OS (or hanging) part-way."""

from __future__ import annotations

import os
from pathlib import Path

import jax
import numpy as np

from jaxtrade.errors import ConfigError

GB = 1024**3


def tree_bytes(tree) -> int:
    """Bytes of every array leaf (concrete or `jax.ShapeDtypeStruct`) of a pytree."""
    return int(sum(np.prod(x.shape, dtype=np.int64) * getattr(x.dtype, "itemsize", 8)  # PRNG keys: 8 bytes
                   for x in jax.tree.leaves(tree) if hasattr(x, "shape") and hasattr(x, "dtype")))


def _cgroup_limit() -> int | None:
    """The memory limit of this process's cgroup (v2 or v1), if it has one."""
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 1 << 60:
            return int(text)
    return None


def _address_space_left() -> int | None:
    """What this process may still map under `ulimit -v` (RLIMIT_AS), if it is limited."""
    try:
        import resource

        limit = resource.getrlimit(resource.RLIMIT_AS)[0]
        if limit == resource.RLIM_INFINITY:
            return None
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return max(limit - int(line.split()[1]) * 1024, 0)
        return limit
    except (ImportError, OSError, ValueError):
        return None


def available_bytes(device=None) -> int | None:
    """Memory a computation on `device` (default the first) may still take: an accelerator's free memory, else
    the host's available memory (within a cgroup's limit and the process's address-space limit); None when
    unknown."""
    device = device or jax.devices()[0]
    stats = device.memory_stats() if device.platform != "cpu" else None
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
    try:
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
    limits = [x for x in (_cgroup_limit(), _address_space_left()) if x is not None]
    return min([free, *limits])


def check_fits(what: str, need: int, hint: str, device=None) -> None:
    """Raise `ConfigError` when `need` bytes are more than `device` has available, naming `what` and the sizes.

    Raises:
      ConfigError: naming what would not fit, its size, what is available, and `hint`.
    """
    free = available_bytes(device)
    if free is not None and need > free:
        raise ConfigError(f"{what} needs about {need / GB:,.1f} GB, and {free / GB:,.1f} GB are available: {hint}")


__all__ = ["available_bytes", "check_fits", "tree_bytes"]
