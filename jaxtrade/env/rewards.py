"""The shaped reward: an open registry of named components, each a pure function of the step outcome.

The env summarises a step as a `StepOutcome`; the default `shaped_reward` evaluates
every component of `REGISTRY` on it, and the total reward is sum_i w_i * component_i
with w = `EnvParams.reward_weights` (defaults below; `env.reward.<name>` in YAML).
Every consumer (config, sweeps, training metrics, plots, the reference env) reads
the names from `REWARD_COMPONENTS`, so a component is added with one function and
one `REGISTRY` line.

The components, E the equity at the decision bar's close, E' at the next close,
x' the gross exposure (|position value| / E') after the step, Y = bars per year:

    pnl              100 * log(E' / E)            the step's log equity change in percent, net of
                                                   costs: the only place PnL and costs are counted,
                                                   and an episode sums to 100 * log(E_end / E_start),
                                                   so its sum orders episodes exactly as their returns.
                                                   E' / E is floored at 1e-3: a step into bankruptcy
                                                   (E' <= 0, which ends the episode) scores -691.
    cost             -100 * (L' - L) / E          change of the cost of closing the position,
                     L = |value| (1 - (1-s)(1-c))  L (commission c and slippage s of a sale at the
                                                   close). Entering charges the exit cost at once,
                                                   exiting gives it back as the real cost lands in
                                                   pnl: zero over a round trip (nothing counted
                                                   twice), and an episode sums to -L at its end, the
                                                   open position marked at what a sale would fetch.
    time_efficiency  -100 * x' * h / Y             each bar a position is held its value pays the
                                                   hurdle rate h (`hurdle_rate`, per year): capital
                                                   has a price, a position must out-earn it.
    sharpe           clip(r / sigma, -10, 10)      the step return r in units of the traded asset's
                                                   volatility sigma at the decision bar (EWMA of
                                                   squared log returns, past-only): risk-adjusted
                                                   PnL whose noise scales with the position (0 flat).
    drawdown         -100 * max(0, dd' - d0) / Y   each bar spent under water beyond d0
                                                   (`drawdown_free`), dd = 1 - E' / peak: depth times
                                                   time, a year 10 % under water costs 10 points;
                                                   recovering stops the charge.
    sizing           -100 * max(0, x' - cap) / Y   each bar the exposure sits above the position cap
                                                   (orders cannot exceed it, price moves can): a year
                                                   5 points over the cap costs 5 points.
    hold             -1 if flat and idle, else 0   an optional push to trade (weight 0 by default).

The flow penalties (time_efficiency, drawdown, sizing) are in percentage points per
year, spread over its Y bars, so they mean the same on daily and hourly bars.

Why: with these definitions the weighted sum ranks fixed policies as their equity
returns do on real stocks, and cash scores below always-long wherever always-long
is clearly profitable (`tests/test_rewards.py`); the earlier drawdown term (every
new tick of loss charged, never given back) made cash optimal.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple, Protocol

import jax
import jax.numpy as jnp

from jaxtrade.env.accounting import BPS
from jaxtrade.env.rules import Rules
from jaxtrade.numeric import safe_div


class StepOutcome(NamedTuple):
    """What one step did, as the reward sees it (all scalars)."""

    equity_before: jax.Array  # () equity at the decision bar's close
    equity_after: jax.Array  # () equity at the next bar's close
    step_return: jax.Array  # () (equity_after - equity_before) / equity_before, computed from the step's parts
    cost: jax.Array  # () commission + slippage of this step's fill + the borrow fee of a short
    value_before: jax.Array  # () signed position value at the decision bar's close
    value_after: jax.Array  # () signed position value at the next bar's close
    exposure: jax.Array  # () signed position value / equity after the step
    drawdown_after: jax.Array  # () 1 - equity / peak after the step
    volatility: jax.Array  # () the asset's per-bar volatility at the decision bar
    holding: jax.Array  # () bool: a position is open after the step
    idle: jax.Array  # () bool: flat before and after, and no order was placed
    stopped: jax.Array  # () bool: a stop (drawdown stop, ruin, bankruptcy) fired at this step


ComponentFn = Callable[[StepOutcome, Rules], jax.Array]


class Component(NamedTuple):
    """One reward component: its name, its function of the step outcome, its default weight."""

    name: str
    fn: ComponentFn
    weight: float


def exit_cost_rate(rules: Rules) -> jax.Array:
    """Share of a position's value lost to commission and slippage when it is sold: 1 - (1-s)(1-c)."""
    s, c = rules.slippage_bps * BPS, rules.commission_bps * BPS
    return s + c - s * c  # not 1 - (1-s)(1-c), which cancels in float32


