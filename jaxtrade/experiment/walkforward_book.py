"""The walk-forward's shared account: every fold's test period on one account (`PortfolioEnv`, as `jaxtrade eval`
runs it): each seed's agents alone and under the masters, the seed ensemble's agents (and under the config's caps,
`portfolio.agent_caps`, with each seed's agents under them), the seeds on split capital (`split_capital`: each
seed's agents on an equal share of the account, capped as configured), each seed group's ensemble run as the
ensemble's row (`WalkForwardSpec.groups`), equal weight held and rebalanced, equal risk
and time-series momentum; all folds as one program, stitched on the time axis; and the rows, per-fold statistics and
table of that record.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxtrade.agents.learned_master import LearnedMaster, ensemble_proposals, network_proposals
from jaxtrade.agents.master import ConfidenceAllocator
from jaxtrade.config import Config
from jaxtrade.data.splits import Fold
from jaxtrade.env.portfolio import PortfolioEnv
from jaxtrade.evaluate.backtest import MIN_RATIO_BARS, date_of, stop_name, stop_note, trade_ratios
from jaxtrade.evaluate.metrics import max_drawdown, sharpe
from jaxtrade.evaluate.shared_book import (
    EQUAL_RISK,
    EQUAL_WEIGHT_HELD,
    TS_MOMENTUM,
    agents_policy,
    capped_name,
    capped_policy,
    caps_target,
    equal_risk_policy,
    equal_weight_policy,
    holding_rules,
    master_policy,
    split_capital,
    ts_momentum_book_policy,
    variants_policy,
    walk_forward_book,
)
from jaxtrade.evaluate.stitch import record_row, sharpe_by_fold
from jaxtrade.experiment.build import Experiment
from jaxtrade.experiment.fold_masters import (
    book_axes,
    book_tables,
)
from jaxtrade.experiment.portfolio import master_network
from jaxtrade.experiment.walkforward_types import Books, WalkForwardResult

Log = Callable[[str], None]

SHARED_ENSEMBLE = "agents ensemble"  # the seed ensemble's agents on the shared account
SHARED_SPLIT = "agents split"  # each seed's agents on an equal share of the account (`split_capital`)
SHARED_SELECTED = "agents selected"  # per fold, the seed chosen on its inner validation slice
SEED_ROWS = {"ensemble": SHARED_ENSEMBLE, "split": SHARED_SPLIT, "select": SHARED_SELECTED}


def seed_row(portfolio, capital: str | None = None) -> str:
    """The shared-account row of the seeds traded as `capital` (a `portfolio.seed_capital`; default the config's:
    the row the targets are checked on), capped under `portfolio.agent_caps`."""
    agents = SEED_ROWS[capital or portfolio.seed_capital]
    return capped_name(portfolio, agents) or agents


def group_row(portfolio, seeds) -> str:
    """The shared-account row of one seed group's ensemble (`WalkForwardSpec.groups`), capped as configured: the
    group's version of the seed ensemble's row."""
    agents = f"ensemble {'+'.join(str(s) for s in seeds)}"
    return capped_name(portfolio, agents) or agents


def seed_policy(exp: Experiment):
    """One seed's symbol agents on the shared account as the judged row runs them: under the config's caps
    (`portfolio.agent_caps`), else each budget at the per-symbol limit. Params: that seed's network params."""
    total, network = 1.0, exp.network()
    if capped_name(exp.cfg.portfolio):
        return capped_policy(network_proposals(network), total, caps_target(exp.cfg.portfolio))
    return agents_policy(network_proposals(network), exp.cfg.env.max_position)


def inner_sharpe(exp: Experiment, slices: list[Fold], params, net, bars_per_year: float) -> np.ndarray:
    """(F, K) each seed's agents' Sharpe on the shared account (`seed_policy`) over its fold's inner slice
    (`slices`: folds whose `test` is the slice; `params`: their test tables, leading axis F; `net`: (F, K, ...)),
    NaN under `MIN_RATIO_BARS` bars. One program."""
    env, policy = PortfolioEnv(actions=exp.cfg.env.actions), seed_policy(exp)
    book_params = book_tables(params, np.asarray([f.test[1] for f in slices]), 1.0)
    steps = max(f.test[1] - f.test[0] - 1 for f in slices)

    def fold(stacked, params):
        return jax.vmap(lambda net_k: walk_forward_book(env, params, policy, net_k, jax.random.key(5), steps))(stacked)

    out = jax.jit(jax.vmap(fold, in_axes=(0, book_axes(params))))(net, book_params)
    rets, n = np.asarray(out.step_returns), np.asarray(out.steps)
    return np.array([[float(sharpe(jnp.asarray(rets[f, k, :n[f, k]]), bars_per_year)) if n[f, k] >= MIN_RATIO_BARS
                      else np.nan for k in range(rets.shape[1])] for f in range(rets.shape[0])])


def choose_seeds(score: np.ndarray) -> np.ndarray:
    """(F,) per fold the index of the seed with the highest inner-slice Sharpe (`score`, (F, K)); the first seed
    where none has one."""
    return np.where(np.isfinite(score).any(1), np.argmax(np.where(np.isfinite(score), score, -np.inf), 1), 0)


