"""Command line: `jaxtrade summary|train|train-portfolio|sweep|walkforward --config X.yaml`,
`jaxtrade eval --checkpoint DIR`.

Argument parsing and error printing only; the workflows are `jaxtrade.experiment` functions. Each command is
registered with `@command(name, help, arguments, parents)` beside the function that runs it (`COMMANDS`).
"""

from __future__ import annotations

import argparse
import errno
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from jaxtrade.errors import ConfigError, DataError, TrainingError
from jaxtrade.version import __version__

# The shared option groups a command's parser may take (`command(..., parents=...)`), built by `_parents`.
PARENTS = ("common", "overrides", "length", "seed", "track")


@dataclass(frozen=True)
class Command:
    """One `jaxtrade <name>` command: what it runs, its help line, its shared option groups (`PARENTS`) and a
    function that adds its own options to its parser."""

    run: Callable[[argparse.Namespace], int]
    help: str
    parents: tuple[str, ...]
    arguments: Callable[[argparse.ArgumentParser], None]


COMMANDS: dict[str, Command] = {}  # name -> Command, in the order `jaxtrade --help` lists them


def command(name: str, help: str, arguments: Callable[[argparse.ArgumentParser], None],
            parents: tuple[str, ...] = ("common",)):
    """Decorator: register `run(args) -> exit code` as `jaxtrade <name>` (a new workflow is its function in
    `jaxtrade.experiment` and one of these here). Errors it raises as `ConfigError` / `DataError` /
    `TrainingError` print as one line with exit code 2."""
    unknown = sorted(set(parents) - set(PARENTS))
    if unknown:
        raise ValueError(f"command {name!r}: unknown option groups {unknown}; known: {list(PARENTS)}")

    def add(run):
        COMMANDS[name] = Command(run, help, tuple(parents), arguments)
        return run
    return add


def _cache(args: argparse.Namespace):
    """The feature cache folder the workflows take: --cache-dir, None for the default, False for --no-cache."""
    return False if args.no_cache else args.cache_dir


def _config(args: argparse.Namespace):
    """--config with --set, --seed and --total-timesteps (or --updates) applied, in that order; what changed the
    run length is printed."""
    from dataclasses import replace

    from jaxtrade.config import load_config

    cfg = load_config(args.config, getattr(args, "overrides", ()))
    if getattr(args, "seed", None) is not None:
        cfg = replace(cfg, ppo=replace(cfg.ppo, seed=args.seed))
    updates, total = getattr(args, "updates", None), getattr(args, "total_timesteps", None)
    if updates is not None and total is not None:
        raise ConfigError("--updates and --total-timesteps both set the run length; give one")
    if total is not None:
        updates = cfg.ppo.updates_for(total)
        print(f"--total-timesteps {total:,}: {updates} updates of {cfg.ppo.num_envs} envs x {cfg.ppo.rollout_len} "
              f"steps = {updates * cfg.ppo.batch_size:,} env steps (rounded up to whole updates)")
    if updates is not None:
        cfg = replace(cfg, ppo=replace(cfg.ppo, num_updates=updates))
    return cfg


def _experiment(args: argparse.Namespace):
    """The experiment of --config with the overrides applied, announced."""
    from jaxtrade.experiment import load_experiment

    cfg = _config(args)
    print(f"jaxtrade {args.command}: {args.config}")
    return load_experiment(cfg, _cache(args))


def _run_folder(args: argparse.Namespace, cfg) -> None:
    """--checkpoint-dir, or a new runs/<config>-s<seed>-<time> folder when none is given (printed)."""
    from pathlib import Path

    if args.checkpoint_dir is None:
        if args.resume:
            raise ConfigError("--resume: give the run folder to continue with --checkpoint-dir")
        stamp = time.strftime("%Y%m%d-%H%M%S")
        args.checkpoint_dir = str(Path("runs") / f"{Path(args.config).stem}-s{cfg.ppo.seed}-{stamp}")
        print(f"run folder: {args.checkpoint_dir} (checkpoints, metrics, TensorBoard; --checkpoint-dir to choose)")


def _seeds(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(s) for s in text.split(","))
    except ValueError:
        raise ConfigError(f"--seeds: expected integers like 0,1,2, got {text!r}") from None


