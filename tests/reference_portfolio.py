"""A slow, plainly written reference of the portfolio env, long-only or long-short: one account, Python floats.

Shares no code with `jaxtrade.env` (only the market arrays and the tradeable table
are read), written from the documented rules (docs/portfolio.md): S symbols decide at bar t's closes on
one account (orders sized on the portfolio's equity, buys checked against the
shared cash); a margin call on the whole short book buys every short in; budgets
cap each symbol's opens; fills at t+1's opens: closes make room, opens (both
sides) are cut pro rata to the room under the total limit (gross value at the
opens against equity at the opens), short sales and closes fill first, then buys
scaled pro rata to the cash; opens below the minimum order are dropped and a
partial close that would leave less closes it all; shorts pay borrow; marks at
t+1's closes; bankruptcy (equity <= 0) ends the episode whatever the rules; a symbol whose data ended for
good is sold at its last close; in a backtest (`on_stop="liquidate"`) a terminal rule closes every position at
the next opens and the account stays in cash.
"""

from __future__ import annotations

import math

import numpy as np
from reference_env import (
    ADD,
    ADD_SHORT,
    CLOSE,
    COVER_ALL,
    HOLD,
    OPEN,
    SELL_ALL,
    SIDE,
    _div,
    ewma_volatility,
    order_scale,
    record_stop,
    resume_peak,
)

from jaxtrade.env.rewards import REWARD_COMPONENTS


