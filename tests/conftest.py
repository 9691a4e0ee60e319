"""Shared fixtures: bundled real data and small synthetic markets, loaded once per session."""

from __future__ import annotations

import os

# The suite compiles far more than it runs (a warm compilation cache makes the PPO tests ~4x faster),
# so XLA's CPU backend builds without LLVM's optimisation passes: 30 % less wall time in all (18m22s -> 12m53s).
# Set before the first computation creates the CPU client; subprocesses (CLI, multi-device) inherit it.
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0").strip()

# Many tests compile the same program again (the tiny config's trainer, a walk-forward on changed data): one
# compilation cache for the whole session (every xdist worker and subprocess inherits the folder through the
# environment), made fresh for each run and removed at its end (`pytest_sessionfinish`), so timings stay those
# of a clean machine.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    import tempfile

    os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="jaxtrade-tests-xla-")
    os.environ["JAXTRADE_TESTS_OWN_XLA_CACHE"] = "1"
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.3")

import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import jax  # noqa: E402
import pytest

from jaxtrade.config import load_config
from jaxtrade.data.config import load_data
from jaxtrade.data.samples import load_sample
from jaxtrade.data.synthetic import SyntheticConfig, generate
from jaxtrade.experiment import Experiment, training_setup
from jaxtrade.features import FeatureConfig, compute_features

TINY = Path(__file__).parents[1] / "configs" / "tiny.yaml"


@pytest.fixture(scope="session")
def stocks():
    return load_sample("stocks_daily")


@pytest.fixture(scope="session")
def eurusd():
    return load_sample("eurusd_hourly")


@pytest.fixture(scope="session")
def small_market():
    """Two symbols x 700 bars of synthetic data: quick to compile features on."""
    return generate(jax.random.key(1), SyntheticConfig(num_symbols=2, num_bars=700)).data


@pytest.fixture(scope="session")
def small_features(small_market):
    """`small_market`'s features with a 60-bar normalisation window (computed once per session)."""
    return compute_features(small_market, FeatureConfig(norm_window=60))


def with_gaps(data, rate: float, seed: int = 0, ends: dict | None = None):
    """`data` with a share `rate` of each symbol's bars after its first missing, stored as the loaders store a
    gap: the last real close repeated as open/high/low/close, zero volume. `ends`: {symbol: bar} where that
    symbol's data stops for good (a delisting)."""
    import numpy as np

    from jaxtrade.data.loaders import align
    valid = np.asarray(data.valid).copy()
    holes = np.random.default_rng(seed).random(valid.shape) < rate
    holes[:, :1] = False
    valid &= ~holes
    for sym, bar in (ends or {}).items():
        valid[data.symbols.index(sym), bar + 1:] = False
    times, prices = data.epoch_seconds(), np.asarray(data.prices, np.float64)
    return align({sym: {"time": times[valid[i]], "ohlcv": prices[i, valid[i]]}
                  for i, sym in enumerate(data.symbols)})


def experiment_of(cfg) -> Experiment:
    """The experiment of `cfg`, its features computed (no cache)."""
    data = load_data(cfg.data, cfg.min_bars)
    return Experiment(cfg, data, compute_features(data, cfg.features))


@pytest.fixture(scope="module")
def tiny_exp():
    """configs/tiny.yaml's data, features and env: a one-layer transformer on 2 synthetic symbols."""
    return experiment_of(load_config(TINY))


@pytest.fixture(scope="module")
def tiny_setup(tiny_exp):
    """The training setup (trainer, sharded params) of `tiny_exp`."""
    return training_setup(tiny_exp)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("JAXTRADE_CACHE_DIR", str(tmp_path / "cache"))


def run_until(setup, ckpt_dir, stop_after: int) -> None:
    """Train chunk by chunk with checkpoints and stop (as if killed) once `stop_after` updates are saved."""
    from jaxtrade.train.loop import fit

    class Stop(Exception):
        pass

    def log(line):
        if f"] {stop_after}/" in line:
            raise Stop

    with pytest.raises(Stop):
        fit(setup, checkpoint_dir=ckpt_dir, log=log)


def run_optimised(script: str | Path, timeout: int = 900) -> dict:
    """Run a test module as a script in a subprocess with XLA's usual optimisation, for compute-bound learning
    runs (the suite's -O0 above makes them several times slower); its last stdout line, parsed as JSON. Import
    it inside the test: a module-level `from conftest import` would set -O0 again in the script."""
    flags = os.environ.get("XLA_FLAGS", "").replace("--xla_backend_optimization_level=0", "").strip()
    out = subprocess.run([sys.executable, str(script)], env={**os.environ, "XLA_FLAGS": flags},
                         capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def pytest_sessionfinish(session, exitstatus):
    """The controller (not an xdist worker) removes the session's compilation cache."""
    import shutil

    if os.environ.get("JAXTRADE_TESTS_OWN_XLA_CACHE") and not hasattr(session.config, "workerinput"):
        shutil.rmtree(os.environ["JAX_COMPILATION_CACHE_DIR"], ignore_errors=True)
