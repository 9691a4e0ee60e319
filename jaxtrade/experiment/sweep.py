"""Sweeps: many training runs as one compiled program, then a validation backtest of each.

A sweep is the product of symbols (one agent per symbol, or one shared agent),
seeds and a grid of numeric settings: the PPO hyperparameters (`PPOHyperparams`),
the reward weights (`env.reward.*`) and the env's rules (`env.commission_bps`,
`env.max_position`, `env.stop_loss`, ...: every `Rules` field but the horizon,
which sets the evaluation's static length). All of them are traced values, so the
R runs are a `vmap` of `Trainer.run_chunk` over stacked keys, hyperparameters
and env params (rules, reward weights and, per symbol, start tables): one compilation,
every run on the device at once. Each trained agent is then backtested greedily
on the validation split (its own symbol's starts for per-symbol runs).

    spec = SweepSpec(seeds=(0, 1), per_symbol=True, grid=(("ppo.learning_rate", (1e-4, 3e-4)),))
    rows = sweep(load_experiment("configs/quickstart.yaml"), spec)
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, fields, replace

import jax
import jax.numpy as jnp
import numpy as np

from jaxtrade.config import Config
from jaxtrade.env.config import INT_RULES, RULE_FIELDS, rules_from_config
from jaxtrade.env.params import params_axes, symbol_params
from jaxtrade.env.rewards import REWARD_COMPONENTS
from jaxtrade.env.types import EnvParams
from jaxtrade.errors import ConfigError
from jaxtrade.evaluate.backtest import summarize_episodes
from jaxtrade.evaluate.metrics import mean_interval
from jaxtrade.evaluate.policies import agent_policy
from jaxtrade.evaluate.rollout import run_policies
from jaxtrade.experiment.build import Experiment
from jaxtrade.progress import Progress, working
from jaxtrade.train.config import PPOHyperparams
from jaxtrade.train.loop import all_finite, first_non_finite
from jaxtrade.train.ppo import make_train

HYPERPARAMS = tuple(f"ppo.{f.name}" for f in fields(PPOHyperparams))
REWARD_WEIGHTS = tuple(f"env.reward.{name}" for name in REWARD_COMPONENTS)
RULES = tuple(f"env.{name}" for name in RULE_FIELDS if name != "horizon")  # costs, limits, reward rates
SWEEPABLE = HYPERPARAMS + REWARD_WEIGHTS + RULES


@dataclass(frozen=True)
class SweepSpec:
    """What to sweep: runs = (symbols if per_symbol else one) x seeds x the grid's product."""

    seeds: tuple[int, ...] = (0,)
    per_symbol: bool = False  # one agent per symbol, trained on that symbol's starts only
    grid: tuple[tuple[str, tuple[float, ...]], ...] = ()  # (setting, values), settings from SWEEPABLE

    def __post_init__(self):
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"sweep seeds: need distinct seeds, got {self.seeds!r}")
        names = [name for name, _ in self.grid]
        for name, values in self.grid:
            if name not in SWEEPABLE:
                raise ConfigError(f"sweep: {name!r} cannot be swept; choose from {', '.join(SWEEPABLE)}")
            if not values:
                raise ConfigError(f"sweep: {name} has no values")
        if len(set(names)) != len(names):
            raise ConfigError(f"sweep: a setting appears twice in {names}")


def sweepable(text: str) -> bool:
    """Whether 'NAME=V1,V2,...' is a grid axis: NAME in `SWEEPABLE` and every value a number (else, on the
    command line, a plain config override)."""
    name, sep, values = text.partition("=")
    if not sep or name.strip() not in SWEEPABLE:
        return False
    try:
        [float(v) for v in values.split(",")]
    except ValueError:
        return False
    return True


def parse_setting(text: str) -> tuple[str, tuple[float, ...]]:
    """'ppo.learning_rate=1e-4,3e-4' -> ('ppo.learning_rate', (1e-4, 3e-4))."""
    name, sep, values = text.partition("=")
    if not sep or not values:
        raise ConfigError(f"sweep setting {text!r}: expected NAME=V1,V2,...")
    try:
        return name.strip(), tuple(float(v) for v in values.split(","))
    except ValueError:
        raise ConfigError(f"sweep setting {text!r}: values must be numbers") from None


