"""Config -> everything a run needs: data, features, the env, per-split params, the network, the trainer.

The one place the wiring lives; the training loop, sweeps and every CLI workflow
start from an `Experiment`:

    exp = load_experiment("configs/quickstart.yaml")
    params = exp.params("validation")
    setup = training_setup(exp)                   # sharded params, network, PPO trainer
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

import jax
import jax.numpy as jnp

from jaxtrade.agents.networks import ActorCritic
from jaxtrade.config import Config, config_to_dict, load_config
from jaxtrade.data.config import load_data
from jaxtrade.data.splits import split_bars
from jaxtrade.data.synthetic import on_calendar
from jaxtrade.data.types import MarketData
from jaxtrade.env.env import TradingEnv
from jaxtrade.env.params import make_params, make_portfolio_params, recent_starts
from jaxtrade.env.types import EnvParams, PortfolioParams
from jaxtrade.experiment.provenance import data_record, resolve_paths
from jaxtrade.features.cache import cached_features
from jaxtrade.features.pipeline import Features, compute_features
from jaxtrade.train.loop import Setup, make_setup

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class Experiment:
    """A config with its market data and features, and what they build."""

    cfg: Config
    data: MarketData
    features: Features
    features_cached: bool = False  # the features came from the on-disk cache
    env: TradingEnv = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "env", TradingEnv(actions=self.cfg.env.actions))

    @property
    def config_dict(self) -> dict:
        """The resolved config as plain data, file paths absolute (saved with checkpoints and reports)."""
        return resolve_paths(config_to_dict(self.cfg))

    @cached_property
    def record(self) -> dict:
        """What identifies the run's data beyond its config (`provenance.data_record`), saved with checkpoints;
        hashed once per experiment."""
        return {"data": data_record(self)}

    def network(self) -> ActorCritic:
        """The actor-critic the config describes, sized to the env's action space."""
        return ActorCritic(self.cfg.agent, self.env.num_actions)

    def bars(self, split: str) -> tuple[int, int]:
        """(first, end) bars of `split` ("train", "validation" or "test"); first == end when empty."""
        return split_bars(self.cfg.split, self.data)[split]

    def params(self, split: str | None = None) -> EnvParams:
        """`EnvParams` for episodes inside `split` (None: every bar).

        Raises:
          DataError: no episode can start in the split.
        """
        bars = None if split is None else self.bars(split)
        return make_params(self.data, self.features, self.cfg.env, window=self.cfg.window, bars=bars)

    @cached_property
    def training_market(self) -> tuple[MarketData, Features]:
        """The data and features training runs on: the real ones, plus (with `augment.symbols`) that many
        synthetic symbols on the same calendar (`data.synthetic.on_calendar`), their features computed on
        their own, so the real symbols' features are the same with or without them."""
        aug = self.cfg.augment
        if aug.symbols == 0:
            return self.data, self.features
        extra = on_calendar(jax.random.key(aug.seed), replace(aug.synthetic, num_symbols=aug.symbols), self.data)
        joined = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), self.features,
                              compute_features(extra, self.cfg.features))
        return self.data.join(extra), joined

    def train_params(self, split: str | None = "train") -> EnvParams:
        """`EnvParams` training episodes start from: `params(split)` with the augment's synthetic symbols
        (tradeable inside the same split; the annualisation the real data's), or `params(split)` without; with
        `env.start_halflife`, starts weighted toward the split's end (`recent_starts`).

        Raises:
          DataError: no episode can start in the split.
        """
        bars = None if split is None else self.bars(split)
        if self.cfg.augment.symbols == 0:
            params = self.params(split)
        else:
            data, features = self.training_market
            env = replace(self.cfg.env, bars_per_year=self.cfg.env.bars_per_year or self.data.bars_per_year())
            params = make_params(data, features, env, window=self.cfg.window, bars=bars)
        return recent_starts(params, self.start_halflife_bars, None if bars is None else bars[1])

    @property
    def start_halflife_bars(self) -> float:
        """`env.start_halflife` in bars of this data (0: uniform starts)."""
        return self.cfg.env.start_halflife * (self.cfg.env.bars_per_year or self.data.bars_per_year())

    def portfolio_params(self, split: str | None = None, total_limit: float = 1.0) -> PortfolioParams:
        """`PortfolioParams` for one account over every symbol inside `split` (None: every bar).

        Raises:
          DataError: no bar of the split where a symbol can trade.
        """
        bars = None if split is None else self.bars(split)
        return make_portfolio_params(self.data, self.features, self.cfg.env, window=self.cfg.window, bars=bars,
                                     total_limit=total_limit)


def load_experiment(config: Config | str | Path, cache_dir: str | Path | None | bool = None,
                    use_cache: bool = True) -> Experiment:
    """Load a config (or take one), its market data and its features (from the cache unless `use_cache` is off
    or `cache_dir` is False; None is the default cache folder).

    Raises:
      ConfigError, DataError: a bad config or bad data, with what to fix.
    """
    cfg = config if isinstance(config, Config) else load_config(config)
    data = load_data(cfg.data, min_bars=cfg.min_bars)
    if use_cache and cache_dir is not False:
        features, hit = cached_features(data, cfg.features, cache_dir)
    else:
        features, hit = compute_features(data, cfg.features), False
    return Experiment(cfg, data, features, hit)


def training_setup(exp: Experiment, devices: list | None = None) -> Setup:
    """The train split's params (with the augment's synthetic symbols), the network and the PPO trainer, data
    parallel over `devices` (default all).

    Raises:
      ConfigError: ppo.num_envs not divisible by the number of devices.
    """
    return make_setup(exp.cfg.ppo, exp.env, exp.train_params("train"), exp.network(), exp.config_dict, devices,
                      record=exp.record)
