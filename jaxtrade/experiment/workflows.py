"""The workflows behind the command line: summary, train, eval, sweep, and the backtest / portfolio reports.

Each takes an `Experiment` (or a checkpoint) and writes its lines through `log`
(default `print`), so a notebook or a script runs exactly what `jaxtrade` runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import jax
import numpy as np

from jaxtrade.agents.learned_master import LearnedMaster, network_proposals
from jaxtrade.agents.master import ConfidenceAllocator
from jaxtrade.config import config_from_dict
from jaxtrade.env.portfolio import PortfolioEnv
from jaxtrade.env.rewards import REWARD_COMPONENTS
from jaxtrade.errors import ConfigError, DataError
from jaxtrade.evaluate.backtest import (
    backtest,
    format_symbol_summary,
    format_table,
    phase3_check,
    phase3_report,
    sharpe_ok,
    table_legend,
    target_checks,
    target_report,
    walk_forward_backtest,
    write_report,
)
from jaxtrade.evaluate.policies import BASELINES, HOLD_RULES, agent_policy, random_policy
from jaxtrade.evaluate.rollout import run_episodes
from jaxtrade.evaluate.shared_book import (
    AGENT_VARIANTS,
    REBALANCE_TOLERANCE,
    book_row,
    capped_name,
    capped_policy,
    caps_target,
    format_portfolio,
    holding_rules,
    master_policy,
    run_book,
    run_equal_weight,
    run_variants,
)
from jaxtrade.experiment.build import Experiment, load_experiment, training_setup
from jaxtrade.experiment.provenance import compare_data
from jaxtrade.experiment.sweep import (
    SweepSpec,
    best_run,
    format_seed_summary,
    format_sweep,
    seed_summary,
    sweep,
    sweep_runs,
)
from jaxtrade.experiment.tracking import tracker
from jaxtrade.features.pipeline import REGIME_FEATURES, TECHNICAL_FEATURES
from jaxtrade.progress import working
from jaxtrade.train.checkpoint import Checkpointer
from jaxtrade.train.history import read_history
from jaxtrade.train.loop import Setup, fit, to_host

Log = Callable[[str], None]


def summary(exp: Experiment, num_envs: int = 1024, log: Log = print) -> None:
    """The data per symbol, feature statistics over ready bars, and one horizon of a random policy in the env."""
    cfg, data, feats = exp.cfg, exp.data, exp.features
    src = cfg.data.sample if cfg.data.source == "sample" else cfg.data.source
    log(f"data: {src}: {data.num_symbols} symbols x {data.num_bars} bars, ~{data.bars_per_year():.0f} bars/year")
    log(f"{'symbol':<8} {'bars':>6} {'missing':>7} {'ready':>6}  {'first':<19} {'last':<19} {'last close':>10}")
    ready = np.asarray(feats.ready).sum(axis=1)
    for row, n_ready in zip(data.summary(), ready, strict=True):
        log(f"{row['symbol']:<8} {row['bars']:>6} {row['missing']:>7} {n_ready:>6}  "
            f"{row['first']:<19} {row['last']:<19} {row['last_close']:>10.4f}")
    log(f"features {'read from cache' if exp.features_cached else 'computed'}: technical "
        f"{tuple(feats.technical.shape)}, regime {tuple(feats.regime.shape)}, normalization="
        f"{cfg.features.normalization} (window {cfg.features.norm_window})")
    mask = np.asarray(feats.ready)
    for title, names, values in (("technical", TECHNICAL_FEATURES, feats.technical),
                                 ("regime", REGIME_FEATURES, feats.regime)):
        v = np.asarray(values)[mask]
        log(f"{title} features over ready bars: name, mean, std, min, max")
        for i, name in enumerate(names):
            col = v[:, i]
            log(f"  {name:<18} {col.mean():>9.4f} {col.std():>9.4f} {col.min():>9.4f} {col.max():>9.4f}")
    env_summary(exp, num_envs, log)


def env_summary(exp: Experiment, num_envs: int = 1024, log: Log = print) -> None:
    """The env's episode starts and one horizon of a random masked policy in `num_envs` episodes."""
    cfg, data = exp.cfg, exp.data
    params = exp.params()
    starts = np.bincount(np.asarray(params.starts.symbol), minlength=data.num_symbols)
    log(f"env: {params.num_starts} episode starts ("
        + ", ".join(f"{s} {n}" for s, n in zip(data.symbols, starts, strict=True))
        + f"), horizon {cfg.env.horizon}, costs {cfg.env.commission_bps:g}+{cfg.env.slippage_bps:g} bps, "
          f"{exp.env.num_actions} actions ({'long-short' if cfg.env.allow_short else 'long only'})")
    run = jax.jit(lambda key: run_episodes(exp.env, params, random_policy, key, num_envs, cfg.env.horizon))
    with working(f"compiling a rollout of {num_envs} episodes", log):
        jax.block_until_ready(run(jax.random.key(0)))
    t = time.perf_counter()
    r = jax.block_until_ready(run(jax.random.key(1)))
    dt = time.perf_counter() - t
    steps = int(r.steps.sum())
    log(f"random masked policy, {num_envs} episodes of up to {cfg.env.horizon} steps: {steps / dt:,.0f} steps/s; "
        f"{int((r.stop_reason > 0).sum())} stopped by the drawdown/ruin rules (then held in cash), mean "
        f"{steps / num_envs:.0f} steps, mean return "
        f"{float(r.total_return.mean()):+.2%}")
    per_step = np.asarray(r.reward_components).sum(0) / max(steps, 1)
    log("  mean reward components per step: " + ", ".join(
        f"{n} {v:+.4f}" for n, v in zip(REWARD_COMPONENTS, per_step, strict=True)))


