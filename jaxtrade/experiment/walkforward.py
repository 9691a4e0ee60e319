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
from jaxtrade.agents.learned_master import LearnedMaster, ensemble_proposals, network_proposals
from jaxtrade.agents.master import ConfidenceAllocator
from jaxtrade.config import Config, config_to_dict
from jaxtrade.data.splits import Fold, walk_forward_folds
from jaxtrade.env.generator import initial_state
from jaxtrade.env.params import range_axes, range_params
from jaxtrade.env.portfolio import PortfolioEnv
from jaxtrade.errors import ConfigError
from jaxtrade.evaluate.backtest import (
    HOLD,
    date_of,
    phase3_check,
    stop_name,
    stop_note,
    target_checks,
    target_report,
    trade_ratios,
)
from jaxtrade.evaluate.metrics import max_drawdown, mean_interval
from jaxtrade.evaluate.policies import BASELINES, HOLD_RULES, agent_policy, ensemble_policy
from jaxtrade.evaluate.rollout import run_policies
from jaxtrade.evaluate.shared_book import (
    EQUAL_RISK,
    EQUAL_WEIGHT_HELD,
    TS_MOMENTUM,
    agents_policy,
    capped_policy,
    caps_label,
    caps_target,
    equal_risk_policy,
    equal_weight_policy,
    holding_rules,
    master_policy,
    ts_momentum_book_policy,
    variants_policy,
    walk_forward_book,
)
from jaxtrade.evaluate.stitch import Stitched, fold_sharpe, record_row, sharpe_by_fold, stitch
from jaxtrade.experiment.build import Experiment
from jaxtrade.experiment.fold_masters import (
    book_axes,
    book_tables,
    check_master_config,
    train_fold_masters,
    train_fold_runs,
)
from jaxtrade.experiment.portfolio import master_network
from jaxtrade.train.ppo import make_train

Log = Callable[[str], None]
ENSEMBLE = "agent ensemble"
SHARED_ENSEMBLE = "agents ensemble"  # the seed ensemble's agents on the shared account


def capped_name(portfolio: PortfolioConfig) -> str | None:
    """The shared-account row of the ensemble's agents under `portfolio.agent_caps` (`capped_policy`); None
    without caps."""
    label = caps_label(portfolio.agent_caps, portfolio.cap_vol)
    return None if label is None else f"{SHARED_ENSEMBLE}, {label}"


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

    def __post_init__(self):
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"walkforward seeds: need distinct seeds, got {self.seeds!r}")
        if not isinstance(self.trials, int) or self.trials < 1:
            raise ConfigError(f"walkforward trials: need an integer >= 1, got {self.trials!r}")
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


def _range_tables(base, ready: np.ndarray, ranges: list[tuple[int, int]], rows: np.ndarray | None = None):
    """`base` with the tradeable/next-bar tables and start tables of `range_params` for each range stacked on a
    leading axis (start tables padded to one length; `rows`: the ranges' order on that axis, e.g. repeated per
    seed), every other array shared (vmap with `range_axes(base)`)."""
    each = [range_params(base, ready, r) for r in ranges]
    length = max(int(p.starts.count) for p in each)
    pad = lambda st: st.replace(symbol=st.symbol[np.arange(length) % st.symbol.size],  # noqa: E731
                                bar=st.bar[np.arange(length) % st.bar.size])  # as range_params(..., length) pads
    each = [p.replace(starts=pad(p.starts)) for p in each]
    rows = np.arange(len(ranges)) if rows is None else rows
    pick = lambda get: jnp.stack([get(each[i]) for i in rows])  # noqa: E731
    starts = jax.tree.map(lambda *x: jnp.stack([x[i] for i in rows]), *[p.starts for p in each])
    return base.replace(market=base.market.replace(tradeable=pick(lambda p: p.market.tradeable),
                                                   next_ok=pick(lambda p: p.market.next_ok)), starts=starts)


@dataclass
class Books:
    """The shared account's stitched records (host data; N = bars from the first out-of-sample bar)."""

    returns: dict  # policy name -> (N,) the account's returns, stitched over the folds
    live: np.ndarray  # (N,) bool: bars the account's record covers
    stops: dict  # name -> [(StopReason, bar, count)] of the folds a stop liquidated: the latest, and how many
    trades: dict  # name -> {"trades", "wins", "gross_profit", "gross_loss", "cost"} summed over the folds
    judged: str = "agents ensemble"  # the agents' row the targets are checked on (the capped one with caps)


