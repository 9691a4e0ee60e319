"""Backtests: the same episodes (same starts) for every policy, summarised per policy, printable and savable."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxtrade.env.env import TradingEnv
from jaxtrade.env.types import EnvParams
from jaxtrade.evaluate import metrics
from jaxtrade.evaluate.rollout import ActFn, EpisodeResults, run_policies, walk_forward_policies

# The seed project's targets, checked on the agent's row (never used for tuning).
TARGETS = (
    ("return >= +12 %", lambda r: r["mean_return"] >= 0.12),
    ("Sharpe >= 0.5", lambda r: r["sharpe"] >= 0.5),
    ("max drawdown <= 25 %", lambda r: r["max_drawdown"] >= -0.25),
    ("win rate >= 52 %", lambda r: r["win_rate"] >= 0.52),
    ("profit factor >= 1.3", lambda r: r["profit_factor"] >= 1.3),
)


def summarize_episodes(r: EpisodeResults, bars_per_year: jax.Array | float,
                       weight: jax.Array | None = None) -> dict[str, jax.Array]:
    """Scalar statistics of a batch of episodes (pure jnp: jit/vmap-able).

    Returns (per-episode means unless said): mean/std of the total return, share of
    winning episodes, Sharpe, Sortino, max drawdown and Calmar of each episode's
    step returns; pooled over all closed trades: trades per episode, average trade
    duration (bars), win rate, profit factor (gross profit / gross loss; inf with
    profit and no loss, 0 without closed trades); turnover (traded value / equity, per episode), exposure (mean position
    value / equity over the steps taken), costs, share terminated.

    Args:
      r: `EpisodeResults` of E episodes.
      bars_per_year: annualisation of Sharpe/Sortino/Calmar.
      weight: (E,) bool/0-1 selection of episodes (e.g. one symbol's); None = all.
    """
    w = jnp.ones_like(r.total_return) if weight is None else jnp.asarray(weight, jnp.float32)
    n = jnp.maximum(w.sum(), 1.0)
    mean = lambda x: (w * x).sum() / n  # noqa: E731
    mask = r.step_mask()
    ret = r.total_return
    trades = (w * r.trades).sum()
    gross_loss = (w * r.gross_loss).sum()
    steps = (w * r.steps).sum()
    return {
        "episodes": w.sum(),
        "mean_return": mean(ret),
        "std_return": jnp.sqrt(mean((ret - mean(ret)) ** 2)),
        "winning_episodes": mean(ret > 0),
        "sharpe": mean(metrics.sharpe(r.step_returns, bars_per_year, mask)),
        "sortino": mean(metrics.sortino(r.step_returns, bars_per_year, mask)),
        "max_drawdown": mean(metrics.max_drawdown(r.step_returns, mask)),
        "calmar": mean(metrics.calmar(r.step_returns, bars_per_year, mask)),
        "trades_per_episode": trades / n,
        "avg_trade_bars": jnp.where(trades > 0, (w * r.trade_bars).sum() / jnp.maximum(trades, 1), 0.0),
        "win_rate": jnp.where(trades > 0, (w * r.wins).sum() / jnp.maximum(trades, 1), 0.0),
        "profit_factor": metrics.profit_factor_of_totals((w * r.gross_profit).sum(), gross_loss),
        "turnover": mean(r.turnover),
        "exposure": (w[:, None] * r.exposure).sum() / jnp.maximum(steps, 1),
        "mean_cost": mean(r.total_cost),
        "terminated": mean(r.terminated),
        "steps": steps / n,
    }


def _row(name: str, stats: dict, **extra) -> dict:
    return {"policy": name, **extra, **{k: float(v) for k, v in stats.items()}}


def backtest(env: TradingEnv, params: EnvParams, policies: dict[str, ActFn], key: jax.Array, episodes: int,
             horizon: int) -> list[dict]:
    """One row per policy over `episodes` random episodes (the same starts for every policy).

    All policies run as one compiled rollout (`run_policies`).
    """
    bars_per_year = float(params.bars_per_year)

    @jax.jit
    def run(params, key):
        r = run_policies(env, params, list(policies.values()), key, episodes, horizon)
        return jax.vmap(summarize_episodes, in_axes=(0, None))(r, params.bars_per_year)

    stats = jax.tree.map(np.asarray, run(params, key))
    return [_row(name, {k: v[i] for k, v in stats.items()}, bars_per_year=bars_per_year)
            for i, name in enumerate(policies)]


def walk_forward_backtest(env: TradingEnv, params: EnvParams, policies: dict[str, ActFn], key: jax.Array,
                          symbols: list[str] | tuple[str, ...]) -> tuple[list[dict], dict[str, EpisodeResults]]:
    """Every policy through the whole split, one episode per symbol (all policies and symbols in one rollout).

    Returns:
      rows (one per policy and symbol, `symbol` and the first/last bar included) and
      each policy's `EpisodeResults` (E = symbols with a start, for plots).
    """
    r = walk_forward_policies(env, params, list(policies.values()), key)
    per_symbol = jax.vmap(summarize_episodes, in_axes=(None, None, 0))  # one weight row per symbol
    stats = jax.jit(jax.vmap(per_symbol, in_axes=(0, None, None)))(
        r, params.bars_per_year, jnp.eye(r.symbol.shape[1]))  # (P, S) per statistic
    stats = {k: np.asarray(v) for k, v in stats.items() if k not in ("episodes", "std_return", "winning_episodes")}
    rows, results = [], {}
    for j, name in enumerate(policies):
        results[name] = jax.tree.map(lambda x, j=j: x[j], r)
        for i, s in enumerate(np.asarray(r.symbol[j])):
            first = int(r.start_bar[j, i])
            rows.append(_row(name, {k: v[j, i] for k, v in stats.items()}, symbol=symbols[s], first_bar=first,
                             last_bar=first + int(r.steps[j, i])))
    return rows, results


def format_table(rows: list[dict]) -> str:
    """A fixed-width text table of backtest rows (episode rows, or walk-forward rows with a symbol)."""
    per_symbol = "symbol" in rows[0]
    head = f"  {'symbol':<8} " if per_symbol else "  "
    lines = [head + f"{'policy':<14} {'return':>8} " + ("" if per_symbol else f"{'std':>7} ")
             + f"{'Sharpe':>7} {'Sortino':>8} {'max DD':>7} "
             + ("" if per_symbol else f"{'win eps':>7} ")
             + f"{'trades':>7} {'bars/tr':>7} {'win rate':>8} {'PF':>6} {'turnover':>8} {'exposure':>8} {'costs':>9}"]
    for r in rows:
        lines.append(
            (f"  {r['symbol']:<8} " if per_symbol else "  ") + f"{r['policy']:<14} {r['mean_return']:>+8.2%} "
            + ("" if per_symbol else f"{r['std_return']:>7.2%} ")
            + f"{r['sharpe']:>7.2f} {r['sortino']:>8.2f} {r['max_drawdown']:>7.2%} "
            + ("" if per_symbol else f"{r['winning_episodes']:>7.1%} ")
            + f"{r['trades_per_episode']:>7.2f} {r['avg_trade_bars']:>7.1f} {r['win_rate']:>8.1%} "
            f"{r['profit_factor']:>6.2f} {r['turnover']:>8.2f} {r['exposure']:>8.1%} {r['mean_cost']:>9.2f}")
    return "\n".join(lines)


def target_report(row: dict) -> str:
    """The seed targets for one row, each 'met' or 'not met'."""
    return ", ".join(f"{name} {'met' if ok(row) else 'not met'}" for name, ok in TARGETS)


def write_report(rows: list[dict], path: str | Path, meta: dict | None = None,
                 per_symbol: list[dict] | None = None) -> Path:
    """Save rows as JSON (with `meta` and the `per_symbol` walk-forward rows) or CSV, by the file suffix.

    As CSV the per-symbol rows go to a second file beside it, `<stem>_per_symbol.csv`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        _write_csv(rows, path)
        if per_symbol:
            _write_csv(per_symbol, path.with_name(f"{path.stem}_per_symbol.csv"))
    else:
        body = {"meta": meta or {}, "rows": rows}
        if per_symbol is not None:
            body["per_symbol"] = per_symbol
        path.write_text(json.dumps(body, indent=2) + "\n")
    return path


def _write_csv(rows: list[dict], path: Path) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
