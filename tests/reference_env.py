"""A slow, plainly written reference of the trading environment: one episode, Python floats (float64).

It shares no code with `jaxtrade.env` (only the market arrays are read), so the
JAX env is checked against an independent implementation of the same rules:
decide at bar t's close, fill at bar t+1's open with slippage and commission,
mark at t+1's close; missing bars (no fill, the position carried at the last
close), masks, forced exits, termination or (backtests) liquidation, truncation, the reward
components and the observation. Running statistics keep the whole return list
and recompute means with NumPy, rather than Welford updates; the volatility is
recomputed from the closes with an explicit loop. Only the component names and
their order come from the env's registry.
"""

from __future__ import annotations

import math

import numpy as np

from jaxtrade.env.rewards import REWARD_COMPONENTS

# Long actions 0-6, then (with shorts) their mirror 7-12: fraction of equity to open, share of the
# position to close, the side each acts on.
OPEN = [0.0, 0.025, 0.06, 0.09, 0.0, 0.0, 0.03, 0.025, 0.06, 0.09, 0.0, 0.0, 0.03]
CLOSE = [0.0, 0.0, 0.0, 0.0, 0.5, 1.0, 0.0, 0.0, 0.0, 0.0, 0.5, 1.0, 0.0]
SIDE = [0, 1, 1, 1, 1, 1, 1, -1, -1, -1, -1, -1, -1]
HOLD, SELL_ALL, ADD, COVER_ALL, ADD_SHORT = 0, 5, 6, 11, 12


def reference_params(params) -> dict:
    """EnvParams as one flat NumPy dict (market arrays, start_symbol/start_bar/start_count, every rule, the
    reward weights): scalars and small vectors as float64, market arrays unchanged."""
    flat = {**vars(params.market), **{f"start_{k}": v for k, v in vars(params.starts).items()},
            **vars(params.rules), "reward_weights": params.reward_weights}
    out = {}
    for name, value in flat.items():
        value = np.asarray(value)
        out[name] = value.astype(np.float64) if value.dtype.kind == "f" and value.ndim <= 1 else value
    return out


def _div(a, b):
    return a / b if abs(b) > 1e-12 else 0.0


def order_scale(p: dict, vol: np.ndarray, s: int, t: int) -> float:
    """Sizing by risk: vol_target / the annualised volatility (floor 1 %) when on, else 1."""
    annual = float(vol[s, t]) * math.sqrt(float(p["bars_per_year"]))
    return float(p["vol_target"]) / max(annual, 0.01) if p["vol_target"] > 0 else 1.0


def ewma_volatility(close: np.ndarray, halflife: int) -> np.ndarray:
    """(S, T) sqrt of the EWMA of squared log returns, seeded with the mean square of the first `halflife`."""
    alpha = 1 - 0.5 ** (1 / halflife)
    out = np.zeros(close.shape, np.float64)
    for s in range(close.shape[0]):
        r = np.diff(np.log(close[s].astype(np.float64)), prepend=np.log(float(close[s, 0])))
        v = float(np.mean(r[1:halflife + 1] ** 2))
        for t in range(close.shape[1]):
            v = v if t == 0 else (1 - alpha) * v + alpha * r[t] ** 2
            out[s, t] = math.sqrt(v)
    return out


NEVER = 2**31 - 1  # resume_bar after a terminal stop


def resume_peak(book, was_halted: bool) -> None:
    """The step that ends a drawdown stop's cooldown (`book` just stepped to `book.t`) restarts the peak."""
    if was_halted and book.t >= book.resume_bar:
        book.peak = book.equity


def record_stop(book, p: dict, drawdown: float, was_halted: bool) -> tuple[bool, bool]:
    """The stop `book` (a reference env or portfolio, just stepped to `book.t`) fires, if any: 3 bankrupt
    (equity <= 0 or not finite), 2 ruin, 1 drawdown (not while halted: a cooldown runs); a drawdown stop with
    a cooldown halts trading for `stop_cooldown` bars, any other stop for good. Returns (fired, whether the
    episode ends: a terminal stop in training)."""
    reason = (3 if not book.equity > 0 or not math.isfinite(book.equity)
              else 2 if p["ruin"] > 0 and book.equity <= p["ruin"] * p["initial_cash"]
              else 1 if p["max_drawdown"] > 0 and drawdown >= p["max_drawdown"] else 0)
    fired = bool(reason) and book.resume_bar != NEVER and (not was_halted or reason != 1)
    if fired:
        book.stop_reason, book.stop_bar, book.stops = reason, book.t, book.stops + 1
        cooldown = int(p["stop_cooldown"])
        book.resume_bar = book.t + cooldown if reason == 1 and cooldown > 0 else NEVER
    return fired, book.resume_bar == NEVER and book.on_stop == "terminate"