@dataclass
class WalkForwardResult:
    """What a walk-forward retraining measured (host data)."""

    folds: list[Fold]
    seeds: tuple[int, ...]
    policies: list[str]  # the record's policy axis: agent per seed, the ensemble, the baselines, buy_and_hold
    symbols: tuple[str, ...]
    stitched: Stitched
    bars_per_year: float
    seconds: dict  # wall time: {"train": ..., "test": ..., "total": ...}
    net_params: object  # the trained networks' params, leading axes (fold, seed)
    books: Books | None = None  # the shared-account portfolio (several symbols)
    master_params: object = None  # the learned masters' params, leading axes (fold, seed) (with a master config)
    master_config: dict | None = None  # the master config they were trained with


def walk_forward_retrain(exp: Experiment, spec: WalkForwardSpec, log: Log | None = print,
                         only: list[int] | None = None, master: Config | None = None) -> WalkForwardResult:
    """Train every fold x seed from scratch as one program, test every fold as another, stitch the records.

    `only`: run just these folds of the plan (e.g. one alone: the benchmark's one-after-another baseline).
    `master`: a `train-portfolio` config (mode master): a learned master is trained per fold x seed over that
    run's agents on the fold's training range (`fold_masters`) and tested on the shared account.

    Raises:
      ConfigError: a bad spec, a master config that does not fit, or too little data. TrainingError: a run
        diverged (no record is made of it).
    """
    cfg, env, data = exp.cfg, exp.env, exp.data
    if master is not None:
        check_master_config(exp, master)
    folds = plan_folds(exp, spec)
    folds = folds if only is None else [folds[i] for i in only]
    embargo = folds[0].test[0] + 1 - folds[0].train[1]
    ts = data.timestamps()
    K, F, S = len(spec.seeds), len(folds), data.num_symbols
    if log:
        log(f"walk-forward: {F} folds x {K} seeds = {F * K} training runs as one program ({spec.scheme}, embargo "
            f"{embargo} bars); out of sample "
            f"{str(ts[folds[0].test[0] + 1])[:10]} .. {str(ts[-1])[:10]}")
        for i, f in enumerate(folds):
            log(f"  fold {i}: train {str(ts[f.train[0]])[:10]} .. {str(ts[f.train[1] - 1])[:10]}, test "
                f"{str(ts[f.test[0] + 1])[:10]} .. {str(ts[f.test[1] - 1])[:10]} ({f.test[1] - f.test[0] - 1} bars)")
    base = exp.params()
    ready = np.asarray(exp.features.ready)
    t0 = time.perf_counter()

    # Training: run r = (fold r // K, seed r % K); each fold's tables and starts, every other array shared. With
    # `augment`, the synthetic symbols trade inside each fold's training range too (they hold no real bar).
    runs = np.repeat(np.arange(F), K)
    train_base = exp.train_params(None) if cfg.augment.symbols else base
    train_params = _range_tables(train_base, np.asarray(exp.training_market[1].ready), [f.train for f in folds], runs)
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
    books = (_books(exp, folds, test_params, has_start, net, spec.seeds, stitched.first, log, master, masters)
             if S > 1 else None)
    t_end = time.perf_counter()
    policies = [f"agent seed {s}" for s in spec.seeds] + [ENSEMBLE, *BASELINE_POLICIES, HOLD]
    return WalkForwardResult(folds, spec.seeds, policies, data.symbols, stitched, float(base.rules.bars_per_year),
                             {"train": t_train, "test": t_end - t1, "total": t_end - t0}, net, books, masters,
                             None if master is None else config_to_dict(master))


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


def rebook(exp: Experiment, result: WalkForwardResult, portfolio: PortfolioConfig,
           log: Log | None = None) -> WalkForwardResult:
    """`result` with its shared account run again under other `portfolio` settings (the agents' caps) on its
    trained agents, without retraining: what a choice among shared-account rules costs (one test program). Not
    for a run with learned masters (they are trained per fold; rerun `walk_forward_retrain`).

    Raises:
      ConfigError: the result holds learned masters, or `exp` has one symbol (no shared account).
    """
    if result.master_params is not None:
        raise ConfigError("rebook: this walk-forward trained learned masters; rerun walk_forward_retrain")
    if exp.data.num_symbols < 2:
        raise ConfigError("rebook: one symbol has no shared account")
    exp = replace(exp, cfg=replace(exp.cfg, portfolio=portfolio))
    test_params, has_start, _ = _test_tables(exp, result.folds)
    books = _books(exp, result.folds, test_params, has_start, result.net_params, result.seeds,
                   result.stitched.first, log)
    return replace(result, books=books)


