"""Command line: `jaxtrade summary|train|sweep --config X.yaml`, `jaxtrade eval --checkpoint DIR --split test`."""

from __future__ import annotations

import argparse
import logging
import sys
import time

import numpy as np

from jaxtrade.errors import ConfigError, DataError


def _summary(args: argparse.Namespace) -> int:
    from jaxtrade.config import load_config
    from jaxtrade.data.config import load_data
    from jaxtrade.features.cache import cached_features
    from jaxtrade.features.pipeline import REGIME_FEATURES, TECHNICAL_FEATURES, compute_features

    cfg = load_config(args.config)
    t0 = time.perf_counter()
    data = load_data(cfg.data, min_bars=cfg.min_bars)
    t1 = time.perf_counter()
    if args.no_cache:
        feats, hit = compute_features(data, cfg.features), False
    else:
        feats, hit = cached_features(data, cfg.features, args.cache_dir)
    feats.technical.block_until_ready()
    t2 = time.perf_counter()

    src = cfg.data.sample if cfg.data.source == "sample" else cfg.data.source
    print(f"jaxtrade summary: {args.config} (data: {src})")
    print(f"{data.num_symbols} symbols x {data.num_bars} bars, ~{data.bars_per_year():.0f} bars/year, "
          f"loaded in {t1 - t0:.2f}s")
    print(f"{'symbol':<8} {'bars':>6} {'missing':>7} {'ready':>6}  {'first':<19} {'last':<19} {'last close':>10}")
    ready = np.asarray(feats.ready).sum(axis=1)
    for row, n_ready in zip(data.summary(), ready, strict=True):
        print(f"{row['symbol']:<8} {row['bars']:>6} {row['missing']:>7} {n_ready:>6}  "
              f"{row['first']:<19} {row['last']:<19} {row['last_close']:>10.4f}")
    how = "read from cache" if hit else "computed"
    print(f"features {how} in {t2 - t1:.2f}s: technical {tuple(feats.technical.shape)}, "
          f"regime {tuple(feats.regime.shape)}, normalization={cfg.features.normalization} "
          f"(window {cfg.features.norm_window})")
    mask = np.asarray(feats.ready)
    for title, names, values in (("technical", TECHNICAL_FEATURES, feats.technical),
                                 ("regime", REGIME_FEATURES, feats.regime)):
        v = np.asarray(values)[mask]
        print(f"{title} features over ready bars: name, mean, std, min, max")
        for i, name in enumerate(names):
            col = v[:, i]
            print(f"  {name:<18} {col.mean():>9.4f} {col.std():>9.4f} {col.min():>9.4f} {col.max():>9.4f}")
    _env_summary(cfg, data, feats, args.envs)
    return 0


def _env_summary(cfg, data, feats, num_envs: int) -> None:
    """Build the env on the data and run one horizon of a random masked policy in all envs."""
    import jax
    import jax.numpy as jnp

    from jaxtrade.env import REWARD_COMPONENTS, TradingEnv, make_params
    from jaxtrade.evaluate import random_policy

    params = make_params(data, feats, cfg.env, window=cfg.window)
    env = TradingEnv(window=cfg.window)
    starts = np.bincount(np.asarray(params.start_symbol), minlength=data.num_symbols)
    print(f"env: {params.num_starts} episode starts ("
          + ", ".join(f"{s} {n}" for s, n in zip(data.symbols, starts, strict=True))
          + f"), horizon {cfg.env.horizon}, costs {cfg.env.commission_bps:g}+{cfg.env.slippage_bps:g} bps")
    step = jax.vmap(env.step, in_axes=(0, 0, 0, None))

    @jax.jit
    def rollout(key):
        k0, k1 = jax.random.split(key)
        obs, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(k0, num_envs), params)

        def body(carry, key):
            obs, state = carry
            ka, ks = jax.random.split(key)
            action = random_policy(ka, obs)
            obs, state, reward, term, trunc, info = step(jax.random.split(ks, num_envs), state, action, params)
            done = term | trunc
            return (obs, state), (jnp.stack(info["reward_components"]), term, done,
                                  jnp.where(done, info["episode_return"], 0.0))

        _, (comps, term, done, ret) = jax.lax.scan(body, (obs, state), jax.random.split(k1, cfg.env.horizon))
        return comps.mean(axis=(0, 2)), term.sum(), done.sum(), ret.sum()

    rollout(jax.random.key(0))  # compile
    t = time.perf_counter()
    comps, term, done, ret = jax.block_until_ready(rollout(jax.random.key(1)))
    dt = time.perf_counter() - t
    steps = num_envs * cfg.env.horizon
    episodes = int(done)
    print(f"random masked policy, {num_envs} envs x {cfg.env.horizon} steps: {steps / dt:,.0f} steps/s; "
          f"{episodes} episodes ended ({int(term)} terminated), mean return "
          f"{float(ret) / max(episodes, 1):+.2%}")
    print("  mean reward components: " + ", ".join(
        f"{n} {v:+.4f}" for n, v in zip(REWARD_COMPONENTS, np.asarray(comps), strict=True)))


