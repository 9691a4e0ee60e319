"""The learned master in a walk-forward: per fold and seed, a master trained over that fold's frozen symbol agents
on the fold's own training range (all folds x seeds as one vmapped program), then tested on the shared account.

    result = walk_forward_retrain(exp, spec, master=load_config("configs/portfolio.yaml"))

The master config is what `jaxtrade train-portfolio` reads: its `portfolio:` block (mode master) and its `ppo:`
train the master. Its `portfolio.symbol_agents` is not read (each fold's own agents take the checkpoint's place),
nor its split (the folds set the ranges); its data, features, window and env must be the walk-forward config's.
A master's training episodes start, fill and end inside its fold's training range, as the agents' do.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxtrade.agents.learned_master import (
    MasterEnv,
    MasterParams,
    logistic_normal,
    network_proposals,
)
from jaxtrade.config import Config, config_to_dict
from jaxtrade.env.params import range_axes
from jaxtrade.env.portfolio import PortfolioEnv
from jaxtrade.env.types import PortfolioParams
from jaxtrade.errors import ConfigError, TrainingError
from jaxtrade.experiment.build import Experiment
from jaxtrade.experiment.portfolio import master_network
from jaxtrade.experiment.sweep import train_runs
from jaxtrade.train.config import PPOHyperparams
from jaxtrade.train.ppo import make_train
from jaxtrade.train.resume import config_differences, describe_differences

Log = Callable[[str], None]
MASTER_SETTINGS = ("data", "features", "window", "env")  # what the master config must share with the agents'


def check_master_config(exp: Experiment, master: Config) -> None:
    """A master config a walk-forward can use with `exp`'s agents.

    Raises:
      ConfigError: mode joint, or other data, features, window or env than the walk-forward config's (named).
    """
    if master.portfolio.mode != "master":
        raise ConfigError(f"walkforward --master: portfolio.mode is {master.portfolio.mode!r}; a walk-forward trains "
                          f"a master over each fold's frozen agents, which is mode 'master' (set it in the master "
                          f"config)")
    here, there = exp.config_dict, config_to_dict(master)
    differ = config_differences({k: here.get(k) for k in MASTER_SETTINGS}, {k: there.get(k) for k in MASTER_SETTINGS})
    if differ:
        raise ConfigError("walkforward --master: the master config differs from the walk-forward config: "
                          + describe_differences(there, here, differ, "master config", "walk-forward config")
                          + f" (use the same {', '.join(MASTER_SETTINGS)})")


def book_tables(env_params, ends: np.ndarray, total_limit: float) -> PortfolioParams:
    """Shared-account params over env params with a leading range axis (`walkforward._range_tables`): each
    row's start bars (where some symbol can trade, padded to one length by repetition) and its end `ends`
    (R,); vmap with `book_axes`."""
    ok = np.asarray(env_params.market.tradeable)  # (R, S, T)
    starts = [np.flatnonzero(row.any(axis=0)) for row in ok]
    length = max(x.size for x in starts)
    return PortfolioParams(
        env=env_params, tradeable=env_params.market.tradeable,
        start_bars=jnp.asarray(np.stack([x[np.arange(length) % x.size] for x in starts]).astype(np.int32)),
        start_count=jnp.asarray([x.size for x in starts], jnp.int32), end=jnp.asarray(ends, jnp.int32),
        total_limit=jnp.asarray(total_limit, jnp.float32))


def book_axes(base) -> PortfolioParams:
    """The vmap in_axes of `book_tables` over env params made like `base` (only its structure is read)."""
    return PortfolioParams(env=range_axes(base), tradeable=0, start_bars=0, start_count=0, end=0, total_limit=None)


def train_fold_masters(exp: Experiment, master: Config, train_params, train_ends: np.ndarray, net, seeds,
                       log: Log | None = print):
    """A master per (fold, seed) over that run's frozen symbol agents, on its fold's training range: run r =
    (fold r // K, seed r % K), `train_params` the agents' training env params with a leading run axis and
    `train_ends` (R,) the ranges' ends; `net` the agents' params (F, K, ...). One vmapped program.

    Returns:
      the masters' params with leading axes (fold, seed).

    Raises:
      TrainingError: a master diverged (no record is made of it).
    """
    F, K = jax.tree.leaves(net)[0].shape[:2]
    pc, ppo = master.portfolio, master.ppo
    env = MasterEnv(PortfolioEnv(actions=exp.env.actions), network_proposals(exp.network(), pc.deterministic),
                    pc.tolerance)
    params = MasterParams(book_tables(train_params, train_ends, pc.total_limit),
                          jax.tree.map(lambda x: x.reshape((F * K,) + x.shape[2:]), net))
    axes = MasterParams(book_axes(train_params), 0)
    trainer = make_train(ppo, env, master_network(pc), distribution=logistic_normal)
    # A master's key differs from its agents' (same seed, same fold) by one more fold_in.
    return train_fold_runs(trainer, ppo, params, axes, seeds, F, "walk-forward masters", log, salt=1,
                           advice="lower the master config's ppo.learning_rate, then rerun")


def train_fold_runs(trainer, ppo, params, axes, seeds, num_folds: int, what: str, log: Log | None,
                    salt: int | None = None, advice: str = "lower ppo.learning_rate or raise ppo.max_grad_norm's "
                                                          "clipping, then rerun"):
    """Runs r = (fold r // K, seed r % K) as one vmapped program (`sweep.train_runs`), each keyed by its seed and
    fold (and `salt`); their params with leading axes (fold, seed).

    Raises:
      TrainingError: a run diverged (no out-of-sample record is made of it); `advice` says what to try.
    """
    F, K = num_folds, len(seeds)
    key = lambda seed, f: jax.random.fold_in(jax.random.key(seed), f)  # noqa: E731
    keys = jnp.stack([key(seed, f) if salt is None else jax.random.fold_in(key(seed, f), salt)
                      for f in range(F) for seed in seeds])
    hps = jax.tree.map(lambda *x: jnp.stack(x), *[PPOHyperparams.from_config(ppo)] * (F * K))
    runner, _, diverged = train_runs(trainer, ppo, keys, hps, params, axes, what, log)
    bad = [(i, d) for i, d in enumerate(diverged) if d]
    if bad:
        raise TrainingError(f"{what}: " + "; ".join(f"fold {i // K} seed {seeds[i % K]} diverged at {d}"
                                                    for i, d in bad)
                            + f": no out-of-sample record is made of a diverged run ({advice})")
    return jax.tree.map(lambda x: x.reshape((F, K) + x.shape[1:]), runner.train_state.params)


__all__ = ["MASTER_SETTINGS", "book_axes", "book_tables", "check_master_config", "train_fold_masters",
           "train_fold_runs"]