def _books(exp: Experiment, folds: list[Fold], test_params, has_start: np.ndarray, net, seeds, first: int,
           log: Log | None, master: Config | None = None, masters=None) -> Books:
    """Every fold's test period on one shared account (`PortfolioEnv`, as `jaxtrade eval` does): each seed's
    symbol agents alone, under the rule-based master and (with `master`) under its learned master, the seed
    ensemble's agents alone, and equal weight held and rebalanced (no stop loss, take profit or holding limit);
    all folds as one program; the account's returns stitched on the time axis."""
    cfg, F, K = exp.cfg, len(folds), len(seeds)
    limit, total = cfg.env.max_position, 1.0
    book_params = book_tables(test_params, np.asarray([f.test[1] for f in folds]), total)
    steps = max(f.test[1] - f.test[0] - 1 for f in folds)
    env, network = PortfolioEnv(actions=cfg.env.actions), exp.network()
    rule = ConfidenceAllocator(total_limit=total, per_symbol_limit=limit)
    learned = None if master is None else LearnedMaster(master_network(master.portfolio), master.portfolio.total_limit,
                                                        master.portfolio.tolerance)
    names = [f"{n} seed {s}" for s in seeds
             for n in ("agents", "agents + master") + (() if learned is None else ("agents + learned master",))]
    capped = capped_name(cfg.portfolio)
    names += [SHARED_ENSEMBLE, *([capped] if capped else []), EQUAL_WEIGHT_HELD, "equal weight, rebal.", EQUAL_RISK,
              TS_MOMENTUM]
    caps_vol = caps_target(cfg.portfolio.agent_caps, cfg.portfolio.cap_vol)

    def fold_books(stacked, learned_params, params, key):
        out = []
        for k in range(K):
            net_k = jax.tree.map(lambda x, k=k: x[k], stacked)
            for flags in ((False, False), (False, True)):
                policy = variants_policy(network, rule, limit, jnp.asarray(flags))
                out.append(walk_forward_book(env, params, policy, (net_k, {}), key, steps))
            if learned is not None:
                out.append(walk_forward_book(env, params, master_policy(network_proposals(network), learned),
                                             (net_k, jax.tree.map(lambda x, k=k: x[k], learned_params)), key, steps))
        ensemble = ensemble_proposals(network)
        out.append(walk_forward_book(env, params, agents_policy(ensemble, limit), stacked, key, steps))
        if capped:
            out.append(walk_forward_book(env, params, capped_policy(ensemble, total, caps_vol), stacked, key, steps))
        holding = holding_rules(params)
        for rebalance in (False, True):
            out.append(walk_forward_book(env, holding, equal_weight_policy(total, rebalance), None, key, steps))
        out.append(walk_forward_book(env, holding, equal_risk_policy(total), None, key, steps))
        out.append(walk_forward_book(env, holding, ts_momentum_book_policy(total), None, key, steps))
        return out

    if log:
        log(f"walk-forward: {F} folds x {len(names)} policies on one shared account (one program)")
    books = jax.tree.map(np.asarray, jax.jit(jax.vmap(fold_books, in_axes=(0, 0, book_axes(test_params), None)))(
        net, masters if masters is not None else jnp.zeros(F), book_params, jax.random.key(3)))
    N = exp.data.num_bars - first
    out, live, stops, trades = {}, np.zeros(N, bool), {}, {}
    tested = [f for f in range(F) if has_start[f].any()]
    for name, r in zip(names, books, strict=True):
        stops[name] = [(int(r.stop_reason[f]), int(r.stop_bar[f]), int(r.stops[f])) for f in tested if r.stop_reason[f]]
        trades[name] = {k: float(getattr(r, k)[tested].sum()) for k in ("trades", "wins", "gross_profit", "gross_loss")}
        trades[name]["cost"] = float(r.cost[tested].sum()) / cfg.env.initial_cash  # a share of the initial cash
        returns = np.zeros(N)
        for f in tested:
            at = int(r.start_bar[f]) + 1 - first + np.arange(int(r.steps[f]))
            returns[at], live[at] = r.step_returns[f, :int(r.steps[f])], True
        out[name] = returns
    return Books(out, live, stops, trades, capped or SHARED_ENSEMBLE)


