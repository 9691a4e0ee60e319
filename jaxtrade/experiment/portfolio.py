"""Training a learned master on one shared account, then backtesting it.

    exp = load_experiment("configs/portfolio.yaml")     # its `portfolio.symbol_agents` names a checkpoint
    setup, runner = train_portfolio(exp, checkpoint_dir="runs/master")

`portfolio.mode: master` trains the master alone over symbol agents restored frozen
from their checkpoint (`jaxtrade train --checkpoint-dir`), which must have been
trained on the same market settings (data, features, window, env, split: compared,
differences named). `mode: joint` trains the symbol agents and the master as one
policy (`JointNetwork`), the agents starting from that checkpoint (same `agent:`
too) or from scratch when none is named. Either way the run trains with the
config's `ppo:` block on the train split, through the same `fit` as the symbol
agents (chunks, progress, metrics.jsonl and TensorBoard, checkpoints that resume
exactly); then the validation split's portfolio table adds "agents + learned
master" beside the agents alone, the rule-based master and equal weight.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import jax

from jaxtrade.agents.config import PortfolioConfig
from jaxtrade.agents.joint import (
    JointEnv,
    JointNetwork,
    init_joint,
    joint_distribution,
    split_joint,
)
from jaxtrade.agents.learned_master import (
    MasterEnv,
    MasterNetwork,
    MasterParams,
    logistic_normal,
    network_proposals,
)
from jaxtrade.config import config_from_dict
from jaxtrade.env.portfolio import PortfolioEnv
from jaxtrade.env.types import PortfolioParams
from jaxtrade.errors import ConfigError
from jaxtrade.evaluate.backtest import target_report, write_report
from jaxtrade.experiment.build import Experiment, load_experiment, training_setup
from jaxtrade.experiment.provenance import compare_data
from jaxtrade.experiment.tracking import tracker
from jaxtrade.experiment.workflows import check_data, portfolio_report, restore_runner
from jaxtrade.train.checkpoint import Checkpointer
from jaxtrade.train.loop import Setup, fit, make_setup, to_host
from jaxtrade.train.resume import config_differences, describe_differences

# What the symbol agents' checkpoint and the portfolio run must agree on: the market they see.
SHARED_SETTINGS = ("data", "features", "window", "env", "split")
Log = Callable[[str], None]


def symbol_agents(exp: Experiment, log: Log = print, settings: tuple[str, ...] = SHARED_SETTINGS,
                  pinned: dict | None = None) -> tuple[Setup, object, dict]:
    """The symbol agents named by `portfolio.symbol_agents`: (their setup, their parameters on the host, what
    identifies them: {"path", "update", "checksum"}); their checkpoint's config must match this one's in
    `settings`, and their training bars this experiment's. `pinned` (a run's record of them) restores exactly
    that update, checked against its checksum, instead of the newest.

    Raises:
      ConfigError: no checkpoint named, none there, one trained on other market settings or data, or the
        pinned update gone or changed.
    """
    path = exp.cfg.portfolio.symbol_agents
    if not path:
        raise ConfigError("portfolio.symbol_agents: name the checkpoint folder of the trained symbol agents "
                          "(written by `jaxtrade train --checkpoint-dir DIR`)")
    ckpt = Checkpointer(path, create=False)
    try:
        saved = ckpt.newest_metadata()["config"]
        now = exp.config_dict
        differ = config_differences({k: saved.get(k) for k in settings}, {k: now.get(k) for k in settings})
        if differ:
            raise ConfigError(f"portfolio.symbol_agents: {path} was trained with other settings: "
                              + describe_differences(saved, now, differ, "there", "here")
                              + f" (use the same {', '.join(settings)} as the symbol agents)")
        setup = training_setup(Experiment(config_from_dict(saved), exp.data, exp.features))
        if pinned is None:
            runner, meta = restore_runner(ckpt, setup, log=log)
        else:
            kept = sorted(ckpt.manager.all_steps())
            if pinned["update"] not in kept:
                raise ConfigError(f"portfolio.symbol_agents: {path} no longer holds update {pinned['update']}, the "
                                  f"agents this run was trained over (it keeps {kept}); restore that checkpoint "
                                  f"there, or train the master again")
            runner, meta = restore_runner(ckpt, setup, pinned["update"], log=log)
            if meta.get("checksum") != pinned["checksum"]:
                raise ConfigError(f"portfolio.symbol_agents: update {pinned['update']} in {path} is not the one "
                                  f"this run was trained over (its checksum differs: the agents were trained "
                                  f"again); train the master again over them")
        problems, _ = compare_data((meta.get("record") or {}).get("data"), exp, "train")
        if problems:
            raise ConfigError(f"portfolio.symbol_agents: {path} was trained on other data: " + "; ".join(problems))
    finally:
        ckpt.close()
    update = int(to_host(runner.updates_done))
    record = {"path": str(Path(path).absolute()), "update": update, "checksum": meta.get("checksum")}
    return setup, to_host(runner.train_state.params), record


def master_network(pc: PortfolioConfig) -> MasterNetwork:
    """The master network the `portfolio:` block describes."""
    return MasterNetwork(hidden=pc.hidden, conviction_prior=pc.conviction_prior)


def master_setup(exp: Experiment, agents: Setup, agent_params, split: str = "train",
                 agents_record: dict | None = None) -> Setup:
    """The master's training setup: `MasterEnv` over the frozen agents on `split`, `MasterNetwork`, PPO; the
    agents' record (`symbol_agents`) goes into every checkpoint, so later commands read the same agents."""
    pc = exp.cfg.portfolio
    env = MasterEnv(PortfolioEnv(actions=exp.env.actions), network_proposals(agents.network, pc.deterministic),
                    pc.tolerance)
    params = MasterParams(exp.portfolio_params(split, pc.total_limit), agent_params)
    record = {**exp.record, **({"symbol_agents": agents_record} if agents_record else {})}
    return make_setup(exp.cfg.ppo, env, params, master_network(pc), exp.config_dict,
                      distribution=logistic_normal, record=record)


