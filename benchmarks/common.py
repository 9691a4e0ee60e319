"""Helpers shared by the benchmark scripts: device description and results files."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import jax

RESULTS = Path(__file__).parent / "results"
# NVIDIA's H100 SXM datasheet: dense bfloat16 tensor-core peak (the H200 has the same compute).
H100_BF16_DENSE_TFLOPS = 989.4


def device_info() -> dict:
    dev = jax.devices()[0]
    return {
        "platform": dev.platform,
        "device_kind": dev.device_kind,
        "device_count": jax.device_count(),
        "cpu_count": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "jax": jax.__version__,
        "python": platform.python_version(),
    }


def timed(fn: Callable[[], object], repeats: int) -> dict:
    """Median, min and max wall time of `fn()` (which must block until its result is ready)."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times), "repeats": repeats}


def compiled_flops(fn: Callable, *args) -> float:
    """XLA's count of floating-point operations in one call of `jax.jit(fn)(*args)`.

    Counts each loop body once, so call it on loop-free functions (a forward pass, a gradient).
    """
    cost = jax.jit(fn).lower(*args).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list | tuple) else cost
    return float(cost["flops"])


def write_results(name: str, payload: dict) -> Path:
    info = device_info()
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}_{info['platform']}.json"
    payload = {"benchmark": name, "date": datetime.now(UTC).isoformat(timespec="seconds"),
               "device": info, **payload}
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path
