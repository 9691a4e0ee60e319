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
    """Median and min wall time of `fn()` (which must block until its result is ready)."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return {"median_s": statistics.median(times), "min_s": min(times), "repeats": repeats}


def write_results(name: str, payload: dict) -> Path:
    info = device_info()
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}_{info['platform']}.json"
    payload = {"benchmark": name, "date": datetime.now(UTC).isoformat(timespec="seconds"),
               "device": info, **payload}
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path