def joint_setup(exp: Experiment, agent_params=None, split: str = "train") -> Setup:
    """Joint training's setup: `JointEnv` on `split`, `JointNetwork` (the config's agent and a master), PPO; a
    fresh run starts from `agent_params` (the symbol agents') when given."""
    pc = exp.cfg.portfolio
    env = JointEnv(PortfolioEnv(actions=exp.env.actions), pc.tolerance)
    params = exp.portfolio_params(split, pc.total_limit)
    network = JointNetwork(exp.cfg.agent, exp.env.actions, pc.hidden, pc.conviction_prior)
    initial = None
    if agent_params is not None:
        initial = jax.jit(init_joint, static_argnums=(0, 1))(network, env, params, jax.random.key(exp.cfg.ppo.seed),
                                                             agent_params)
    return make_setup(exp.cfg.ppo, env, params, network, exp.config_dict, distribution=joint_distribution,
                      initial_params=initial, record=exp.record)


class PortfolioRun(NamedTuple):
    """What `portfolio.mode` trains, and how its parameters split into the policies the report runs."""

    setup: Setup  # the training setup: the master over frozen agents, or the joint network
    agents: Setup  # the symbol agents' setup (their network and action table)
    policies: Callable[[Any], tuple[Any, Any]]  # trained params -> (symbol agents' params, master's params)
    about: str  # what trains, for the log


def portfolio_run(exp: Experiment, log: Log = print, warm_start: bool = True, pinned: dict | None = None
                  ) -> PortfolioRun:
    """The run `exp.cfg.portfolio` describes (`warm_start` off: a joint run's agents are not read from their
    checkpoint, e.g. before a restore; `pinned`: the symbol agents a master run recorded, restored exactly).

    Raises:
      ConfigError: the symbol agents' checkpoint is missing (mode master), was trained on other settings, or no
        longer holds the pinned agents.
    """
    pc = exp.cfg.portfolio
    if pc.mode == "master":
        agents, agent_params, record = symbol_agents(exp, log, pinned=pinned)
        return PortfolioRun(master_setup(exp, agents, agent_params, agents_record=record), agents,
                            lambda params: (agent_params, params),
                            f"a learned master over the symbol agents of {pc.symbol_agents} (update "
                            f"{record['update']}, {'greedy' if pc.deterministic else 'sampled'}, frozen)")
    agent_params, start = None, "from scratch"
    if pc.symbol_agents and warm_start:
        _, agent_params, record = symbol_agents(exp, log, SHARED_SETTINGS + ("agent",))
        start = f"from {pc.symbol_agents} (update {record['update']})"
    return PortfolioRun(joint_setup(exp, agent_params), training_setup(exp), split_joint,
                        f"the symbol agents ({start}) and a learned master, trained jointly")


