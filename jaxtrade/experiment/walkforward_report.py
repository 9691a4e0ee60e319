"""The walk-forward's report: the stitched records' rows (per policy and symbol, per seed, per fold), their text
tables, the seed targets and the phase-3 count, written as JSON and plotted (`walkforward_summary`).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import numpy as np

from jaxtrade.config import Config
from jaxtrade.evaluate.backtest import (
    HOLD,
    phase3_check,
    target_checks,
    target_report,
    trade_ratios,
)
from jaxtrade.evaluate.metrics import mean_interval
from jaxtrade.evaluate.stitch import Stitched, fold_sharpe, record_row
from jaxtrade.experiment.build import Experiment
from jaxtrade.experiment.walkforward import ENSEMBLE, WalkForwardResult, WalkForwardSpec, walk_forward_retrain
from jaxtrade.experiment.walkforward_book import (
    SHARED_ENSEMBLE,
    book_fold_drawdown,
    book_fold_sharpe,
    book_rows,
    fold_book_rows,
    format_book_rows,
)

Log = Callable[[str], None]

def _trade_stats(st: Stitched, p: int, symbols) -> dict:
    total = lambda x: float(x[p, symbols].sum())  # noqa: E731
    return {**trade_ratios(total(st.trades), total(st.wins), total(st.gross_profit), total(st.gross_loss)),
            "turnover": total(st.turnover), "costs": total(st.cost)}


def record_rows(result: WalkForwardResult, trials: int = 1, dates=None) -> list[dict]:
    """One row per policy and symbol, and per policy for all symbols equally weighted (each symbol its own
    account, the bar's returns averaged over the symbols with a record there), of the stitched record, with
    the paired Sharpe difference against literal buy-and-hold on the same bars."""
    st, bpy = result.stitched, result.bars_per_year
    hold = result.policies.index(HOLD)
    rows, key = [], jax.random.key(11)
    for p, name in enumerate(result.policies):
        for s, sym in enumerate(result.symbols):
            m = st.live[p, s]
            if not m.any():
                continue
            key, k = jax.random.split(key)
            row = {"policy": name, "symbol": sym, **record_row(st.returns[p, s, m], bpy, k, st.returns[hold, s, m],
                                                                trials)}
            row.update(_trade_stats(st, p, [s]), exposure=float(st.exposure[p, s, m].mean()),
                       stops="; ".join(st.stops(p, s, dates)))
            rows.append(row)
        mean = lambda x, m=st.live[p]: np.where(m, x, 0.0).sum(0)[m.any(0)] / m.sum(0)[m.any(0)]  # noqa: E731
        key, k = jax.random.split(key)
        row = {"policy": name, "symbol": "all (equal weight)",
               **record_row(mean(st.returns[p]), bpy, k, mean(st.returns[hold]), trials)}
        row.update(_trade_stats(st, p, list(range(len(result.symbols)))), exposure=float(mean(st.exposure[p]).mean()),
                   stops=f"{sum(bool(st.stops(p, s)) for s in range(len(result.symbols)))} symbol(s) stopped")
        rows.append(row)
    for r in rows:
        r["steps"] = r["bars"]  # the key the n/a rule and the phase-3 count read
    return rows


def seed_rows(result: WalkForwardResult, rows: list[dict]) -> list[dict]:
    """Per symbol (and all symbols): the seeds' stitched Sharpe ratios, their mean and 95 % t interval (with at
    least two seeds)."""
    out = []
    for sym in dict.fromkeys(r["symbol"] for r in rows):
        sharpe = [r["sharpe"] for r in rows if r["symbol"] == sym and r["policy"].startswith("agent seed")]
        if len(sharpe) > 1 and np.isfinite(sharpe).all():
            mean, low, high = mean_interval(sharpe)
            out.append({"symbol": sym, "seeds": len(sharpe), "sharpe_mean": mean, "sharpe_low": low,
                        "sharpe_high": high})
    return out


def fold_rows(result: WalkForwardResult, dates) -> list[dict]:
    """Per fold: its dates, the mean over symbols of the fold's Sharpe (ensemble vs literal buy-and-hold), and
    the shared account's Sharpe in the fold (the ensemble's agents vs equal weight held; NaN without it)."""
    st, F = result.stitched, len(result.folds)
    shared = {f"shared_{key}_{stat}": fn(result, name) for key, name in fold_book_rows(result).items()
              for stat, fn in (("sharpe", book_fold_sharpe), ("max_drawdown", book_fold_drawdown))}
    ens, hold = result.policies.index(ENSEMBLE), result.policies.index(HOLD)
    each = lambda p: np.array([fold_sharpe(st, p, s, F, result.bars_per_year)  # noqa: E731
                               for s in range(len(result.symbols))])
    a, b = each(ens), each(hold)
    rows = []
    for f, fold in enumerate(result.folds):
        mean = lambda x, f=f: float(np.nanmean(x[:, f])) if np.isfinite(x[:, f]).any() else float("nan")  # noqa: E731
        rows.append({"fold": f, "train": [str(dates[fold.train[0]])[:10], str(dates[fold.train[1] - 1])[:10]],
                     "test": [str(dates[fold.test[0] + 1])[:10], str(dates[fold.test[1] - 1])[:10]],
                     "ensemble_sharpe": mean(a), "buy_and_hold_sharpe": mean(b),
                     **{k: float(v[f]) for k, v in shared.items()}})
    return rows


def group_rows(result: WalkForwardResult, books: list[dict], per_fold: list[dict]) -> dict:
    """With seed groups (`WalkForwardSpec.groups`): each group's seeds, row, whole-record Sharpe and max drawdown
    and mean per-fold Sharpe, and the mean and 95 % t interval over the groups of the whole-record Sharpe (how far
    the seed ensemble's row, `like`, moves with the seeds alone); {} without."""
    if not result.books or not result.books.groups:
        return {}
    by_name = {r["policy"]: r for r in books}
    each = [{"seeds": list(seeds), "row": name, "sharpe": by_name[name]["sharpe"],
             "max_drawdown": by_name[name]["max_drawdown"],
             "mean_fold_sharpe": float(np.nanmean([f[f"shared_group{g}_sharpe"] for f in per_fold]))}
            for g, (name, seeds) in enumerate(result.books.groups.items())]
    mean, low, high = mean_interval([g["sharpe"] for g in each])
    like = result.books.seed_rows.get("ensemble", result.books.judged)
    return {"like": like, "groups": each, "sharpe_mean": mean, "sharpe_low": low, "sharpe_high": high}


def inner_rows(result: WalkForwardResult, dates) -> list[dict]:
    """Per fold: its inner validation slice's dates, each seed's Sharpe there and the seed chosen ([] without
    inner slices)."""
    if result.inner is None:
        return []
    return [{"fold": f, "slice": [str(dates[a + 1])[:10], str(dates[b - 1])[:10]],
             "sharpe": {str(s): float(v) for s, v in zip(result.seeds, result.inner.sharpe[f], strict=True)},
             "chosen_seed": int(result.seeds[int(result.inner.chosen[f])])}
            for f, (a, b) in enumerate(result.inner.slices)]


def format_rows(rows: list[dict]) -> str:
    """The stitched records as a text table (ratios n/a under the minimum bars)."""
    def num(v, spec, width):
        sign = spec[0] if spec[0] == '+' else ''
        return f"{v:{sign}{width}{spec.lstrip('+')}}" if np.isfinite(v) else f"{'n/a':>{width}}"

    lines = [f"  {'symbol':<18} {'policy':<18} {'return':>8} {'annual':>7} {'vol':>6} {'Sharpe [95 % CI]':>21} "
             f"{'Sortino':>7} {'max DD':>7} {'Calmar':>6} {'vs B&H [95 % CI]':>22} {'PSR':>5} {'DSR':>5} "
             f"{'trades':>6} {'turnover':>8} {'costs':>6}  stopped"]
    for r in rows:
        ci = (f"{num(r['sharpe'], '.2f', 5)} [{num(r['sharpe_low'], '.2f', 5)}, {num(r['sharpe_high'], '.2f', 5)}]")
        diff = (f"{num(r['sharpe_diff'], '+.2f', 5)} [{num(r['sharpe_diff_low'], '+.2f', 5)}, "
                f"{num(r['sharpe_diff_high'], '+.2f', 5)}]") if r["policy"] != HOLD else ""
        lines.append(f"  {r['symbol']:<18} {r['policy']:<18} {r['total_return']:>+8.1%} "
                     f"{r['annualised_return']:>+7.1%} {r['volatility']:>6.1%} {ci:>21} "
                     f"{num(r['sortino'], '.2f', 7)} {r['max_drawdown']:>7.1%} {num(r['calmar'], '.2f', 6)} "
                     f"{diff:>22} {num(r['psr'], '.2f', 5)} {num(r['dsr'], '.2f', 5)} {r['trades']:>6} "
                     f"{r['turnover']:>7.1f}x {r['costs']:>6.1%}  {r['stops'] or '-'}")
    return "\n".join(lines)


def walkforward_report(exp: Experiment, spec: WalkForwardSpec, report: str | None = None,
                       plots: str | None = None, log: Log = print, master: Config | None = None) -> dict:
    """`walk_forward_retrain` (with a learned master per fold when `master` names a config), then the stitched
    tables, the seed intervals, the folds, the targets and the phase-3 criterion on the out-of-sample record;
    the same in `report` (JSON) and `plots` (PNG)."""
    return walkforward_summary(exp, spec, walk_forward_retrain(exp, spec, log, master=master), report, plots, log)


def walkforward_summary(exp: Experiment, spec: WalkForwardSpec, result: WalkForwardResult, report: str | None = None,
                        plots: str | None = None, log: Log = print) -> dict:
    """The tables, report and plots of a `walk_forward_retrain` result (`walkforward_report`)."""
    from pathlib import Path

    from jaxtrade.evaluate.backtest import write_report

    dates = exp.data.timestamps()
    rows = record_rows(result, spec.trials, dates)
    seeds, per_fold = seed_rows(result, rows), fold_rows(result, dates)
    books = book_rows(result, spec.trials, dates)
    # The seed's targets on the portfolio: the ensemble's agents on one shared account (several symbols), else
    # the ensemble's record; and on each learned master's account.
    judged = next((r for r in books if result.books and r["policy"] == result.books.judged), None) or next(
        r for r in rows if r["policy"] == ENSEMBLE and r["symbol"] == "all (equal weight)")
    targets = target_checks(judged)
    learned = {r["policy"]: r for r in books if "learned master" in r["policy"]}
    phase3 = phase3_check([r for r in rows if r["symbol"] != "all (equal weight)"], ENSEMBLE)
    log(f"stitched out-of-sample records ({result.bars_per_year:.0f} bars/year; Sharpe interval: stationary block "
        f"bootstrap; vs B&H: paired Sharpe difference against literal buy-and-hold on the same bars; DSR for "
        f"{spec.trials} configuration(s) tried; costs as a share of the initial cash):")
    log(format_rows(rows))
    if books:
        log("one shared account through the stitched folds (PortfolioEnv; vs EW: paired Sharpe difference against "
            "equal weight held; agents' budgets at the per-symbol limit; master: the rule-based ConfidenceAllocator; "
            "learned master: trained per fold and seed over that run's agents on the fold's training range; "
            "ensemble: the seeds' mean action probabilities; split: each seed's agents on an equal share of the "
            "account, a stop closing only its share; selected: per fold, the seed chosen on its inner slice; "
            "ensemble a+b+c: that seed group's ensemble):")
        log(format_book_rows(books))
    for r in seeds:
        log(f"  {r['symbol']}: {r['seeds']} seeds' Sharpe {r['sharpe_mean']:.2f} [{r['sharpe_low']:.2f}, "
            f"{r['sharpe_high']:.2f}] (mean, 95 % t interval)")
    log("per fold, mean over symbols (ensemble vs literal buy-and-hold Sharpe): " + "; ".join(
        f"{r['test'][0]} {r['ensemble_sharpe']:.2f} vs {r['buy_and_hold_sharpe']:.2f}" for r in per_fold))
    if result.books:
        judged_row = result.books.judged
        log(f"per fold, shared account (Sharpe: {judged_row}"
            + (f", {SHARED_ENSEMBLE}" if judged_row != SHARED_ENSEMBLE else "") + ", vs equal weight held): "
            + "; ".join(f"{r['test'][0]} {r['shared_judged_sharpe']:.2f}"
                        + (f", {r['shared_ensemble_sharpe']:.2f}" if judged_row != SHARED_ENSEMBLE else "")
                        + f" vs {r['shared_equal_weight_sharpe']:.2f}" for r in per_fold))
    groups = group_rows(result, books, per_fold)
    if groups:
        each = [f"{'+'.join(map(str, g['seeds']))} {g['sharpe']:.2f}; {g['mean_fold_sharpe']:.2f}; "
                f"{g['max_drawdown']:.1%}" for g in groups["groups"]]
        log(f"seed groups, each group's ensemble run as '{groups['like']}' (stitched Sharpe; mean per-fold Sharpe; "
            f"max DD): " + "; ".join(each)
            + f"; over the {len(groups['groups'])} groups {groups['sharpe_mean']:.2f} [{groups['sharpe_low']:.2f}, "
            f"{groups['sharpe_high']:.2f}] (mean, 95 % t interval)")
    where = (f"'{judged['policy']}' on the stitched shared account" if judged["symbol"] == "one account" else
             "the ensemble's stitched record (one symbol)")
    log(f"seed targets on {where}: {target_report(judged)}")
    for name, r in learned.items():
        log(f"seed targets on {name}'s stitched shared account: {target_report(r)}")
    log(f"phase-3 criterion on the stitched records (ensemble Sharpe > {phase3['threshold']} on at least half "
        f"of the symbols): {phase3['passed']} of {phase3['counted']}, {'met' if phase3['met'] else 'NOT met'}")
    log(f"wall time: training {result.seconds['train']:.0f}s, testing {result.seconds['test']:.0f}s, total "
        f"{result.seconds['total']:.0f}s")
    out = {"folds": per_fold, "rows": rows, "portfolio": books, "seeds": seeds, "targets": targets,
           "targets_on": {"policy": judged["policy"], "symbol": judged["symbol"]},
           "master_targets": {name: target_checks(r) for name, r in learned.items()}, "phase3": phase3,
           "seconds": result.seconds, "trials": spec.trials, "config": exp.config_dict,
           "data_notes": list(exp.data.notes),
           "master_config": result.master_config,
           "spec": {"folds": spec.folds, "seeds": list(spec.seeds), "scheme": spec.scheme, "embargo": spec.embargo,
                    "start": spec.start, "inner": spec.inner, "groups": spec.groups},
           "inner": inner_rows(result, dates), "groups": groups}
    if report:
        path = write_report(rows, report, {k: v for k, v in out.items() if k != "rows"})
        log(f"report written to {path}")
    if plots:
        from jaxtrade.evaluate.plots import plot_stitched  # matplotlib only when asked

        path = plot_stitched(result, dates, Path(plots) / "walkforward.png", per_fold)
        log(f"plots: {path}")
    return out


__all__ = [
    "fold_rows", "format_rows", "group_rows", "inner_rows", "record_rows", "seed_rows", "walkforward_report",
    "walkforward_summary",
]
