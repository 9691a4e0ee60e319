"""Accounting: hand-computed fills, a plain-Python reference ledger, and invariants under Hypothesis."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxtrade.env.accounting import buy, mark_to_market, sell, unrealised_pnl

F32 = jnp.float32


@pytest.fixture(params=[False, True], ids=["eager", "jit"])
def ops(request):
    wrap = jax.jit if request.param else (lambda f: f)
    return wrap(buy), wrap(sell)


def test_buy_hand_computed(ops):
    buy_, _ = ops
    # 10 bps commission, 5 bps slippage; spend 1001 of 5000 at an open of 100.
    f = buy_(F32(100.0), F32(1001.0), F32(0.0), F32(5000.0), F32(0.0), F32(10.0), F32(5.0))
    notional = 1001.0 / 1.001  # 1000
    units = notional / (100.0 * 1.0005)
    np.testing.assert_allclose(f.units, units, rtol=1e-6)
    np.testing.assert_allclose(f.cash, 5000.0 - 1001.0, rtol=1e-6)
    np.testing.assert_allclose(f.cost, 1.0 + units * 100.0 * 0.0005, rtol=1e-5)
    np.testing.assert_allclose(f.entry_price, 1001.0 / units, rtol=1e-6)
    np.testing.assert_allclose(f.traded_units, units, rtol=1e-6)
    assert float(f.realised_pnl) == 0.0


def test_buy_is_capped_at_cash(ops):
    buy_, _ = ops
    f = buy_(F32(50.0), F32(1e9), F32(2.0), F32(300.0), F32(40.0), F32(10.0), F32(0.0))
    assert float(f.cash) == 0.0
    np.testing.assert_allclose(f.units, 2.0 + 300.0 / 1.001 / 50.0, rtol=1e-6)
    # Average cost: (2 * 40 + 300) / units.
    np.testing.assert_allclose(f.entry_price, (80.0 + 300.0) / float(f.units), rtol=1e-6)
    neg = buy_(F32(50.0), F32(-10.0), F32(1.0), F32(300.0), F32(40.0), F32(10.0), F32(0.0))
    assert float(neg.traded_units) == 0.0 and float(neg.cash) == 300.0


def test_sell_hand_computed(ops):
    _, sell_ = ops
    f = sell_(F32(120.0), F32(0.5), F32(10.0), F32(100.0), F32(100.0), F32(10.0), F32(5.0))
    gross = 5.0 * 120.0 * (1 - 0.0005)
    proceeds = gross * (1 - 0.001)
    np.testing.assert_allclose(f.units, 5.0)
    np.testing.assert_allclose(f.cash, 100.0 + proceeds, rtol=1e-6)
    np.testing.assert_allclose(f.cost, gross * 0.001 + 5.0 * 120.0 * 0.0005, rtol=1e-5)
    np.testing.assert_allclose(f.realised_pnl, proceeds - 5.0 * 100.0, rtol=1e-5)
    np.testing.assert_allclose(f.entry_price, 100.0)
    all_out = sell_(F32(90.0), F32(1.0), F32(3.3), F32(0.0), F32(100.0), F32(0.0), F32(0.0))
    assert float(all_out.units) == 0.0 and float(all_out.entry_price) == 0.0
    np.testing.assert_allclose(all_out.realised_pnl, 3.3 * (90.0 - 100.0), rtol=1e-6)


def test_mark_to_market_and_unrealised():
    assert float(mark_to_market(F32(2.0), F32(10.0), F32(7.0))) == 24.0
    assert float(unrealised_pnl(F32(2.0), F32(5.0), F32(7.0))) == 4.0


class ReferenceBook:
    """The same accounting written plainly in float64 Python, one order at a time."""

    def __init__(self, cash, commission_bps, slippage_bps):
        self.cash, self.units, self.entry = cash, 0.0, 0.0
        self.c, self.s = commission_bps * 1e-4, slippage_bps * 1e-4

    def buy(self, price, value):
        spend = min(max(value, 0.0), self.cash)
        bought = spend / (1 + self.c) / (price * (1 + self.s))
        basis = self.units * self.entry + spend
        self.units += bought
        self.cash -= spend
        self.entry = basis / self.units if self.units > 0 else 0.0
        return (spend - spend / (1 + self.c)) + bought * price * self.s, 0.0

    def sell(self, price, fraction):
        fraction = min(max(fraction, 0.0), 1.0)
        sold = self.units * fraction
        gross = sold * price * (1 - self.s)
        proceeds = gross * (1 - self.c)
        pnl = proceeds - sold * self.entry
        self.units = 0.0 if fraction >= 1 else self.units - sold
        self.cash += proceeds
        if self.units == 0:
            self.entry = 0.0
        return gross * self.c + sold * price * self.s, pnl


def test_matches_reference_ledger_over_random_order_sequences():
    rng = np.random.default_rng(0)
    n_seq, n_steps = 200, 60
    prices = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, (n_seq, n_steps)), axis=1))
    is_buy = rng.random((n_seq, n_steps)) < 0.5
    amount = np.where(is_buy, rng.uniform(0, 4000, (n_seq, n_steps)), rng.choice([0.25, 0.5, 1.0], (n_seq, n_steps)))
    comm, slip = 7.5, 3.0

    def run(prices, is_buy, amount):
        def step(book, x):
            p, b, a = x
            units, cash, entry = book
            fb = buy(p, a, units, cash, entry, comm, slip)
            fs = sell(p, a, units, cash, entry, comm, slip)
            f = jax.tree.map(lambda u, v: jnp.where(b, u, v), fb, fs)
            return (f.units, f.cash, f.entry_price), (f.cost, f.realised_pnl, f.cash, f.units)

        init = (jnp.float32(0.0), jnp.float32(10_000.0), jnp.float32(0.0))
        return jax.lax.scan(step, init, (prices, is_buy, amount))[1]

    costs, pnls, cash, units = jax.jit(jax.vmap(run))(
        jnp.asarray(prices, F32), jnp.asarray(is_buy), jnp.asarray(amount, F32))
    # float32 against float64: absolute errors scale with the 10,000 of capital.
    capital_tol = 1e-5 * 10_000.0
    for i in range(n_seq):
        ref = ReferenceBook(10_000.0, comm, slip)
        for t in range(n_steps):
            cost, pnl = ref.buy(prices[i, t], amount[i, t]) if is_buy[i, t] else ref.sell(prices[i, t], amount[i, t])
            np.testing.assert_allclose(costs[i, t], cost, rtol=1e-4, atol=1e-6 * 10_000.0)
            np.testing.assert_allclose(pnls[i, t], pnl, rtol=1e-4, atol=capital_tol)
            np.testing.assert_allclose(cash[i, t], ref.cash, rtol=1e-5, atol=capital_tol)
            np.testing.assert_allclose(units[i, t] * prices[i, t], ref.units * prices[i, t], rtol=1e-5,
                                       atol=capital_tol)




def floats32(lo, hi):
    """float32 values without subnormals: XLA on CPU flushes those to zero (no real amount is 1e-40)."""
    return st.floats(float(np.float32(lo)), float(np.float32(hi)), width=32, allow_subnormal=False)


prices = floats32(1e-4, 1e6)
money = floats32(0.0, 1e7)
bps = floats32(0.0, 100.0)


@settings(max_examples=300, deadline=None)
@given(price=prices, value=floats32(-1e3, 1e8), units=floats32(0.0, 1e4), cash=money,
       entry=floats32(0.0, 1e6), comm=bps, slip=bps)
def test_buy_invariants(price, value, units, cash, entry, comm, slip):
    f = buy(F32(price), F32(value), F32(units), F32(cash), F32(entry), F32(comm), F32(slip))
    assert float(f.cash) >= 0.0 and float(f.cost) >= 0.0 and float(f.traded_units) >= 0.0
    before = np.float64(cash) + np.float64(units) * price
    after = np.float64(f.cash) + np.float64(f.units) * price
    np.testing.assert_allclose(after, before - np.float64(f.cost), rtol=2e-5, atol=1e-3)
    assert np.isfinite([float(x) for x in f]).all()


@settings(max_examples=300, deadline=None)
@given(price=prices, frac=floats32(-1.0, 2.0), units=floats32(0.0, 1e4), cash=money,
       entry=floats32(0.0, 1e6), comm=bps, slip=bps)
def test_sell_invariants(price, frac, units, cash, entry, comm, slip):
    f = sell(F32(price), F32(frac), F32(units), F32(cash), F32(entry), F32(comm), F32(slip))
    assert float(f.cash) >= float(F32(cash)) and float(f.cost) >= 0.0
    assert 0.0 <= float(f.units) <= float(F32(units))
    if frac >= 1.0:
        assert float(f.units) == 0.0
    before = np.float64(cash) + np.float64(units) * price
    after = np.float64(f.cash) + np.float64(f.units) * price
    np.testing.assert_allclose(after, before - np.float64(f.cost), rtol=2e-5, atol=1e-3)
