"""Portfolio backtests on one shared book (`PortfolioEnv`): symbol agents, masters and equal-weight baselines.

A `PortfolioPolicy` maps the portfolio observation to every symbol's action and
the budgets. `walk_forward_book` runs one through a split from its first bar
where a symbol can trade to its end, on one account: cash moves between
symbols, costs are the env's, untradeable bars are masked, and a terminal rule
(drawdown limit, ruin) liquidates the account, which stays in cash to the end
of the split (`BookResults.stop_reason`, `stop_bar`), so every record covers
the whole period. The policies:

- `agents_policy`: the symbol agents alone, each budget the per-symbol limit;
- `master_policy`: the symbol agents under a master (`ConfidenceAllocator`,
  `LearnedMaster`, any `MasterAgent`) that sets budgets and gates the orders;
- `equal_weight_policy`: buy up to total_limit / S per symbol through the env's
  orders and hold (`rebalance=False`), or also sell half of any symbol more than
  `tolerance` x its weight over it and buy it back (`rebalance=True`: the coarsest
  rebalance the action table allows);
- `equal_risk_policy`: equal weight scaled down to a volatility target per symbol;
- `capped_policy`: the symbol agents under equal risk's (or equal weight's) per-symbol caps;
- `split_capital`: several runs (e.g. each seed's agents) on equal shares of one account, summed;
- `ts_momentum_book_policy`: time-series momentum (12-1 months) per symbol at its
  equal weight, flat (or short) when the trend is down.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxtrade.agents.config import PortfolioConfig
from jaxtrade.agents.learned_master import SymbolPolicy, largest_open_proposals, master_view
from jaxtrade.agents.master import MasterAgent, gate_actions
from jaxtrade.env.actions import greedy_action, toward_exposure
from jaxtrade.env.portfolio import PortfolioEnv
from jaxtrade.env.types import ORDER_SCALE, PortfolioAction, PortfolioObservation, PortfolioParams, PortfolioState
from jaxtrade.evaluate.backtest import (
    MIN_RATIO_BARS,
    MIN_RATIO_TRADES,
    date_of,
    ratio_text,
    stop_name,
    stop_text,
    trade_ratios,
)
from jaxtrade.evaluate.metrics import summarize
from jaxtrade.evaluate.policies import VOL_TARGET, check_momentum_window, momentum_direction, table_of, vol_scaled

# (policy params, key, obs, state, env params) -> action; the policy params (networks') are arguments of the
# compiled walk, not constants; the state and env params serve rules that read the market (closes, the bar).
PortfolioPolicy = Callable[[Any, jax.Array, PortfolioObservation, PortfolioState, PortfolioParams], PortfolioAction]
REBALANCE_TOLERANCE = 0.2  # equal weight, rebalanced: a symbol this fraction of its weight over it is half sold


def agents_policy(propose: SymbolPolicy, limit: float) -> PortfolioPolicy:
    """The symbol agents' proposals, every budget at `limit` (the per-symbol limit: no master). Params: the
    agents'."""

    def act(agent_params, key, obs, state=None, env_params=None):
        _, _, proposed = propose(agent_params, key, obs.symbols)
        return PortfolioAction(proposed, jnp.full(proposed.shape, limit, jnp.float32))

    return act


def master_policy(propose: SymbolPolicy, master: MasterAgent) -> PortfolioPolicy:
    """The symbol agents propose, the master sets budgets and gates the proposals. Params: (agents', master's)."""

    def act(params, key, obs, state=None, env_params=None):
        agent_params, master_params = params
        view = master_view(obs, *propose(agent_params, key, obs.symbols), env_params.env.actions)
        allocation = master.apply(master_params, view)
        return PortfolioAction(allocation.action, allocation.budget)

    return act


# The symbol agents' four standard runs: (sampled actions, under the master).
AGENT_VARIANTS = {"agents": (False, False), "agents + master": (False, True), "agents sampled": (True, False),
                  "agents sampled + master": (True, True)}