def portfolio_report(setup: Setup, exp: Experiment, split: str, net_params, log: Log = print,
                     plots: str | None = None, learned: tuple | None = None, stage: str = "") -> list[dict]:
    """Every symbol on one account (shared cash) through the split: the agents alone, under the rule-based
    master, under a learned master (`learned` = (MasterNetwork, its params), when given), and equal-weight
    buy-and-hold (held, and rebalanced); one table of portfolio metrics."""
    cfg = exp.cfg
    limit, total = cfg.env.max_position, (cfg.portfolio.total_limit if learned else 1.0)
    bars = exp.bars(split)
    if bars[0] == bars[1]:
        log(f"no portfolio backtest: the {split} split is empty (see `split:` in the config)")
        return []
    try:
        params = exp.portfolio_params(split, total_limit=total)
    except DataError as exc:
        log(f"no portfolio backtest: {exc}")
        return []
    master = ConfidenceAllocator(total_limit=total, per_symbol_limit=limit)
    holding = holding_rules(params)  # the baselines hold: no stop loss, take profit or holding limit
    env = PortfolioEnv(actions=exp.env.actions)
    capped = capped_name(cfg.portfolio)  # None: no caps
    policies = len(AGENT_VARIANTS) + 3 + bool(learned) + bool(capped)
    with working(f"{stage}portfolio of {exp.data.num_symbols} symbols on one account x {policies} policies "
                 f"(compile and run)", log):
        results = run_variants(env, params, setup.network, net_params, master, {}, limit, jax.random.key(3))
        if learned:
            learned_master = LearnedMaster(learned[0], total, cfg.portfolio.tolerance)
            results.update(run_book(env, params, {"agents + learned master": (master_policy(
                network_proposals(setup.network), learned_master), (net_params, learned[1]))}, jax.random.key(3)))
        if capped:  # the agents under the config's caps: the row the targets are checked on
            policy = capped_policy(network_proposals(setup.network), total, caps_target(cfg.portfolio))
            results.update(run_book(env, params, {capped: (policy, net_params)}, jax.random.key(3)))
        results.update(run_equal_weight(env, holding, total, jax.random.key(3)))
    bpy = float(params.env.rules.bars_per_year)
    rows = [book_row(name, r, bpy, exp.data.timestamps()) for name, r in results.items()]
    first = int(results["agents"].start_bar)
    log(f"portfolio: all {exp.data.num_symbols} symbols on one account (shared cash) from bar {first} "
        f"({str(exp.data.timestamps()[first])[:10]}) to the split's end; symbols join as they can trade; each "
        f"capped at {limit:.0%} of equity and opens (long or short) never past {total:.0%} gross; the rule-based "
        f"master (ConfidenceAllocator) gives the budget to the symbols whose agents most confidently want a position"
        + ("; the learned master sets budgets from its network's mean allocation" if learned else "")
        + (f"; '{capped}': the agents with each symbol capped at equal "
           + ("risk's exposure" if cfg.portfolio.agent_caps == "vol" else "weight's") + " (portfolio.agent_caps)"
           if capped else "")
        + f"; equal weight buys {min(total / exp.data.num_symbols, limit):.1%} of equity per symbol through the "
        f"env's orders (rebalanced: sells "
        f"half of a symbol {REBALANCE_TOLERANCE:.0%} over its weight and buys back), without stop loss, take "
        f"profit or holding limit; every row is under the account's drawdown/ruin rules, which liquidate it and "
        f"hold cash to the split's end (`stopped`), and a symbol whose data ends is sold at its last close")
    log(format_portfolio(rows))
    if plots:
        from jaxtrade.evaluate.plots import plot_book  # matplotlib only when asked

        path = plot_book(results, exp.data.symbols, exp.data.timestamps(), Path(plots) / f"portfolio_{split}.png",
                         title=f"one account, {split} split",
                         allocation_of="agents + learned master" if learned else "agents + master")
        log(f"plots: {path}")
    return rows


