"""Portfolio backtests: symbol agents in lockstep (one account per symbol) under a master agent.

The portfolio is one `walk_forward` episode per symbol, all starting on the same
bar with the same cash; its equity is the sum of the accounts. Each bar the
symbol agents propose actions, the master (`jaxtrade.agents.master`) sets the
exposure budgets and gates the actions, and every account steps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxtrade.agents.learned_master import network_proposals
from jaxtrade.agents.master import AllocationInput, MasterAgent
from jaxtrade.env.env import TradingEnv
from jaxtrade.env.types import EnvParams, EnvState, Observation
from jaxtrade.evaluate.metrics import profit_factor_of_totals, summarize
from jaxtrade.evaluate.rollout import ActFn, EpisodeResults, walk_forward, walk_forward_policies

# (key, obs, state, params) -> (probs (S, 7), values (S,), proposed actions (S,))
ProposeFn = Callable[[jax.Array, Observation, EnvState, EnvParams], tuple[jax.Array, jax.Array, jax.Array]]


def agent_proposals(network, net_params, deterministic: bool = True) -> ProposeFn:
    """Symbol agents sharing one actor-critic: its probabilities, values and greedy (`greedy_action`) or
    sampled actions."""

    propose = network_proposals(network, net_params, deterministic)
    return lambda key, obs, state, params: propose(key, obs)


def allocation_input(obs: Observation, state: EnvState, params: EnvParams, probs: jax.Array, values: jax.Array,
                     proposed: jax.Array) -> AllocationInput:
    """The master's view of S lockstep accounts (one per symbol)."""
    total = state.equity.sum()
    close = params.market.close[state.symbol, state.bar]
    return AllocationInput(probs=probs, values=values, proposed=proposed, action_mask=obs.action_mask,
                           exposure=state.units * close / total, equity_share=state.equity / total)


def master_policy(propose: ProposeFn, master: MasterAgent, master_params: Any) -> ActFn:
    """An `ActFn` over the S symbols of a portfolio: the symbol agents propose, the master gates."""

    def act(key, obs, state, params):
        probs, values, proposed = propose(key, obs, state, params)
        return master.apply(master_params, allocation_input(obs, state, params, probs, values, proposed)).action

    return act


class PortfolioResults(NamedTuple):
    accounts: EpisodeResults  # one episode per symbol
    equity: jax.Array  # (H+1,) portfolio equity / initial, from 1
    step_returns: jax.Array  # (H,) portfolio returns (0 after every account ended)
    exposure: jax.Array  # (H,) total position value / portfolio equity after each step


def run_portfolio(env: TradingEnv, params: EnvParams, act: ActFn, key: jax.Array) -> PortfolioResults:
    """Walk the split with every symbol in lockstep under `act` (e.g. `master_policy(...)`)."""
    return _portfolio_of(walk_forward(env, params, act, key, common_start=True))


def run_portfolios(env: TradingEnv, params: EnvParams, acts: dict[str, ActFn], key: jax.Array,
                   hold: str | None = None) -> dict[str, PortfolioResults]:
    """`run_portfolio` for several policies from the same start, as one rollout.

    `hold`: also run literal equal-weight buy-and-hold (each account buys `max_position` at the
    first fill and holds, `rollout.hold_episodes`) under this name.
    """
    r = walk_forward_policies(env, params, list(acts.values()), key, common_start=True, hold=hold is not None)
    names = [*acts, hold] if hold is not None else list(acts)
    return {name: _portfolio_of(jax.tree.map(lambda x, i=i: x[i], r)) for i, name in enumerate(names)}


def _portfolio_of(r: EpisodeResults) -> PortfolioResults:
    growth = jnp.concatenate([jnp.ones((r.step_returns.shape[0], 1)), jnp.cumprod(1.0 + r.step_returns, 1)], 1)
    equity = growth.mean(0)  # equal starting cash per account
    step_returns = equity[1:] / equity[:-1] - 1.0
    exposure = (r.exposure * growth[:, 1:]).sum(0) / growth[:, 1:].sum(0)
    return PortfolioResults(r, equity, step_returns, exposure)


def portfolio_row(name: str, p: PortfolioResults, bars_per_year: float) -> dict:
    """Return-series metrics of a portfolio run (`metrics.summarize`) plus its mean exposure and steps."""
    steps = int(jnp.max(p.accounts.steps))
    mask = jnp.arange(p.step_returns.shape[0]) < steps
    stats = summarize(p.step_returns, bars_per_year, mask)
    a = p.accounts
    trades = int(jnp.sum(a.trades))
    return {"policy": name, "steps": steps, **{k: float(v) for k, v in stats.items()},
            "exposure": float(jnp.where(mask, p.exposure, 0.0).sum() / max(steps, 1)),
            "trades": trades, "win_rate": float(jnp.sum(a.wins)) / trades if trades else 0.0,
            "profit_factor": float(profit_factor_of_totals(jnp.sum(a.gross_profit), jnp.sum(a.gross_loss)))}


def format_portfolio(rows: list[dict]) -> str:
    lines = [f"  {'policy':<22} {'return':>8} {'annual':>8} {'vol':>7} {'Sharpe':>7} {'Sortino':>8} {'max DD':>7} "
             f"{'Calmar':>7} {'exposure':>8} {'trades':>6} {'win rate':>8} {'PF':>6}"]
    for r in rows:
        lines.append(f"  {r['policy']:<22} {r['total_return']:>+8.2%} {r['annualised_return']:>+8.2%} "
                     f"{r['volatility']:>7.2%} {r['sharpe']:>7.2f} {r['sortino']:>8.2f} {r['max_drawdown']:>7.2%} "
                     f"{r['calmar']:>7.2f} {r['exposure']:>8.1%} {r['trades']:>6} {r['win_rate']:>8.1%} "
                     f"{r['profit_factor']:>6.2f}")
    return "\n".join(lines)