def variants_policy(network, master: MasterAgent, limit: float, flags: jax.Array) -> PortfolioPolicy:
    """The symbol agents (one shared actor-critic) for traced `flags` = (sampled, under the master): greedy or
    sampled proposals, executed with every budget at `limit`, or budgeted and gated by `master`. Params:
    (the network's, the master's)."""

    def act(params, key, obs, state=None, env_params=None):
        net_params, master_params = params
        logits, values = network.apply(net_params, obs.symbols)
        sampled = jax.random.categorical(key, logits)
        proposed = jnp.where(flags[0], sampled, greedy_action(logits)).astype(jnp.int32)
        view = master_view(obs, jax.nn.softmax(logits, -1), values, proposed, env_params.env.actions)
        allocation = master.apply(master_params, view)
        budget = jnp.where(flags[1], allocation.budget, limit)
        return PortfolioAction(jnp.where(flags[1], allocation.action, proposed), budget)

    return act


def run_variants(env: PortfolioEnv, params: PortfolioParams, network, net_params, master: MasterAgent,
                 master_params: Any, limit: float, key: jax.Array) -> dict[str, BookResults]:
    """`walk_forward_book` of the four `AGENT_VARIANTS` as one compiled program (vmapped over their flags),
    from the same start with the same key."""
    flags = jnp.asarray(list(AGENT_VARIANTS.values()))
    steps = split_steps(params)

    @jax.jit
    def run(params, policy_params, key):
        return jax.vmap(lambda f: walk_forward_book(env, params, variants_policy(network, master, limit, f),
                                                    policy_params, key, steps))(flags)

    out = run(params, (net_params, master_params), key)
    return {name: jax.tree.map(lambda x, i=i: x[i], out) for i, name in enumerate(AGENT_VARIANTS)}


def equal_weight_policy(total_limit: float, rebalance: bool | jax.Array,
                        tolerance: float = REBALANCE_TOLERANCE) -> PortfolioPolicy:
    """Equal weights through the env's orders: total_limit / S per tradeable symbol (see the module docstring);
    `rebalance` may be traced."""

    def act(_, key, obs, state=None, env_params=None):
        S = obs.tradeable.shape[0]
        view = master_view(obs, *largest_open_proposals(None, key, obs.symbols), env_params.env.actions)
        budget = jnp.full((S,), total_limit / S, jnp.float32)
        band = tolerance * total_limit / S  # e.g. 5 points over a 25 % weight, 0.14 over 0.7 % (143 symbols)
        return PortfolioAction(gate_actions(view, budget, jnp.where(rebalance, band, jnp.inf)), budget)

    return act


EQUAL_RISK = "equal risk, vol target"  # `equal_risk_policy`'s row
EQUAL_WEIGHT_HELD = "equal weight, held"  # `equal_weight_policy`'s held row: the shared account's benchmark


def equal_risk_policy(total_limit: float, vol_target: float = VOL_TARGET, band: float = 0.25) -> PortfolioPolicy:
    """Volatility-targeted equal weight: each symbol held at total_limit / S x min(1, vol_target / its annualised
    volatility) of equity (`Observation.risk`), kept there through the env's orders (`toward_exposure`: bought up
    to it, half sold beyond (1 + band) x it), its budget the same target."""

    def act(_, key, obs, state=None, env_params=None):
        target = risk_caps(obs, total_limit, vol_target)
        table = table_of(env_params.env, obs.symbols.action_mask)
        action = toward_exposure(obs.symbols.action_mask, obs.weights, target, table, band,
                                 obs.symbols.risk[:, ORDER_SCALE])
        return PortfolioAction(action, target.astype(jnp.float32))

    return act


def risk_caps(obs: PortfolioObservation, total_limit: float, vol_target: float | None = VOL_TARGET) -> jax.Array:
    """(S,) equal risk's exposure per symbol: total_limit / S x min(1, vol_target / its annualised volatility);
    equal weight's, total_limit / S, with no `vol_target`."""
    equal = total_limit / obs.symbols.action_mask.shape[0]
    return jnp.full(obs.weights.shape, equal) if vol_target is None else equal * vol_scaled(obs.symbols, 1.0,
                                                                                             vol_target)


def capped_policy(propose: SymbolPolicy, total_limit: float, vol_target: float | None = VOL_TARGET,
                  band: float = 0.25) -> PortfolioPolicy:
    """The symbol agents under per-symbol caps (`risk_caps`: equal risk's, or equal weight's with no
    `vol_target`): each symbol's budget its cap, a proposed buy cut to the largest order that fits it
    (`gate_actions`), a position more than `band` x its cap over it half closed (whatever the agent proposed).
    The agents choose when to hold; the caps bound how much (with a volatility target, the book's volatility falls
    as its stocks' rises). Params: the agents'."""

    def act(agent_params, key, obs, state=None, env_params=None):
        caps = risk_caps(obs, total_limit, vol_target).astype(jnp.float32)
        view = master_view(obs, *propose(agent_params, key, obs.symbols), env_params.env.actions)
        return PortfolioAction(gate_actions(view, caps, band * caps), caps)

    return act