SYMBOL_ROWS = 12  # more symbols than this: the walk-forward is summarised over symbols (rows go to the report)


def _episode_table(setup: Setup, exp: Experiment, params, policies: dict, split: str, bars, episodes: int,
                   stage: str, log: Log) -> list[dict]:
    """Random episodes with the same starts for every policy: the table and its legend."""
    cfg, ts = exp.cfg, exp.data.timestamps()
    horizon = min(cfg.env.horizon, bars[1] - bars[0])  # no episode is longer than the split
    log(f"backtest on the {split} split, bars {bars[0]}..{bars[1] - 1} ({str(ts[bars[0]])[:10]} .. "
        f"{str(ts[bars[1] - 1])[:10]}): {episodes} episodes of up to {horizon} steps, the same starts for "
        f"every policy")
    with working(f"{stage}{episodes} episodes x {len(policies) + 1} policies (compile and run)", log):
        rows = backtest(setup.env, params, policies, jax.random.key(1), episodes, horizon)
    log(format_table(rows))
    log(table_legend(cfg.env.initial_cash))
    log(f"  episodes ran {min(r['steps'] for r in rows):.1f}-{max(r['steps'] for r in rows):.1f} bars on average "
        f"(up to {horizon}: an episode also ends at the split's last bar); the drawdown/ruin rules liquidate an "
        f"episode and it runs on in cash (`stopped`: the share so stopped)")
    log(f"  Sharpe/Sortino annualised with {rows[0]['bars_per_year']:.0f} bars/year from the step returns pooled "
        f"over all episodes; max drawdown a per-episode mean; win rate and profit factor over all closed trades; "
        f"buy_and_hold buys {cfg.env.max_position:.0%} at the first open and holds (no exits, no stops: the "
        f"benchmark as usually quoted); {HOLD_RULES} buys up to {cfg.env.max_position:.0%} through the env and "
        f"never sells, under the agent's rules (costs, exits, stops): the like-for-like benchmark")
    return rows


def _symbol_records(setup: Setup, exp: Experiment, params, policies: dict, split: str, end: int, stage: str,
                    log: Log) -> tuple[list[dict], dict]:
    """One walk per symbol through the whole split for every policy: the rows (a table, or a summary over many
    symbols) and the phase-3 count."""
    data = exp.data
    log(f"walk-forward on the {split} split: one episode per symbol from its first start to the split's end, "
        f"all symbols in parallel; a missing bar is carried at the last close; a drawdown/ruin stop liquidates "
        f"and the record runs on in cash (`stopped`: rule and date); a symbol whose data ends inside the split "
        f"ends there, marked at its last close (`data end`)")
    with working(f"{stage}walk-forward, {data.num_symbols} symbols x {len(policies) + 1} policies "
                 f"(compile and run)", log):
        wf_rows, wf = walk_forward_backtest(setup.env, params, policies, jax.random.key(2), data.symbols,
                                            data.timestamps(), end)
    if data.num_symbols <= SYMBOL_ROWS:
        log(format_table(sorted(wf_rows, key=lambda r: r["symbol"])))
    else:
        log(f"  over the {data.num_symbols} symbols (a row per symbol in the report, `--report`):")
        log(format_symbol_summary(wf_rows))
        agent = sorted((r for r in wf_rows if r["policy"] == "agent" and sharpe_ok(r)), key=lambda r: r["sharpe"])
        named = lambda rows: ", ".join(  # noqa: E731
            f"{r['symbol']} {r['mean_return']:+.1%} (Sharpe {r['sharpe']:.2f})" for r in rows)
        log(f"  the agent's best: {named(agent[:-4:-1])}; worst: {named(agent[:3])}")
    log(f"  {phase3_report(wf_rows)}")
    return wf_rows, wf