def shared_books(exp: Experiment, folds: list[Fold], test_params, has_start: np.ndarray, net, seeds, first: int,
                 log: Log | None, master: Config | None = None, masters=None, chosen: np.ndarray | None = None,
                 groups: int = 1) -> Books:
    """Every fold's test period on one shared account (`PortfolioEnv`, as `jaxtrade eval` does): each seed's
    symbol agents alone, under the rule-based master and (with `master`) under its learned master, the seed
    ensemble's agents alone, the seeds on split capital, with `chosen` ((F,) a seed index per fold) the chosen
    seed's agents, with `groups` > 1 each seed group's ensemble run as the ensemble's row (`group_row`), and equal
    weight held and rebalanced (no stop loss, take profit or holding limit); all folds as one program; the
    account's returns stitched on the time axis."""
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
    capped = capped_name(cfg.portfolio, SHARED_ENSEMBLE)
    seeds_capped = [n for s in seeds if (n := capped_name(cfg.portfolio, f"agents seed {s}"))]  # [] without caps
    rows = {capital: seed_row(cfg.portfolio, capital) for capital in SEED_ROWS if capital != "select" or
            chosen is not None}
    size, starts = K // groups, range(0, K, K // groups) if groups > 1 else range(0)  # each group's first seed
    group_seeds = {group_row(cfg.portfolio, seeds[i:i + size]): seeds[i:i + size] for i in starts}
    names += [SHARED_ENSEMBLE, *([capped] if capped else []), *seeds_capped, rows["split"],
              *([rows["select"]] if "select" in rows else []), *group_seeds, EQUAL_WEIGHT_HELD,
              "equal weight, rebal.", EQUAL_RISK, TS_MOMENTUM]
    caps_vol, one_seed = caps_target(cfg.portfolio), seed_policy(exp)

    def fold_books(stacked, learned_params, params, pick, key):
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
        uncapped_ensemble = agents_policy(ensemble, limit)
        capped_ensemble = capped_policy(ensemble, total, caps_vol) if capped else None
        out.append(walk_forward_book(env, params, uncapped_ensemble, stacked, key, steps))
        if capped:  # each seed's agents under the caps, (K, ...)
            out.append(walk_forward_book(env, params, capped_ensemble, stacked, key, steps))
            alone = jax.vmap(lambda net_k: walk_forward_book(env, params, one_seed, net_k, key, steps))(stacked)
            out += [jax.tree.map(lambda x, k=k: x[k], alone) for k in range(K)]
        else:  # each seed's agents alone, run above, (K, ...)
            per_seed = 2 + (learned is not None)
            alone = jax.tree.map(lambda *x: jnp.stack(x), *out[:K * per_seed:per_seed])
        out.append(split_capital(alone))
        if "select" in rows:
            out.append(jax.tree.map(lambda x: x[pick], alone))
        for i in starts:  # each group's ensemble, run as the ensemble's row
            group = jax.tree.map(lambda x, i=i: x[i:i + size], stacked)
            out.append(walk_forward_book(env, params, capped_ensemble or uncapped_ensemble, group, key, steps))
        holding = holding_rules(params)
        for rebalance in (False, True):
            out.append(walk_forward_book(env, holding, equal_weight_policy(total, rebalance), None, key, steps))
        out.append(walk_forward_book(env, holding, equal_risk_policy(total), None, key, steps))
        out.append(walk_forward_book(env, holding, ts_momentum_book_policy(total), None, key, steps))
        return out

    if log:
        log(f"walk-forward: {F} folds x {len(names)} policies on one shared account (one program)")
    books = jax.tree.map(np.asarray, jax.jit(jax.vmap(fold_books, in_axes=(0, 0, book_axes(test_params), 0, None)))(
        net, masters if masters is not None else jnp.zeros(F), book_params,
        jnp.zeros(F, jnp.int32) if chosen is None else jnp.asarray(chosen, jnp.int32), jax.random.key(3)))
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
    return Books(out, live, stops, trades, seed_row(cfg.portfolio), rows, group_seeds)


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
    the ensemble's), equal weight held, and the seeds' rows of each `portfolio.seed_capital` (`seeds_ensemble`,
    `seeds_split`, `seeds_select` where run; capped with caps) and each seed group's (`group0`, ...; with
    `WalkForwardSpec.groups`)."""
    books = result.books
    judged = books.judged if books else SHARED_ENSEMBLE
    seeds = {f"seeds_{capital}": row for capital, row in books.seed_rows.items()} if books else {}
    groups = {f"group{g}": row for g, row in enumerate(books.groups)} if books else {}
    return {"ensemble": SHARED_ENSEMBLE, "judged": judged, "equal_weight": EQUAL_WEIGHT_HELD, **seeds, **groups}


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


__all__ = [
    "SEED_ROWS", "SHARED_ENSEMBLE", "SHARED_SELECTED", "SHARED_SPLIT", "Books", "choose_seeds", "inner_sharpe",
    "seed_policy", "book_fold_drawdown", "book_fold_sharpe", "book_rows",
    "fold_book_rows", "format_book_rows", "group_row", "seed_row", "shared_books",
]