def capped_name(portfolio: PortfolioConfig, agents: str = "agents") -> str | None:
    """The row of `agents` under `portfolio.agent_caps` ("agents, vol caps 15%", "agents, equal caps"); None
    without caps."""
    if portfolio.agent_caps == "none":
        return None
    return f"{agents}, vol caps {portfolio.cap_vol:.0%}" if portfolio.agent_caps == "vol" else f"{agents}, equal caps"


def caps_target(portfolio: PortfolioConfig) -> float | None:
    """`capped_policy`'s volatility target for `portfolio.agent_caps`: `cap_vol`, or None (equal weight's caps)."""
    return portfolio.cap_vol if portfolio.agent_caps == "vol" else None


TS_MOMENTUM = "time-series momentum"  # `ts_momentum_book_policy`'s row


def ts_momentum_book_policy(total_limit: float, lookback: int = 252, skip: int = 21, vol_target: float | None = None,
                            band: float = 0.25) -> PortfolioPolicy:
    """Time-series momentum on one account (`rollout.ts_momentum_policy` per symbol): each symbol at total_limit / S
    of equity (times min(1, vol_target / its volatility) with a `vol_target`), long when its return from
    `lookback` to `skip` bars before the decision bar is positive, else flat (short where the action table
    allows it), kept there through the env's orders. Reads closes up to the decision bar."""
    check_momentum_window(lookback, skip)

    def act(_, key, obs, state, env_params):
        S = obs.symbols.action_mask.shape[0]
        table = table_of(env_params.env, obs.symbols.action_mask)
        direction = momentum_direction(env_params.env.market.close, jnp.arange(S), state.bar, lookback, skip, table)
        size = total_limit / S * (1.0 if vol_target is None else vol_scaled(obs.symbols, 1.0, vol_target))
        target = direction * size  # (S,)
        action = toward_exposure(obs.symbols.action_mask, obs.weights, target, table, band,
                                 obs.symbols.risk[:, ORDER_SCALE])
        return PortfolioAction(action, jnp.abs(target).astype(jnp.float32))

    return act


def holding_rules(params: PortfolioParams) -> PortfolioParams:
    """`params` for the equal-weight baselines, which hold: no stop loss, take profit or holding limit (costs,
    limits and the drawdown / ruin stop as for the agents)."""
    rules = params.env.rules
    return params.replace(env=params.env.replace(rules=rules.replace(
        stop_loss=jnp.zeros_like(rules.stop_loss), take_profit=jnp.zeros_like(rules.take_profit),
        max_hold=jnp.zeros_like(rules.max_hold))))


def run_equal_weight(env: PortfolioEnv, params: PortfolioParams, total_limit: float, key: jax.Array,
                     tolerance: float = REBALANCE_TOLERANCE) -> dict[str, BookResults]:
    """Equal weight held and rebalanced (`equal_weight_policy`) as one compiled program, equal risk
    (`equal_risk_policy`) and time-series momentum (`ts_momentum_book_policy`) as one each."""
    steps = split_steps(params)
    run = jax.jit(jax.vmap(lambda rebalance, params, key: walk_forward_book(
        env, params, equal_weight_policy(total_limit, rebalance, tolerance), None, key, steps),
        in_axes=(0, None, None)))
    out = run(jnp.asarray([False, True]), params, key)
    results = {name: jax.tree.map(lambda x, i=i: x[i], out)
               for i, name in enumerate((EQUAL_WEIGHT_HELD, "equal weight, rebal."))}
    return {**results, **run_book(env, params, {EQUAL_RISK: (equal_risk_policy(total_limit), None),
                                                 TS_MOMENTUM: (ts_momentum_book_policy(total_limit), None)}, key)}