def book_rows(result: WalkForwardResult, trials: int = 1, dates=None) -> list[dict]:
    """The stitched shared-account records: one row per policy, with the paired Sharpe difference against equal
    weight held on the same bars, the closed trades over all folds (win rate, profit factor), and the stops
    that liquidated the account (rule and date, per fold)."""
    if not result.books:
        return []
    books, key = result.books, jax.random.key(13)
    bench = books.returns[EQUAL_WEIGHT_HELD][books.live]
    rows = []
    for name, r in books.returns.items():
        key, k = jax.random.split(key)
        t = books.trades[name]
        rows.append({"policy": name, "symbol": "one account", **record_row(r[books.live], result.bars_per_year, k,
                                                                           bench, trials),
                     **trade_ratios(t["trades"], t["wins"], t["gross_profit"], t["gross_loss"]), "costs": t["cost"],
                     "stops": "; ".join(stop_note(stop_name(reason), date_of(dates, bar), n)
                                        for reason, bar, n in books.stops[name])})
    return rows


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


def book_fold_sharpe(result: WalkForwardResult, name: str) -> np.ndarray:
    """(F,) the Sharpe ratio of each fold's test record of the shared account under policy `name` (NaN under
    `MIN_RATIO_BARS` bars, or without the shared account)."""
    F = len(result.folds)
    if not result.books or name not in result.books.returns:
        return np.full(F, np.nan)
    return sharpe_by_fold(result.books.returns[name], result.books.live, result.stitched.fold, F,
                          result.bars_per_year)


def book_fold_drawdown(result: WalkForwardResult, name: str) -> np.ndarray:
    """(F,) the max drawdown (a negative share) within each fold's test record of the shared account under
    policy `name` (NaN for a fold with no live bar, or without the shared account)."""
    F = len(result.folds)
    out = np.full(F, np.nan)
    if not result.books or name not in result.books.returns:
        return out
    for f in range(F):
        m = result.books.live & (result.stitched.fold == f)
        if m.any():
            out[f] = float(max_drawdown(jnp.asarray(result.books.returns[name][m])))
    return out


def fold_book_rows(result: WalkForwardResult) -> dict[str, str]:
    """The shared-account rows each fold reports (what a selection rule on the shared account reads), by report
    key: the ensemble's agents, the row the targets are checked on (`judged`: the capped agents with caps, else
    the ensemble's), equal weight held."""
    judged = result.books.judged if result.books else SHARED_ENSEMBLE
    return {"ensemble": SHARED_ENSEMBLE, "judged": judged, "equal_weight": EQUAL_WEIGHT_HELD}


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


def format_book_rows(rows: list[dict]) -> str:
    """The stitched shared-account records as a text table."""
    def num(v, sign=""):
        return f"{v:{sign}.2f}" if np.isfinite(v) else "n/a"

    lines = [f"  {'policy':<31} {'return':>8} {'annual':>7} {'vol':>6} {'Sharpe [95 % CI]':>21} {'max DD':>7} "
             f"{'vs EW [95 % CI]':>22} {'PSR':>5} {'DSR':>5} {'trades':>6} {'win':>6} {'PF':>5} {'costs':>6}  stopped"]
    for r in rows:
        ci = f"{num(r['sharpe'])} [{num(r['sharpe_low'])}, {num(r['sharpe_high'])}]"
        diff = (f"{num(r['sharpe_diff'], '+')} [{num(r['sharpe_diff_low'], '+')}, {num(r['sharpe_diff_high'], '+')}]"
                if r["policy"] != EQUAL_WEIGHT_HELD else "")
        win = f"{r['win_rate']:.1%}" if np.isfinite(r["win_rate"]) else "n/a"
        lines.append(f"  {r['policy']:<31} {r['total_return']:>+8.1%} {r['annualised_return']:>+7.1%} "
                     f"{r['volatility']:>6.1%} {ci:>21} {r['max_drawdown']:>7.1%} {diff:>22} {num(r['psr']):>5} "
                     f"{num(r['dsr']):>5} {r['trades']:>6} {win:>6} {num(r['profit_factor']):>5} "
                     f"{r['costs']:>6.1%}  {r['stops'] or '-'}")
    return "\n".join(lines)


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
            "ensemble: the seeds' mean action probabilities):")
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
                    "start": spec.start}}
    if report:
        path = write_report(rows, report, {k: v for k, v in out.items() if k != "rows"})
        log(f"report written to {path}")
    if plots:
        from jaxtrade.evaluate.plots import plot_stitched  # matplotlib only when asked

        path = plot_stitched(result, dates, Path(plots) / "walkforward.png", per_fold)
        log(f"plots: {path}")
    return out


__all__ = [
    "ENSEMBLE", "SHARED_ENSEMBLE", "Books", "WalkForwardResult", "capped_name", "fold_book_rows", "rebook",
    "WalkForwardSpec", "book_fold_drawdown", "book_fold_sharpe", "book_rows", "first_test_bar",
    "format_book_rows", "format_rows", "plan_folds", "record_rows", "walk_forward_retrain", "walkforward_report",
    "walkforward_summary"
]
