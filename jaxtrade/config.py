"""The run configuration: frozen dataclasses loaded from YAML once, validated with readable errors.

Each stage owns its config (`DataConfig`, `FeatureConfig`, ...); `Config` groups
them. Unknown keys, wrong types and bad values raise `ConfigError` naming the
field's full path (e.g. ``features.norm_window``).
"""

from __future__ import annotations

import copy
import dataclasses
import re
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from jaxtrade.agents.config import AgentConfig, PortfolioConfig
from jaxtrade.data.config import AugmentConfig, DataConfig
from jaxtrade.data.splits import SplitConfig
from jaxtrade.env.config import EnvConfig
from jaxtrade.errors import ConfigError
from jaxtrade.features.config import FeatureConfig
from jaxtrade.train.config import PPOConfig


@dataclass(frozen=True)
class Config:
    """Everything a run needs."""

    data: DataConfig = field(default_factory=DataConfig)  # market data source
    features: FeatureConfig = field(default_factory=FeatureConfig)  # feature pipeline settings
    window: int = 24  # bars in each observation window
    env: EnvConfig = field(default_factory=EnvConfig)  # costs, risk controls, horizon, reward weights
    agent: AgentConfig = field(default_factory=AgentConfig)  # actor-critic architecture (torso kind, sizes)
    ppo: PPOConfig = field(default_factory=PPOConfig)  # training loop and hyperparameters
    split: SplitConfig = field(default_factory=SplitConfig)  # walk-forward train / validation / test cut
    portfolio: PortfolioConfig = field(default_factory=PortfolioConfig)  # a learned master (train-portfolio)
    augment: AugmentConfig = field(default_factory=AugmentConfig)  # synthetic symbols added to training only

    def __post_init__(self):
        if not isinstance(self.window, int) or self.window < 1:
            raise ConfigError(f"window: must be an integer >= 1, got {self.window!r}")

    @property
    def min_bars(self) -> int:
        """Fewest bars a symbol may have: the feature warm-up, one window, and one step."""
        return self.features.warmup + self.window + 1


# Numbers in exponent notation that PyYAML (YAML 1.1) leaves as strings: 3e-4, 1E5, -2e+3, 1.e-3.
_YAML11_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _convert(value: Any, tp: Any, path: str, default: Any = None) -> Any:
    """Check and convert a YAML value to the annotated type `tp` (a section: over its `default` instance)."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping, got {type(value).__name__}")
        return _build(typing.cast(type, tp), value, path, default)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(value, inner[0], path)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected a list, got {value!r}")
        (item, _) = typing.get_args(tp)
        return tuple(_convert(v, item, f"{path}[{i}]") for i, v in enumerate(value))
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str) and _YAML11_FLOAT.fullmatch(value.strip()):
            value = float(value)  # YAML 1.1 reads 3e-4 (no dot in the mantissa) as a string
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{path}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{path}: unsupported config type {tp!r}")


def field_default(f: dataclasses.Field) -> Any:
    """A field's default value (its factory called), or None without one."""
    if f.default is not dataclasses.MISSING:
        return f.default
    return None if f.default_factory is dataclasses.MISSING else f.default_factory()


# Names users bring from Stable-Baselines3 / CleanRL that mean exactly one of ours: accepted, then stored under
# ours (a config that gives both is an error). SB3's batch_size (a minibatch's size) is not among them: ours
# is a count (num_minibatches = num_envs * rollout_len / batch_size), so it is refused with that formula.
ALIASES = {"ppo": {"n_envs": "num_envs", "n_steps": "rollout_len", "num_steps": "rollout_len",
                   "n_epochs": "update_epochs", "clip_range": "clip_eps", "clip_coef": "clip_eps"}}


def _aliased(values: dict, prefix: str) -> dict:
    """`values` with the section's `ALIASES` renamed to our keys."""
    aliases = ALIASES.get(prefix, {})
    if prefix == "ppo" and "batch_size" in values:
        raise ConfigError("ppo.batch_size: not a key here; SB3's batch_size is a minibatch's size, ours is "
                          "ppo.num_minibatches = num_envs * rollout_len / batch_size")
    out = {}
    for key, value in values.items():
        name = aliases.get(key, key)
        if name in out or (name != key and name in values):
            raise ConfigError(f"{prefix}: {key} and {name} name the same setting; keep one")
        out[name] = value
    return out