def _config_arg(p: argparse.ArgumentParser, what: str = "YAML config file") -> None:
    p.add_argument("--config", required=True, help=what)


def _report_args(p: argparse.ArgumentParser, report: str, plots: str) -> None:
    p.add_argument("--report", default=None, help=report)
    p.add_argument("--plots", default=None, help=plots)


def _summary_args(p: argparse.ArgumentParser) -> None:
    _config_arg(p)
    p.add_argument("--envs", type=int, default=1024, help="parallel envs in the random-policy rollout")


@command("summary", "load data, build features, print a summary", _summary_args, ("common", "overrides"))
def _summary(args: argparse.Namespace) -> int:
    from jaxtrade.experiment import load_experiment, summary

    t0 = time.perf_counter()
    exp = load_experiment(_config(args), _cache(args))
    print(f"jaxtrade summary: {args.config} (data and features ready in {time.perf_counter() - t0:.2f}s)")
    summary(exp, args.envs)
    return 0


def _train_args(p: argparse.ArgumentParser) -> None:
    _config_arg(p)
    p.add_argument("--checkpoint-dir", default=None, help="save an orbax checkpoint after every chunk (and the "
                   "metrics) here; default a new runs/<config>-s<seed>-<time> folder")
    p.add_argument("--resume", action="store_true",
                   help="continue from the latest checkpoint if there is one (bit-exact)")
    p.add_argument("--eval-episodes", type=int, default=512, help="validation backtest episodes per policy")
    _report_args(p, "write the validation backtest to this .json or .csv",
                 "write PNG plots (walk-forward equity, training curves) here")
    p.add_argument("--distributed", action="store_true",
                   help="multi-host: call jax.distributed.initialize() and train over every process's devices")


@command("train", "train a PPO agent, then backtest it on held-out bars", _train_args,
         ("common", "overrides", "length", "seed", "track"))
def _train(args: argparse.Namespace) -> int:
    import jax

    from jaxtrade.experiment import load_experiment, train

    if args.distributed:
        jax.distributed.initialize()  # coordinator and process ids from the cluster (SLURM, ...) or JAX_* vars
    cfg = _config(args)
    _run_folder(args, cfg)
    exp = load_experiment(cfg, _cache(args))
    if jax.process_index() == 0:
        print(f"jaxtrade train: {args.config}")
    train(exp, args.checkpoint_dir, args.resume, args.eval_episodes, args.report, args.plots, track=args.track)
    return 0


def _train_portfolio_args(p: argparse.ArgumentParser) -> None:
    _config_arg(p, "YAML config file with a portfolio: block")
    p.add_argument("--checkpoint-dir", default=None, help="save the run's checkpoints (and metrics) here; "
                   "default a new runs/<config>-s<seed>-<time> folder")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint if there is one")
    p.add_argument("--plots", default=None, help="write PNG plots (portfolio equity and allocation) here")


@command("train-portfolio", "train a master agent on one account over trained symbol agents (portfolio.mode: "
         "master) or with them (mode: joint), then backtest it", _train_portfolio_args,
         ("common", "overrides", "length", "seed", "track"))
def _train_portfolio(args: argparse.Namespace) -> int:
    from jaxtrade.experiment import load_experiment, train_portfolio

    cfg = _config(args)
    _run_folder(args, cfg)
    exp = load_experiment(cfg, _cache(args))
    print(f"jaxtrade train-portfolio: {args.config}")
    train_portfolio(exp, args.checkpoint_dir, args.resume, args.plots, track=args.track)
    return 0


def _eval_portfolio_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, help="checkpoint directory written by `jaxtrade train-portfolio`")
    p.add_argument("--split", default="test", choices=["train", "validation", "test"])
    _report_args(p, "write the portfolio table to this .json or .csv",
                 "write PNG plots (portfolio equity and allocation) here")


@command("eval-portfolio", "restore a train-portfolio run (either mode) and backtest the portfolio on a split",
         _eval_portfolio_args)
def _eval_portfolio(args: argparse.Namespace) -> int:
    from jaxtrade.experiment import evaluate_portfolio

    evaluate_portfolio(args.checkpoint, args.split, _cache(args), args.report, args.plots)
    return 0


