"""Does the shaped reward rank policies the way their equity does? Fixed policies, same starts, both measured.

`policy_rewards` runs fixed policies from the same episode starts as one rollout
and reports, per policy, the mean equity return and max drawdown per episode, the
mean total reward per episode and each reward component's episode sum. A reward is
aligned when it orders every clearly ordered pair of policies as their equity
returns do, except where the one with more return also has a clearly deeper
drawdown: a reward with a drawdown term may trade return for drawdown, never for
nothing (`misordered`). `next_bar_oracle` peeks at the next bar (a yardstick for checking
rewards, never a baseline), `target_exposure_policy` holds a fixed share of the
position limit.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxtrade.env.env import TradingEnv
from jaxtrade.env.rewards import REWARD_COMPONENTS
from jaxtrade.env.types import EnvParams, EnvState, Observation
from jaxtrade.evaluate.metrics import max_drawdown
from jaxtrade.evaluate.policies import go_flat, go_long, table_of
from jaxtrade.evaluate.rollout import ActFn, run_policies


def next_bar_oracle(key: jax.Array, obs: Observation, state: EnvState, params: EnvParams) -> jax.Array:
    """Long (as large as allowed) when the next bar closes above its open, else flat. Reads the future."""
    nb = state.bar + 1
    last = params.market.close.shape[1] - 1
    at = jnp.minimum(nb, last)
    up = params.market.close[state.symbol, at] > params.market.open[state.symbol, at]
    table = table_of(params, obs.action_mask)
    return jnp.where(up, go_long(obs.action_mask, table), go_flat(obs, table))


def target_exposure_policy(share: float) -> ActFn:
    """Buy (largest fitting order) until the position uses `share` of the position limit, then hold."""

    def act(key: jax.Array, obs: Observation, state=None, params=None) -> jax.Array:
        table = table_of(params, obs.action_mask)
        return jnp.where(obs.position[:, 1] < share, go_long(obs.action_mask, table), 0).astype(jnp.int32)

    return act


def policy_rewards(env: TradingEnv, params: EnvParams, policies: dict[str, ActFn], key: jax.Array,
                   episodes: int, horizon: int) -> list[dict]:
    """Mean equity return, max drawdown, total reward and component sums per episode, one row per policy.

    Every policy runs from the same `episodes` starts as one rollout (`run_policies`),
    each episode until it ends or `horizon` steps. Each row also keeps the per-episode
    arrays `episode_returns`, `episode_drawdowns` (max drawdown, <= 0) and
    `episode_rewards` (E,), paired across policies by start.
    """

    def run(params, key):
        r = run_policies(env, params, list(policies.values()), key, episodes, horizon)
        return r, max_drawdown(r.step_returns, r.step_mask())

    r, dd = jax.tree.map(np.asarray, jax.jit(run)(params, key))
    return [{"policy": name, "mean_return": float(r.total_return[i].mean()), "mean_reward": float(r.reward[i].mean()),
             "max_drawdown": float(dd[i].mean()), "episode_returns": r.total_return[i], "episode_drawdowns": dd[i],
             "episode_rewards": r.reward[i], "trades": float(r.trades[i].mean()),
             **{c: float(r.reward_components[i, :, j].mean()) for j, c in enumerate(REWARD_COMPONENTS)}}
            for i, name in enumerate(policies)]


def clear_pairs(rows: Sequence[dict], z: float = 3.0, per_episode: str = "episode_returns") -> list[tuple[str, str]]:
    """(higher, lower) policy pairs whose mean `per_episode` values differ by more than `z` paired standard errors
    (returns by default; `episode_drawdowns`: (shallower, deeper))."""
    out = []
    for a in rows:
        for b in rows:
            d = a[per_episode] - b[per_episode]
            if d.mean() > z * d.std() / np.sqrt(len(d)):
                out.append((a["policy"], b["policy"]))
    return out


def misordered(rows: Sequence[dict], z: float = 3.0) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The clear pairs (more return, less return) the mean reward orders the other way, split in two: those where
    the one with more return has no clearly deeper drawdown (a misaligned reward: it gave up return for nothing),
    and those where it has (the reward's drawdown term traded return for drawdown)."""
    reward = {r["policy"]: r["mean_reward"] for r in rows}
    deeper = {(b, a) for a, b in clear_pairs(rows, z, "episode_drawdowns")}  # (deeper, shallower)
    flipped = [(a, b) for a, b in clear_pairs(rows, z) if reward[a] <= reward[b]]
    return [p for p in flipped if p not in deeper], [p for p in flipped if p in deeper]


def ranked(rows: Sequence[dict], key: str) -> list[str]:
    """Policy names from the highest `key` to the lowest."""
    return [r["policy"] for r in sorted(rows, key=lambda r: -r[key])]


def format_rewards(rows: Sequence[dict]) -> str:
    """A fixed-width table of `policy_rewards` rows."""
    head = f"  {'policy':<16}{'return':>9}{'max DD':>9}{'reward':>9}{'trades':>7} " + " ".join(
        f"{n[:9]:>9}" for n in REWARD_COMPONENTS)
    lines = [head]
    for r in rows:
        lines.append(f"  {r['policy']:<16}{r['mean_return']:>+9.2%}{r['max_drawdown']:>+9.2%}{r['mean_reward']:>+9.3f}"
                     f"{r['trades']:>7.1f} "
                     + " ".join(f"{r[n]:>+9.3f}" for n in REWARD_COMPONENTS))
    return "\n".join(lines)