def _apply(cfg: Config, settings: dict[str, float]) -> Config:
    """cfg with the run's settings; the config classes validate every value (ConfigError names it)."""
    ppo = {k.split(".", 1)[1]: v for k, v in settings.items() if k.startswith("ppo.")}
    reward = {k.rsplit(".", 1)[1]: v for k, v in settings.items() if k.startswith("env.reward.")}
    rules = {k.split(".", 1)[1]: v for k, v in settings.items() if k in RULES}
    rules = {k: int(v) if k in INT_RULES and float(v).is_integer() else v for k, v in rules.items()}
    env = replace(cfg.env, reward=replace(cfg.env.reward, **reward), **rules)
    return replace(cfg, ppo=replace(cfg.ppo, **ppo), env=env)


def sweep_runs(cfg: Config, spec: SweepSpec, symbols: tuple[str, ...]) -> list[dict]:
    """The runs in order: dicts with `symbol` (index or None), `seed`, each grid setting, and `config`."""
    names = [name for name, _ in spec.grid]
    runs = []
    for symbol, seed, values in itertools.product(range(len(symbols)) if spec.per_symbol else [None],
                                                  spec.seeds, itertools.product(*(v for _, v in spec.grid))):
        settings = dict(zip(names, values, strict=True))
        runs.append({"symbol": symbol, "seed": seed, **settings, "config": _apply(cfg, settings)})
    return runs


def _stack(trees):
    return jax.tree.map(lambda *x: jnp.stack(x), *trees)


def _run_params(params: EnvParams, runs: list[dict], per_symbol: bool) -> tuple[EnvParams, EnvParams]:
    """Params with a leading run axis on the rules and reward weights (and start tables per symbol), and their
    in_axes."""
    bpy = float(params.rules.bars_per_year)  # resolved from the data when the config says 0
    rules = [rules_from_config(r["config"].env, r["config"].env.bars_per_year or bpy) for r in runs]
    weights = jnp.asarray([r["config"].env.reward.as_tuple() for r in runs], jnp.float32)
    out = params.replace(rules=_stack(rules), reward_weights=weights)
    starts = None
    if per_symbol:
        symbols = sorted({r["symbol"] for r in runs})
        tables = symbol_params(params, symbols).starts
        row = jnp.asarray([symbols.index(r["symbol"]) for r in runs])
        out, starts = out.replace(starts=jax.tree.map(lambda x: x[row], tables)), 0
    return out, params_axes(params, starts=starts, rules=0, reward_weights=0)


def train_runs(trainer, ppo, keys: jax.Array, hps, params: EnvParams, axes: EnvParams, what: str,
               log: Callable[[str], None] | None = print):
    """Train R runs as one vmapped program (`Trainer.init` and `run_chunk` over a leading run axis of the keys,
    hyperparameters and the params' batched leaves, `axes`), chunk by chunk, checking each run's metrics.

    Returns:
      (runner state with a leading run axis, the last update's metrics per run, each run's first non-finite
      update as text or None: a diverged run is reported, never evaluated or ranked).
    """
    R = keys.shape[0]
    # Each run is initialised alone, then stacked: a vmapped init batches the orthogonal initialisers' QR
    # factorisations, and on a small CPU thread pool (2 cores) two batched LAPACK QR kernels running at once each
    # wait on the pool the other holds: the process hangs at 0 % CPU (seen in 4 of 5 walk-forwards of 30 runs).
    init = jax.jit(trainer.init)
    chunk = jax.jit(jax.vmap(trainer.run_chunk, in_axes=(0, 0, axes, None)), static_argnums=3, donate_argnums=0)
    run = lambda i: jax.tree.map(lambda a, x: x if a is None else jax.tree.map(lambda y: y[i], x),  # noqa: E731
                                 axes, params, is_leaf=lambda a: a is None)  # axes may be a prefix of params
    with working(f"{what}: compiling the {R} runs' training program", log):
        runner = jax.tree.map(lambda *x: jnp.stack(x), *[
            init(keys[i], jax.tree.map(lambda x, i=i: x[i], hps), run(i)) for i in range(R)])
        compiled = {n: chunk.lower(runner, hps, params, n).compile()
                    for n in {min(ppo.updates_per_chunk, ppo.num_updates),
                              ppo.num_updates % ppo.updates_per_chunk or ppo.updates_per_chunk}}
    bar, last = Progress(ppo.num_updates, 0, "updates"), None
    diverged: list[str | None] = [None] * R
    while bar.done < ppo.num_updates:
        n = min(ppo.updates_per_chunk, ppo.num_updates - bar.done)
        runner, metrics = compiled[n](runner, hps, params)
        host = jax.tree.map(np.asarray, metrics)
        for i in range(R):
            bad = None if diverged[i] else first_non_finite(jax.tree.map(lambda x, i=i: x[i], host))
            if bad is not None:
                diverged[i] = f"update {bar.done + bad[0] + 1} ({', '.join(bad[1])} not finite)"
        last = jax.tree.map(lambda x: x[:, -1], host)
        bar.advance(n)
        if log:
            log(f"{what}: {R} runs {bar} | {R * bar.done * ppo.batch_size:,} env steps | mean return of finished "
                f"episodes, best run {float(last.env.episode_return.max()):+.3%}, worst "
                f"{float(last.env.episode_return.min()):+.3%}")
    finite = np.asarray(jax.vmap(all_finite)(runner.train_state.params))
    diverged = [d or (None if bool(f) else "its parameters (not finite)")
                for d, f in zip(diverged, finite, strict=True)]
    return runner, last, diverged


