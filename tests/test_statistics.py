"""The edge statistics against plain NumPy / SciPy implementations of the published formulas and the deflated
Sharpe ratio paper's own numerical example."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from jaxtrade.evaluate import statistics as st


def numpy_stationary(starts: np.ndarray, new_block: np.ndarray) -> np.ndarray:
    """Politis and Romano's algorithm as written: a new block at a random start with probability p, else the next
    period (circularly)."""
    n = starts.shape[-1]
    out = np.empty(starts.shape, np.int64)
    for b in range(starts.shape[0]):
        for t in range(n):
            out[b, t] = starts[b, t] if t == 0 or new_block[b, t] else (out[b, t - 1] + 1) % n
    return out


def test_stationary_indices_follow_politis_romano():
    rng = np.random.default_rng(0)
    starts = rng.integers(0, 50, (8, 50))
    new_block = rng.random((8, 50)) < 0.2
    np.testing.assert_array_equal(np.asarray(st.stationary_indices(jnp.asarray(starts), jnp.asarray(new_block))),
                                  numpy_stationary(starts, new_block))
    # Drawn with a mean block of 10: blocks (runs of consecutive periods) average about 10 periods.
    idx = np.asarray(st.bootstrap_indices(jax.random.key(0), 1000, 200, 10.0))
    breaks = (np.diff(idx, axis=1) != 1) & ~((idx[:, :-1] == 999) & (idx[:, 1:] == 0))
    assert 9.0 < idx.size / (breaks.sum() + idx.shape[0]) < 11.0
    assert st.default_block(2520) == 14 and st.default_block(1) == 1


def test_sharpe_and_paired_intervals():
    rng = np.random.default_rng(1)
    # AR(1) daily returns, Sharpe about 1.0 a year, and a benchmark sharing half their noise.
    noise = rng.normal(0.0, 0.01, 2520)
    r = np.empty(2520)
    r[0] = noise[0]
    for t in range(1, 2520):
        r[t] = 0.3 * r[t - 1] + noise[t]
    r += 0.01 / math.sqrt(1 - 0.3**2) / math.sqrt(252)  # a drift of one standard deviation a year
    bench = 0.5 * r + rng.normal(0.0, 0.01, 2520)
    out = st.sharpe_interval(jnp.asarray(r, jnp.float32), 252.0, jax.random.key(2))
    sharpe = r.mean() / r.std(ddof=1) * math.sqrt(252)
    np.testing.assert_allclose(float(out["sharpe"]), sharpe, rtol=1e-4)
    assert float(out["low"]) < sharpe < float(out["high"]) and 0.5 < float(out["high"]) - float(out["low"]) < 2.0
    # The positive autocorrelation widens the interval against resampling single days (mean block 1).
    iid = st.sharpe_interval(jnp.asarray(r, jnp.float32), 252.0, jax.random.key(2), mean_block=1.0)
    assert float(out["high"] - out["low"]) > 1.1 * float(iid["high"] - iid["low"])
    diff = st.paired_sharpe_difference(jnp.asarray(r, jnp.float32), jnp.asarray(bench, jnp.float32), 252.0,
                                       jax.random.key(3))
    want = sharpe - bench.mean() / bench.std(ddof=1) * math.sqrt(252)
    np.testing.assert_allclose(float(diff["difference"]), want, rtol=1e-3)
    assert float(diff["low"]) < want < float(diff["high"]) and 0.0 <= float(diff["p_le_zero"]) <= 1.0
    same = st.paired_sharpe_difference(jnp.asarray(r, jnp.float32), jnp.asarray(r, jnp.float32), 252.0,
                                       jax.random.key(3))
    assert float(same["low"]) == float(same["high"]) == 0.0  # the same periods of one series: no difference


def test_psr_matches_the_published_formula():
    rng = np.random.default_rng(4)
    r = rng.standard_t(5, 1000) * 0.01 + 0.0008
    sr = r.mean() / r.std(ddof=1)
    skew, kurt = stats.skew(r), stats.kurtosis(r, fisher=False)
    want = stats.norm.cdf((sr - 0.02) * math.sqrt(999) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr**2))
    g3, g4 = st.moments(jnp.asarray(r))
    np.testing.assert_allclose([float(g3), float(g4)], [skew, kurt], rtol=1e-4)
    np.testing.assert_allclose(float(st.probabilistic_sharpe(jnp.asarray(sr), 1000, g3, g4, 0.02)), want, rtol=1e-4)


def test_dsr_reproduces_the_papers_numerical_example():
    """Bailey and Lopez de Prado (2014), 'The Deflated Sharpe Ratio', numerical example: 100 trials whose
    annualised Sharpe ratios vary with variance 1/2, the best at 2.5 a year over 1,250 daily returns with skewness
    -3 and kurtosis 10: SR0 = 0.1132 a day and DSR = 0.9004."""
    sr0 = float(st.expected_max_sharpe(100, 0.5 / 250))
    assert sr0 == pytest.approx(0.1132, abs=1e-4)
    dsr = float(st.probabilistic_sharpe(jnp.asarray(2.5 / math.sqrt(250)), 1250, jnp.asarray(-3.0),
                                        jnp.asarray(10.0), sr0))
    assert dsr == pytest.approx(0.9004, abs=5e-4)
    assert float(st.expected_max_sharpe(1, 0.5)) == 0.0
    with pytest.raises(ValueError, match="num_trials"):
        st.expected_max_sharpe(0, 0.5)


def test_deflating_for_more_trials_lowers_the_ratio():
    rng = np.random.default_rng(5)
    r = jnp.asarray(rng.normal(0.0006, 0.01, 1500), jnp.float32)
    one, many = st.deflated_sharpe(r, 1), st.deflated_sharpe(r, 200)
    assert float(one["dsr"]) == pytest.approx(float(one["psr"]), abs=1e-6) and float(one["sr0"]) == 0.0
    assert float(many["sr0"]) > 0 and float(many["dsr"]) < float(one["dsr"])
    # The default trial variance is the Sharpe estimator's own: about 1 / (n - 1) for normal returns.
    np.testing.assert_allclose(float(many["sr0"]) / float(st.expected_max_sharpe(200, 1.0 / 1499)), 1.0, rtol=0.02)
