"""`AgentConfig`: the actor-critic's architecture (static: it fixes every parameter shape).

`kind` picks the torso from the `TORSOS` registry: "transformer" (the default, for
accelerators) or "mlp" (a multi-layer perceptron over the flattened observation,
small enough to train fast on a CPU). The actor and critic heads are the same for
all. A new network is one module whose torso is decorated `@register_torso("name")`
and `agent.kind: name` in the config; a torso with settings of its own registers
their frozen dataclass too (`@register_torso("name", config=ItsConfig)`), and a
config sets them in its own section, `agent.torso: {...}` (the module reads
`self.config.torso`). The two built-in torsos keep their settings in `AgentConfig`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jaxtrade.errors import ConfigError

DTYPES = ("float32", "bfloat16")
TORSOS: dict[str, Callable] = {}  # kind -> torso module class: (config, name=...) -> module(obs) -> (B, d)
TORSO_CONFIGS: dict[str, type] = {}  # kind -> the frozen dataclass of its own settings (`agent.torso`), if any


def register_torso(kind: str, config: type | None = None):
    """Class decorator: make a torso module selectable as `agent.kind: <kind>`; `config`, a frozen dataclass whose
    fields all have defaults, holds its own settings: the section `agent.torso` in a config, `AgentConfig.torso`
    (its defaults when not given) for the module.

    Raises:
      ConfigError: `config` is not a frozen dataclass.
    """
    if config is not None and not (dataclasses.is_dataclass(config) and config.__dataclass_params__.frozen):  # type: ignore[attr-defined]
        raise ConfigError(f"register_torso({kind!r}): config must be a frozen dataclass, got {config!r}")

    def add(cls):
        TORSOS[kind] = cls
        if config is None:
            TORSO_CONFIGS.pop(kind, None)
        else:
            TORSO_CONFIGS[kind] = config
        return cls
    return add


@dataclass(frozen=True)
class AgentConfig:
    """A torso (transformer encoder or MLP) over the observation, with actor and critic heads."""

    kind: str = "transformer"  # torso: transformer | mlp
    mlp_hidden: tuple[int, ...] = (64, 64)  # kind mlp: widths of the torso's tanh layers
    num_layers: int = 4  # encoder blocks
    d_model: int = 256  # token width
    num_heads: int = 8  # attention heads; must divide d_model
    mlp_dim: int = 1024  # hidden width of each block's feed-forward layer
    head_dim: int = 128  # hidden width of the actor and critic heads
    dtype: str = "float32"  # computation dtype: float32 | bfloat16 (parameters stay float32)
    # A registered torso's own settings (`register_torso(kind, config=...)`), a mapping in YAML; its defaults when
    # not given; null for the built-in torsos, which read the fields above.
    torso: Any = field(default=None, metadata={"section_by": ("kind", TORSO_CONFIGS)})

    def __post_init__(self):
        for name in ("num_layers", "d_model", "num_heads", "mlp_dim", "head_dim"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"agent.{name}: must be an integer >= 1, got {v!r}")
        if self.d_model % self.num_heads:
            raise ConfigError(f"agent.num_heads: {self.num_heads} does not divide d_model {self.d_model}")
        if self.kind not in TORSOS:
            raise ConfigError(f"agent.kind: {self.kind!r} is not one of {sorted(TORSOS)} (register a torso with "
                              f"jaxtrade.agents.register_torso)")
        if not self.mlp_hidden or any(isinstance(h, bool) or not isinstance(h, int) or h < 1
                                      for h in self.mlp_hidden):
            raise ConfigError(f"agent.mlp_hidden: must be a non-empty list of integers >= 1, got {self.mlp_hidden!r}")
        if self.dtype not in DTYPES:
            raise ConfigError(f"agent.dtype: {self.dtype!r} is not one of {list(DTYPES)}")
        section = TORSO_CONFIGS.get(self.kind)
        if section is None and self.torso is not None:
            raise ConfigError(f"agent.torso: the {self.kind!r} torso has no settings of its own (it reads agent's "
                              f"fields); remove agent.torso")
        if section is not None:
            if self.torso is None:
                object.__setattr__(self, "torso", section())  # frozen: its defaults, set once here
            elif not isinstance(self.torso, section):
                raise ConfigError(f"agent.torso: the {self.kind!r} torso's settings are a {section.__name__}, got "
                                  f"{type(self.torso).__name__}")


PORTFOLIO_MODES = ("master", "joint")
AGENT_CAPS = ("none", "equal", "vol")
SEED_CAPITAL = ("ensemble", "split", "select")


@dataclass(frozen=True)
class PortfolioConfig:
    """One shared account: a learned master (`jaxtrade train-portfolio`) trained over frozen symbol agents
    (`mode: master`) or with them in one program (`mode: joint`); caps on the agents' positions there."""

    mode: str = "master"  # master: the master alone, over frozen agents | joint: the agents and the master together
    # Checkpoint folder of the symbol agents (`jaxtrade train --checkpoint-dir`): frozen in mode master (required);
    # in mode joint the agents start from it (same `agent:` architecture), or from scratch when empty.
    symbol_agents: str = ""
    total_limit: float = 1.0  # cap on gross exposure (long and short) / equity that opens may reach
    tolerance: float = 0.02  # a symbol this far over its budget is reduced (`gate_actions`)
    deterministic: bool = True  # mode master: symbol agents act greedily (else they sample) while the master trains
    hidden: int = 64  # width of the master network's layers
    conviction_prior: bool = False  # the master's logits start from the rule-based master's conviction scores
    # Per-symbol caps on the symbol agents on a shared account (the walk-forward's seed ensemble, the agents of
    # `jaxtrade train` / `eval`; a row of their own, the one the targets are checked on): none (each symbol up to
    # env.max_position) | equal (total / S each) | vol (equal risk's: total / S x min(1, cap_vol / the symbol's
    # annualised volatility)); a position more than 25 % over its cap is half sold.
    agent_caps: str = "none"
    cap_vol: float = 0.15  # agent_caps vol: the annual volatility each symbol's cap runs at
    # How the walk-forward's seeds trade its shared account, in the row the targets are checked on: ensemble (one
    # account on the mean of their action probabilities) | split (each seed's agents on an equal share of the
    # capital, under the same caps and rules; the account is their sum) | select (per fold, the seed whose agents
    # scored best on an inner validation slice: `walkforward --inner BARS`). Every row is reported either way.
    seed_capital: str = "ensemble"

    def __post_init__(self):
        if self.mode not in PORTFOLIO_MODES:
            raise ConfigError(f"portfolio.mode: {self.mode!r} is not one of {list(PORTFOLIO_MODES)}")
        if self.agent_caps not in AGENT_CAPS:
            raise ConfigError(f"portfolio.agent_caps: {self.agent_caps!r} is not one of {list(AGENT_CAPS)}")
        if self.seed_capital not in SEED_CAPITAL:
            raise ConfigError(f"portfolio.seed_capital: {self.seed_capital!r} is not one of {list(SEED_CAPITAL)}")
        if not 0.0 < self.cap_vol <= 5.0:
            raise ConfigError(f"portfolio.cap_vol: an annual volatility in (0, 5], got {self.cap_vol!r}")
        if not 0.0 < self.total_limit <= 1.0:
            raise ConfigError(f"portfolio.total_limit: must be in (0, 1], got {self.total_limit!r}")
        if not 0.0 <= self.tolerance < 1.0:
            raise ConfigError(f"portfolio.tolerance: must be in [0, 1), got {self.tolerance!r}")
        if isinstance(self.hidden, bool) or not isinstance(self.hidden, int) or self.hidden < 1:
            raise ConfigError(f"portfolio.hidden: must be an integer >= 1, got {self.hidden!r}")


def __getattr__(name: str):
    """`TransformerConfig`, the name `AgentConfig` had before `kind` existed: deprecated."""
    if name == "TransformerConfig":
        import warnings

        warnings.warn("TransformerConfig is deprecated: it is AgentConfig (kind: transformer by default)",
                      DeprecationWarning, stacklevel=2)
        return AgentConfig
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
