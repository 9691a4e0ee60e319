"""Accounting: hand-computed fills, a plain-Python reference ledger, and invariants under Hypothesis."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxtrade.env.accounting import (
    Book,
    Costs,
    borrow_fee,
    buy,
    cover,
    execute,
    mark_to_market,
    sell,
    short,
    unrealised_pnl,
)
from jaxtrade.env.actions import Order

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


def test_short_hand_computed():
    # Sell short 10,000 of notional at an open of 50: 200 units, proceeds net of 5 bps slippage and
    # 10 bps commission credited to cash; entry price = net proceeds per unit.
    f = jax.jit(short)(F32(50.0), F32(10_000.0), F32(0.0), F32(1_000.0), F32(0.0), F32(10.0), F32(5.0))
    gross = 200 * 50.0 * (1 - 0.0005)
    proceeds = gross * (1 - 0.001)
    np.testing.assert_allclose(f.units, -200.0)
    np.testing.assert_allclose(f.traded_units, -200.0)
    np.testing.assert_allclose(f.cash, 1_000.0 + proceeds, rtol=1e-6)
    np.testing.assert_allclose(f.cost, gross * 0.001 + 200 * 50.0 * 0.0005, rtol=1e-5)
    np.testing.assert_allclose(f.entry_price, proceeds / 200, rtol=1e-6)
    # Adding to the short averages the entry over both sales.
    g = short(F32(40.0), F32(4_000.0), f.units, f.cash, f.entry_price, F32(0.0), F32(0.0))
    np.testing.assert_allclose(g.units, -300.0)
    np.testing.assert_allclose(g.entry_price, (proceeds + 4_000.0) / 300, rtol=1e-6)


def test_cover_hand_computed():
    # Cover half of a 200-unit short entered at 49 at an open of 40: pay 40 * 1.0005 per unit plus 10 bps.
    f = jax.jit(cover)(F32(40.0), F32(0.5), F32(-200.0), F32(20_000.0), F32(49.0), F32(10.0), F32(5.0))
    notional = 100 * 40.0 * 1.0005
    paid = notional * 1.001
    np.testing.assert_allclose(f.units, -100.0)
    np.testing.assert_allclose(f.traded_units, 100.0)
    np.testing.assert_allclose(f.cash, 20_000.0 - paid, rtol=1e-6)
    np.testing.assert_allclose(f.cost, notional * 0.001 + 100 * 40.0 * 0.0005, rtol=1e-5)
    np.testing.assert_allclose(f.realised_pnl, 100 * 49.0 - paid, rtol=1e-5)
    np.testing.assert_allclose(f.entry_price, 49.0)
    out = cover(F32(60.0), F32(1.0), F32(-100.0), F32(1_000.0), F32(49.0), F32(0.0), F32(0.0))
    assert float(out.units) == 0.0 and float(out.entry_price) == 0.0
    np.testing.assert_allclose(out.cash, 1_000.0 - 6_000.0)  # a squeeze can leave cash negative
    np.testing.assert_allclose(out.realised_pnl, 100 * (49.0 - 60.0))


def test_borrow_fee_is_charged_on_shorts_only():
    costs = Costs(F32(10.0), F32(5.0), F32(252.0), F32(252.0))  # 252 bps a year over 252 bars: 1 bp a bar
    np.testing.assert_allclose(borrow_fee(F32(-100.0), F32(50.0), costs), 100 * 50.0 * 1e-4, rtol=1e-6)
    assert float(borrow_fee(F32(100.0), F32(50.0), costs)) == 0.0
    assert float(borrow_fee(F32(0.0), F32(50.0), costs)) == 0.0


def test_execute_routes_each_order_to_its_fill():
    costs = Costs(F32(10.0), F32(5.0), F32(0.0), F32(252.0))
    rates = (F32(10.0), F32(5.0))
    long_book = Book(F32(10.0), F32(500.0), F32(95.0))
    short_book = Book(F32(-10.0), F32(2_500.0), F32(105.0))
    flat = Book(F32(0.0), F32(1_000.0), F32(0.0))
    price = F32(100.0)
    cases = [
        (flat, Order(F32(300.0), F32(0.0)), buy(price, F32(300.0), *flat, *rates)),
        (long_book, Order(F32(300.0), F32(0.0)), buy(price, F32(300.0), *long_book, *rates)),
        (flat, Order(F32(-300.0), F32(0.0)), short(price, F32(300.0), *flat, *rates)),
        (short_book, Order(F32(-300.0), F32(0.0)), short(price, F32(300.0), *short_book, *rates)),
        (long_book, Order(F32(0.0), F32(0.5)), sell(price, F32(0.5), *long_book, *rates)),
        (short_book, Order(F32(0.0), F32(1.0)), cover(price, F32(1.0), *short_book, *rates)),
    ]
    run = jax.jit(execute)
    for book, order, want in cases:
        got = run(book, order, price, costs)
        for name, a, b in zip(want._fields, got, want, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6, err_msg=name)
    long_only = jax.jit(execute, static_argnums=4)
    for book, order, want in (cases[0], cases[1], cases[4]):  # the long-only program fills long orders alike
        got = long_only(book, order, price, costs, False)
        for name, a, b in zip(want._fields, got, want, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6, err_msg=name)
    held = run(long_book, Order(F32(0.0), F32(0.0)), price, costs)
    assert held.book == long_book and float(held.cost) == 0.0 and float(held.traded_units) == 0.0


def test_mark_to_market_and_unrealised():
    assert float(mark_to_market(F32(2.0), F32(10.0), F32(7.0))) == 24.0
    assert float(unrealised_pnl(F32(2.0), F32(5.0), F32(7.0))) == 4.0


class ReferenceBook:
    """The same accounting written plainly in float64 Python, one order at a time (signed units)."""

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

    def short(self, price, value):
        sold = max(value, 0.0) / price
        proceeds = sold * price * (1 - self.s) * (1 - self.c)
        basis = -self.units * self.entry + proceeds
        self.units -= sold
        self.cash += proceeds
        self.entry = basis / -self.units if self.units < 0 else 0.0
        return sold * price * (1 - self.s) * self.c + sold * price * self.s, 0.0

    def cover(self, price, fraction):
        fraction = min(max(fraction, 0.0), 1.0)
        bought = -self.units * fraction
        paid = bought * price * (1 + self.s) * (1 + self.c)
        pnl = bought * self.entry - paid
        self.units = 0.0 if fraction >= 1 else self.units + bought
        self.cash -= paid
        if self.units == 0:
            self.entry = 0.0
        return bought * price * (1 + self.s) * self.c + bought * price * self.s, pnl


def test_execute_matches_reference_ledger_long_and_short():
    """Random long/short/close sequences through `execute`; an open against the book's side is a no-op,
    as the env's mask makes it."""
    rng = np.random.default_rng(1)
    n_seq, n_steps = 100, 60
    prices = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, (n_seq, n_steps)), axis=1))
    kind = rng.integers(0, 3, (n_seq, n_steps))  # 0 go long, 1 go short, 2 close a share
    amount = np.where(kind < 2, rng.uniform(0, 4000, (n_seq, n_steps)), rng.choice([0.25, 0.5, 1.0], (n_seq, n_steps)))
    costs = Costs(F32(7.5), F32(3.0), F32(0.0), F32(252.0))

    def run(prices, kind, amount):
        def step(book, x):
            p, k, a = x
            value = jnp.where((k == 0) & (book.units >= 0), a, jnp.where((k == 1) & (book.units <= 0), -a, 0.0))
            f = execute(book, Order(value, jnp.where(k == 2, a, 0.0)), p, costs)
            return f.book, (f.cost, f.realised_pnl, f.cash, f.units)

        return jax.lax.scan(step, Book(F32(0.0), F32(10_000.0), F32(0.0)), (prices, kind, amount))[1]

    got = jax.jit(jax.vmap(run))(jnp.asarray(prices, F32), jnp.asarray(kind), jnp.asarray(amount, F32))
    tol = 1e-5 * 10_000.0
    shorted = 0
    for i in range(n_seq):
        ref = ReferenceBook(10_000.0, 7.5, 3.0)
        for t in range(n_steps):
            p, k, a = prices[i, t], kind[i, t], amount[i, t]
            if k == 2:
                cost, pnl = ref.sell(p, a) if ref.units > 0 else ref.cover(p, a) if ref.units < 0 else (0.0, 0.0)
            elif k == 0 and ref.units >= 0:
                cost, pnl = ref.buy(p, a)
            elif k == 1 and ref.units <= 0:
                cost, pnl = ref.short(p, a)
            else:
                cost, pnl = 0.0, 0.0
            shorted += ref.units < 0
            want = (cost, pnl, ref.cash, ref.units)
            for name, g, w in zip(("cost", "pnl", "cash", "units"), (x[i, t] for x in got), want, strict=True):
                scale = p if name == "units" else 1.0
                np.testing.assert_allclose(g * scale, w * scale, rtol=1e-4, atol=tol, err_msg=f"{name} {i} {t}")
    assert shorted > 0.2 * n_seq * n_steps


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