def _eval_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, help="checkpoint directory written by `jaxtrade train`")
    p.add_argument("--split", default="test", choices=["train", "validation", "test"])
    p.add_argument("--step", type=int, default=None, help="checkpoint step (default: the latest)")
    p.add_argument("--episodes", type=int, default=512, help="episodes per policy")
    _report_args(p, "write the backtest to this .json or .csv",
                 "write PNG plots (walk-forward equity, training curves) here")


@command("eval", "restore a checkpoint and backtest it against the baselines", _eval_args)
def _eval(args: argparse.Namespace) -> int:
    from jaxtrade.experiment import evaluate_checkpoint

    evaluate_checkpoint(args.checkpoint, args.split, args.step, args.episodes, args.report, args.plots,
                        _cache(args))
    return 0


def _sweep_args(p: argparse.ArgumentParser) -> None:
    _config_arg(p, "YAML config file (the base of every run)")
    p.add_argument("--seeds", default="0", help="comma-separated seeds, e.g. 0,1,2")
    p.add_argument("--per-symbol", action="store_true", help="one agent per symbol (trained on its starts only)")
    p.add_argument("--set", action="append", default=[], metavar="NAME=V1,V2",
                   help="sweep a setting: ppo.<learning_rate|gamma|gae_lambda|clip_eps|vf_coef|ent_coef|"
                        "max_grad_norm>, env.reward.<component> or env.<rule> (commission_bps, max_position, "
                        "stop_loss, ...) over numbers; repeat for a grid. Any other KEY=VALUE sets that config key "
                        "for every run")
    p.add_argument("--episodes", type=int, default=256, help="validation episodes per run")
    p.add_argument("--report", default=None, help="write the results table to this .json or .csv")


@command("sweep", "train many runs (symbols x seeds x settings) as one program; validation table", _sweep_args,
         ("common", "length"))
def _sweep(args: argparse.Namespace) -> int:
    from jaxtrade.experiment import SweepSpec, parse_setting, sweep_report, sweepable

    # A --set of numbers on a sweepable setting is a grid axis (one run per value); any other is an override.
    grid = [parse_setting(s) for s in args.set if sweepable(s)]
    args.overrides = [s for s in args.set if not sweepable(s)]
    spec = SweepSpec(seeds=_seeds(args.seeds), per_symbol=args.per_symbol, grid=tuple(grid))
    sweep_report(_experiment(args), spec, args.episodes, args.report)
    return 0


def _walkforward_args(p: argparse.ArgumentParser) -> None:
    _config_arg(p, "YAML config file (every fold trains with it)")
    p.add_argument("--folds", default="yearly", help="'yearly' (a test period per calendar year) or a number N "
                                                     "of equal test periods")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds per fold, e.g. 0,1,2")
    p.add_argument("--scheme", default="expanding", help="training range: 'expanding' (all bars before the fold) "
                                                         "or 'rolling:YEARS'")
    p.add_argument("--embargo", type=int, default=None,
                   help="bars between a fold's training end and its first decision (default and minimum: the "
                        "observation window)")
    p.add_argument("--start", default=None, help="first out-of-sample date (default: the first fold boundary "
                                                 "after --min-train-bars ready training bars)")
    p.add_argument("--min-train-bars", type=int, default=504,
                   help="ready bars the first fold trains on, for the default start (504: two trading years)")
    p.add_argument("--trials", type=int, default=1,
                   help="configurations tried before this one (a sweep's 'trials'): the deflated Sharpe's N")
    p.add_argument("--inner", type=int, default=0,
                   help="bars of an inner validation slice at the end of each fold's training range: the agents "
                        "train before it, and the seed that scores best there trades the fold on the shared account "
                        "('agents selected'; judged with portfolio.seed_capital: select); default 0: none")
    p.add_argument("--groups", type=int, default=1,
                   help="split the seeds into this many equal groups, in order: each group's seed ensemble trades "
                        "the shared account as the seed ensemble's row does, and the report gives that row's Sharpe "
                        "per group, their mean and t interval (how far the record moves with the seeds alone); "
                        "default 1: none")
    p.add_argument("--master", default=None,
                   help="a train-portfolio config (mode master, e.g. configs/portfolio.yaml): train a learned master "
                        "per fold and seed over that run's agents, and test it on the shared account")
    p.add_argument("--master-updates", type=int, default=None, help="override the master config's ppo.num_updates")
    _report_args(p, "write the stitched tables to this .json",
                 "write the stitched equity, drawdown and per-fold Sharpe PNG here")


