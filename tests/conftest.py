"""Shared fixtures: bundled real data and small synthetic markets, loaded once per session."""

from __future__ import annotations

import jax
import pytest

from jaxtrade.data.samples import load_sample
from jaxtrade.data.synthetic import SyntheticConfig, generate


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


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("JAXTRADE_CACHE_DIR", str(tmp_path / "cache"))