class ReferenceEnv:
    """One symbol, one episode at a time. `p` is `reference_params(env_params)`."""

    def __init__(self, p: dict, window: int = 24, vol_halflife: int = 20, allow_short: bool = False,
                 on_stop: str = "terminate"):
        self.p = p
        self.on_stop = on_stop
        self.window = window
        self.num_actions = 13 if allow_short else 7
        self.vol = ewma_volatility(p["close"], vol_halflife)

    def start(self, symbol: int, bar: int) -> dict:
        p = self.p
        self.s, self.t, self.steps = symbol, bar, 0
        self.cash = float(p["initial_cash"])
        self.units = 0.0
        self.entry = 0.0
        self.hold = 0
        self.equity = self.cash
        self.peak = self.cash
        self.realised = 0.0
        self.trade_pnl = 0.0
        self.trade_basis = 0.0
        self.trades = self.wins = self.trade_bars = 0
        self.returns: list[float] = []
        self.stop_reason, self.stop_bar, self.stops, self.resume_bar = 0, -1, 0, 0
        return self.observe()

    def mask(self) -> list[bool]:
        p = self.p
        close = float(p["close"][self.s, self.t])
        equity = self.cash + self.units * close
        out = [True] + [False] * (self.num_actions - 1)
        if not p["tradeable"][self.s, self.t] or self.t < self.resume_bar:
            return out  # a missing bar ahead or here, or a halted account: only HOLD
        for a in range(1, self.num_actions):
            mine = self.units * SIDE[a]  # > 0: a position on this action's side
            if CLOSE[a] > 0:
                out[a] = mine > 0
                continue
            order = OPEN[a] * order_scale(p, self.vol, self.s, self.t) * equity
            paid = order <= self.cash * (1 + 1e-6) if SIDE[a] > 0 else True  # a short sale receives cash
            fits = (paid and abs(self.units) * close + order <= p["max_position"] * equity * (1 + 1e-6)
                    and order > 0 and mine >= 0)
            out[a] = fits and (a not in (ADD, ADD_SHORT) or mine > 0)  # opens open or add; ADDs only top up
        return out

    def observe(self) -> dict:
        p, s, t, W = self.p, self.s, self.t, self.window
        close = float(p["close"][s, t])
        side = 1 if self.units > 0 else -1 if self.units < 0 else 0
        value = self.units * close
        n = len(self.returns)
        r = np.asarray(self.returns, np.float64)
        mean = r.mean() if n else 0.0
        std = r.std() if n else 0.0
        down = math.sqrt(np.mean(np.minimum(r, 0.0) ** 2)) if n else 0.0
        ann = math.sqrt(float(p["bars_per_year"]))
        position = [
            side * (close / self.entry - 1) if side else 0.0,
            _div(abs(value), p["max_position"] * self.equity),
            _div(self.units * (close - self.entry), self.equity),
            math.log1p(self.hold),
            float(side),
        ]
        portfolio = [
            self.equity / p["initial_cash"] - 1,
            _div(value, self.equity),
            float(np.clip(_div(mean, std) * ann, -10, 10)),
            float(np.clip(_div(mean, down) * ann, -10, 10)),
            self.realised / p["initial_cash"],
            math.log1p(self.trades),
            math.log1p(_div(self.trade_bars, self.trades)),
            _div(self.wins, self.trades),
        ]
        depth = 1 - self.equity / self.peak
        ruin_room = 1 - p["ruin"] * p["initial_cash"] / self.equity if self.equity > 0 else -math.inf
        risk = [
            -depth,
            p["max_drawdown"] - depth if p["max_drawdown"] > 0 else 1.0,
            max(ruin_room, -10.0) if p["ruin"] > 0 else 1.0,
            self.vol[s, t] * math.sqrt(float(p["bars_per_year"])),
            order_scale(p, self.vol, s, t),
        ]
        return {
            "technical": p["technical"][s, t - W + 1: t + 1],
            "aux": p["aux"][s, t],
            "position": np.array(position),
            "portfolio": np.array(portfolio),
            "risk": np.array(risk),
            "regime": p["regime"][s, t],
            "action_mask": np.array(self.mask()),
        }

    def step(self, action: int):
        p, s, t = self.p, self.s, self.t
        close_t = float(p["close"][s, t])
        open_n, close_n = float(p["open"][s, t + 1]), float(p["close"][s, t + 1])
        c, slip = p["commission_bps"] * 1e-4, p["slippage_bps"] * 1e-4

        invalid = not (0 <= action < self.num_actions) or not self.mask()[action]
        act = HOLD if invalid else action
        exit_reason = 0
        if self.units != 0:
            side = 1 if self.units > 0 else -1
            change = side * (close_t / self.entry - 1)
            equity_t = self.cash + self.units * close_t
            if self.units < 0 and p["short_margin"] > 0 and equity_t < p["short_margin"] * -self.units * close_t:
                exit_reason = 4
            elif p["stop_loss"] > 0 and change <= -p["stop_loss"]:
                exit_reason = 1
            elif p["take_profit"] > 0 and change >= p["take_profit"]:
                exit_reason = 2
            elif p["max_hold"] > 0 and self.hold >= p["max_hold"]:
                exit_reason = 3
        if self.t < self.resume_bar and self.units != 0:
            exit_reason = 5  # a stop halts the account: liquidated at this open
        if exit_reason:
            act = SELL_ALL if self.units > 0 else COVER_ALL
        if 0 < CLOSE[act] < 1 and abs(self.units * close_t) * (1 - CLOSE[act]) < p["min_order"] * self.equity:
            act = SELL_ALL if self.units > 0 else COVER_ALL  # a partial close would leave dust: close it all
        if not p["tradeable"][s, t]:  # nothing fills into or out of a missing bar; exits wait for the next one
            act, exit_reason = HOLD, 0
        close_share = CLOSE[act]

        was_holding = self.units != 0
        equity_before = self.equity
        value_before = self.units * close_t
        cost = realised = 0.0
        if OPEN[act] > 0 and SIDE[act] < 0:  # sell short: borrowed units worth the order at the open
            sold = OPEN[act] * order_scale(p, self.vol, s, t) * self.equity / open_n
            gross = sold * open_n * (1 - slip)
            proceeds = gross * (1 - c)
            basis = -self.units * self.entry + proceeds
            self.units -= sold
            self.entry = basis / -self.units
            self.cash += proceeds
            self.trade_basis += proceeds
            cost = gross * c + sold * open_n * slip
        elif close_share > 0 and self.units < 0:  # cover
            bought = -self.units * close_share
            notional = bought * open_n * (1 + slip)
            paid = notional * (1 + c)
            cost = notional * c + bought * open_n * slip
            realised = bought * self.entry - paid
            self.units = 0.0 if close_share >= 1 else self.units + bought
            self.cash -= paid
            if self.units == 0:
                self.entry = 0.0
        elif OPEN[act] > 0:
            spend = min(max(OPEN[act] * order_scale(p, self.vol, s, t) * self.equity, 0.0), self.cash)
            notional = spend / (1 + c)
            bought = notional / (open_n * (1 + slip))
            basis = self.units * self.entry + spend
            self.units += bought
            self.entry = basis / self.units
            self.cash -= spend
            self.trade_basis += spend
            cost = (spend - notional) + bought * open_n * slip
        elif close_share > 0:
            sold = self.units * close_share
            gross = sold * open_n * (1 - slip)
            proceeds = gross * (1 - c)
            cost = gross * c + sold * open_n * slip
            realised = proceeds - sold * self.entry
            self.units = 0.0 if close_share >= 1 else self.units - sold
            self.cash += proceeds
            if self.units == 0:
                self.entry = 0.0
        # A short pays its borrow fee on its value at the step's close.
        borrow = max(-self.units, 0.0) * close_n * p["borrow_bps"] * 1e-4 / p["bars_per_year"]
        self.cash -= borrow
        self.realised += realised - borrow
        self.trade_pnl += realised - borrow

        holding = self.units != 0
        closed = was_holding and not holding
        if closed:
            self.trades += 1
            self.wins += self.trade_pnl > 0
            self.trade_bars += self.hold
            self.trade_pnl = self.trade_basis = 0.0
        self.hold = self.hold + 1 if holding else 0

        self.equity = self.cash + self.units * close_n
        ret = (self.equity - equity_before) / abs(equity_before)
        self.peak = max(self.peak, self.equity)
        was_halted = self.t < self.resume_bar
        self.returns.append(ret)
        self.t += 1
        self.steps += 1
        resume_peak(self, was_halted)
        dd_after = 1 - self.equity / self.peak

        year = p["bars_per_year"]
        value_after = self.units * close_n
        exposure = abs(value_after) / self.equity
        exit_cost = 1 - (1 - slip) * (1 - c)
        values = {
            "pnl": 100 * math.log(max(1 + ret, 1e-3)),  # a step into bankruptcy counts as a 99.9 % loss
            "cost": -100 * exit_cost * (abs(value_after) - abs(value_before)) / equity_before,
            "time_efficiency": -100 * exposure * p["hurdle_rate"] / year,
            "sharpe": float(np.clip(_div(ret, self.vol[s, t]), -10, 10)),
            "drawdown": -100 * max(0.0, dd_after - p["drawdown_free"]) / year,
            "sizing": -100 * max(0.0, exposure - p["max_position"]) / year,
            "hold": -1.0 if (not was_holding and not holding and act == HOLD) else 0.0,
        }
        fired, terminated = record_stop(self, p, dd_after, was_halted)
        if fired:  # the step a stop fired
            values["drawdown"] -= p["stop_penalty"]
        components = np.array([values[name] for name in REWARD_COMPONENTS])
        reward = float(components @ p["reward_weights"])
        truncated = not terminated and (self.steps >= p["horizon"] or not p["next_ok"][s, self.t])
        info = {"equity": self.equity, "cost": cost, "stop_reason": self.stop_reason, "stop_bar": self.stop_bar,
                "stops": self.stops, "stop_fired": fired, "borrow": borrow, "executed_action": act,
                "invalid_action": invalid,
                "exit_reason": exit_reason, "components": components}
        return self.observe(), reward, terminated, truncated, info