@command("walkforward", "retrain from scratch per fold (folds x seeds as one program), test each fold on the "
         "period after it, and judge the stitched out-of-sample record", _walkforward_args,
         ("common", "overrides", "length"))
def _walkforward(args: argparse.Namespace) -> int:
    from jaxtrade.data.splits import parse_scheme
    from jaxtrade.experiment import WalkForwardSpec, walkforward_report

    folds = args.folds if args.folds == "yearly" else None
    if folds is None:
        try:
            folds = int(args.folds)
        except ValueError:
            raise ConfigError(f"--folds: 'yearly' or a number of folds, got {args.folds!r}") from None
    parse_scheme(args.scheme)  # a bad scheme fails before the data load
    spec = WalkForwardSpec(folds=folds, seeds=_seeds(args.seeds), scheme=args.scheme, embargo=args.embargo,
                           start=args.start, min_train_bars=args.min_train_bars, trials=args.trials,
                           inner=args.inner, groups=args.groups)
    master = None
    if args.master:  # read before the data load, so a bad master config fails at once
        from dataclasses import replace

        from jaxtrade.config import load_config

        master = load_config(args.master)
        if args.master_updates is not None:
            master = replace(master, ppo=replace(master.ppo, num_updates=args.master_updates))
    walkforward_report(_experiment(args), spec, args.report, args.plots, master=master)
    return 0


def _export_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, help="run folder written by `jaxtrade train`")
    p.add_argument("--out", required=True, help="the agent folder to write (agent.json, params.msgpack)")
    p.add_argument("--step", type=int, default=None, help="checkpoint step (default: the newest valid)")


@command("export", "write a trained agent's policy to a small folder that loads without the training data",
         _export_args)
def _export(args: argparse.Namespace) -> int:
    from jaxtrade.experiment.export import export_agent

    export_agent(args.checkpoint, args.out, args.step, _cache(args))
    return 0


def _act_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--agent", required=True, help="folder written by `jaxtrade export`")
    p.add_argument("--data", required=True, help="recent bars, CSV or parquet (at least the warm-up + window)")
    p.add_argument("--time-unit", default=None, help="epoch timestamps in s, ms, us or ns")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


@command("act", "what an exported agent does at the last bar of new data, per symbol", _act_args)
def _act(args: argparse.Namespace) -> int:
    import json

    from jaxtrade.data.loaders import load_csv, load_parquet
    from jaxtrade.experiment.export import load_agent

    agent = load_agent(args.agent)
    loader = load_parquet if str(args.data).endswith(".parquet") else load_csv
    out = agent.decide(loader(args.data, time_unit=args.time_unit))
    if args.json:
        print(json.dumps({**out, "action": out["action"].tolist(), "probabilities": out["probabilities"].tolist(),
                          "value": out["value"].tolist()}))
        return 0
    names = agent.env.actions.names
    print(f"jaxtrade act: {args.agent} at {out['time']} (greedy; a flat account with the initial cash)")
    print(f"  {'symbol':<10} {'action':<14} {'P(action)':>9} {'value':>8}   " + " ".join(f"{n[:9]:>9}" for n in names))
    for i, sym in enumerate(out["symbol"]):
        p = out["probabilities"][i]
        print(f"  {sym:<10} {out['name'][i]:<14} {p[out['action'][i]]:>9.1%} {out['value'][i]:>8.3f}   "
              + " ".join(f"{x:>9.1%}" for x in p))
    return 0