def _backtest_plots(exp: Experiment, wf: dict, split: str, plots: str, history_dir: str | None, log: Log) -> None:
    """The per-symbol equity plot (a spread of at most `SYMBOL_ROWS` symbols) and the training curves."""
    from jaxtrade.evaluate.plots import (  # matplotlib only when asked
        plot_training,
        plot_walk_forward,
    )

    shown = {k: v for k, v in wf.items() if k != "cash"}  # cash is the flat reference line
    title = f"walk-forward, {split} split"
    if len(shown["agent"].symbol) > SYMBOL_ROWS:  # one column a symbol: a spread of them, ranked by the agent
        ranked = np.argsort(np.asarray(wf["agent"].total_return))
        pick = np.sort(ranked[np.linspace(0, len(ranked) - 1, SYMBOL_ROWS).round().astype(int)])
        shown = {k: jax.tree.map(lambda x, pick=pick: x[pick], v) for k, v in shown.items()}
        title += f": {SYMBOL_ROWS} of {len(ranked)} symbols, evenly spread from the agent's worst to best"
    path = plot_walk_forward(shown, exp.data.symbols, exp.data.timestamps(), Path(plots) / f"equity_{split}.png",
                             title=title)
    log(f"plots: {path}")
    if history_dir:
        try:
            history = read_history(history_dir)
        except ConfigError as exc:
            log(f"no training plot: {exc}")
        else:
            log(f"plots: {plot_training(history, Path(plots) / 'training.png', title=str(history_dir))}")


def backtest_report(setup: Setup, exp: Experiment, runner, split: str, episodes: int,
                    report: str | None = None, plots: str | None = None, history_dir: str | None = None,
                    log: Log = print) -> None:
    """Agent (greedy and sampled) and baselines on one split: random episodes with the same starts for
    every policy, then a walk-forward through the whole split per symbol, then (several symbols) one shared
    account; tables, targets, report, plots."""
    bars = exp.bars(split)
    if bars[0] == bars[1]:
        log(f"no {split} backtest: the {split} split is empty (see `split:` in the config)")
        return
    try:
        params = exp.params(split)
    except DataError as exc:
        log(f"no {split} backtest: {exc}")
        return
    net_params = to_host(runner.train_state.params)  # host copies: the backtest runs in this process alone
    policies = {"agent": agent_policy(setup.network, net_params),
                "agent_sampled": agent_policy(setup.network, net_params, deterministic=False), **BASELINES}
    several = exp.data.num_symbols > 1
    stage = lambda i: f"[{i}/{3 if several else 2}] "  # noqa: E731
    rows = _episode_table(setup, exp, params, policies, split, bars, episodes, stage(1), log)
    wf_rows, wf = _symbol_records(setup, exp, params, policies, split, bars[1], stage(2), log)
    portfolio = portfolio_report(setup, exp, split, net_params, log, plots, stage=stage(3)) if several else []
    capped = capped_name(exp.cfg.portfolio)
    judged = next((r for r in portfolio if r["policy"] == capped), portfolio[0]) if portfolio else rows[0]
    if portfolio:
        log(f"  seed targets on the agents' portfolio equity ({judged['policy']}): {target_report(judged)}")
    else:
        log(f"  seed targets (agent, episode means): {target_report(judged)}")
    if report:
        meta = {"split": split, "bars": list(bars), "update": int(to_host(runner.updates_done)),
                "config": exp.config_dict, "data_notes": list(exp.data.notes), "portfolio": portfolio,
                "targets": {"policy": judged["policy"], "on": "portfolio" if portfolio else "episodes",
                            "checks": target_checks(judged)},
                "phase3": phase3_check(wf_rows)}
        log(f"report written to {write_report(rows, report, meta, per_symbol=wf_rows)}")
    if plots:
        _backtest_plots(exp, wf, split, plots, history_dir, log)


def train(exp: Experiment, checkpoint_dir: str | None = None, resume: bool = False, eval_episodes: int = 512,
          report: str | None = None, plots: str | None = None, log: Log | None = print, track: str | None = None):
    """Train the config's agent (data parallel over every device), then backtest it on the validation split;
    `track` ("wandb", "mlflow") logs every update's metrics and the config to that tracker (`tracking`).

    Returns:
      (setup, final runner state); only process 0 logs and backtests in a multi-host run.
    """
    setup = training_setup(exp)
    lead = jax.process_index() == 0
    ppo = exp.cfg.ppo
    log = log if lead else None
    if log:
        log(f"jaxtrade train: {exp.data.num_symbols} symbols, {setup.env_params.num_starts} training starts; "
            f"{ppo.num_updates} updates x {ppo.num_envs} envs x {ppo.rollout_len} steps on {jax.device_count()} x "
            f"{jax.devices()[0].device_kind} ({jax.process_count()} process(es))")
    name = Path(checkpoint_dir).name if checkpoint_dir else None
    with tracker(track if lead else None, checkpoint_dir, setup.config, name) as on_metrics:
        runner, _ = fit(setup, checkpoint_dir=checkpoint_dir, resume=resume, log=log, on_metrics=on_metrics)
    if log:
        if checkpoint_dir:
            log(f"checkpoints in {checkpoint_dir}")
        backtest_report(setup, exp, runner, "validation", eval_episodes, report, plots, checkpoint_dir, log)
    return setup, runner


