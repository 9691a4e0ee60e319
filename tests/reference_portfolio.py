"""A slow, plainly written reference of the portfolio env (long-only): one account, Python floats (float64).

Shares no code with `jaxtrade.env` (only the market arrays and the tradeable table
are read): S symbols decide at bar t's closes on one account (orders sized on the
portfolio's equity, buys checked against the shared cash), budgets cap each
symbol's buys, fills at t+1's opens in two phases (sells, then buys scaled pro
rata to the cash and the room under the total limit), marks at t+1's closes.
"""

from __future__ import annotations

import math

import numpy as np
from reference_env import CLOSE, HOLD, OPEN, SELL_ALL, _div, ewma_volatility

from jaxtrade.env.rewards import REWARD_COMPONENTS


class ReferencePortfolio:
    def __init__(self, p: dict, tradeable: np.ndarray, end: int, total_limit: float, vol_halflife: int = 20):
        self.p, self.ok, self.end, self.total_limit = p, np.asarray(tradeable), end, total_limit
        self.S = self.ok.shape[0]
        self.vol = ewma_volatility(p["close"], vol_halflife)

    def start(self, bar: int) -> None:
        self.t, self.steps = bar, 0
        self.cash = float(self.p["initial_cash"])
        self.units = [0.0] * self.S
        self.entry = [0.0] * self.S
        self.hold = [0] * self.S
        self.equity = self.peak = self.cash

    def mask(self, s: int) -> list[bool]:
        p, t = self.p, self.t
        if not self.ok[s, t]:
            return [True] + [False] * 6
        close = float(p["close"][s, t])
        out = [True] + [False] * 6
        for a in range(1, 7):
            if CLOSE[a] > 0:
                out[a] = self.units[s] > 0
                continue
            order = OPEN[a] * self.equity
            out[a] = (order <= self.cash * (1 + 1e-6)
                      and self.units[s] * close + order <= p["max_position"] * self.equity * (1 + 1e-6)
                      and order > 0 and (a != 6 or self.units[s] > 0))
        return out

    def step(self, actions, budgets):
        p, t, S = self.p, self.t, self.S
        c, slip = p["commission_bps"] * 1e-4, p["slippage_bps"] * 1e-4
        close_t = [float(p["close"][s, t]) for s in range(S)]
        open_n = [float(p["open"][s, t + 1]) for s in range(S)]
        close_n = [float(p["close"][s, t + 1]) for s in range(S)]
        equity_before, gross_before = self.equity, sum(abs(self.units[s] * close_t[s]) for s in range(S))

        executed, invalid, wanted, sell = [HOLD] * S, [False] * S, [0.0] * S, [0.0] * S
        for s in range(S):
            a = int(actions[s])
            invalid[s] = not self.mask(s)[a]
            act = HOLD if invalid[s] else a
            if self.ok[s, t] and self.units[s] > 0:
                change = close_t[s] / self.entry[s] - 1
                if ((p["stop_loss"] > 0 and change <= -p["stop_loss"])
                        or (p["take_profit"] > 0 and change >= p["take_profit"])
                        or (p["max_hold"] > 0 and self.hold[s] >= p["max_hold"])):
                    act = SELL_ALL
            executed[s] = act
            if CLOSE[act] > 0:
                sell[s] = CLOSE[act]
            elif OPEN[act] > 0:
                cap = min(max(float(budgets[s]), 0.0), p["max_position"]) * self.equity
                wanted[s] = min(OPEN[act] * self.equity, max(cap - abs(self.units[s] * close_t[s]), 0.0))

        cost, traded_value = 0.0, 0.0
        was_holding = [u != 0 for u in self.units]
        for s in range(S):  # phase 1: sells
            if sell[s] > 0:
                sold = self.units[s] * sell[s]
                gross = sold * open_n[s] * (1 - slip)
                self.cash += gross * (1 - c)
                cost += gross * c + sold * open_n[s] * slip
                traded_value += sold * open_n[s]
                self.units[s] = 0.0 if sell[s] >= 1 else self.units[s] - sold
                if self.units[s] == 0:
                    self.entry[s] = 0.0
        total = sum(wanted)
        room = max(self.total_limit * self.equity - sum(abs(self.units[s] * close_t[s]) for s in range(S)), 0.0)
        scale = min(1.0, min(max(self.cash, 0.0), room) / total) if total > 0 else 1.0
        for s in range(S):  # phase 2: buys, pro rata
            spend = wanted[s] * scale
            if spend > 0:
                notional = spend / (1 + c)
                bought = notional / (open_n[s] * (1 + slip))
                basis = self.units[s] * self.entry[s] + spend
                self.units[s] += bought
                self.entry[s] = basis / self.units[s]
                self.cash -= spend
                cost += (spend - notional) + bought * open_n[s] * slip
                traded_value += bought * open_n[s]
            elif OPEN[executed[s]] > 0:
                executed[s] = HOLD  # budget, cash or total limit left nothing to buy
        for s in range(S):
            self.hold[s] = self.hold[s] + 1 if self.units[s] != 0 else 0

        values = [self.units[s] * close_n[s] for s in range(S)]
        self.equity = self.cash + sum(values)
        self.peak = max(self.peak, self.equity)
        self.t += 1
        self.steps += 1
        ret = self.equity / equity_before - 1
        gross = sum(abs(v) for v in values)
        dd = 1 - self.equity / self.peak
        year = p["bars_per_year"]
        vol = _div(sum(abs(values[s]) * self.vol[s, t] for s in range(S)), gross)
        exposure = gross / self.equity
        idle = gross == 0 and not any(was_holding) and all(a == HOLD for a in executed)
        comp = {
            "pnl": 100 * math.log1p(ret),
            "cost": -100 * (1 - (1 - slip) * (1 - c)) * (gross - gross_before) / equity_before,
            "time_efficiency": -100 * exposure * p["hurdle_rate"] / year,
            "sharpe": float(np.clip(_div(ret, vol), -10, 10)),
            "drawdown": -100 * max(0.0, dd - p["drawdown_free"]) / year,
            "sizing": -100 * max(0.0, exposure - self.total_limit) / year,
            "hold": -1.0 if idle else 0.0,
        }
        components = np.array([comp[n] for n in REWARD_COMPONENTS])
        terminated = (p["ruin"] > 0 and self.equity <= p["ruin"] * p["initial_cash"]) or (
            p["max_drawdown"] > 0 and dd >= p["max_drawdown"])
        truncated = not terminated and (self.steps >= p["horizon"] or self.t + 1 >= self.end)
        info = {"executed": executed, "invalid": invalid, "cost": cost, "turnover": traded_value / equity_before,
                "scale": scale}
        return float(components @ p["reward_weights"]), terminated, truncated, info