class BookResults(NamedTuple):
    """One walk through a split on the shared book (H = the split's steps)."""

    start_bar: jax.Array  # () the first decision bar
    steps: jax.Array  # () steps taken before the episode ended
    equity: jax.Array  # (H + 1,) equity / initial cash, from 1 (flat after the end)
    step_returns: jax.Array  # (H,) the account's returns (0 after the end)
    gross_exposure: jax.Array  # (H,) sum |position value| / equity after each step
    weights: jax.Array  # (H, S) signed position value / equity per symbol after each step
    trades: jax.Array  # () closed trades over all symbols
    wins: jax.Array  # () winning closed trades
    gross_profit: jax.Array  # () PnL summed over winning closed trades
    gross_loss: jax.Array  # () -PnL summed over losing closed trades
    cost: jax.Array  # () commission + slippage + borrow paid
    stop_reason: jax.Array  # () int32 `StopReason` of the latest stop (it liquidated the account; 0 none)
    stop_bar: jax.Array  # () int32 the bar at whose close it fired (-1 none)
    stops: jax.Array  # () int32 stops fired (more than 1 only under `stop_cooldown`)


def split_steps(params: PortfolioParams) -> int:
    """The steps from the split's first start bar to its end: the length `walk_forward_book` is compiled for."""
    return int(params.end) - int(params.start_bars[0]) - 1


def walk_forward_book(env: PortfolioEnv, params: PortfolioParams, policy: PortfolioPolicy, policy_params: Any,
                      key: jax.Array, steps: int) -> BookResults:
    """One backtest episode from the split's first start bar for up to `steps` steps (jit-able; `steps` static),
    with no horizon: it runs to the split's end; a drawdown / ruin stop liquidates and the account stays in cash
    (`EnvParams.evaluation`)."""
    params = params.replace(env=params.env.evaluation().replace(rules=params.env.rules.replace(
        horizon=jnp.asarray(steps, params.env.rules.horizon.dtype))))
    obs, state = env.reset_at(params.start_bars[0], params)
    first = state.bar

    def body(carry, k):
        obs, state, done = carry
        k_act, k_step = jax.random.split(k)
        action = policy(policy_params, k_act, obs, state, params)
        nobs, nstate, _, terminated, truncated, info = env.step_env(k_step, state, action, params)
        keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(done, b, a), new, old)  # noqa: E731
        obs, state = keep(nobs, obs), keep(nstate, state)
        value = state.sleeves.units * params.env.market.close[:, state.bar]
        out = (jnp.where(done, 0.0, info.step_return), jnp.where(done, 0.0, info.gross_exposure),
               value / state.equity, ~done)
        return (obs, state, done | terminated | truncated), out

    (_, state, _), (rets, gross, weights, live) = jax.lax.scan(body, (obs, state, jnp.zeros((), bool)),
                                                               jax.random.split(key, steps))
    sleeves = state.sleeves
    return BookResults(start_bar=first, steps=live.sum(), equity=jnp.concatenate([jnp.ones(1), jnp.cumprod(1 + rets)]),
                       step_returns=rets, gross_exposure=gross, weights=weights, trades=sleeves.trades.sum(),
                       wins=sleeves.wins.sum(), gross_profit=sleeves.gross_profit.sum(),
                       gross_loss=sleeves.gross_loss.sum(), cost=state.total_cost, stop_reason=state.stop_reason,
                       stop_bar=state.stop_bar, stops=state.stops)


def run_book(env: PortfolioEnv, params: PortfolioParams, policies: dict[str, tuple[PortfolioPolicy, Any]],
             key: jax.Array) -> dict[str, BookResults]:
    """`walk_forward_book` of every (policy, its params) from the same start with the same key (one compilation
    each)."""
    steps = split_steps(params)
    return {name: jax.jit(walk_forward_book, static_argnums=(0, 2, 5))(env, params, policy, policy_params, key, steps)
            for name, (policy, policy_params) in policies.items()}