def _backtest(setup, data, features, runner, split: str, episodes: int, report: str | None,
              plots: str | None = None, history_dir: str | None = None) -> None:
    """Agent (greedy and sampled) and baselines on one split: random episodes with the same starts for
    every policy, then a walk-forward through the whole split per symbol; tables, targets, report, plots."""
    import jax

    from jaxtrade.config import config_to_dict
    from jaxtrade.data.splits import split_bars
    from jaxtrade.env import make_params
    from jaxtrade.evaluate import BASELINES, agent_policy
    from jaxtrade.evaluate.backtest import (
        backtest,
        format_table,
        phase3_report,
        target_report,
        walk_forward_backtest,
        write_report,
    )
    from jaxtrade.train.loop import to_host

    cfg = setup.cfg
    bars = split_bars(cfg.split, data)[split]
    if bars[0] == bars[1]:
        print(f"no {split} backtest: the {split} split is empty (see `split:` in the config)")
        return
    try:
        params = make_params(data, features, cfg.env, window=cfg.window, bars=bars)
    except DataError as exc:
        print(f"no {split} backtest: {exc}")
        return
    ts = data.timestamps()
    horizon = cfg.env.horizon
    print(f"backtest on the {split} split, bars {bars[0]}..{bars[1] - 1} ({str(ts[bars[0]])[:10]} .. "
          f"{str(ts[bars[1] - 1])[:10]}): {episodes} episodes of up to {horizon} steps, the same starts for "
          f"every policy")
    net_params = to_host(runner.train_state.params)  # host copies: the backtest runs in this process alone
    policies = {"agent": agent_policy(setup.network, net_params),
                "agent_sampled": agent_policy(setup.network, net_params, deterministic=False), **BASELINES}
    rows = backtest(setup.env, params, policies, jax.random.key(1), episodes, horizon)
    print(format_table(rows))
    print(f"  Sharpe/Sortino annualised with {rows[0]['bars_per_year']:.0f} bars/year from the step returns pooled "
          f"over all episodes; max drawdown a per-episode mean; win rate and profit factor over all closed trades; "
          f"buy_and_hold buys {cfg.env.max_position:.0%} at the first open and holds (no exits), always_long "
          f"buys every bar through the env")
    wf_rows, wf = walk_forward_backtest(setup.env, params, policies, jax.random.key(2), data.symbols)
    print(f"walk-forward on the {split} split: one episode per symbol from its first start to the end "
          f"(or the env's drawdown/ruin stop), all symbols in parallel")
    print(format_table(sorted(wf_rows, key=lambda r: r["symbol"])))
    print(f"  {phase3_report(wf_rows)}")
    portfolio = _portfolio(setup, params, net_params, policies) if data.num_symbols > 1 else []
    if portfolio:
        print(f"  seed targets on the agents' portfolio equity: {target_report(portfolio[0])}")
    else:
        print(f"  seed targets (agent, episode means): {target_report(rows[0])}")
    if report:
        meta = {"split": split, "bars": list(bars), "update": int(to_host(runner.update)),
                "config": config_to_dict(cfg)}
        meta["portfolio"] = portfolio
        print(f"report written to {write_report(rows, report, meta, per_symbol=wf_rows)}")
    if plots:
        from pathlib import Path

        from jaxtrade.evaluate.plots import plot_training, plot_walk_forward
        from jaxtrade.train.loop import read_history

        shown = {k: v for k, v in wf.items() if k != "cash"}  # cash is the flat reference line
        path = plot_walk_forward(shown, data.symbols, ts, Path(plots) / f"equity_{split}.png",
                                 title=f"walk-forward, {split} split")
        print(f"plots: {path}")
        if history_dir:
            try:
                history = read_history(history_dir)
            except ConfigError as exc:
                print(f"no training plot: {exc}")
            else:
                print(f"plots: {plot_training(history, Path(plots) / 'training.png', title=str(history_dir))}")


