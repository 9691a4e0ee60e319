"""A trained agent as an artefact: the policy in a small folder that loads without the training data.

    export_agent("runs/quickstart", "agent/")          # or: jaxtrade export --checkpoint runs/quickstart --out agent/
    agent = load_agent("agent/")
    out = agent.decide(latest_bars)                     # every symbol's action at the last bar, with probabilities

The folder holds `agent.json` (the run's resolved config: features, window, env rules, action table, network; the
annualisation; where it came from) and `params.msgpack` (the network's parameters, with a checksum). `decide`
computes the features from the bars it is given (they are past-only, so enough history gives exactly the values
training saw: the warm-up plus the window, `Config.min_bars`), builds each symbol's observation at the last bar
for the account it is told (flat with the initial cash by default) and returns the greedy (or sampled) action.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np

from jaxtrade.agents.networks import ActorCritic
from jaxtrade.config import Config, config_from_dict
from jaxtrade.data.loaders import from_dataframe
from jaxtrade.data.types import CLOSE, SECONDS_PER_DAY, VOLUME, DataError, MarketData
from jaxtrade.env.actions import greedy_action
from jaxtrade.env.env import TradingEnv
from jaxtrade.env.generator import initial_state
from jaxtrade.env.params import make_params
from jaxtrade.env.types import EnvState, Observation
from jaxtrade.errors import ConfigError
from jaxtrade.experiment.build import load_experiment, training_setup
from jaxtrade.features.pipeline import compute_features
from jaxtrade.files import replace_file
from jaxtrade.train.checkpoint import Checkpointer, checksum
from jaxtrade.version import __version__

AGENT_FILE, PARAMS_FILE = "agent.json", "params.msgpack"
FORMAT = 1  # bump when the folder's layout changes; older folders are refused with what to do


def export_agent(checkpoint: str | Path, out: str | Path, step: int | None = None, cache_dir=None,
                 log=print) -> Path:
    """Write the policy of `checkpoint` (at `step`, default the newest valid) to the folder `out`.

    Raises:
      ConfigError: no checkpoint there, or one that does not restore.
    """
    from jaxtrade.experiment.workflows import restore_runner

    ckpt = Checkpointer(checkpoint, create=False)
    try:
        cfg = config_from_dict((ckpt.newest_metadata() if step is None else ckpt.metadata(step))["config"])
        exp = load_experiment(cfg, cache_dir)
        setup = training_setup(exp)
        runner, _ = restore_runner(ckpt, setup, step, log)
    finally:
        ckpt.close()
    params = jax.device_get(runner.train_state.params)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    replace_file(out / PARAMS_FILE, flax.serialization.to_bytes(params))
    meta: dict[str, Any] = {"format": FORMAT, "jaxtrade": __version__, "config": exp.config_dict,
            "bars_per_year": float(setup.env_params.rules.bars_per_year), "checksum": checksum(params),
            "source": {"checkpoint": str(Path(checkpoint).resolve()), "update": int(runner.updates_done),
                       "symbols": list(exp.data.symbols)}}
    replace_file(out / AGENT_FILE, (json.dumps(meta, indent=2) + "\n").encode())
    if log:
        log(f"agent written to {out} (update {meta['source']['update']}, "
            f"{sum(x.size for x in jax.tree.leaves(params)):,} parameters)")
    return out


@dataclass(frozen=True)
class TradingAgent:
    """A trained policy and what it needs to see the market as it did in training (`load_agent`)."""

    cfg: Config
    network: ActorCritic
    params: dict
    bars_per_year: float
    meta: dict

    @property
    def env(self) -> TradingEnv:
        return TradingEnv(actions=self.cfg.env.actions)

    def act(self, obs: Observation, deterministic: bool = True, key: jax.Array | None = None
            ) -> tuple[jax.Array, jax.Array]:
        """(actions, probabilities) for a batch of observations: the greedy action (as backtests take it), or a
        sample from the policy with `key`."""
        actions, probs, _ = _act(self.network, self.params, obs, deterministic, key)
        return actions, probs

    def observe(self, data, state: EnvState | None = None) -> tuple[Observation, EnvState, MarketData]:
        """Every symbol's observation at the last bar of `data` (MarketData, or any frame `from_dataframe`
        reads), for the account `state` (batched over the symbols; default flat with the initial cash)."""
        data = data if isinstance(data, MarketData) else from_dataframe(data)
        live = _with_next_bar(data)  # bar T-1 is a decision bar only with a bar after it
        features = compute_features(live, self.cfg.features)
        env_cfg = replace(self.cfg.env, bars_per_year=self.bars_per_year)
        try:
            params = make_params(live, features, env_cfg, window=self.cfg.window)
        except DataError:
            params = None
        S, last = data.num_symbols, data.num_bars - 1
        ok = (np.zeros(S, bool) if params is None else np.asarray(params.market.tradeable)[:, last])
        if not ok.all():
            short = [s for s, k in zip(data.symbols, ok, strict=True) if not k]
            raise DataError(f"decide: {short} cannot be decided on at the last bar: each symbol needs a real bar "
                            f"there and at least {self.cfg.min_bars} bars of history (the features' warm-up and "
                            f"the {self.cfg.window}-bar window)")
        fresh = jax.vmap(initial_state, in_axes=(0, None, None))(jnp.arange(S), last, params)
        state = fresh if state is None else state.replace(symbol=fresh.symbol, bar=fresh.bar)
        return jax.vmap(self.env.observe, in_axes=(0, None))(state, params), state, data

    def decide(self, data, state: EnvState | None = None, deterministic: bool = True,
               key: jax.Array | None = None) -> dict:
        """What the agent does at the last bar of `data` for each symbol: `symbol`, `action` (index), `name`
        (HOLD, BUY_SMALL, ...), `probabilities` (S, A) and `value` (the critic's estimate), for the account `state`
        (see `observe`)."""
        obs, _, data = self.observe(data, state)
        actions, probs, values = _act(self.network, self.params, obs, deterministic, key)
        names = self.env.actions.names
        return {"symbol": list(data.symbols), "action": np.asarray(actions), "name": [names[int(a)] for a in actions],
                "probabilities": np.asarray(probs), "value": np.asarray(values),
                "time": str(data.timestamps()[-1])}


def _act(network, params, obs, deterministic, key):
    """(actions, probabilities, values) of one pass of the network over a batch of observations."""
    logits, values = network.apply(params, obs)
    probs = jax.nn.softmax(logits, axis=-1)
    if deterministic:
        return greedy_action(logits), probs, values
    if key is None:
        raise ConfigError("act: a sampled action needs a PRNG key (key=jax.random.key(...))")
    return jax.random.categorical(key, logits).astype(jnp.int32), probs, values


def _with_next_bar(data: MarketData) -> MarketData:
    """`data` with one more bar, a copy of the last close at no volume, one bar spacing later: it makes the last
    real bar a decision bar (orders fill at the next open) and changes no feature at or before it (past-only)."""
    last = data.prices[:, -1:, :]
    nxt = last.at[..., :CLOSE + 1].set(last[..., CLOSE:CLOSE + 1]).at[..., VOLUME].set(0.0)
    t = data.epoch_seconds()[-1] + (data.bar_seconds() if data.num_bars > 1 else SECONDS_PER_DAY)
    return MarketData(prices=jnp.concatenate([data.prices, nxt], axis=1),
                      valid=jnp.concatenate([data.valid, data.valid[:, -1:]], axis=1),
                      day=jnp.append(data.day, jnp.int32(t // SECONDS_PER_DAY)),
                      second=jnp.append(data.second, jnp.int32(t % SECONDS_PER_DAY)),
                      sentiment=jnp.concatenate([data.sentiment, data.sentiment[:, -1:]], axis=1),
                      aux=jnp.concatenate([data.aux, data.aux[:, -1:]], axis=1), symbols=data.symbols, notes=data.notes)


def load_agent(path: str | Path) -> TradingAgent:
    """The agent `export_agent` wrote to `path`.

    Raises:
      ConfigError: not an agent folder, another format, or parameters that do not match their checksum.
    """
    path = Path(path)
    if not (path / AGENT_FILE).exists() or not (path / PARAMS_FILE).exists():
        raise ConfigError(f"{path}: not an agent folder (needs {AGENT_FILE} and {PARAMS_FILE}; write one with "
                          f"`jaxtrade export --checkpoint RUN --out {path}`)")
    meta = json.loads((path / AGENT_FILE).read_text())
    if meta.get("format") != FORMAT:
        raise ConfigError(f"{path}: agent format {meta.get('format')!r}, this jaxtrade reads format {FORMAT}: "
                          f"export it again from its checkpoint with this version")
    cfg = config_from_dict(meta["config"])
    params = flax.serialization.msgpack_restore((path / PARAMS_FILE).read_bytes())
    if checksum(params) != meta["checksum"]:
        raise ConfigError(f"{path}: {PARAMS_FILE} does not match the checksum in {AGENT_FILE} (damaged or "
                          f"replaced); export the agent again")
    network = ActorCritic(cfg.agent, TradingEnv(actions=cfg.env.actions).num_actions)
    return TradingAgent(cfg, network, params, float(meta["bars_per_year"]), meta)