def restore_runner(ckpt: Checkpointer, setup: Setup, step: int | None = None, log: Log = print):
    """(runner, metadata) of `step` in `ckpt`, or of the newest step that restores and verifies (saying which
    newer steps it skipped and why)."""
    abstract = jax.eval_shape(setup.trainer.init, jax.random.key(0), setup.hp, setup.env_params)
    if step is not None:
        return ckpt.restore(abstract, step, sharding=setup.runner_sharding(abstract))
    runner, meta, skipped = ckpt.restore_newest_valid(abstract, sharding=setup.runner_sharding(abstract))
    for reason in skipped:
        log(f"skipped a damaged checkpoint: {reason}")
    return runner, meta


def check_data(meta: dict, exp: Experiment, split: str, checkpoint: str, log: Log = print) -> None:
    """Compare the data a checkpoint recorded with `exp`'s before evaluating it on `split` (`compare_data`): a
    change to the training bars or an overlap with them is an error, any other change a note.

    Raises:
      ConfigError: naming what changed.
    """
    problems, notes = compare_data((meta.get("record") or {}).get("data"), exp, split)
    if problems:
        raise ConfigError(f"{checkpoint}: the data are not those the run trained on: " + "; ".join(problems)
                          + " (restore the data it trained on, or train again on these)")
    for note in notes:
        log(f"note: the data differ from the run's: {note}")


def evaluate_checkpoint(checkpoint: str, split: str = "test", step: int | None = None, episodes: int = 512,
                        report: str | None = None, plots: str | None = None, cache_dir: str | None = None,
                        log: Log = print) -> None:
    """Restore a checkpoint (its config travels with it) and backtest it on `split`."""
    ckpt = Checkpointer(checkpoint, create=False)
    cfg = config_from_dict((ckpt.newest_metadata() if step is None else ckpt.metadata(step))["config"])
    exp = load_experiment(cfg, cache_dir)
    setup = training_setup(exp)
    runner, meta = restore_runner(ckpt, setup, step, log)
    ckpt.close()
    check_data(meta, exp, split, checkpoint, log)
    log(f"jaxtrade eval: {checkpoint} at update {int(runner.updates_done)} ({meta.get('env_steps', 0):,} env steps)")
    backtest_report(setup, exp, runner, split, episodes, report, plots, checkpoint, log)


def sweep_report(exp: Experiment, spec: SweepSpec, episodes: int = 256, report: str | None = None,
                 log: Log = print) -> list[dict]:
    """Train every run of `spec` as one program, then print the validation table and the seed summary."""
    cfg = exp.cfg
    runs = len(sweep_runs(cfg, spec, exp.data.symbols))  # also validates every run's settings
    log(f"jaxtrade sweep: {runs} runs ({'one agent per symbol' if spec.per_symbol else 'shared agent'}"
        f", seeds {list(spec.seeds)}" + "".join(f", {n} {list(v)}" for n, v in spec.grid)
        + f") x {cfg.ppo.num_updates} updates x {cfg.ppo.num_envs} envs x {cfg.ppo.rollout_len} steps, one "
          f"program on {jax.devices()[0].device_kind}")
    rows = sweep(exp, spec, episodes=episodes, log=log)
    log(f"validation split, {episodes} episodes per run, greedy agent (* best validation Sharpe of the runs "
        f"that traded):")
    grid_names = [n for n, _ in spec.grid]
    log(format_sweep(rows, grid_names))
    if best_run(rows) is None:
        log("  no run held a position on the validation split: none is marked best")
    log(f"  {len(rows)} configurations tried: the number of trials a deflated Sharpe ratio of the one chosen here "
        f"must correct for (`trials` in the report)")
    if len(spec.seeds) > 1:
        log("across seeds (mean [95 % t interval]; Sharpe from the pooled step returns of the episodes):")
        log(format_seed_summary(seed_summary(rows, grid_names), grid_names))
    if report:
        meta = {"config": exp.config_dict, "data_notes": list(exp.data.notes), "seeds": list(spec.seeds),
                "trials": len(rows)}
        log(f"report written to {write_report(rows, report, meta)}")
    return rows


__all__ = ["backtest_report", "env_summary", "evaluate_checkpoint", "portfolio_report", "summary", "sweep_report",
           "train"]