def _build(cls: type, values: dict, prefix: str = "", base: Any = None) -> Any:
    """`cls` from a YAML mapping: keys given replace those of `base` (a section's own default instance, e.g.
    `augment.synthetic`'s crash market), or of the class defaults."""
    values = _aliased(values, prefix)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    names = set(fields)
    unknown = sorted(set(values) - names)
    if unknown:
        where = prefix or "top level"
        raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(names)}")
    kwargs = {}
    for name, value in values.items():
        path = f"{prefix}.{name}" if prefix else name
        inner = getattr(base, name) if base is not None else field_default(fields[name])
        tp = hints[name]
        if "section_by" in fields[name].metadata:  # a section whose class a sibling names (`agent.torso` by kind)
            tp, inner = _section_type(fields, values, base, name, inner)
            if tp is None:
                kwargs[name] = value  # no class: the dataclass's own check names what is wrong
                continue
        kwargs[name] = _convert(value, tp, path, inner if dataclasses.is_dataclass(inner) else None)
    try:
        return dataclasses.replace(base, **kwargs) if base is not None else cls(**kwargs)
    except ConfigError as exc:
        if prefix and not str(exc).startswith(prefix):
            raise ConfigError(f"{prefix}: {exc}") from None
        raise


def _section_type(fields: dict, values: dict, base: Any, name: str, inner: Any) -> tuple[Any, Any]:
    """(class, default instance) of a section field whose class is looked up by a sibling's value (metadata
    `section_by`: (sibling, registry)), or (None, None) when the registry has none for it."""
    sibling, registry = fields[name].metadata["section_by"]
    key = values.get(sibling, getattr(base, sibling) if base is not None else field_default(fields[sibling]))
    tp = registry.get(key) if isinstance(key, str) else None
    if tp is None:
        return None, None
    return tp, inner if isinstance(inner, tp) else tp()


def config_from_dict(values: dict) -> Config:
    """Build a validated `Config` from a plain mapping (as parsed from YAML)."""
    if not isinstance(values, dict):
        raise ConfigError(f"config must be a mapping, got {type(values).__name__}")
    return _build(Config, values)


def apply_overrides(values: dict, overrides: Sequence[str]) -> dict:
    """`values` (a parsed YAML mapping) with each 'a.b.c=VALUE' set, VALUE parsed as YAML ('3e-4', '[AAPL, MSFT]',
    'true'); sections missing on the way are created. Validation comes after, so errors still name the key.

    Raises:
      ConfigError: an override without '=', or one that descends into a value that is not a section.
    """
    out = copy.deepcopy(values)
    for text in overrides:
        name, sep, raw = text.partition("=")
        keys = name.strip().split(".")
        if not sep or not all(keys):
            raise ConfigError(f"--set {text!r}: expected KEY=VALUE with a dotted key, e.g. ppo.learning_rate=1e-4")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError as exc:
            raise ConfigError(f"--set {text!r}: the value is not valid YAML ({exc})") from None
        node = out
        for i, key in enumerate(keys[:-1]):
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {text!r}: {'.'.join(keys[:i + 1])} is a value, not a section")
        node[keys[-1]] = value
    return out


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> Config:
    """Read a YAML file into a validated, frozen `Config`, with `overrides` ('a.b=VALUE', `apply_overrides`)
    set before validation."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: config file not found")
    if not path.is_file():
        raise ConfigError(f"{path}: is a directory, not a config file (pass a YAML file, e.g. configs/quickstart.yaml)")
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from exc
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: config must be a mapping, got {type(values).__name__}")
    values = apply_overrides(values, overrides)
    try:
        return config_from_dict(values)
    except ConfigError as exc:
        raise ConfigError(f"{path}{' with --set ' + ' '.join(overrides) if overrides else ''}: {exc}") from None


def config_to_dict(cfg: Any) -> dict:
    """The resolved config as plain YAML-ready data (tuples become lists)."""

    def plain(x):
        if dataclasses.is_dataclass(x):
            return {f.name: plain(getattr(x, f.name)) for f in dataclasses.fields(x)}
        if isinstance(x, tuple):
            return [plain(v) for v in x]
        return x

    return plain(cfg)
