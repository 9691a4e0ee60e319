"""Backtests: the same episodes (same starts) for every policy, summarised per policy, printable and savable."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import jax
import numpy as np

from jaxtrade.env.env import TradingEnv
from jaxtrade.env.types import EnvParams
from jaxtrade.evaluate import metrics
from jaxtrade.evaluate.rollout import ActFn, run_episodes

# The seed project's targets, checked on the agent's row (never used for tuning).
TARGETS = (
    ("return >= +12 %", lambda r: r["mean_return"] >= 0.12),
    ("Sharpe >= 0.5", lambda r: r["sharpe"] >= 0.5),
    ("max drawdown <= 25 %", lambda r: r["max_drawdown"] >= -0.25),
    ("win rate >= 52 %", lambda r: r["win_rate"] >= 0.52),
    ("profit factor >= 1.3", lambda r: r["profit_factor"] >= 1.3),
)


def backtest(env: TradingEnv, params: EnvParams, policies: dict[str, ActFn], key: jax.Array, episodes: int,
             horizon: int) -> list[dict]:
    """One row per policy: episode returns, risk metrics (per-episode means) and pooled trade statistics."""
    bars_per_year = float(params.bars_per_year)
    rows = []
    for name, act in policies.items():
        r = jax.jit(lambda k, act=act: run_episodes(env, params, act, k, episodes, horizon))(key)
        mask = r.step_mask()
        ret = np.asarray(r.total_return, np.float64)
        trades = int(np.sum(r.trades))
        gross_loss = float(np.sum(r.gross_loss))
        rows.append({
            "policy": name,
            "episodes": episodes,
            "mean_return": float(ret.mean()),
            "std_return": float(ret.std()),
            "winning_episodes": float(np.mean(ret > 0)),
            "sharpe": float(np.mean(metrics.sharpe(r.step_returns, bars_per_year, mask))),
            "sortino": float(np.mean(metrics.sortino(r.step_returns, bars_per_year, mask))),
            "max_drawdown": float(np.mean(metrics.max_drawdown(r.step_returns, mask))),
            "trades_per_episode": trades / episodes,
            "win_rate": float(np.sum(r.wins)) / trades if trades else 0.0,
            "profit_factor": float(np.sum(r.gross_profit)) / gross_loss if gross_loss > 0 else 0.0,
            "mean_cost": float(np.mean(r.total_cost)),
            "terminated": float(np.mean(r.terminated)),
            "bars_per_year": bars_per_year,
        })
    return rows


def format_table(rows: list[dict]) -> str:
    """A fixed-width text table of backtest rows."""
    lines = [f"  {'policy':<14} {'return':>8} {'std':>7} {'Sharpe':>7} {'Sortino':>8} {'max DD':>7} "
             f"{'win eps':>7} {'trades':>7} {'win rate':>8} {'PF':>6} {'costs':>8}"]
    for r in rows:
        lines.append(
            f"  {r['policy']:<14} {r['mean_return']:>+8.2%} {r['std_return']:>7.2%} {r['sharpe']:>7.2f} "
            f"{r['sortino']:>8.2f} {r['max_drawdown']:>7.2%} {r['winning_episodes']:>7.1%} "
            f"{r['trades_per_episode']:>7.2f} {r['win_rate']:>8.1%} {r['profit_factor']:>6.2f} {r['mean_cost']:>8.2f}")
    return "\n".join(lines)


def target_report(row: dict) -> str:
    """The seed targets for one row, each 'met' or 'not met'."""
    return ", ".join(f"{name} {'met' if ok(row) else 'not met'}" for name, ok in TARGETS)


def write_report(rows: list[dict], path: str | Path, meta: dict | None = None) -> Path:
    """Save rows as JSON (with `meta`) or CSV, by the file suffix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    else:
        path.write_text(json.dumps({"meta": meta or {}, "rows": rows}, indent=2) + "\n")
    return path
