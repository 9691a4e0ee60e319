"""`EnvConfig`: trading costs, risk controls, episode length and reward weights.

Every numeric field here travels into `EnvParams` as a traced array, so a sweep
over any of them is a `vmap`, not a recompile. Values are validated once, when
the config is built.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

from jaxtrade.errors import ConfigError

REWARD_COMPONENTS = ("pnl", "cost", "time_efficiency", "sharpe", "drawdown", "sizing", "hold")


@dataclass(frozen=True)
class RewardWeights:
    """Weight of each reward component in the total reward (see `jaxtrade.env.rewards`)."""

    pnl: float = 0.40  # percent change of equity over the step
    cost: float = 0.15  # minus commission + slippage, percent of equity
    time_efficiency: float = 0.15  # quick wins rewarded, stale losing positions penalised
    sharpe: float = 0.05  # online differential Sharpe ratio of the step return
    drawdown: float = 0.10  # minus the new drawdown taken this step, percent
    sizing: float = 0.05  # minus exposure above the target exposure
    hold: float = 0.0  # minus 1 for each step spent flat doing nothing

    def __post_init__(self):
        for f in fields(self):
            v = getattr(self, f.name)
            if not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ConfigError(f"env.reward.{f.name}: must be a finite number, got {v!r}")

    def as_tuple(self) -> tuple[float, ...]:
        """The weights in `REWARD_COMPONENTS` order."""
        return tuple(float(getattr(self, name)) for name in REWARD_COMPONENTS)


def _check(name: str, value, ok: bool, rule: str):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not ok:
        raise ConfigError(f"env.{name}: must be {rule}, got {value!r}")


@dataclass(frozen=True)
class EnvConfig:
    """The trading environment's settings."""

    horizon: int = 256  # steps per episode before truncation
    initial_cash: float = 100_000.0  # cash at the start of every episode
    commission_bps: float = 10.0  # commission, basis points of traded notional
    slippage_bps: float = 5.0  # price slippage against the order, basis points of the open
    max_position: float = 0.30  # position value / equity an order may not exceed, in (0, 1]
    stop_loss: float = 0.05  # close when price / entry - 1 <= -stop_loss; 0 = off
    take_profit: float = 0.10  # close when price / entry - 1 >= take_profit; 0 = off
    max_hold: int = 50  # close after this many bars held; 0 = off
    max_drawdown: float = 0.20  # terminate when equity falls this far below its peak; 0 = off
    ruin: float = 0.50  # terminate when equity <= ruin * initial_cash; 0 = off
    sharpe_eta: float = 0.01  # adaptation rate of the differential Sharpe moments, in (0, 1)
    target_exposure: float = 0.25  # exposure above which the sizing component penalises, in (0, 1)
    bars_per_year: float = 0.0  # annualisation of Sharpe/Sortino in observations; 0 = infer from data
    reward: RewardWeights = field(default_factory=RewardWeights)  # reward component weights

    def __post_init__(self):
        _check("horizon", self.horizon, isinstance(self.horizon, int) and self.horizon >= 1, "an integer >= 1")
        _check("initial_cash", self.initial_cash, self.initial_cash > 0 and math.isfinite(self.initial_cash), "> 0")
        for name in ("commission_bps", "slippage_bps"):
            v = getattr(self, name)
            _check(name, v, 0 <= v < 10_000, "in [0, 10000) basis points")
        _check("max_position", self.max_position, 0 < self.max_position <= 1, "in (0, 1]")
        for name in ("stop_loss", "max_drawdown", "ruin"):
            v = getattr(self, name)
            _check(name, v, 0 <= v < 1, "in [0, 1) (0 switches it off)")
        _check("take_profit", self.take_profit, 0 <= self.take_profit and math.isfinite(self.take_profit), ">= 0")
        _check("max_hold", self.max_hold, isinstance(self.max_hold, int) and self.max_hold >= 0, "an integer >= 0")
        _check("sharpe_eta", self.sharpe_eta, 0 < self.sharpe_eta < 1, "in (0, 1)")
        _check("target_exposure", self.target_exposure, 0 < self.target_exposure < 1, "in (0, 1)")
        _check("bars_per_year", self.bars_per_year,
               self.bars_per_year >= 0 and math.isfinite(self.bars_per_year), ">= 0 (0 = infer)")
