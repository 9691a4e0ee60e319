"""The actor-critic: a torso (transformer encoder over the observation's tokens, or an MLP over the
flattened observation) with actor and critic heads.

Tokens (d_model wide) for one observation:
    24 bar tokens      Dense(23 -> d) of each bar of the technical window + sinusoidal position
    5 summary tokens   Dense(k -> d) of aux (3), position (5), portfolio (8), risk (5), regime (10) + a learned
                       type
    1 [CLS] token      learned; its final state, layer-normed, is the 256-d embedding
The torso is `num_layers` pre-LayerNorm encoder blocks (multi-head self-attention,
GELU feed-forward); the last block computes only the [CLS] token's update (the other
tokens' outputs would be discarded), a fifth less compute for the 4-layer model with
the same result. One set of weights serves every symbol. The actor head maps
the embedding through 128 hidden units to 7 logits, and invalid actions get a
logit of -1e9 (probability exactly 0 in float32); the critic maps it to a value.

The MLP torso (`agent.kind: mlp`) concatenates the flattened window with the five
summary vectors and runs `mlp_hidden` tanh layers (orthogonal init, as SB3 and
CleanRL do); its last layer's output is the embedding.
"""

from __future__ import annotations

import chex
import distrax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxtrade.agents.config import TORSOS, AgentConfig, register_torso
from jaxtrade.env.actions import NUM_ACTIONS
from jaxtrade.env.types import Observation

MASKED_LOGIT = -1e9
SUMMARY_FIELDS = ("aux", "position", "portfolio", "risk", "regime")


def sinusoidal_positions(length: int, d_model: int) -> np.ndarray:
    """(length, d_model) fixed sine/cosine positional encoding (Vaswani et al., 2017)."""
    pos = np.arange(length)[:, None]
    div = np.exp(np.arange(0, d_model, 2) * (-np.log(10_000.0) / d_model))
    table = np.zeros((length, d_model), np.float32)
    table[:, 0::2] = np.sin(pos * div)
    table[:, 1::2] = np.cos(pos * div)[:, : d_model // 2]
    return table


class EncoderBlock(nn.Module):
    """Pre-LN transformer block: x + MHA(LN(x)), then x + MLP(LN(x)).

    With `cls_only` only the first token ([CLS]) is updated: it attends to every token, but
    the other tokens' queries, attention outputs and feed-forward passes are skipped and
    (B, 1, d) is returned. Same parameters, same [CLS] result as the full block.
    """

    config: AgentConfig

    @nn.compact
    def __call__(self, x: jax.Array, cls_only: bool = False) -> jax.Array:
        cfg = self.config
        dtype = jnp.dtype(cfg.dtype)
        h = nn.LayerNorm(dtype=dtype)(x)
        queries = h[:, :1] if cls_only else h
        h = nn.MultiHeadDotProductAttention(num_heads=cfg.num_heads, dtype=dtype, deterministic=True)(queries, h)
        x = (x[:, :1] if cls_only else x) + h
        h = nn.LayerNorm(dtype=dtype)(x)
        h = nn.Dense(cfg.mlp_dim, dtype=dtype)(h)
        h = nn.gelu(h)
        h = nn.Dense(cfg.d_model, dtype=dtype)(h)
        return x + h


@register_torso("transformer")
class TransformerTorso(nn.Module):
    """Observation -> (B, d_model) embedding."""

    config: AgentConfig

    @nn.compact
    def __call__(self, obs: Observation) -> jax.Array:
        cfg = self.config
        dtype = jnp.dtype(cfg.dtype)
        chex.assert_rank(obs.technical, 3)  # (B, W, F)
        B, W, _ = obs.technical.shape
        bars = nn.Dense(cfg.d_model, dtype=dtype, name="bar_embed")(obs.technical)
        bars = bars + jnp.asarray(sinusoidal_positions(W, cfg.d_model), dtype)
        types = self.param("summary_type", nn.initializers.normal(0.02), (len(SUMMARY_FIELDS), cfg.d_model))
        summary = jnp.stack([
            nn.Dense(cfg.d_model, dtype=dtype, name=f"{name}_embed")(getattr(obs, name))
            for name in SUMMARY_FIELDS
        ], axis=1) + types.astype(dtype)
        cls = self.param("cls", nn.initializers.normal(0.02), (1, 1, cfg.d_model))
        x = jnp.concatenate([jnp.broadcast_to(cls, (B, 1, cfg.d_model)).astype(dtype), bars, summary], axis=1)
        for i in range(cfg.num_layers):  # only [CLS] is read out, so the last block updates only [CLS]
            x = EncoderBlock(cfg, name=f"block_{i}")(x, cls_only=i == cfg.num_layers - 1)
        return nn.LayerNorm(dtype=dtype, name="final_norm")(x[:, 0]).astype(jnp.float32)


@register_torso("mlp")
class MLPTorso(nn.Module):
    """Observation -> (B, mlp_hidden[-1]) embedding: tanh MLP over the flattened window and summaries."""

    config: AgentConfig

    @nn.compact
    def __call__(self, obs: Observation) -> jax.Array:
        chex.assert_rank(obs.technical, 3)  # (B, W, F)
        B = obs.technical.shape[0]
        x = jnp.concatenate([obs.technical.reshape(B, -1)] + [getattr(obs, name) for name in SUMMARY_FIELDS], -1)
        for width in self.config.mlp_hidden:
            x = jnp.tanh(nn.Dense(width, kernel_init=nn.initializers.orthogonal(np.sqrt(2.0)))(x))
        return x.astype(jnp.float32)


class ActorHead(nn.Module):
    """(B, d) embedding and (B, A) mask -> (B, A) masked logits."""

    hidden: int = 128
    num_actions: int = NUM_ACTIONS

    @nn.compact
    def __call__(self, embedding: jax.Array, mask: jax.Array) -> jax.Array:
        h = nn.gelu(nn.Dense(self.hidden)(embedding))
        logits = nn.Dense(self.num_actions, kernel_init=nn.initializers.orthogonal(0.01))(h)
        return jnp.where(mask, logits, MASKED_LOGIT)


class CriticHead(nn.Module):
    """(B, d) embedding -> (B,) state value."""

    hidden: int = 128

    @nn.compact
    def __call__(self, embedding: jax.Array) -> jax.Array:
        h = nn.gelu(nn.Dense(self.hidden)(embedding))
        return nn.Dense(1, kernel_init=nn.initializers.orthogonal(1.0))(h)[..., 0]


class ActorCritic(nn.Module):
    """A shared torso (`config.kind`) with actor and critic heads.

    Call on a batched `Observation` (leading axis B) to get (logits (B, A), value (B,)), A =
    `num_actions` (the env's `num_actions`: 7 long-only, 13 with shorts).
    """

    config: AgentConfig = AgentConfig()
    num_actions: int = NUM_ACTIONS

    @nn.compact
    def __call__(self, obs: Observation) -> tuple[jax.Array, jax.Array]:
        embedding = TORSOS[self.config.kind](self.config, name="torso")(obs)
        logits = ActorHead(self.config.head_dim, self.num_actions, name="actor")(embedding, obs.action_mask)
        value = CriticHead(self.config.head_dim, name="critic")(embedding)
        return logits, value


def policy(logits: jax.Array) -> distrax.Categorical:
    """The categorical policy over the actions for (masked) logits."""
    return distrax.Categorical(logits=logits)


def count_params(params) -> int:
    """Number of scalar parameters in a pytree."""
    return int(sum(np.prod(x.shape) for x in jax.tree.leaves(params)))
