"""`EnvConfig`: trading costs, risk controls, episode length and reward weights.

Every numeric field here travels into `EnvParams` as a traced array (`vol_halflife`
as the volatility table it builds), so a sweep over any of them is a `vmap`, not a
recompile; `allow_short` is static (it sets the action space). Values are validated once, when
the config is built.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, make_dataclass

import jax.numpy as jnp

from jaxtrade.env.actions import ActionTable, action_table
from jaxtrade.env.rewards import REGISTRY, REWARD_COMPONENTS
from jaxtrade.env.rules import Rules
from jaxtrade.errors import ConfigError


def _check_weights(self) -> None:
    for f in fields(self):
        v = getattr(self, f.name)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not abs(v) <= 1e4:
            raise ConfigError(f"env.reward.{f.name}: must be a number in [-10000, 10000] (larger weights overflow "
                              f"float32 rewards), got {v!r}")


def _as_tuple(self) -> tuple[float, ...]:
    """The weights in `REWARD_COMPONENTS` order."""
    return tuple(float(getattr(self, name)) for name in REWARD_COMPONENTS)


# One field per registered component (`jaxtrade.env.rewards.REGISTRY`), defaulting to its weight.
RewardWeights = make_dataclass(
    "RewardWeights",
    [(c.name, float, field(default=c.weight)) for c in REGISTRY],
    frozen=True,
    namespace={"__post_init__": _check_weights, "as_tuple": _as_tuple,
               "__doc__": "Weight of each reward component in the total reward (see `jaxtrade.env.rewards`).",
               # Read by the configuration reference (`jaxtrade.config_reference`): a made class has no source.
               "FIELD_DOCS": {c.name: f"weight of `{c.name}`: {c.fn.__doc__}" for c in REGISTRY}},
)
RewardWeights.__module__ = __name__


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
    max_drawdown: float = 0.20  # stop when equity falls this far below its peak; 0 = off
    # What the drawdown stop does. 0: it is terminal (a training episode ends; a backtest liquidates and stays
    # in cash to the period's end). N > 0: it de-risks instead: the book is closed at the next open, stays in
    # cash for N bars (counted from the stop, not from the fill), then trades again with its peak reset to its
    # equity there; a training episode runs on. Ruin and bankruptcy stay terminal.
    stop_cooldown: int = 0
    ruin: float = 0.50  # terminate when equity <= ruin * initial_cash; 0 = off
    allow_short: bool = False  # add short entries and covers to the actions (Discrete(13) instead of 7)
    borrow_bps: float = 50.0  # annual fee on a short position's value, basis points, charged per bar
    short_margin: float = 0.30  # buy every short in when equity < short_margin * the short book's value; 0 = off
    # Sizing by risk: > 0 multiplies every open order's table fraction by vol_target / the asset's annualised
    # volatility at the decision bar (EWMA, `vol_halflife`; at least `MIN_VOL`), so BUY 9 % in a stock at twice
    # the target volatility buys 4.5 % of equity and the agent chooses a position's risk, not its notional;
    # `max_position` still caps the notional. 0 = off (orders are the table's fractions of equity).
    vol_target: float = 0.0
    min_order: float = 0.001  # smallest order, a share of equity: smaller opens are dropped, and a partial close
    # that would leave a smaller position closes all of it (no dust positions); 0 = off
    hurdle_rate: float = 0.02  # annual return a held position must beat (time_efficiency reward), >= 0
    drawdown_free: float = 0.0  # drawdown below which the drawdown reward charges nothing, in [0, 1)
    # Points the drawdown reward charges (before its weight) on each step a stop (drawdown stop, ruin,
    # bankruptcy) fires, so training learns to stay clear of the stop it ends on. 0 = off.
    stop_penalty: float = 0.0
    # Years; training episodes start more often near the training range's end: a start's weight halves for each
    # half-life it lies before that end (`env.params.recent_starts`). Training only: evaluation episodes and
    # backtests start uniformly or where they are told. 0 = uniform.
    start_halflife: float = 0.0
    vol_halflife: int = 20  # bars; half-life of the EWMA volatility that scales the sharpe reward
    bars_per_year: float = 0.0  # annualisation of Sharpe/Sortino in observations; 0 = infer from data
    reward: RewardWeights = field(default_factory=RewardWeights)  # type: ignore[valid-type]  # reward component weights

    @property
    def actions(self) -> ActionTable:
        """The action space these settings allow."""
        return action_table(self.allow_short)

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
        _check("stop_cooldown", self.stop_cooldown, isinstance(self.stop_cooldown, int) and self.stop_cooldown >= 0,
               "an integer >= 0 (bars in cash after a drawdown stop; 0 = the stop is terminal)")
        if not isinstance(self.allow_short, bool):
            raise ConfigError(f"env.allow_short: must be true or false, got {self.allow_short!r}")
        _check("borrow_bps", self.borrow_bps, 0 <= self.borrow_bps < 10_000, "in [0, 10000) basis points per year")
        _check("short_margin", self.short_margin, 0 <= self.short_margin < 1, "in [0, 1) (0 switches it off)")
        _check("vol_target", self.vol_target, 0 <= self.vol_target <= 2, "in [0, 2] (annual volatility; 0 = off)")
        _check("min_order", self.min_order, 0 <= self.min_order <= 0.02,
               "in [0, 0.02] (a share of equity, below the smallest action's 2.5 %)")
        _check("hurdle_rate", self.hurdle_rate, 0 <= self.hurdle_rate < 1, "in [0, 1) per year")
        _check("drawdown_free", self.drawdown_free, 0 <= self.drawdown_free < 1, "in [0, 1)")
        _check("stop_penalty", self.stop_penalty, 0 <= self.stop_penalty <= 10_000, "in [0, 10000] reward points")
        _check("start_halflife", self.start_halflife, 0 <= self.start_halflife <= 100,
               "in [0, 100] years (0 = uniform)")
        _check("vol_halflife", self.vol_halflife, isinstance(self.vol_halflife, int) and self.vol_halflife >= 1,
               "an integer >= 1")
        _check("bars_per_year", self.bars_per_year,
               self.bars_per_year >= 0 and math.isfinite(self.bars_per_year), ">= 0 (0 = infer)")


# Settings that are not traced rules: the action space (static), the volatility half-life (it builds
# the market's volatility table), the start half-life (it builds the training start table) and the reward weights
# (their own params field).
NOT_RULES = ("allow_short", "start_halflife", "vol_halflife", "reward")
RULE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(EnvConfig) if f.name not in NOT_RULES)
INT_RULES = tuple(f.name for f in fields(EnvConfig) if f.name in RULE_FIELDS and f.type in ("int", int))

def rules_from_config(cfg: EnvConfig, bars_per_year: float) -> Rules:
    """The config's rules as device scalars; `bars_per_year` is the resolved annualisation (config or data)."""
    values = {name: getattr(cfg, name) for name in RULE_FIELDS}
    values["bars_per_year"] = bars_per_year
    return Rules(**{name: jnp.asarray(v, jnp.int32 if name in INT_RULES else jnp.float32)
                    for name, v in values.items()})