def sweep(exp: Experiment, spec: SweepSpec, episodes: int = 256,
          log: Callable[[str], None] | None = print) -> list[dict]:
    """Train every run of `spec` in one vmapped program, then backtest each on the validation split.

    Returns:
      one row per run: symbol, seed, the swept settings, the last update's training
      metrics (`train_*`) and the greedy agent's validation statistics
      (`summarize_episodes`: return, Sharpe, Sortino, max drawdown, trades, ...).

    Raises:
      ConfigError: a bad setting value, or an empty validation split.
    """
    cfg, data, env = exp.cfg, exp.data, exp.env
    runs = sweep_runs(cfg, spec, data.symbols)
    R, ppo = len(runs), cfg.ppo
    first, end = exp.bars("validation")
    if first == end:
        raise ConfigError("sweep: the validation split is empty (see `split:` in the config)")
    network = exp.network()
    trainer = make_train(ppo, env, network)
    if spec.per_symbol and cfg.augment.symbols:
        raise ConfigError("sweep: per-symbol runs train on one real symbol each, so augment.symbols would be "
                          "unused; set augment.symbols: 0 or sweep without per_symbol")
    train_params, train_axes = _run_params(exp.train_params("train"), runs, spec.per_symbol)
    valid_params, valid_axes = _run_params(exp.params("validation"), runs, spec.per_symbol)
    keys = jnp.stack([jax.random.key(r["seed"]) for r in runs])
    hps = _stack([PPOHyperparams.from_config(r["config"].ppo) for r in runs])

    runner, last, diverged = train_runs(trainer, ppo, keys, hps, train_params, train_axes, "sweep", log)

    def evaluate(net_params, params, key):  # the greedy agent and literal buy-and-hold from the same starts
        act = agent_policy(network, net_params)
        r = run_policies(env, params, [act], key, episodes, cfg.env.horizon, hold=True)
        return jax.vmap(summarize_episodes, in_axes=(0, None))(r, params.rules.bars_per_year)

    with working(f"sweep: backtesting the {R} runs on the validation split ({episodes} episodes each)", log):
        stats = jax.jit(jax.vmap(evaluate, in_axes=(0, valid_axes, None)))(
            runner.train_state.params, valid_params, jax.random.key(1))
        stats = jax.tree.map(np.asarray, stats)
    rows = []
    for i, r in enumerate(runs):
        row = {"run": i, "symbol": "all" if r["symbol"] is None else data.symbols[r["symbol"]], "seed": r["seed"],
               "diverged": diverged[i]}
        row.update({name: r[name] for name, _ in spec.grid})
        row.update({"train_episode_return": float(last.env.episode_return[i]), "train_reward": float(last.reward[i]),
                    "train_entropy": float(last.entropy[i])})
        row.update({f"valid_{k}": float(v[i, 0]) for k, v in stats.items()})
        row.update({f"valid_buy_and_hold_{k}": float(stats[k][i, 1]) for k in HOLD_STATS})
        rows.append(row)
    return rows


HOLD_STATS = ("mean_return", "sharpe", "max_drawdown")
SUMMARY_STATS = ("mean_return", "sharpe", "sortino", "max_drawdown", "trades_per_episode", "win_rate",
                 "profit_factor", "exposure")
