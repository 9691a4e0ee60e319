"""Training a learned master over trained symbol agents on one shared account, then backtesting it.

    exp = load_experiment("configs/portfolio.yaml")     # its `portfolio.symbol_agents` names a checkpoint
    setup, runner = train_portfolio(exp, checkpoint_dir="runs/master")

The symbol agents come frozen from their checkpoint (`jaxtrade train --checkpoint-dir`),
which must have been trained on the same market settings (data, features, window,
env, split: compared, differences named). The master (`MasterNetwork`) trains with
the config's `ppo:` block in `MasterEnv` (the portfolio env with the agents inside)
on the train split, through the same `fit` as the symbol agents (chunks, progress,
metrics.jsonl and TensorBoard, checkpoints that resume exactly); then the validation
split's portfolio table adds "agents + learned master" beside the agents alone,
the rule-based master and equal weight.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import jax

from jaxtrade.agents.learned_master import (
    MasterEnv,
    MasterNetwork,
    MasterParams,
    logistic_normal,
    network_proposals,
)
from jaxtrade.config import config_from_dict
from jaxtrade.env.portfolio import PortfolioEnv
from jaxtrade.errors import ConfigError
from jaxtrade.evaluate.backtest import target_report, write_report
from jaxtrade.experiment.build import Experiment, load_experiment, training_setup
from jaxtrade.experiment.workflows import portfolio_report, restore_runner
from jaxtrade.train.checkpoint import Checkpointer
from jaxtrade.train.loop import (
    Setup,
    config_differences,
    describe_differences,
    fit,
    make_setup,
    to_host,
)

# What the symbol agents' checkpoint and the portfolio run must agree on: the market they see.
SHARED_SETTINGS = ("data", "features", "window", "env", "split")
Log = Callable[[str], None]


def symbol_agents(exp: Experiment, log: Log = print) -> tuple[Setup, object, int]:
    """The symbol agents named by `portfolio.symbol_agents`: (their setup, their parameters on the host, the
    update they were saved at).

    Raises:
      ConfigError: no checkpoint named, none there, or one trained on other market settings.
    """
    path = exp.cfg.portfolio.symbol_agents
    if not path:
        raise ConfigError("portfolio.symbol_agents: name the checkpoint folder of the trained symbol agents "
                          "(written by `jaxtrade train --checkpoint-dir DIR`)")
    ckpt = Checkpointer(path, create=False)
    try:
        saved = ckpt.newest_metadata()["config"]
        now = exp.config_dict
        differ = config_differences({k: saved.get(k) for k in SHARED_SETTINGS}, {k: now.get(k) for k in SHARED_SETTINGS})
        if differ:
            raise ConfigError(f"portfolio.symbol_agents: {path} was trained on other market settings: "
                              + describe_differences(saved, now, differ, "there", "here")
                              + " (use the same data, features, window, env and split as the symbol agents)")
        setup = training_setup(Experiment(config_from_dict(saved), exp.data, exp.features))
        runner, _ = restore_runner(ckpt, setup, log=log)
    finally:
        ckpt.close()
    return setup, to_host(runner.train_state.params), int(to_host(runner.updates_done))


def master_setup(exp: Experiment, agents: Setup, agent_params, split: str = "train") -> Setup:
    """The master's training setup: `MasterEnv` over the frozen agents on `split`, `MasterNetwork`, PPO."""
    pc = exp.cfg.portfolio
    env = MasterEnv(PortfolioEnv(actions=exp.env.actions), network_proposals(agents.network, pc.deterministic),
                    pc.tolerance)
    params = MasterParams(exp.portfolio_params(split, pc.total_limit), agent_params)
    return make_setup(exp.cfg.ppo, env, params, MasterNetwork(hidden=pc.hidden), exp.config_dict,
                      distribution=logistic_normal)


def train_portfolio(exp: Experiment, checkpoint_dir: str | None = None, resume: bool = False,
                    plots: str | None = None, log: Log | None = print) -> tuple[Setup, object]:
    """Train the learned master over the frozen symbol agents, then the validation split's portfolio table."""
    say = log or (lambda _: None)
    agents, agent_params, agent_update = symbol_agents(exp, say)
    setup = master_setup(exp, agents, agent_params)
    ppo, lead = exp.cfg.ppo, jax.process_index() == 0
    if log and lead:
        log(f"jaxtrade train-portfolio: a learned master over the symbol agents of {exp.cfg.portfolio.symbol_agents} "
            f"(update {agent_update}, {'greedy' if exp.cfg.portfolio.deterministic else 'sampled'}), "
            f"{exp.data.num_symbols} symbols on one account, {int(setup.env_params.portfolio.start_count)} training "
            f"starts; {ppo.num_updates} updates x {ppo.num_envs} portfolios x {ppo.rollout_len} steps")
    runner, _ = fit(setup, checkpoint_dir=checkpoint_dir, resume=resume, log=log if lead else None)
    if log and lead:
        if checkpoint_dir:
            log(f"checkpoints in {checkpoint_dir}")
        portfolio_report(agents, exp, "validation", agent_params, log, plots,
                         learned=(setup.network, to_host(runner.train_state.params)))
        if plots and checkpoint_dir:
            from jaxtrade.evaluate.plots import plot_training  # matplotlib only when asked
            from jaxtrade.train.loop import read_history

            log(f"plots: {plot_training(read_history(checkpoint_dir), Path(plots) / 'training_master.png')}")
    return setup, runner


def evaluate_portfolio(checkpoint: str, split: str = "test", cache_dir: str | None = None, report: str | None = None,
                       plots: str | None = None, log: Log = print) -> list[dict]:
    """Restore a master's run (its config names the symbol agents) and print the portfolio table on `split`,
    with the seed's targets on the learned master's equity."""
    ckpt = Checkpointer(checkpoint, create=False)
    try:
        exp = load_experiment(config_from_dict(ckpt.newest_metadata()["config"]), cache_dir)
        agents, agent_params, _ = symbol_agents(exp, log)
        setup = master_setup(exp, agents, agent_params)
        runner, meta = restore_runner(ckpt, setup, log=log)
    finally:
        ckpt.close()
    first, end = exp.bars(split)
    log(f"jaxtrade eval-portfolio: {checkpoint} at update {int(to_host(runner.updates_done))}, the {split} split "
        f"(bars {first}..{end - 1})")
    rows = portfolio_report(agents, exp, split, agent_params, log, plots,
                            learned=(setup.network, to_host(runner.train_state.params)))
    learned = next((r for r in rows if r["policy"] == "agents + learned master"), None)
    if learned:
        log(f"  seed targets on the learned master's portfolio equity: {target_report(learned)}")
    if report and rows:
        log(f"report written to {write_report(rows, report, {'split': split, 'config': exp.config_dict, **meta})}")
    return rows


__all__ = ["SHARED_SETTINGS", "evaluate_portfolio", "master_setup", "symbol_agents", "train_portfolio"]