def _parents() -> dict[str, argparse.ArgumentParser]:
    """The shared option groups (`PARENTS`), each a parent parser."""
    groups = {name: argparse.ArgumentParser(add_help=False) for name in PARENTS}
    common = groups["common"]  # every command
    common.add_argument("--cache-dir", default=None,
                        help="feature cache folder (default $JAXTRADE_CACHE_DIR or ~/.cache/jaxtrade/features)")
    common.add_argument("--no-cache", action="store_true", help="compute features without reading or writing "
                                                                 "the cache")
    common.add_argument("-v", "--verbose", action="store_true")
    groups["overrides"].add_argument(  # every command that reads --config
        "--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
        help="set a config key before validation, VALUE read as YAML (ppo.learning_rate=1e-4, "
             "data.symbols=[AAPL,MSFT], env.stop_loss=0.05); repeat for several")
    length = groups["length"]  # every command that trains
    length.add_argument("--total-timesteps", type=int, default=None,
                        help="run length in env steps: ppo.num_updates = ceil(N / (num_envs x rollout_len))")
    length.add_argument("--updates", type=int, default=None, help="override ppo.num_updates")
    groups["track"].add_argument(  # every command that trains one run
        "--track", default=None, choices=["wandb", "mlflow"],
        help="also log every update's metrics and the config to Weights & Biases or MLflow (the track extra; "
             "WANDB_MODE=offline or a local MLFLOW_TRACKING_URI work without a network)")
    groups["seed"].add_argument("--seed", type=int, default=None, help="override ppo.seed (the run's PRNG seed)")
    return groups


def build_parser() -> argparse.ArgumentParser:
    """The command line: every registered command (`COMMANDS`) with its shared option groups and its own options."""
    groups = _parents()
    parser = argparse.ArgumentParser(prog="jaxtrade", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"jaxtrade {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, cmd in COMMANDS.items():
        cmd.arguments(sub.add_parser(name, parents=[groups[g] for g in cmd.parents], help=cmd.help))
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    main_thread = threading.current_thread() is threading.main_thread()  # only there can signals be caught
    # SIGTERM, what schedulers and `timeout` send, stops the run as Ctrl-C does.
    previous = signal.signal(signal.SIGTERM, _terminated) if main_thread else None
    try:
        return COMMANDS[args.command].run(args)
    except (ConfigError, DataError, TrainingError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        print(f"stopped by {'SIGTERM' if isinstance(exc, Terminated) else 'Ctrl-C'}: {_resume_hint(args)}",
              file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130
    except OSError as exc:  # a path of the wrong kind, a read-only or full filesystem
        print(f"error: {_os_error(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:
        text = str(exc)
        if "No space left on device" in text:  # orbax / tensorstore wrap it in their own errors
            print(f"error: no space left on the device while writing; {_resume_hint(args)} (free some space first)",
                  file=sys.stderr)
            return 2
        if "RESOURCE_EXHAUSTED" in text and "memory" in text.lower():  # XLA ran out of device memory
            print(f"error: out of memory ({text.splitlines()[0][:200]}): lower ppo.num_envs or ppo.rollout_len "
                  f"(training) or --episodes (backtests)", file=sys.stderr)
            return 2
        raise
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Python next runs (after the device computation in flight)."""


def _terminated(signum, frame):
    raise Terminated()


def _resume_hint(args: argparse.Namespace) -> str:
    """What was kept and how to go on, for a run stopped part-way."""
    folder = getattr(args, "checkpoint_dir", None)
    if folder is None:
        return "nothing is resumable (no --checkpoint-dir)" if hasattr(args, "checkpoint_dir") else "nothing to resume"
    return (f"the chunk in flight was dropped, the checkpoints in {folder} are intact; run the same command with "
            f"--resume to continue from the last one")


def _os_error(exc: OSError) -> str:
    """One line for an operating-system error: the path, what is wrong, and what to do."""
    path = exc.filename or "a file"
    what = {errno.EISDIR: "is a directory, a file was expected",
            errno.ENOTDIR: "a file stands where a directory was expected",
            errno.EEXIST: "a file stands where a directory was expected",
            errno.EROFS: "is on a read-only filesystem; choose a writable location",
            errno.EACCES: "permission denied; choose a location you can write",
            errno.ENOSPC: "no space left on the device; free some space, then resume with --resume",
            errno.ENOENT: "not found"}.get(exc.errno, exc.strerror or str(exc))
    return f"{path}: {what}"


if __name__ == "__main__":
    sys.exit(main())