class ReferencePortfolio:
    def __init__(self, p: dict, tradeable: np.ndarray, end: int, total_limit: float, vol_halflife: int = 20,
                 allow_short: bool = False, on_stop: str = "terminate"):
        self.p, self.ok, self.end, self.total_limit = p, np.asarray(tradeable), end, total_limit
        self.on_stop = on_stop
        self.S = self.ok.shape[0]
        self.A = 13 if allow_short else 7
        self.vol = ewma_volatility(p["close"], vol_halflife)

    def start(self, bar: int) -> None:
        self.t, self.steps = bar, 0
        self.cash = float(self.p["initial_cash"])
        self.units = [0.0] * self.S
        self.entry = [0.0] * self.S
        self.hold = [0] * self.S
        self.trade_pnl = [0.0] * self.S
        self.trade_basis = [0.0] * self.S
        self.equity = self.peak = self.cash
        self.stop_reason, self.stop_bar, self.stops, self.resume_bar = 0, -1, 0, 0

    def mask(self, s: int) -> list[bool]:
        p, t = self.p, self.t
        out = [True] + [False] * (self.A - 1)
        if not self.ok[s, t] or t < self.resume_bar:
            return out
        close = float(p["close"][s, t])
        for a in range(1, self.A):
            mine = self.units[s] * SIDE[a]  # > 0: a position on this action's side
            if CLOSE[a] > 0:
                out[a] = mine > 0
                continue
            order = OPEN[a] * order_scale(p, self.vol, s, self.t) * self.equity
            paid = order <= self.cash * (1 + 1e-6) if SIDE[a] > 0 else True  # a short sale receives cash
            out[a] = (paid and abs(self.units[s]) * close + order <= p["max_position"] * self.equity * (1 + 1e-6)
                      and order > 0 and mine >= 0 and (a not in (ADD, ADD_SHORT) or mine > 0))
        return out

    def step(self, actions, budgets):
        p, t, S = self.p, self.t, self.S
        c, slip = p["commission_bps"] * 1e-4, p["slippage_bps"] * 1e-4
        close_t = [float(p["close"][s, t]) for s in range(S)]
        open_n = [float(p["open"][s, t + 1]) for s in range(S)]
        close_n = [float(p["close"][s, t + 1]) for s in range(S)]
        equity_before, gross_before = self.equity, sum(abs(self.units[s] * close_t[s]) for s in range(S))
        short_book = sum(max(-self.units[s], 0.0) * close_t[s] for s in range(S))
        dust = p["min_order"] * self.equity

        executed, invalid, exits = [HOLD] * S, [False] * S, [0] * S
        opened, close_share = [0.0] * S, [0.0] * S
        for s in range(S):
            a = int(actions[s])
            invalid[s] = not self.mask(s)[a]
            act = HOLD if invalid[s] else a
            if self.ok[s, t] and self.units[s] != 0:
                side = 1 if self.units[s] > 0 else -1
                change = side * (close_t[s] / self.entry[s] - 1)
                if self.units[s] < 0 and p["short_margin"] > 0 and self.equity < p["short_margin"] * short_book:
                    exits[s] = 4  # the account is below the maintenance margin of its whole short book
                elif p["stop_loss"] > 0 and change <= -p["stop_loss"]:
                    exits[s] = 1
                elif p["take_profit"] > 0 and change >= p["take_profit"]:
                    exits[s] = 2
                elif p["max_hold"] > 0 and self.hold[s] >= p["max_hold"]:
                    exits[s] = 3
                if t < self.resume_bar:
                    exits[s] = 5  # a stop halts the account: every position liquidated
                if exits[s]:
                    act = SELL_ALL if side > 0 else COVER_ALL
            if 0 < CLOSE[act] < 1 and abs(self.units[s] * close_t[s]) * (1 - CLOSE[act]) < dust:
                act = SELL_ALL if self.units[s] > 0 else COVER_ALL  # a partial close would leave dust
            if not p["next_ok"][s, t] and self.units[s] != 0:  # no real bar left: sold at this close
                act, exits[s] = (SELL_ALL if self.units[s] > 0 else COVER_ALL), 6
            executed[s] = act
            if CLOSE[act] > 0:
                close_share[s] = CLOSE[act]
            elif OPEN[act] > 0:
                budget = float(budgets[s]) if math.isfinite(float(budgets[s])) else 0.0
                cap = min(max(budget, 0.0), p["max_position"]) * self.equity
                order = OPEN[act] * order_scale(p, self.vol, s, t) * self.equity
                opened[s] = SIDE[act] * min(order, max(cap - abs(self.units[s] * close_t[s]), 0.0))

        # The total limit, at the opens: what the closes keep plus every open stays within limit x equity there.
        kept = [0.0 if close_share[s] >= 1 else self.units[s] * (1 - close_share[s]) for s in range(S)]
        equity_open = self.cash + sum(self.units[s] * open_n[s] for s in range(S))
        room = max(self.total_limit * equity_open - sum(abs(kept[s]) * open_n[s] for s in range(S)), 0.0)
        asked = sum(abs(v) for v in opened)
        cut = min(1.0, room / asked) if asked > 0 else 1.0
        opened = [v * cut if abs(v * cut) >= dust else 0.0 for v in opened]

        cost, traded_value, realised = 0.0, 0.0, [0.0] * S
        was_holding = [u != 0 for u in self.units]
        closed_pnl = {}
        px = [close_t[s] if exits[s] == 6 else open_n[s] for s in range(S)]  # the last close, data ended
        for s in range(S):  # phase 1: closes and short sales
            if close_share[s] > 0 and self.units[s] > 0:
                sold = self.units[s] * close_share[s]
                gross = sold * px[s] * (1 - slip)
                proceeds = gross * (1 - c)
                self.cash += proceeds
                realised[s] = proceeds - sold * self.entry[s]
                cost += gross * c + sold * px[s] * slip
                traded_value += sold * px[s]
                self.units[s] = 0.0 if close_share[s] >= 1 else self.units[s] - sold
            elif close_share[s] > 0 and self.units[s] < 0:
                bought = -self.units[s] * close_share[s]
                notional = bought * px[s] * (1 + slip)
                paid = notional * (1 + c)
                self.cash -= paid
                realised[s] = bought * self.entry[s] - paid
                cost += notional * c + bought * px[s] * slip
                traded_value += bought * px[s]
                self.units[s] = 0.0 if close_share[s] >= 1 else self.units[s] + bought
            elif opened[s] < 0:
                sold = -opened[s] / px[s]
                gross = sold * px[s] * (1 - slip)
                proceeds = gross * (1 - c)
                basis = -self.units[s] * self.entry[s] + proceeds
                self.units[s] -= sold
                self.entry[s] = basis / -self.units[s]
                self.cash += proceeds
                self.trade_basis[s] += proceeds
                cost += gross * c + sold * px[s] * slip
                traded_value += sold * px[s]
            if self.units[s] == 0:
                self.entry[s] = 0.0
        wanted = [max(v, 0.0) for v in opened]
        total = sum(wanted)
        scale = min(1.0, max(self.cash, 0.0) / total) if total > 0 else 1.0
        for s in range(S):  # phase 2: buys, pro rata to the cash
            spend = wanted[s] * scale
            spend = spend if spend >= dust else 0.0
            if spend > 0:
                notional = spend / (1 + c)
                bought = notional / (open_n[s] * (1 + slip))
                basis = self.units[s] * self.entry[s] + spend
                self.units[s] += bought
                self.entry[s] = basis / self.units[s]
                self.cash -= spend
                self.trade_basis[s] += spend
                cost += (spend - notional) + bought * open_n[s] * slip
                traded_value += bought * open_n[s]
            elif wanted[s] > 0:
                opened[s] = 0.0  # the cash left it below the minimum order
            if OPEN[executed[s]] > 0 and opened[s] == 0:
                executed[s] = HOLD  # budget, cash, total limit or the minimum order left nothing to buy
        borrow = [max(-self.units[s], 0.0) * close_n[s] * p["borrow_bps"] * 1e-4 / p["bars_per_year"]
                  for s in range(S)]
        self.cash -= sum(borrow)
        for s in range(S):
            self.trade_pnl[s] += realised[s] - borrow[s]
            if was_holding[s] and self.units[s] == 0:
                closed_pnl[s] = _div(self.trade_pnl[s], self.trade_basis[s])
                self.trade_pnl[s] = self.trade_basis[s] = 0.0
            self.hold[s] = self.hold[s] + 1 if self.units[s] != 0 else 0

        values = [self.units[s] * close_n[s] for s in range(S)]
        self.equity = self.cash + sum(values)
        self.peak = max(self.peak, self.equity)
        was_halted = self.t < self.resume_bar
        self.t += 1
        self.steps += 1
        resume_peak(self, was_halted)
        ret = (self.equity - equity_before) / abs(equity_before)
        gross = sum(abs(v) for v in values)
        dd = 1 - self.equity / self.peak
        year = p["bars_per_year"]
        vol = _div(sum(abs(values[s]) * self.vol[s, t] for s in range(S)), gross)
        exposure = _div(gross, self.equity)
        idle = gross == 0 and not any(was_holding) and all(a == HOLD for a in executed)
        comp = {
            "pnl": 100 * math.log(max(1 + ret, 1e-3)),
            "cost": -100 * (1 - (1 - slip) * (1 - c)) * (gross - gross_before) / equity_before,
            "time_efficiency": -100 * exposure * p["hurdle_rate"] / year,
            "sharpe": float(np.clip(_div(ret, vol), -10, 10)),
            "drawdown": -100 * max(0.0, dd - p["drawdown_free"]) / year,
            "sizing": -100 * max(0.0, exposure - self.total_limit) / year,
            "hold": -1.0 if idle else 0.0,
        }
        fired, terminated = record_stop(self, p, dd, was_halted)
        if fired:  # the step a stop fired
            comp["drawdown"] -= p["stop_penalty"]
        components = np.array([comp[n] for n in REWARD_COMPONENTS])
        truncated = not terminated and (self.steps >= p["horizon"] or self.t + 1 >= self.end)
        info = {"executed": executed, "invalid": invalid, "exit_reason": exits, "cost": cost,
                "turnover": traded_value / equity_before, "scale": min(scale, cut), "trade_return": closed_pnl,
                "borrow": sum(borrow), "stop_reason": self.stop_reason, "stop_bar": self.stop_bar,
                "stops": self.stops, "stop_fired": fired}
        return float(components @ p["reward_weights"]), terminated, truncated, info
