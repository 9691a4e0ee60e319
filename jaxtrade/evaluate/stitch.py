"""Out-of-sample records stitched from walk-forward folds, and the statistics that say whether an edge is real.

Each fold's agent is tested on the period after its training range; the folds' test periods join without a
gap (`data.splits.Fold`), so their per-bar returns, placed on the common time axis, form one continuous
out-of-sample record per policy and symbol. Each fold's record starts flat, with the equity the previous fold
ended with (returns compound across the boundary; a position left open at a fold's end is valued at its last
close, no exit cost charged).

`record_row` summarises one record: return, annualised return, volatility, Sharpe with its 95 % stationary
block-bootstrap interval, Sortino, max drawdown, Calmar, turnover, costs, the paired Sharpe difference against
a benchmark record over the same bars (with its interval and the share of resamples where the policy does not
beat it), the probabilistic Sharpe ratio and the deflated Sharpe ratio for the number of configurations tried.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import numpy as np

from jaxtrade.evaluate import metrics, statistics
from jaxtrade.evaluate.backtest import MIN_RATIO_BARS, date_of, stop_name, stop_note
from jaxtrade.evaluate.rollout import EpisodeResults


class Stitched(NamedTuple):
    """Records on the out-of-sample bars [first, first + N) of P policies x S symbols (host arrays)."""

    first: int  # the first out-of-sample bar (marked by the first fold's first step)
    returns: np.ndarray  # (P, S, N) step returns, 0 where not live
    live: np.ndarray  # (P, S, N) bool: the symbol had a record at this bar (listed, data not ended)
    exposure: np.ndarray  # (P, S, N) position value / equity after the bar's step
    fold: np.ndarray  # (N,) int32 the fold that marked each bar
    stop_bar: np.ndarray  # (F, P, S) the bar a terminal rule stopped the fold's record at (-1 none)
    stop_reason: np.ndarray  # (F, P, S) its `StopReason` (the latest stop's)
    stop_count: np.ndarray  # (F, P, S) stops fired in the fold (more than 1 only under `stop_cooldown`)
    trades: np.ndarray  # (P, S) closed trades over the folds
    wins: np.ndarray  # (P, S) winning closed trades
    gross_profit: np.ndarray  # (P, S)
    gross_loss: np.ndarray  # (P, S)
    turnover: np.ndarray  # (P, S) traded value / equity, summed over the folds
    cost: np.ndarray  # (P, S) commission + slippage (+ borrow), in units of the initial cash, summed

    def stops(self, p: int, s: int, dates=None) -> list[str]:
        """'drawdown 2008-10-09'-style notes of the folds a terminal rule stopped (policy p, symbol s)."""
        return [stop_note(stop_name(self.stop_reason[f, p, s]), date_of(dates, int(self.stop_bar[f, p, s])),
                          int(self.stop_count[f, p, s]))
                for f in range(self.stop_bar.shape[0]) if self.stop_reason[f, p, s]]


def stitch(r: EpisodeResults, has_start: np.ndarray, first: int, end: int, initial_cash: float) -> Stitched:
    """Join the folds' test records on the time axis.

    Args:
      r: fold results with leading axes (F, P, S) (fold, policy, symbol) and H steps.
      has_start: (F, S) bool: the symbol had a start in the fold's test period (else its record is left out).
      first, end: the out-of-sample bars [first, end): the first fold's first marked bar to the data's end.
      initial_cash: the account size the costs are divided by.
    """
    r = jax.tree.map(np.asarray, r)
    F, P, S, H = r.step_returns.shape
    N = end - first
    returns, live = np.zeros((P, S, N)), np.zeros((P, S, N), bool)
    exposure, fold = np.zeros((P, S, N)), np.full(N, -1, np.int32)
    for f in range(F):
        for s in np.flatnonzero(has_start[f]):
            for p in range(P):
                n, start = int(r.steps[f, p, s]), int(r.start_bar[f, p, s])
                at = start + 1 - first + np.arange(n)  # step j marks bar start + 1 + j
                returns[p, s, at], exposure[p, s, at], live[p, s, at] = r.step_returns[f, p, s, :n], \
                    r.exposure[f, p, s, :n], True
                fold[at] = f
    keep = has_start[:, None, :]
    total = lambda x: np.where(keep, x, 0).sum(0)  # noqa: E731
    return Stitched(first=first, returns=returns, live=live, exposure=exposure, fold=fold,
                    stop_bar=np.where(keep, r.stop_bar, -1), stop_reason=np.where(keep, r.stop_reason, 0),
                    stop_count=np.where(keep, r.stops, 0),
                    trades=total(r.trades), wins=total(r.wins), gross_profit=total(r.gross_profit),
                    gross_loss=total(r.gross_loss), turnover=total(r.turnover),
                    cost=total(r.total_cost) / initial_cash)


def record_row(r: np.ndarray, bars_per_year: float, key: jax.Array, benchmark: np.ndarray | None = None,
               trials: int = 1, num_samples: int = 2000) -> dict:
    """Statistics of one record `r` (n,) of per-bar returns (module docstring); `benchmark` (n,) over the same
    bars for the paired Sharpe difference. Ratios of records under `MIN_RATIO_BARS` bars are NaN."""
    r = np.asarray(r, np.float64)
    n = r.size
    row = {"bars": n, **{k: float(v) for k, v in metrics.summarize(r, bars_per_year).items()}}
    if n < MIN_RATIO_BARS:
        nan = float("nan")
        row.update(sharpe=nan, sortino=nan, calmar=nan, sharpe_low=nan, sharpe_high=nan, psr=nan, dsr=nan)
        if benchmark is not None:
            row.update(sharpe_diff=nan, sharpe_diff_low=nan, sharpe_diff_high=nan, p_no_edge=nan)
        return row
    k_sharpe, k_diff = jax.random.split(key)
    ci = statistics.sharpe_interval(r, bars_per_year, k_sharpe, num_samples)
    dsr = statistics.deflated_sharpe(r, trials)
    row.update(sharpe_low=float(ci["low"]), sharpe_high=float(ci["high"]), psr=float(dsr["psr"]),
               dsr=float(dsr["dsr"]))
    if benchmark is not None:
        d = statistics.paired_sharpe_difference(r, np.asarray(benchmark, np.float64), bars_per_year, k_diff,
                                                num_samples)
        row.update(sharpe_diff=float(d["difference"]), sharpe_diff_low=float(d["low"]),
                   sharpe_diff_high=float(d["high"]), p_no_edge=float(d["p_le_zero"]))
    return row


def sharpe_by_fold(returns: np.ndarray, live: np.ndarray, fold: np.ndarray, num_folds: int,
                   bars_per_year: float) -> np.ndarray:
    """(F,) the Sharpe ratio of a stitched record's (N,) `returns` on each fold's live bars (`fold`: (N,) the
    fold of each bar); NaN under `MIN_RATIO_BARS` bars."""
    out = np.full(num_folds, np.nan)
    for f in range(num_folds):
        m = live & (fold == f)
        if m.sum() >= MIN_RATIO_BARS:
            out[f] = float(metrics.sharpe(returns[m], bars_per_year))
    return out


def fold_sharpe(st: Stitched, p: int, s: int, num_folds: int, bars_per_year: float) -> np.ndarray:
    """(F,) the Sharpe ratio of each fold's test record of policy p, symbol s (NaN under `MIN_RATIO_BARS`)."""
    return sharpe_by_fold(st.returns[p, s], st.live[p, s], st.fold, num_folds, bars_per_year)


__all__ = ["Stitched", "fold_sharpe", "record_row", "sharpe_by_fold", "stitch"]
