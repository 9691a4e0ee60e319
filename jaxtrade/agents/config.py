"""`TransformerConfig`: the actor-critic's architecture (static: it fixes every parameter shape)."""

from __future__ import annotations

from dataclasses import dataclass

from jaxtrade.errors import ConfigError

DTYPES = ("float32", "bfloat16")


@dataclass(frozen=True)
class TransformerConfig:
    """Transformer encoder over the observation window, with actor and critic heads."""

    num_layers: int = 4  # encoder blocks
    d_model: int = 256  # token width
    num_heads: int = 8  # attention heads; must divide d_model
    mlp_dim: int = 1024  # hidden width of each block's feed-forward layer
    head_dim: int = 128  # hidden width of the actor and critic heads
    dtype: str = "float32"  # computation dtype: float32 | bfloat16 (parameters stay float32)

    def __post_init__(self):
        for name in ("num_layers", "d_model", "num_heads", "mlp_dim", "head_dim"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"agent.{name}: must be an integer >= 1, got {v!r}")
        if self.d_model % self.num_heads:
            raise ConfigError(f"agent.num_heads: {self.num_heads} does not divide d_model {self.d_model}")
        if self.dtype not in DTYPES:
            raise ConfigError(f"agent.dtype: {self.dtype!r} is not one of {list(DTYPES)}")