def _portfolio(setup, params, net_params, policies) -> list[dict]:
    """Every symbol in lockstep from a common start, equal cash per symbol: the agents alone, the agents
    under the rule-based master agent, and buy-and-hold; one table of portfolio metrics."""
    import jax

    from jaxtrade.agents.master import ConfidenceAllocator
    from jaxtrade.evaluate.portfolio import (
        agent_proposals,
        format_portfolio,
        master_policy,
        portfolio_row,
        run_portfolios,
    )

    limit = setup.cfg.env.max_position
    master = ConfidenceAllocator(total_limit=limit, per_symbol_limit=limit)
    sampled = agent_proposals(setup.network, net_params, deterministic=False)
    runs = {"agents": policies["agent"],
            "agents + master": master_policy(agent_proposals(setup.network, net_params), master, {}),
            "agents sampled": lambda key, obs, state, params: sampled(key, obs, state, params)[2],
            "agents sampled + master": master_policy(sampled, master, {})}
    try:
        results = run_portfolios(setup.env, params, runs, jax.random.key(3), hold="buy_and_hold")
    except DataError as exc:
        print(f"no portfolio backtest: {exc}")
        return []
    bpy = float(params.bars_per_year)
    rows = [portfolio_row(name, r, bpy) for name, r in results.items()]
    print(f"portfolio: all symbols in lockstep from bar {int(results['agents'].accounts.start_bar[0])}, equal cash "
          f"each; the master (rule-based ConfidenceAllocator) caps total exposure at {limit:.0%} of equity and "
          f"gives capital to the symbols whose agents are most confidently long")
    print(format_portfolio(rows))
    return rows


def _train(args: argparse.Namespace) -> int:
    import jax

    from jaxtrade.config import load_config
    from jaxtrade.data.config import load_data
    from jaxtrade.features.cache import cached_features
    from jaxtrade.train.loop import build, fit

    if args.distributed:
        jax.distributed.initialize()  # coordinator and process ids from the cluster (SLURM, ...) or JAX_* vars
    lead = jax.process_index() == 0
    cfg = load_config(args.config)
    data = load_data(cfg.data, min_bars=cfg.min_bars)
    features, _ = cached_features(data, cfg.features, args.cache_dir)
    setup = build(cfg, data, features)
    ppo = cfg.ppo
    if lead:
        print(f"jaxtrade train: {args.config}: {data.num_symbols} symbols, {setup.env_params.num_starts} training "
              f"starts; {ppo.num_updates} updates x {ppo.num_envs} envs x {ppo.rollout_len} steps on "
              f"{jax.device_count()} x {jax.devices()[0].device_kind} ({jax.process_count()} process(es))")
    runner, history = fit(setup, checkpoint_dir=args.checkpoint_dir, resume=args.resume,
                          log=print if lead else None)
    if not lead:
        return 0
    if args.checkpoint_dir:
        print(f"checkpoints in {args.checkpoint_dir}")
    _backtest(setup, data, features, runner, "validation", args.eval_episodes, args.report, args.plots,
              args.checkpoint_dir)
    return 0


