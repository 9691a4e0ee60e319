"""Backtests: the same episodes (same starts) for every policy, summarised per policy, printable and savable."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxtrade.env.actions import StopReason
from jaxtrade.env.env import TradingEnv
from jaxtrade.env.types import EnvParams
from jaxtrade.evaluate import metrics
from jaxtrade.evaluate.rollout import ActFn, EpisodeResults, run_policies, walk_forward_policies
from jaxtrade.numeric import safe_div

# The seed project's targets (never used for tuning): (label, row key(s), threshold). Checked on the portfolio's
# equity curve (`shared_book.book_row`) or, for episode tables, on the agent's row.
TARGETS = (
    ("return >= +12 %", ("total_return", "mean_return"), 0.12),
    ("annualised >= 15 %", ("annualised_return",), 0.15),
    ("Sharpe >= 0.5", ("sharpe",), 0.5),
    ("max drawdown <= 25 %", ("max_drawdown",), -0.25),
    ("win rate >= 52 %", ("win_rate",), 0.52),
    ("profit factor >= 1.3", ("profit_factor",), 1.3),
)
PHASE3_SHARPE = 0.3  # the seed's phase-3 criterion: validation Sharpe > 0.3 on at least half of the symbol agents
# Ratios of a record too short to mean anything print n/a and enter no median, best/worst list or phase-3 count:
MIN_RATIO_BARS = 20  # Sharpe and Sortino need at least this many bars (about a month of daily bars)
MIN_RATIO_TRADES = 5  # trade win rate and profit factor need at least this many closed trades


def bars_of(row: dict) -> float:
    """Bars a row's ratios were measured over (all its episodes)."""
    return row["steps"] * row.get("episodes", 1)


def sharpe_ok(row: dict) -> bool:
    """The row's Sharpe and Sortino rest on at least `MIN_RATIO_BARS` bars."""
    return bars_of(row) >= MIN_RATIO_BARS


def trades_ok(row: dict) -> bool:
    """The row's trade win rate and profit factor rest on at least `MIN_RATIO_TRADES` closed trades."""
    return row["trades_per_episode"] * row.get("episodes", 1) >= MIN_RATIO_TRADES - 1e-9


def stop_name(reason: int) -> str:
    """'drawdown', 'ruin' or 'bankrupt' for a `StopReason`; '' for none."""
    return StopReason(int(reason)).name.lower() if int(reason) else ""


def stop_note(name: str, date: str, count: int = 1) -> str:
    """'drawdown 2008-10-09' for a stop (`stop_name`), or 'drawdown 2009-03-02 (3 stops)': the latest of
    several (`stop_cooldown`)."""
    return f"{name} {date}" + (f" ({count} stops)" if count > 1 else "")


def date_of(dates, bar: int) -> str:
    """The day of `bar` (YYYY-MM-DD) when `dates` are given, else 'bar N'; '' for a bar < 0."""
    if bar < 0:
        return ""
    return str(dates[bar])[:10] if dates is not None else f"bar {bar}"


def stop_text(row: dict) -> str:
    """What ended or stopped a walk-forward or portfolio row early: 'drawdown 2020-03-16', 'data end 2012-11-30'
    (both, joined), or '-'; with more than one stop (`stop_cooldown`), the latest and the count: 'drawdown
    2009-03-02 (3 stops)'."""
    parts = [stop_note(row["stop"], row["stop_date"], int(row.get("stops", 1)))] if row.get("stop") else []
    if row.get("data_end"):
        parts.append(f"data end {row['data_end']}")
    return "; ".join(parts) or "-"


def trade_ratios(trades: float, wins: float, gross_profit: float, gross_loss: float) -> dict:
    """Closed trades, their win rate and profit factor (NaN, printed n/a, under `MIN_RATIO_TRADES` trades)."""
    if trades < MIN_RATIO_TRADES:
        return {"trades": int(trades), "win_rate": float("nan"), "profit_factor": float("nan")}
    return {"trades": int(trades), "win_rate": wins / trades,
            "profit_factor": float(metrics.profit_factor_of_totals(gross_profit, gross_loss))}


def ratio_text(value: float, ok: bool, width: int, spec: str) -> str:
    """`value` formatted to `width` when `ok`, else 'n/a' (a ratio on too short a record)."""
    return f"{value:>{width}{spec}}" if ok else f"{'n/a':>{width}}"