@settings(max_examples=200, deadline=None)
@given(price=prices, value=floats32(-1e3, 1e8), units=floats32(-1e4, 0.0), cash=money,
       entry=floats32(0.0, 1e6), comm=bps, slip=bps)
def test_short_invariants(price, value, units, cash, entry, comm, slip):
    f = short(F32(price), F32(value), F32(units), F32(cash), F32(entry), F32(comm), F32(slip))
    assert float(f.cost) >= 0.0 and float(f.traded_units) <= 0.0 and float(f.units) <= float(F32(units))
    assert float(f.cash) >= float(F32(cash))
    before = np.float64(cash) + np.float64(units) * price
    after = np.float64(f.cash) + np.float64(f.units) * price
    np.testing.assert_allclose(after, before - np.float64(f.cost), rtol=2e-5, atol=1e-3 + 2e-5 * abs(value))
    assert np.isfinite([float(x) for x in f]).all()


@settings(max_examples=200, deadline=None)
@given(price=prices, frac=floats32(-1.0, 2.0), units=floats32(-1e4, 0.0), cash=money,
       entry=floats32(0.0, 1e6), comm=bps, slip=bps)
def test_cover_invariants(price, frac, units, cash, entry, comm, slip):
    f = cover(F32(price), F32(frac), F32(units), F32(cash), F32(entry), F32(comm), F32(slip))
    assert float(f.cost) >= 0.0 and float(f.cash) <= float(F32(cash))
    assert float(F32(units)) <= float(f.units) <= 0.0
    if frac >= 1.0:
        assert float(f.units) == 0.0
    before = np.float64(cash) + np.float64(units) * price
    after = np.float64(f.cash) + np.float64(f.units) * price
    np.testing.assert_allclose(after, before - np.float64(f.cost), rtol=2e-5,
                               atol=1e-3 + 2e-5 * abs(np.float64(units) * price))