def _eval(args: argparse.Namespace) -> int:
    import jax

    from jaxtrade.config import config_from_dict
    from jaxtrade.data.config import load_data
    from jaxtrade.features.cache import cached_features
    from jaxtrade.train.checkpoint import Checkpointer
    from jaxtrade.train.loop import build

    ckpt = Checkpointer(args.checkpoint)
    meta = ckpt.metadata(args.step)
    cfg = config_from_dict(meta["config"])
    data = load_data(cfg.data, min_bars=cfg.min_bars)
    features, _ = cached_features(data, cfg.features, args.cache_dir)
    setup = build(cfg, data, features)
    abstract = jax.eval_shape(setup.trainer.init, jax.random.key(0), setup.hp, setup.env_params)
    runner, meta = ckpt.restore(abstract, args.step, sharding=setup.runner_sharding(abstract))
    ckpt.close()
    print(f"jaxtrade eval: {args.checkpoint} at update {int(runner.update)} ({meta.get('env_steps', 0):,} env steps)")
    _backtest(setup, data, features, runner, args.split, args.episodes, args.report, args.plots, args.checkpoint)
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from dataclasses import replace

    import jax

    from jaxtrade.config import load_config
    from jaxtrade.data.config import load_data
    from jaxtrade.evaluate.backtest import write_report
    from jaxtrade.evaluate.sweep import (
        SweepSpec,
        format_seed_summary,
        format_sweep,
        parse_setting,
        seed_summary,
        sweep,
        sweep_runs,
    )
    from jaxtrade.features.cache import cached_features

    try:
        seeds = tuple(int(s) for s in args.seeds.split(","))
    except ValueError:
        raise ConfigError(f"--seeds: expected integers like 0,1,2, got {args.seeds!r}") from None
    spec = SweepSpec(seeds=seeds, per_symbol=args.per_symbol, grid=tuple(parse_setting(s) for s in args.set))
    cfg = load_config(args.config)
    if args.updates is not None:
        cfg = replace(cfg, ppo=replace(cfg.ppo, num_updates=args.updates))
    data = load_data(cfg.data, min_bars=cfg.min_bars)
    features, _ = cached_features(data, cfg.features, args.cache_dir)
    runs = len(sweep_runs(cfg, spec, data.symbols))  # also validates every run's settings
    print(f"jaxtrade sweep: {args.config}: {runs} runs ({'one agent per symbol' if spec.per_symbol else 'shared agent'}"
          f", seeds {list(seeds)}" + "".join(f", {n} {list(v)}" for n, v in spec.grid)
          + f") x {cfg.ppo.num_updates} updates x {cfg.ppo.num_envs} envs x {cfg.ppo.rollout_len} steps, one "
          f"program on {jax.devices()[0].device_kind}")
    rows = sweep(cfg, data, features, spec, episodes=args.episodes)
    print(f"validation split, {args.episodes} episodes per run, greedy agent (* best validation Sharpe):")
    grid_names = [n for n, _ in spec.grid]
    print(format_sweep(rows, grid_names))
    if len(seeds) > 1:
        print("across seeds (mean [95 % t interval]; Sharpe from the pooled step returns of the episodes):")
        print(format_seed_summary(seed_summary(rows, grid_names), grid_names))
    if args.report:
        print(f"report written to {write_report(rows, args.report, {'config': args.config, 'seeds': list(seeds)})}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jaxtrade", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("summary", help="load data, build features, print a summary")
    p.add_argument("--config", required=True, help="YAML config file")
    p.add_argument("--cache-dir", default=None, help="feature cache folder")
    p.add_argument("--no-cache", action="store_true", help="always recompute features")
    p.add_argument("--envs", type=int, default=1024, help="parallel envs in the random-policy rollout")
    p.add_argument("-v", "--verbose", action="store_true")
    p = sub.add_parser("train", help="train a PPO agent, then backtest it on held-out bars")
    p.add_argument("--config", required=True, help="YAML config file")
    p.add_argument("--checkpoint-dir", default=None, help="save an orbax checkpoint after every chunk here")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint if there is one (bit-exact)")
    p.add_argument("--cache-dir", default=None, help="feature cache folder")
    p.add_argument("--eval-episodes", type=int, default=512, help="validation backtest episodes per policy")
    p.add_argument("--report", default=None, help="write the validation backtest to this .json or .csv")
    p.add_argument("--plots", default=None, help="write PNG plots (walk-forward equity, training curves) here")
    p.add_argument("--distributed", action="store_true",
                   help="multi-host: call jax.distributed.initialize() and train over every process's devices")
    p.add_argument("-v", "--verbose", action="store_true")
    p = sub.add_parser("eval", help="restore a checkpoint and backtest it against the baselines")
    p.add_argument("--checkpoint", required=True, help="checkpoint directory written by `jaxtrade train`")
    p.add_argument("--split", default="test", choices=["train", "validation", "test"])
    p.add_argument("--step", type=int, default=None, help="checkpoint step (default: the latest)")
    p.add_argument("--episodes", type=int, default=512, help="episodes per policy")
    p.add_argument("--report", default=None, help="write the backtest to this .json or .csv")
    p.add_argument("--plots", default=None, help="write PNG plots (walk-forward equity, training curves) here")
    p.add_argument("--cache-dir", default=None, help="feature cache folder")
    p.add_argument("-v", "--verbose", action="store_true")
    p = sub.add_parser("sweep", help="train many runs (symbols x seeds x settings) as one program; "
                                     "validation table")
    p.add_argument("--config", required=True, help="YAML config file (the base of every run)")
    p.add_argument("--seeds", default="0", help="comma-separated seeds, e.g. 0,1,2")
    p.add_argument("--per-symbol", action="store_true", help="one agent per symbol (trained on its starts only)")
    p.add_argument("--set", action="append", default=[], metavar="NAME=V1,V2",
                   help="sweep a setting: ppo.<learning_rate|gamma|gae_lambda|clip_eps|vf_coef|ent_coef|"
                        "max_grad_norm> or env.reward.<component>; repeat for a grid")
    p.add_argument("--updates", type=int, default=None, help="override ppo.num_updates")
    p.add_argument("--episodes", type=int, default=256, help="validation episodes per run")
    p.add_argument("--report", default=None, help="write the results table to this .json or .csv")
    p.add_argument("--cache-dir", default=None, help="feature cache folder")
    p.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    commands = {"summary": _summary, "train": _train, "eval": _eval, "sweep": _sweep}
    try:
        return commands[args.command](args)
    except (ConfigError, DataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