# The pnl component's floor on E'/E: a step that takes equity to zero or below (a gap through a short, which
# ends the episode) counts as a loss of 99.9 % (-691) instead of log of a negative number (NaN).
MIN_EQUITY_RATIO = 1e-3


def pnl(o: StepOutcome, rules: Rules) -> jax.Array:
    """The step's log equity change in percent, net of costs: 100 log(E' / E)."""
    return 100.0 * jnp.log1p(jnp.maximum(o.step_return, MIN_EQUITY_RATIO - 1.0))


def cost(o: StepOutcome, rules: Rules) -> jax.Array:
    """The change of the cost of closing the position (its exit cost), in percent of equity."""
    return -100.0 * exit_cost_rate(rules) * safe_div(jnp.abs(o.value_after) - jnp.abs(o.value_before), o.equity_before)


def time_efficiency(o: StepOutcome, rules: Rules) -> jax.Array:
    """The hurdle rate a held position pays each bar: -100 x exposure x hurdle_rate / bars per year."""
    return -100.0 * jnp.abs(o.exposure) * safe_div(rules.hurdle_rate, rules.bars_per_year)


def sharpe(o: StepOutcome, rules: Rules) -> jax.Array:
    """The step return in units of the asset's volatility at the decision bar, clipped to +-10."""
    return jnp.clip(safe_div(o.step_return, o.volatility), -10.0, 10.0)


def drawdown(o: StepOutcome, rules: Rules) -> jax.Array:
    """The drawdown beyond `drawdown_free` per bar spent there, and `stop_penalty` on each step a stop fires."""
    depth = -100.0 * safe_div(jnp.maximum(o.drawdown_after - rules.drawdown_free, 0.0), rules.bars_per_year)
    return depth - rules.stop_penalty * o.stopped  # the stop itself, once per stop (`stop_penalty`)


def sizing(o: StepOutcome, rules: Rules) -> jax.Array:
    """Exposure beyond the position cap per bar (a position that drifted over `max_position`)."""
    return -100.0 * safe_div(jnp.maximum(jnp.abs(o.exposure) - rules.max_position, 0.0), rules.bars_per_year)


def hold(o: StepOutcome, rules: Rules) -> jax.Array:
    """-1 for a step flat before and after with no order placed (idle)."""
    return -o.idle.astype(jnp.float32)


REGISTRY: tuple[Component, ...] = (
    Component("pnl", pnl, 0.40),
    Component("cost", cost, 0.15),
    Component("time_efficiency", time_efficiency, 0.15),
    Component("sharpe", sharpe, 0.05),
    Component("drawdown", drawdown, 0.10),
    Component("sizing", sizing, 0.05),
    Component("hold", hold, 0.0),
)
REWARD_COMPONENTS: tuple[str, ...] = tuple(c.name for c in REGISTRY)
DEFAULT_WEIGHTS: tuple[float, ...] = tuple(c.weight for c in REGISTRY)

# Made from the registry (one field per component), so a type checker cannot see its fields.
RewardComponents = NamedTuple("RewardComponents", [(name, jax.Array) for name in REWARD_COMPONENTS])  # type: ignore[misc]
RewardComponents.__doc__ = "One value per component, in `REWARD_COMPONENTS` order."


class RewardFn(Protocol):
    """A pure function from a step's outcome to its reward components."""

    def __call__(self, outcome: StepOutcome, rules: Rules) -> RewardComponents: ...


def shaped_reward(outcome: StepOutcome, rules: Rules) -> RewardComponents:
    """Every registered component of the step (definitions in the module docstring)."""
    return RewardComponents(*(c.fn(outcome, rules).astype(jnp.float32) for c in REGISTRY))


def total_reward(components: RewardComponents, weights: jax.Array) -> jax.Array:
    """sum_i weights[i] * components[i]: () float32."""
    return jnp.dot(jnp.stack(components), weights)