def split_capital(books: BookResults) -> BookResults:
    """One account whose capital is split evenly among K sub-accounts, each run alone (`books`: their results
    stacked on a leading axis K, e.g. each seed's agents; any axes after it, e.g. folds, are kept): its equity the
    mean of theirs, its weights theirs weighted by equity, its closed trades summed, its costs and
    profits as shares of the whole account (the mean). Each sub-account's stop closes only that share, so the
    account loses at most the drawdown limit from its peak (if each share stays above (1 - limit) x its own peak,
    their sum stays above (1 - limit) x the sum's); the stop fields give the latest sub-account stop and the count.
    Exact for this env, whose costs, fills and minimum order scale with equity."""
    equity = books.equity.mean(0)  # (..., H + 1)
    share = books.equity / jnp.maximum(equity[None], 1e-12)  # (K, ..., H + 1) each sub-account's share of equity
    weights = (share[..., 1:, None] * books.weights).mean(0)  # a symbol's value over all sub-accounts / their equity
    latest = jnp.argmax(books.stop_bar, axis=0)
    pick = lambda x: jnp.take_along_axis(x, latest[None], axis=0)[0]  # noqa: E731
    return BookResults(
        start_bar=books.start_bar[0], steps=books.steps.max(0), equity=equity,
        step_returns=(share[..., :-1] * books.step_returns).mean(0),  # = equity[t + 1] / equity[t] - 1
        gross_exposure=jnp.abs(weights).sum(-1), weights=weights,  # longs and shorts of the same symbol net
        trades=books.trades.sum(0), wins=books.wins.sum(0), gross_profit=books.gross_profit.mean(0),
        gross_loss=books.gross_loss.mean(0), cost=books.cost.mean(0), stop_reason=pick(books.stop_reason),
        stop_bar=books.stop_bar.max(0), stops=books.stops.sum(0))


def book_row(name: str, r: BookResults, bars_per_year: float, dates=None) -> dict:
    """Return-series metrics of a shared-book run (`metrics.summarize`) over its whole period, its mean gross
    exposure and trades, and the terminal rule that liquidated it (`stop`, `stop_bar`, `stop_date`; dates from
    `dates`, (T,) timestamps, else 'bar N')."""
    steps = int(r.steps)
    mask = jnp.arange(r.step_returns.shape[0]) < steps
    stats = summarize(r.step_returns, bars_per_year, mask)
    return {"policy": name, "steps": steps, **{k: float(v) for k, v in stats.items()},
            "exposure": float(jnp.where(mask, r.gross_exposure, 0.0).sum() / max(steps, 1)),
            **trade_ratios(int(r.trades), float(r.wins), float(r.gross_profit), float(r.gross_loss)),
            "cost": float(r.cost),
            "stop": stop_name(r.stop_reason), "stop_bar": int(r.stop_bar), "stop_date": date_of(dates, int(r.stop_bar)),
            "stops": int(r.stops)}


def format_portfolio(rows: list[dict]) -> str:
    """A text table of `book_row`s: return-series metrics over the whole period (in %, Sharpe/Sortino/Calmar
    annualised; n/a under `MIN_RATIO_BARS` bars), mean gross exposure, closed trades, their win rate and profit
    factor (n/a under `MIN_RATIO_TRADES`), and the terminal rule that liquidated the account, with its date."""
    lines = [f"  {'policy':<24} {'return':>8} {'annual':>8} {'vol':>7} {'Sharpe':>7} {'Sortino':>8} {'max DD':>7} "
             f"{'Calmar':>7} {'exposure':>8} {'trades':>6} {'win rate':>8} {'PF':>6} {'stopped':<20}"]
    for r in rows:
        long_enough, traded = r["steps"] >= MIN_RATIO_BARS, r["trades"] >= MIN_RATIO_TRADES
        lines.append(f"  {r['policy']:<24} {r['total_return']:>+8.2%} {r['annualised_return']:>+8.2%} "
                     f"{r['volatility']:>7.2%} {ratio_text(r['sharpe'], long_enough, 7, '.2f')} "
                     f"{ratio_text(r['sortino'], long_enough, 8, '.2f')} {r['max_drawdown']:>7.2%} "
                     f"{ratio_text(r['calmar'], long_enough, 7, '.2f')} {r['exposure']:>8.1%} {r['trades']:>6} "
                     f"{ratio_text(r['win_rate'], traded, 8, '.1%')} "
                     f"{ratio_text(r['profit_factor'], traded, 6, '.2f')} "
                     f"{stop_text(r):<20}")
    return "\n".join(lines)


__all__ = [
    "AGENT_VARIANTS", "EQUAL_RISK", "EQUAL_WEIGHT_HELD", "TS_MOMENTUM", "ts_momentum_book_policy",
    "REBALANCE_TOLERANCE", "BookResults", "PortfolioPolicy", "agents_policy", "book_row", "equal_risk_policy",
    "capped_name", "caps_target", "capped_policy", "risk_caps",
    "equal_weight_policy", "holding_rules", "format_portfolio", "master_policy", "run_book", "run_equal_weight",
    "run_variants", "split_capital", "split_steps", "variants_policy", "walk_forward_book"
]
