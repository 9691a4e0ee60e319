"""The experiment layer: config -> data, features, env, params, network, trainer; and the workflows on top.

Layering (imports run one way): numeric/errors -> data -> features -> env -> agents ->
train -> evaluate -> config/experiment -> cli.
"""

from jaxtrade.experiment.build import SPLITS, Experiment, load_experiment, training_setup
from jaxtrade.experiment.export import TradingAgent, export_agent, load_agent
from jaxtrade.experiment.portfolio import (
    PortfolioRun,
    evaluate_portfolio,
    joint_setup,
    master_setup,
    portfolio_run,
    symbol_agents,
    train_portfolio,
)
from jaxtrade.experiment.sweep import (
    SWEEPABLE,
    SweepSpec,
    format_seed_summary,
    format_sweep,
    parse_setting,
    seed_summary,
    sweep,
    sweep_runs,
    sweepable,
)
from jaxtrade.experiment.walkforward import WalkForwardResult, WalkForwardSpec, rebook, walk_forward_retrain
from jaxtrade.experiment.walkforward_report import walkforward_report, walkforward_summary
from jaxtrade.experiment.workflows import (
    backtest_report,
    env_summary,
    evaluate_checkpoint,
    portfolio_report,
    summary,
    sweep_report,
    train,
)

__all__ = [
    "TradingAgent", "export_agent", "load_agent", "SPLITS", "SWEEPABLE", "Experiment", "SweepSpec",
    "backtest_report", "env_summary", "evaluate_checkpoint", "format_seed_summary", "format_sweep",
    "load_experiment", "parse_setting", "sweepable", "portfolio_report", "seed_summary", "summary", "sweep",
    "sweep_report", "sweep_runs", "train", "training_setup", "master_setup", "symbol_agents", "train_portfolio",
    "evaluate_portfolio", "joint_setup", "portfolio_run", "PortfolioRun", "WalkForwardResult", "WalkForwardSpec",
    "rebook", "walk_forward_retrain", "walkforward_report", "walkforward_summary"
]