def summarize_episodes(r: EpisodeResults, bars_per_year: jax.Array | float,
                       weight: jax.Array | None = None) -> dict[str, jax.Array]:
    """Scalar statistics of a batch of episodes (pure jnp: jit/vmap-able).

    Returns (per-episode means unless said): mean/std of the total return, share of
    winning episodes; Sharpe and Sortino of the step returns pooled over all the
    episodes' steps (not a mean of per-episode ratios, which can disagree in sign
    with the mean return), mean max drawdown, Calmar as the pooled annualised mean
    return over the mean max drawdown; pooled over all closed trades: trades per episode, average trade
    duration (bars), win rate, profit factor (gross profit / gross loss; inf with
    profit and no loss, 0 without closed trades); turnover (traded value / equity, per episode), exposure (mean position
    value / equity over the steps taken), costs, share stopped by a terminal rule (liquidated, then in cash).

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
    pooled = (mask & (w[:, None] > 0)).reshape(-1)
    flat = r.step_returns.reshape(-1)
    max_dd = mean(metrics.max_drawdown(r.step_returns, mask))
    annual_mean = jnp.sum(jnp.where(pooled, flat, 0.0)) / jnp.maximum(pooled.sum(), 1) * bars_per_year
    return {
        "episodes": w.sum(),
        "mean_return": mean(ret),
        "std_return": jnp.sqrt(mean((ret - mean(ret)) ** 2)),
        "winning_episodes": mean(ret > 0),
        "sharpe": metrics.sharpe(flat, bars_per_year, pooled),
        "sortino": metrics.sortino(flat, bars_per_year, pooled),
        "max_drawdown": max_dd,
        "calmar": safe_div(annual_mean, -max_dd),
        "trades_per_episode": trades / n,
        "avg_trade_bars": jnp.where(trades > 0, (w * r.trade_bars).sum() / jnp.maximum(trades, 1), 0.0),
        "win_rate": jnp.where(trades > 0, (w * r.wins).sum() / jnp.maximum(trades, 1), 0.0),
        "profit_factor": metrics.profit_factor_of_totals((w * r.gross_profit).sum(), gross_loss),
        "turnover": mean(r.turnover),
        "exposure": (w[:, None] * r.exposure).sum() / jnp.maximum(steps, 1),
        "mean_cost": mean(r.total_cost),
        "stopped": mean(r.stop_reason != StopReason.NONE),
        "steps": steps / n,
    }


def _row(name: str, stats: dict, **extra) -> dict:
    return {"policy": name, **extra, **{k: float(v) for k, v in stats.items()}}


HOLD = "buy_and_hold"  # the literal buy-and-hold row every backtest adds (`rollout.hold_episodes`)


def backtest(env: TradingEnv, params: EnvParams, policies: dict[str, ActFn], key: jax.Array, episodes: int,
             horizon: int) -> list[dict]:
    """One row per policy over `episodes` random episodes (the same starts for every policy), then a
    `buy_and_hold` row: buy `max_position` at the first fill and hold, no exits.

    All policies run as one compiled rollout (`run_policies`).
    """
    bars_per_year = float(params.rules.bars_per_year)

    @jax.jit
    def run(params, key):
        r = run_policies(env, params, list(policies.values()), key, episodes, horizon, hold=True)
        return jax.vmap(summarize_episodes, in_axes=(0, None))(r, params.rules.bars_per_year)

    stats = jax.tree.map(np.asarray, run(params, key))
    return [_row(name, {k: v[i] for k, v in stats.items()}, bars_per_year=bars_per_year)
            for i, name in enumerate([*policies, HOLD])]


def walk_forward_backtest(env: TradingEnv, params: EnvParams, policies: dict[str, ActFn], key: jax.Array,
                          symbols: list[str] | tuple[str, ...], dates=None, end_bar: int | None = None
                          ) -> tuple[list[dict], dict[str, EpisodeResults]]:
    """Every policy through the whole split, one episode per symbol (all policies and symbols in one rollout),
    and literal buy-and-hold (`buy_and_hold`).

    Each record runs to the split's end: a terminal rule liquidates and the book stays in cash (`stop`,
    `stop_bar`, `stop_date` say which and when); only a symbol whose data ends inside the split ends earlier,
    marked at its last close (`data_end`: that bar's date).

    Args:
      dates: (T,) timestamps of the bars, for the dates in the rows (None: 'bar N').
      end_bar: the split's end bar (exclusive); None: the latest bar any record reached + 1.

    Returns:
      rows (one per policy and symbol, `symbol` and the first/last bar included) and
      each policy's `EpisodeResults` (E = symbols with a start, for plots).
    """
    r = walk_forward_policies(env, params, list(policies.values()), key, hold=True)
    per_symbol = jax.vmap(summarize_episodes, in_axes=(None, None, 0))  # one weight row per symbol
    stats = jax.jit(jax.vmap(per_symbol, in_axes=(0, None, None)))(
        r, params.rules.bars_per_year, jnp.eye(r.symbol.shape[1]))  # (P, S) per statistic
    stats = {k: np.asarray(v) for k, v in stats.items() if k not in ("episodes", "std_return", "winning_episodes")}
    last = np.asarray(r.start_bar) + np.asarray(r.steps)
    end_bar = int(last.max()) + 1 if end_bar is None else int(end_bar)
    rows, results = [], {}
    for j, name in enumerate([*policies, HOLD]):
        results[name] = jax.tree.map(lambda x, j=j: x[j], r)
        for i, s in enumerate(np.asarray(r.symbol[j])):
            first, stop_bar = int(r.start_bar[j, i]), int(r.stop_bar[j, i])
            rows.append(_row(name, {k: v[j, i] for k, v in stats.items()}, symbol=symbols[s], first_bar=first,
                             last_bar=int(last[j, i]), stop=stop_name(r.stop_reason[j, i]), stop_bar=stop_bar,
                             stops=int(r.stops[j, i]),
                             stop_date=date_of(dates, stop_bar),
                             data_end=date_of(dates, int(last[j, i])) if last[j, i] < end_bar - 1 else ""))
    return rows, results


def format_table(rows: list[dict]) -> str:
    """A fixed-width text table of backtest rows (episode rows, or walk-forward rows with a symbol).

    Units: return, std, max DD, win rates and exposure in %; Sharpe/Sortino annualised; `bars` the mean bars an
    episode ran; `bars/tr` bars per closed trade; turnover a multiple of equity (traded value / equity, summed
    over the episode); costs (commission + slippage) per episode in the account's currency (`table_legend`);
    stopped: the share of episodes a terminal rule liquidated, or per symbol which rule and when (`stop_text`).
    """
    per_symbol = "symbol" in rows[0]
    head = f"  {'symbol':<8} " if per_symbol else "  "
    lines = [head + f"{'policy':<18} {'return':>8} " + ("" if per_symbol else f"{'std':>7} ")
             + f"{'Sharpe':>7} {'Sortino':>8} {'max DD':>7} "
             + ("" if per_symbol else f"{'win eps':>7} ")
             + f"{'bars':>6} {'trades':>7} {'bars/tr':>7} {'win rate':>8} {'PF':>6} {'turnover':>8} {'exposure':>8} "
               f"{'costs':>9} " + (f"{'stopped':<22}" if per_symbol else f"{'stopped':>7}")]
    for r in rows:
        long_enough, traded = sharpe_ok(r), trades_ok(r)
        lines.append(
            (f"  {r['symbol']:<8} " if per_symbol else "  ") + f"{r['policy']:<18} {r['mean_return']:>+8.2%} "
            + ("" if per_symbol else f"{r['std_return']:>7.2%} ")
            + f"{ratio_text(r['sharpe'], long_enough, 7, '.2f')} {ratio_text(r['sortino'], long_enough, 8, '.2f')} "
              f"{r['max_drawdown']:>7.2%} "
            + ("" if per_symbol else f"{r['winning_episodes']:>7.1%} ")
            + f"{r['steps']:>6.1f} {r['trades_per_episode']:>7.2f} {r['avg_trade_bars']:>7.1f} "
              f"{ratio_text(r['win_rate'], traded, 8, '.1%')} {ratio_text(r['profit_factor'], traded, 6, '.2f')} "
              f"{r['turnover']:>7.2f}x {r['exposure']:>8.1%} {r['mean_cost']:>9,.0f} "
            + (f"{stop_text(r):<22}" if per_symbol else f"{r['stopped']:>7.1%}"))
    return "\n".join(lines)


def format_symbol_summary(per_symbol_rows: list[dict]) -> str:
    """Walk-forward rows of many symbols summarised per policy: the distribution of their returns and Sharpe
    ratios over the symbols (quartiles), the share with Sharpe above the phase-3 bar, mean trades and exposure,
    the share of symbols a terminal rule stopped and the share whose data ended inside the split."""
    lines = [f"  {'policy':<18} {'symbols':>7} {'return: q25':>11} {'median':>8} {'q75':>8} {'mean':>8} "
             f"{'Sharpe: q25':>11} {'median':>7} {'q75':>7} {f'> {PHASE3_SHARPE:g}':>6} {'n/a':>4} {'trades':>7} "
             f"{'exposure':>8} {'stopped':>7} {'data end':>8}"]
    for policy in dict.fromkeys(r["policy"] for r in per_symbol_rows):
        rows = [r for r in per_symbol_rows if r["policy"] == policy]
        ret = np.percentile([r["mean_return"] for r in rows], [25, 50, 75])
        sharpe = np.array([r["sharpe"] for r in rows if sharpe_ok(r)])  # n/a ratios enter no statistic
        q = np.percentile(sharpe, [25, 50, 75]) if sharpe.size else np.full(3, np.nan)
        share = f"{(sharpe > PHASE3_SHARPE).mean():>6.0%}" if sharpe.size else f"{'n/a':>6}"
        lines.append(f"  {policy:<18} {len(rows):>7} {ret[0]:>+11.2%} {ret[1]:>+8.2%} {ret[2]:>+8.2%} "
                     f"{np.mean([r['mean_return'] for r in rows]):>+8.2%} {q[0]:>11.2f} {q[1]:>7.2f} {q[2]:>7.2f} "
                     f"{share} {len(rows) - sharpe.size:>4} "
                     f"{np.mean([r['trades_per_episode'] for r in rows]):>7.1f} "
                     f"{np.mean([r['exposure'] for r in rows]):>8.1%} "
                     f"{np.mean([bool(r.get('stop')) for r in rows]):>7.0%} "
                     f"{np.mean([bool(r.get('data_end')) for r in rows]):>8.0%}")
    return "\n".join(lines)


def table_legend(initial_cash: float) -> str:
    """What `format_table`'s columns measure, with the account size the costs are paid from."""
    return (f"  bars: mean bars an episode ran; trades per episode; bars/tr: mean bars a closed trade was held; "
            f"turnover: traded value as a multiple of equity per episode; exposure: mean position value / equity; "
            f"costs: commission + slippage per episode, in account currency (initial cash {initial_cash:,.0f})")


def target_checks(row: dict) -> list[dict]:
    """The seed targets for one row: [{target, key, value, threshold, met}] (targets whose statistic the row
    lacks are left out)."""
    out = []
    for label, keys, threshold in TARGETS:
        key = next((k for k in keys if k in row), None)
        if key is not None:
            out.append({"target": label, "key": key, "value": row[key], "threshold": threshold,
                        "met": bool(row[key] >= threshold)})
    return out


def target_report(row: dict) -> str:
    """The seed targets for one row, each with the row's value and 'met' / 'NOT met' (`target_checks`)."""
    def shown(c):
        if not np.isfinite(c["value"]):
            return "n/a"  # a ratio under the minimum bars or closed trades: never met
        return f"{c['value']:.2f}" if c["key"] in ("sharpe", "profit_factor") else f"{c['value']:+.1%}"

    return "; ".join(f"{c['target']}: {shown(c)} {'met' if c['met'] else 'NOT met'}" for c in target_checks(row))


def phase3_check(per_symbol_rows: list[dict], policy: str = "agent") -> dict:
    """The phase-3 criterion on walk-forward rows: Sharpe > 0.3 on at least half of the symbols whose record
    has at least `MIN_RATIO_BARS` bars: {policy, passed, counted, left_out, met}."""
    rows = [r for r in per_symbol_rows if r["policy"] == policy]
    sharpes = [r["sharpe"] for r in rows if sharpe_ok(r)]  # a record under MIN_RATIO_BARS is not counted
    passed = sum(x > PHASE3_SHARPE for x in sharpes)
    return {"policy": policy, "threshold": PHASE3_SHARPE, "passed": passed, "counted": len(sharpes),
            "left_out": len(rows) - len(sharpes), "met": bool(passed * 2 >= len(sharpes) > 0)}


def phase3_report(per_symbol_rows: list[dict], policy: str = "agent") -> str:
    """The phase-3 criterion on walk-forward rows as a sentence (`phase3_check`)."""
    c = phase3_check(per_symbol_rows, policy)
    return (f"phase-3 criterion (walk-forward Sharpe > {PHASE3_SHARPE} on at least half of the symbols): "
            f"{c['passed']} of {c['counted']} symbols, {'met' if c['met'] else 'NOT met'}"
            + (f" ({c['left_out']} left out: records under {MIN_RATIO_BARS} bars)" if c["left_out"] else ""))


def write_report(rows: list[dict], path: str | Path, meta: dict | None = None,
                 per_symbol: list[dict] | None = None) -> Path:
    """Save rows as JSON (with `meta` and the `per_symbol` walk-forward rows; strict: non-finite numbers as
    null) or CSV, by the file suffix.

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
        path.write_text(json.dumps(_strict(body), indent=2, allow_nan=False) + "\n")
    return path


def _strict(x):
    """`x` with every non-finite float (an n/a ratio, an infinite profit factor) as null: strict JSON."""
    if isinstance(x, dict):
        return {k: _strict(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_strict(v) for v in x]
    if isinstance(x, (float, np.floating)):
        return float(x) if np.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    return x


def _write_csv(rows: list[dict], path: Path) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