def train_portfolio(exp: Experiment, checkpoint_dir: str | None = None, resume: bool = False,
                    plots: str | None = None, log: Log | None = print, track: str | None = None
                    ) -> tuple[Setup, object]:
    """Train the learned master (with the symbol agents in mode joint), then the validation split's portfolio
    table; `track` ("wandb", "mlflow") logs every update's metrics and the config to that tracker."""
    say = log or (lambda _: None)
    saved = _saved_record(checkpoint_dir) if resume else None
    run = portfolio_run(exp, say, warm_start=saved is None, pinned=(saved or {}).get("symbol_agents"))
    setup, ppo, lead = run.setup, exp.cfg.ppo, jax.process_index() == 0
    if log and lead:
        log(f"jaxtrade train-portfolio: {run.about}; {exp.data.num_symbols} symbols on one account, "
            f"{int(_book_params(setup).start_count)} training starts; {ppo.num_updates} updates x "
            f"{ppo.num_envs} portfolios x {ppo.rollout_len} steps")
    name = Path(checkpoint_dir).name if checkpoint_dir else None
    with tracker(track if lead else None, checkpoint_dir, setup.config, name) as on_metrics:
        runner, _ = fit(setup, checkpoint_dir=checkpoint_dir, resume=resume, log=log if lead else None,
                        on_metrics=on_metrics)
    if log and lead:
        if checkpoint_dir:
            log(f"checkpoints in {checkpoint_dir}")
        _report(exp, run, runner, "validation", log, plots)
        if plots and checkpoint_dir:
            from jaxtrade.evaluate.plots import plot_training  # matplotlib only when asked
            from jaxtrade.train.history import read_history

            log(f"plots: {plot_training(read_history(checkpoint_dir), Path(plots) / 'training_master.png')}")
    return setup, runner


def _saved_record(directory: str | None) -> dict | None:
    """The record of the run checkpointed in `directory`, None when it holds none: a resumed joint run restores
    its agents from its own checkpoint, a resumed master run the agents it recorded."""
    if not directory or not Path(directory).is_dir():
        return None
    ckpt = Checkpointer(directory, create=False)
    try:
        return ckpt.newest_metadata().get("record", {}) if ckpt.latest_step() is not None else None
    finally:
        ckpt.close()


def _book_params(setup: Setup) -> PortfolioParams:
    """The portfolio env's params inside either mode's env params."""
    return setup.env_params.portfolio if isinstance(setup.env_params, MasterParams) else setup.env_params


def _report(exp: Experiment, run: PortfolioRun, runner, split: str, log: Log, plots: str | None) -> list[dict]:
    agent_params, master_params = run.policies(to_host(runner.train_state.params))
    if exp.cfg.portfolio.mode == "joint":
        log("  (mode joint: \"agents\" are the symbol agents trained with the master)")
    return portfolio_report(run.agents, exp, split, agent_params, log, plots,
                            learned=(master_network(exp.cfg.portfolio), master_params))


def evaluate_portfolio(checkpoint: str, split: str = "test", cache_dir: str | None = None, report: str | None = None,
                       plots: str | None = None, log: Log = print) -> list[dict]:
    """Restore a `train-portfolio` run (its config says the mode and names the symbol agents) and print the
    portfolio table on `split`, with the seed's targets on the learned master's equity."""
    ckpt = Checkpointer(checkpoint, create=False)
    try:
        newest = ckpt.newest_metadata()
        exp = load_experiment(config_from_dict(newest["config"]), cache_dir)
        first, end = exp.bars(split)
        if first == end:
            raise ConfigError(f"--split {split}: the {split} split of {checkpoint} is empty (see `split:` in its "
                              f"config); choose another split")
        check_data(newest, exp, split, checkpoint, log)
        # A joint run's agents are in its own checkpoint; a master run's are the ones it recorded.
        run = portfolio_run(exp, log, warm_start=False, pinned=(newest.get("record") or {}).get("symbol_agents"))
        runner, meta = restore_runner(ckpt, run.setup, log=log)
    finally:
        ckpt.close()
    log(f"jaxtrade eval-portfolio: {checkpoint} at update {int(to_host(runner.updates_done))}, the {split} split "
        f"(bars {first}..{end - 1}); {run.about}")
    rows = _report(exp, run, runner, split, log, plots)
    learned = next((r for r in rows if r["policy"] == "agents + learned master"), None)
    if learned:
        log(f"  seed targets on the learned master's portfolio equity: {target_report(learned)}")
    if report and rows:
        log(f"report written to {write_report(rows, report, {'split': split, 'config': exp.config_dict, **meta})}")
    return rows


__all__ = ["SHARED_SETTINGS", "PortfolioRun", "evaluate_portfolio", "joint_setup", "master_setup", "portfolio_run",
           "symbol_agents", "train_portfolio"]