def seed_summary(rows: list[dict], grid_names: list[str]) -> list[dict]:
    """Runs that differ only in their seed, pooled: mean and 95 % interval over seeds of each validation
    statistic of the greedy agent, beside literal buy-and-hold on the same starts. Diverged runs are counted
    (`diverged`), not pooled; a setting whose every seed diverged has no row."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["symbol"], *(r[n] for n in grid_names)), []).append(r)
    out = []
    for key, every in groups.items():
        runs = [r for r in every if not r.get("diverged")]
        if not runs:
            continue
        row = {"symbol": key[0], **dict(zip(grid_names, key[1:], strict=True)), "seeds": len(runs),
               "diverged": len(every) - len(runs)}
        for stat in SUMMARY_STATS:
            row[stat] = mean_interval([r[f"valid_{stat}"] for r in runs])
        for stat in HOLD_STATS:
            row[f"buy_and_hold_{stat}"] = runs[0][f"valid_buy_and_hold_{stat}"]
        out.append(row)
    return out


def format_seed_summary(summary: list[dict], grid_names: list[str]) -> str:
    """One line per setting: the greedy agent's mean [95 % interval] over seeds vs buy-and-hold."""
    lines = []
    for r in summary:
        where = ", ".join([f"symbol {r['symbol']}"] + [f"{n.rsplit('.', 1)[1]} {r[n]:g}" for n in grid_names])
        fmt = lambda v, pct: (f"{v[0]:+.2%} [{v[1]:+.2%}, {v[2]:+.2%}]" if pct  # noqa: E731
                              else f"{v[0]:.2f} [{v[1]:.2f}, {v[2]:.2f}]")
        where += f" ({r['diverged']} diverged seed(s) left out)" if r.get("diverged") else ""
        lines.append(f"  {where}, {r['seeds']} seeds: return {fmt(r['mean_return'], True)}, Sharpe "
                     f"{fmt(r['sharpe'], False)}, max DD {fmt(r['max_drawdown'], True)}, win rate "
                     f"{fmt(r['win_rate'], True)}, PF {fmt(r['profit_factor'], False)}; buy-and-hold "
                     f"{r['buy_and_hold_mean_return']:+.2%}, Sharpe {r['buy_and_hold_sharpe']:.2f}, max DD "
                     f"{r['buy_and_hold_max_drawdown']:+.2%}")
    return "\n".join(lines)


def best_run(rows: list[dict]) -> int | None:
    """Index of the highest validation Sharpe among runs that trained without diverging and held any exposure;
    None when no run did."""
    traded = [i for i, r in enumerate(rows) if not r.get("diverged") and r["valid_exposure"] > 0]
    return max(traded, key=lambda i: rows[i]["valid_sharpe"]) if traded else None


def format_sweep(rows: list[dict], grid_names: list[str]) -> str:
    """A text table of sweep rows: settings, training return, validation metrics; the best validation
    Sharpe among the runs that held a position is marked with * (a run that never trades has Sharpe 0,
    which is no skill)."""
    best = best_run(rows)
    short = [n.rsplit(".", 1)[1] for n in grid_names]
    head = (f"  {'run':>4} {'symbol':<8} {'seed':>4} " + "".join(f"{s:>14} " for s in short)
            + f"{'train ret':>9} {'valid ret':>9} {'Sharpe':>7} {'Sortino':>8} {'max DD':>7} {'trades':>7} "
              f"{'win rate':>8} {'PF':>6} {'exposure':>8}")
    lines = [head]
    for i, r in enumerate(rows):
        if r.get("diverged"):
            lines.append(f"  {r['run']:>4} {r['symbol']:<8} {r['seed']:>4} "
                         + "".join(f"{r[n]:>14.6g} " for n in grid_names)
                         + f"diverged at {r['diverged']}: not evaluated")
            continue
        lines.append(
            f"{'*' if i == best else ' '} {r['run']:>4} {r['symbol']:<8} {r['seed']:>4} "
            + "".join(f"{r[n]:>14.6g} " for n in grid_names)
            + f"{r['train_episode_return']:>+9.2%} {r['valid_mean_return']:>+9.2%} {r['valid_sharpe']:>7.2f} "
              f"{r['valid_sortino']:>8.2f} {r['valid_max_drawdown']:>7.2%} {r['valid_trades_per_episode']:>7.2f} "
              f"{r['valid_win_rate']:>8.1%} {r['valid_profit_factor']:>6.2f} {r['valid_exposure']:>8.1%}")
    return "\n".join(lines)
