"""Walk-forward retraining: every fold trains from scratch on its own past and is tested on the period after it,
folds x seeds as one compiled program, and the test periods stitched into one out-of-sample record.

    spec = WalkForwardSpec(folds="yearly", seeds=(0, 1, 2))
    result = walk_forward_retrain(load_experiment("configs/quickstart.yaml"), spec)

Fold k (`data.splits.walk_forward_folds`) trains on bars [a_k, B_k - embargo) (expanding: a_k = 0; rolling: the
YEARS before B_k): its episodes start, fill and are marked only there (`env.params.range_params`: the fold's
tradeable/next-bar tables and start table), so no training step reads a bar past its training end, and the
embargo (at least the observation window) keeps every test observation clear of training bars. Its agents are
tested from the close of bar B_k - 1 to the close of B_{k+1} - 1: per symbol, through the whole period (a stop
liquidates and the record runs on in cash), beside literal buy-and-hold, buy-and-hold under the same rules,
volatility-targeted buy-and-hold, time-series momentum, SMA crossover, cash, and the seed ensemble (the mean of
the seeds' action probabilities); and on one shared account (agents, masters, equal weight, equal risk). All
F x K training runs are one vmapped program (`sweep.train_runs`), and all folds' tests another.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxtrade.agents.config import PortfolioConfig
from jaxtrade.config import Config, config_to_dict
from jaxtrade.data.splits import Fold, walk_forward_folds
from jaxtrade.env.generator import initial_state
from jaxtrade.env.params import range_axes, range_params, recent_starts
from jaxtrade.errors import ConfigError
from jaxtrade.evaluate.backtest import HOLD, MIN_RATIO_BARS
from jaxtrade.evaluate.policies import BASELINES, HOLD_RULES, agent_policy, ensemble_policy
from jaxtrade.evaluate.rollout import run_policies
from jaxtrade.evaluate.stitch import stitch
from jaxtrade.experiment.build import Experiment
from jaxtrade.experiment.fold_masters import (
    check_master_config,
    train_fold_masters,
    train_fold_runs,
)
from jaxtrade.experiment.walkforward_book import choose_seeds, inner_sharpe, shared_books
from jaxtrade.experiment.walkforward_types import Books, InnerChoice, WalkForwardResult
from jaxtrade.train.ppo import make_train

Log = Callable[[str], None]
ENSEMBLE = "agent ensemble"


# Run through the env, then literal buy_and_hold.
BASELINE_POLICIES = (HOLD_RULES, "vol_target_hold", "ts_momentum", "sma_crossover", "cash")


@dataclass(frozen=True)
class WalkForwardSpec:
    """The folds and seeds of a walk-forward retraining."""

    folds: str | int = "yearly"  # "yearly" (a test period per calendar year) or N equal test periods
    seeds: tuple[int, ...] = (0, 1, 2)
    scheme: str = "expanding"  # "expanding" or "rolling:YEARS"
    embargo: int | None = None  # bars between a fold's training end and its first decision; None: the window
    start: str | None = None  # first out-of-sample date; None: the first fold boundary after `min_train_bars`
    min_train_bars: int = 504  # ready bars of the longest-listed symbol the first fold trains on (auto start)
    trials: int = 1  # configurations tried before this one (a sweep's `trials`): the deflated Sharpe's N
    # Bars of an inner validation slice at the end of each fold's training range (0: none): the fold's agents train
    # before it (and an embargo), each seed is scored on it, and the best seed trades the fold's test period on the
    # shared account ("agents selected"; `portfolio.seed_capital: select` judges that row).
    inner: int = 0
    # Seed groups (1: none): the seeds split in this many equal groups, in order; each group's seed ensemble trades
    # the shared account as the seed ensemble's row does (its own row), so the report can say how far that row's
    # record moves with the seeds alone: its Sharpe per group, their mean and t interval.
    groups: int = 1

    def __post_init__(self):
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"walkforward seeds: need distinct seeds, got {self.seeds!r}")
        if not isinstance(self.trials, int) or self.trials < 1:
            raise ConfigError(f"walkforward trials: need an integer >= 1, got {self.trials!r}")
        if isinstance(self.inner, bool) or not isinstance(self.inner, int) or not (
                self.inner == 0 or self.inner >= MIN_RATIO_BARS):
            raise ConfigError(f"walkforward inner: 0 (no inner slice) or at least {MIN_RATIO_BARS} bars (a Sharpe "
                              f"ratio's minimum), got {self.inner!r}")
        if isinstance(self.groups, bool) or not isinstance(self.groups, int) or self.groups < 1 or (
                len(self.seeds) % self.groups):
            raise ConfigError(f"walkforward groups: need an integer >= 1 that divides the {len(self.seeds)} seeds "
                              f"into equal groups, got {self.groups!r}")
        if not isinstance(self.min_train_bars, int) or self.min_train_bars < 1:
            raise ConfigError(f"walkforward min_train_bars: need an integer >= 1, got {self.min_train_bars!r}")


def first_test_bar(exp: Experiment, spec: WalkForwardSpec, embargo: int) -> int:
    """The first out-of-sample bar: `spec.start`, or the first bar whose training range (before the embargo)
    holds `min_train_bars` ready bars of some symbol, moved to the next calendar year for yearly folds."""
    ts = exp.data.timestamps()
    if spec.start is not None:
        try:
            return int(np.searchsorted(ts, np.datetime64(spec.start, "s")))
        except ValueError:
            raise ConfigError(f"walkforward start: {spec.start!r} is not an ISO date (e.g. 2004-01-01)") from None
    ready = np.cumsum(np.asarray(exp.features.ready), axis=1).max(axis=0)  # (T,) most ready bars up to t
    enough = np.flatnonzero(ready >= spec.min_train_bars)
    if enough.size == 0:
        raise ConfigError(f"walkforward: no symbol has {spec.min_train_bars} ready bars to train the first fold on "
                          f"(lower min_train_bars, or use more data)")
    bar = int(enough[0]) + 1 + embargo
    if spec.folds == "yearly":
        year = ts.astype("datetime64[Y]")
        later = np.flatnonzero((year[1:] != year[:-1]) & (np.arange(1, len(ts)) >= bar)) + 1
        bar = int(later[0]) if later.size else bar
    return bar


def plan_folds(exp: Experiment, spec: WalkForwardSpec) -> list[Fold]:
    """The spec's folds on the experiment's bars."""
    window = exp.cfg.window
    embargo = window if spec.embargo is None else spec.embargo
    return walk_forward_folds(exp.data, spec.folds, first_test_bar(exp, spec, embargo), embargo, window,
                              spec.scheme)


def inner_slices(folds: list[Fold], inner: int, embargo: int, dates=None) -> tuple[list[Fold], list[Fold]]:
    """Each fold's training range cut before an inner validation slice of its last `inner` bars, with the
    embargo between them (as between a fold's training and its test): (the folds with their shortened training
    ranges, the slices as folds whose `test` is the slice).

    Raises:
      ConfigError: a fold keeps fewer than 2 training bars before its slice."""
    trained, slices = [], []
    for f in folds:
        begin = f.train[1] - inner  # the slice marks bars begin .. train end - 1
        cut = (f.train[0], begin - embargo)
        if cut[1] - cut[0] < 2:
            when = f"bar {f.test[0] + 1}" if dates is None else str(dates[f.test[0] + 1])[:10]
            raise ConfigError(f"walkforward inner: the fold tested from {when} keeps {max(cut[1] - cut[0], 0)} "
                              f"training bars before its inner slice of {inner} bars and embargo of {embargo}; "
                              f"use a smaller --inner or a later --start")
        trained.append(Fold(train=cut, test=f.test))
        slices.append(Fold(train=cut, test=(begin - 1, f.train[1])))
    return trained, slices


def _range_tables(base, ready: np.ndarray, ranges: list[tuple[int, int]], rows: np.ndarray | None = None,
                  halflife_bars: float = 0.0):
    """`base` with the tradeable/next-bar tables and start tables of `range_params` for each range stacked on a
    leading axis (start tables padded to one length; `rows`: the ranges' order on that axis, e.g. repeated per
    seed; `halflife_bars`: starts weighted toward each range's end, `recent_starts`), every other array shared
    (vmap with `range_axes(base)`)."""
    each = [recent_starts(range_params(base, ready, r), halflife_bars, r[1]) for r in ranges]
    length = max(int(p.starts.count) for p in each)
    pad = lambda st: st.replace(symbol=st.symbol[np.arange(length) % st.symbol.size],  # noqa: E731
                                bar=st.bar[np.arange(length) % st.bar.size])  # as range_params(..., length) pads
    each = [p.replace(starts=pad(p.starts)) for p in each]
    rows = np.arange(len(ranges)) if rows is None else rows
    pick = lambda get: jnp.stack([get(each[i]) for i in rows])  # noqa: E731
    starts = jax.tree.map(lambda *x: jnp.stack([x[i] for i in rows]), *[p.starts for p in each])
    return base.replace(market=base.market.replace(tradeable=pick(lambda p: p.market.tradeable),
                                                   next_ok=pick(lambda p: p.market.next_ok)), starts=starts)


def walk_forward_retrain(exp: Experiment, spec: WalkForwardSpec, log: Log | None = print,
                         only: list[int] | None = None, master: Config | None = None) -> WalkForwardResult:
    """Train every fold x seed from scratch as one program, test every fold as another, stitch the records.

    `only`: run just these folds of the plan (e.g. one alone: the benchmark's one-after-another baseline).
    `master`: a `train-portfolio` config (mode master): a learned master is trained per fold x seed over that
    run's agents on the fold's training range (`fold_masters`) and tested on the shared account.
    `spec.inner`: each fold trains before an inner slice at its training range's end (`inner_slices`), each
    seed's agents are scored on it (`inner_sharpe`) and the best trades the fold ("agents selected").

    Raises:
      ConfigError: a bad spec, a master config that does not fit, or too little data. TrainingError: a run
        diverged (no record is made of it).
    """
    cfg, env, data = exp.cfg, exp.env, exp.data
    if master is not None:
        check_master_config(exp, master)
    check_seed_capital(cfg.portfolio, spec.inner > 0)
    folds = plan_folds(exp, spec)
    folds = folds if only is None else [folds[i] for i in only]
    embargo = folds[0].test[0] + 1 - folds[0].train[1]
    ts = data.timestamps()
    slices = None
    if spec.groups > 1 and data.num_symbols < 2:
        raise ConfigError("walkforward groups: each seed group's ensemble trades the shared account, which needs at "
                          "least 2 symbols; drop --groups")
    if spec.inner:
        if data.num_symbols < 2:
            raise ConfigError("walkforward inner: the inner slice chooses a seed for the shared account, which needs "
                              "at least 2 symbols; drop --inner")
        folds, slices = inner_slices(folds, spec.inner, embargo, ts)
    K, F, S = len(spec.seeds), len(folds), data.num_symbols
    if log:
        log(f"walk-forward: {F} folds x {K} seeds = {F * K} training runs as one program ({spec.scheme}, embargo "
            f"{embargo} bars); out of sample "
            f"{str(ts[folds[0].test[0] + 1])[:10]} .. {str(ts[-1])[:10]}")
        for i, f in enumerate(folds):
            log(f"  fold {i}: train {str(ts[f.train[0]])[:10]} .. {str(ts[f.train[1] - 1])[:10]}, test "
                f"{str(ts[f.test[0] + 1])[:10]} .. {str(ts[f.test[1] - 1])[:10]} ({f.test[1] - f.test[0] - 1} bars)"
                + ("" if slices is None else f"; inner slice {str(ts[slices[i].test[0] + 1])[:10]} .. "
                   f"{str(ts[slices[i].test[1] - 1])[:10]}"))
    base = exp.params()
    ready = np.asarray(exp.features.ready)
    t0 = time.perf_counter()

    # Training: run r = (fold r // K, seed r % K); each fold's tables and starts, every other array shared. With
    # `augment`, the synthetic symbols trade inside each fold's training range too (they hold no real bar).
    runs = np.repeat(np.arange(F), K)
    train_base = exp.train_params(None) if cfg.augment.symbols else base
    train_params = _range_tables(train_base, np.asarray(exp.training_market[1].ready), [f.train for f in folds], runs,
                                 exp.start_halflife_bars)
    network = exp.network()
    net = train_fold_runs(make_train(cfg.ppo, env, network), cfg.ppo, train_params, range_axes(train_base),
                          spec.seeds, F, "walk-forward", log)
    masters = None
    if master is not None:  # over the real symbols: the shared account holds only those
        ends = np.asarray([f.train[1] for f in folds for _ in spec.seeds])
        real = train_params if train_base is base else _range_tables(base, ready, [f.train for f in folds], runs)
        masters = train_fold_masters(exp, master, real, ends, net, spec.seeds, log)
    t_train = time.perf_counter() - t0

    # Testing: every fold's test period, every symbol from its first decision bar there, all policies at once.
    horizon = max(f.test[1] - f.test[0] - 1 for f in folds)
    test_params, has_start, first = _test_tables(exp, folds)
    baselines = [BASELINES[name] for name in BASELINE_POLICIES]

    def fold_test(stacked, params, first, key):
        acts = [agent_policy(network, jax.tree.map(lambda x, k=k: x[k], stacked)) for k in range(K)]
        acts += [ensemble_policy(network, stacked), *baselines]
        state = jax.vmap(initial_state, in_axes=(0, 0, None))(jnp.arange(S), first, params)
        obs = jax.vmap(env.observe, in_axes=(0, None))(state, params)
        return run_policies(env, params, acts, key, S, horizon, init=(obs, state), hold=True)

    t1 = time.perf_counter()
    if log:
        log(f"walk-forward: testing {F} folds x {K + 1 + len(baselines) + 1} policies x {S} symbols (one program)")
    results = jax.jit(jax.vmap(fold_test, in_axes=(0, range_axes(test_params), 0, None)))(
        net, test_params, jnp.asarray(first), jax.random.key(2))
    stitched = stitch(results, has_start, folds[0].test[0] + 1, data.num_bars, cfg.env.initial_cash)
    inner = None
    if slices is not None:  # each seed scored on its fold's inner slice (the agents' judged-style account)
        score = inner_sharpe(exp, slices, _test_tables(exp, slices)[0], net, float(base.rules.bars_per_year))
        inner = InnerChoice([f.test for f in slices], score, choose_seeds(score))
        if log:
            log("walk-forward: inner slices, each seed's Sharpe (chosen seed): " + "; ".join(
                f"{str(ts[f.test[0] + 1])[:4]} " + "/".join(f"{v:.2f}" for v in score[i])
                + f" ({spec.seeds[inner.chosen[i]]})" for i, f in enumerate(slices)))
    books = (shared_books(exp, folds, test_params, has_start, net, spec.seeds, stitched.first, log, master, masters,
                          None if inner is None else inner.chosen, spec.groups) if S > 1 else None)
    t_end = time.perf_counter()
    policies = [f"agent seed {s}" for s in spec.seeds] + [ENSEMBLE, *BASELINE_POLICIES, HOLD]
    return WalkForwardResult(folds, spec.seeds, policies, data.symbols, stitched, float(base.rules.bars_per_year),
                             {"train": t_train, "test": t_end - t1, "total": t_end - t0}, net, books, masters,
                             None if master is None else config_to_dict(master), inner)


def _test_tables(exp: Experiment, folds: list[Fold]) -> tuple[Any, np.ndarray, np.ndarray]:
    """Every fold's test tables (leading axis F), (F, S) whether a symbol can trade in the fold's test period,
    and (F, S) its first decision bar there."""
    base, ready = exp.params(), np.asarray(exp.features.ready)
    horizon = max(f.test[1] - f.test[0] - 1 for f in folds)
    test_params = _range_tables(base, ready, [f.test for f in folds])
    test_params = test_params.replace(rules=base.rules.replace(horizon=jnp.asarray(horizon + 1, jnp.int32)))
    ok = np.asarray(test_params.market.tradeable)  # (F, S, T)
    has_start = np.stack([ok[i, :, f.test[0]:f.test[1]].any(axis=1) for i, f in enumerate(folds)])
    first = np.stack([np.where(h, f.test[0] + np.argmax(ok[i, :, f.test[0]:f.test[1]], axis=1), f.test[0])
                      for i, (f, h) in enumerate(zip(folds, has_start, strict=True))]).astype(np.int32)
    return test_params, has_start, first


def check_seed_capital(portfolio: PortfolioConfig, has_inner: bool) -> None:
    """`portfolio.seed_capital: select` needs a run with inner slices (`WalkForwardSpec.inner`).

    Raises:
      ConfigError: it has none."""
    if portfolio.seed_capital == "select" and not has_inner:
        raise ConfigError("portfolio.seed_capital: select chooses each fold's seed on an inner validation slice; "
                          "give walkforward --inner BARS (e.g. 252), or choose ensemble or split")


def rebook(exp: Experiment, result: WalkForwardResult, portfolio: PortfolioConfig,
           log: Log | None = None) -> WalkForwardResult:
    """`result` with its shared account run again under other `portfolio` settings (the agents' caps) on its
    trained agents, without retraining: what a choice among shared-account rules costs (one test program). Not
    for a run with learned masters (they are trained per fold; rerun `walk_forward_retrain`).

    Raises:
      ConfigError: the result holds learned masters, `exp` has one symbol (no shared account), or `portfolio`
        judges the seed chosen on inner slices the result has none of.
    """
    if result.master_params is not None:
        raise ConfigError("rebook: this walk-forward trained learned masters; rerun walk_forward_retrain")
    if exp.data.num_symbols < 2:
        raise ConfigError("rebook: one symbol has no shared account")
    check_seed_capital(portfolio, result.inner is not None)
    exp = replace(exp, cfg=replace(exp.cfg, portfolio=portfolio))
    test_params, has_start, _ = _test_tables(exp, result.folds)
    books = shared_books(exp, result.folds, test_params, has_start, result.net_params, result.seeds,
                         result.stitched.first, log, chosen=None if result.inner is None else result.inner.chosen,
                         groups=len(result.books.groups) if result.books and result.books.groups else 1)
    return replace(result, books=books)


__all__ = [
    "BASELINE_POLICIES", "ENSEMBLE", "Books", "InnerChoice", "WalkForwardResult", "WalkForwardSpec",
    "check_seed_capital", "first_test_bar", "inner_slices", "plan_folds", "rebook", "walk_forward_retrain",
]
