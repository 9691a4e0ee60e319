"""PPO on device: rollout -> GAE -> epochs -> minibatches, as nested named `lax.scan`s.

`make_train(ppo_cfg, env, network)` returns a `Trainer` of pure functions; the
market lives in `env_params`, an argument like any other (never a constant baked
into the program), so one compiled program serves every symbol or split:

    init(key, hp, env_params)             -> RunnerState              everything the loop carries
    update(runner, hp, env_params)        -> (RunnerState, Metrics)   one PPO update
    run_chunk(runner, hp, env_params)     -> (RunnerState, Metrics[K]) K = updates_per_chunk updates
    train(key, hp, env_params)            -> (RunnerState, Metrics[U]) the whole run

`hp` is a `PPOHyperparams` of traced scalars, so seeds, hyperparameters, reward
weights and symbols (start tables) vmap into one program. Termination and
truncation stay apart: a terminated step bootstraps from 0, a truncated one from
the value of `info["final_observation"]`.

Minibatches are stratified by env: each epoch shuffles every env's rollout steps
independently and minibatch m takes rollout_len / num_minibatches steps of every
env. Nothing moves between envs, so with the env axis sharded over devices
(`batch_sharding`) the whole update stays device-local except the gradient mean.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax import lax

from jaxtrade.agents.networks import policy
from jaxtrade.env.env import TradingEnv
from jaxtrade.env.types import EnvParams, EnvState, Observation
from jaxtrade.train.config import PPOConfig, PPOHyperparams


class TrainState(NamedTuple):
    """Network parameters and optimiser state."""

    params: Any  # flax parameter tree
    opt_state: Any  # optax state (its count drives the learning-rate schedule)


class ReturnScale(NamedTuple):
    """Running variance of the envs' discounted returns, to scale rewards (as CleanRL's NormalizeReward)."""

    count: jax.Array  # () float32 samples seen
    mean: jax.Array  # () float32
    var: jax.Array  # () float32
    discounted: jax.Array  # (N,) float32 each env's discounted return so far this episode

    @classmethod
    def zeros(cls, num_envs: int) -> ReturnScale:
        z = jnp.zeros((), jnp.float32)
        return cls(z, z, jnp.ones((), jnp.float32), jnp.zeros((num_envs,), jnp.float32))


def scale_rewards(scale: ReturnScale, reward: jax.Array, done: jax.Array, gamma: jax.Array
                  ) -> tuple[jax.Array, ReturnScale]:
    """Divide one step's (N,) rewards by the running std of the discounted return, then update it.

    G <- gamma * G + r per env (G restarts after the episode ends); the (count, mean, var)
    moments absorb the N new G values with the parallel-variance merge (Chan et al.).
    """
    g = scale.discounted * gamma + reward
    n = jnp.asarray(g.shape[0], jnp.float32)
    b_mean, b_var = g.mean(), g.var()
    count = scale.count + n
    delta = b_mean - scale.mean
    mean = scale.mean + delta * n / count
    var = (scale.var * scale.count + b_var * n + delta**2 * scale.count * n / count) / count
    scaled = reward / jnp.sqrt(var + 1e-8)
    return scaled, ReturnScale(count, mean, var, jnp.where(done, 0.0, g))


class RunnerState(NamedTuple):
    """The full carry of the training loop: restoring it resumes a run bit for bit."""

    train_state: TrainState
    env_state: EnvState  # (N,) batched
    obs: Observation  # (N,) batched, the next decision's observation
    key: jax.Array  # PRNG key
    update: jax.Array  # () int32 updates done
    return_scale: ReturnScale  # reward scaling statistics (unused unless cfg.normalize_rewards)


class Transition(NamedTuple):
    """One rollout step for all envs; the rollout stacks them to (T, N, ...)."""

    obs: Observation
    action: jax.Array  # (N,) int32
    log_prob: jax.Array  # (N,) behaviour policy log-probability
    value: jax.Array  # (N,) V(obs)
    reward: jax.Array  # (N,) the reward learned from (scaled when cfg.normalize_rewards)
    env_reward: jax.Array  # (N,) the env's reward
    terminated: jax.Array  # (N,) bool: no bootstrap
    truncated: jax.Array  # (N,) bool: bootstrap from the final observation
    bootstrap_value: jax.Array  # (N,) V(final observation of this step)
    episode_return: jax.Array  # (N,) equity / initial - 1 at this step
    components: jax.Array  # (N, 7) reward components


class Metrics(NamedTuple):
    """Per-update training metrics (scalars)."""

    episode_return: jax.Array  # mean final return of episodes that ended in this rollout
    episodes: jax.Array  # episodes that ended in this rollout
    reward: jax.Array  # mean per-step env reward (before any scaling)
    reward_components: jax.Array  # (7,) mean per-step reward components
    policy_loss: jax.Array
    value_loss: jax.Array
    entropy: jax.Array
    approx_kl: jax.Array  # mean (r - 1) - log r over minibatches
    clip_fraction: jax.Array  # share of samples with |r - 1| > clip_eps
    grad_norm: jax.Array  # global gradient norm before clipping
    learning_rate: jax.Array


def compute_gae(
    rewards: jax.Array,
    values: jax.Array,
    bootstrap_values: jax.Array,
    terminated: jax.Array,
    truncated: jax.Array,
    gamma: jax.Array,
    gae_lambda: jax.Array,
) -> tuple[jax.Array, jax.Array]:
    """Generalised advantage estimation over a rollout with auto-resets.

    delta_t = r_t + gamma * (1 - terminated_t) * B_t - V_t, where B_t is the value
    of the step's final observation (the next observation unless the episode
    ended); A_t = delta_t + gamma * lambda * (1 - done_t) * A_{t+1}.

    Args:
      rewards, values, bootstrap_values: (T, N) float.
      terminated, truncated: (T, N) bool.
      gamma, gae_lambda: () discount and GAE lambda.

    Returns:
      (advantages, value targets), both (T, N).
    """
    done = (terminated | truncated).astype(values.dtype)
    deltas = rewards + gamma * (1.0 - terminated.astype(values.dtype)) * bootstrap_values - values

    def gae_step(next_advantage, x):
        delta, d = x
        advantage = delta + gamma * gae_lambda * (1.0 - d) * next_advantage
        return advantage, advantage

    _, advantages = lax.scan(gae_step, jnp.zeros_like(values[0]), (deltas, done), reverse=True)
    return advantages, advantages + values


def learning_rate_at(cfg: PPOConfig, hp: PPOHyperparams, update: jax.Array) -> jax.Array:
    """The learning rate of update `update` (0-based): linearly annealed to 0 over num_updates, or constant."""
    if not cfg.anneal_lr:
        return hp.learning_rate
    return hp.learning_rate * jnp.maximum(1.0 - update.astype(jnp.float32) / cfg.num_updates, 0.0)


def make_optimizer(cfg: PPOConfig, hp: PPOHyperparams) -> optax.GradientTransformation:
    """Global-norm clipping, Adam, and `learning_rate_at` the update the optimiser step belongs to."""
    steps_per_update = cfg.update_epochs * cfg.num_minibatches

    def schedule(count):
        return learning_rate_at(cfg, hp, count // steps_per_update)

    return optax.chain(
        optax.clip_by_global_norm(hp.max_grad_norm),
        optax.scale_by_adam(eps=1e-5),
        optax.scale_by_learning_rate(schedule),
    )


class Trainer(NamedTuple):
    init: Any
    update: Any
    run_chunk: Any
    train: Any


def make_train(cfg: PPOConfig, env: TradingEnv, network, batch_sharding: jax.sharding.Sharding | None = None
               ) -> Trainer:
    """Build the pure training functions for `network` (a flax module: obs -> (logits, value)).

    Args:
      cfg: loop shape and default hyperparameters.
      env: the environment (its params are passed to each function).
      network: actor-critic module.
      batch_sharding: where arrays with a leading env axis live, e.g.
        `NamedSharding(mesh, P("data"))` for data parallelism; None: no constraint.
    """
    N, T, M = cfg.num_envs, cfg.rollout_len, cfg.num_minibatches
    reset = jax.vmap(env.reset, in_axes=(0, None))
    step = jax.vmap(env.step, in_axes=(0, 0, 0, None))
    if batch_sharding is None:
        shard = lambda tree: tree  # noqa: E731
    else:
        shard = lambda tree: lax.with_sharding_constraint(tree, batch_sharding)  # noqa: E731

    def init(key: jax.Array, hp: PPOHyperparams, env_params: EnvParams) -> RunnerState:
        k_net, k_env, k_run = jax.random.split(key, 3)
        obs, env_state = shard(reset(jax.random.split(k_env, N), env_params))
        params = network.init(k_net, obs)
        opt_state = make_optimizer(cfg, hp).init(params)
        return RunnerState(TrainState(params, opt_state), env_state, obs, k_run, jnp.zeros((), jnp.int32),
                           ReturnScale.zeros(N))

    def rollout(runner: RunnerState, hp: PPOHyperparams, env_params: EnvParams) -> tuple[RunnerState, Transition]:
        params = runner.train_state.params

        def env_step(carry, _):
            env_state, obs, key, return_scale = carry
            key, k_act, k_env = jax.random.split(key, 3)
            logits, value = network.apply(params, obs)
            pi = policy(logits)
            action = pi.sample(seed=k_act)
            next_obs, env_state, reward, terminated, truncated, info = step(
                jax.random.split(k_env, N), env_state, action, env_params)
            next_obs, env_state = shard((next_obs, env_state))
            _, bootstrap = network.apply(params, info["final_observation"])
            if cfg.normalize_rewards:
                learn_reward, return_scale = scale_rewards(return_scale, reward, terminated | truncated, hp.gamma)
            else:
                learn_reward = reward
            transition = Transition(obs, action, pi.log_prob(action), value, learn_reward, reward, terminated,
                                    truncated, bootstrap, info["episode_return"],
                                    jnp.stack(info["reward_components"], -1))
            return (env_state, next_obs, key, return_scale), transition

        (env_state, obs, key, return_scale), traj = lax.scan(
            env_step, (runner.env_state, runner.obs, runner.key, runner.return_scale), None, length=T)
        return runner._replace(env_state=env_state, obs=obs, key=key, return_scale=return_scale), traj

    def loss_fn(params, batch, hp: PPOHyperparams):
        traj, advantages, targets = batch
        logits, value = network.apply(params, traj.obs)
        pi = policy(logits)
        log_prob = pi.log_prob(traj.action)
        log_ratio = log_prob - traj.log_prob
        ratio = jnp.exp(log_ratio)
        if cfg.normalize_advantages:
            advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        policy_loss = -jnp.minimum(
            ratio * advantages, jnp.clip(ratio, 1.0 - hp.clip_eps, 1.0 + hp.clip_eps) * advantages).mean()
        value_clipped = traj.value + jnp.clip(value - traj.value, -hp.clip_eps, hp.clip_eps)
        value_loss = 0.5 * jnp.maximum((value - targets) ** 2, (value_clipped - targets) ** 2).mean()
        entropy = pi.entropy().mean()
        total = policy_loss + hp.vf_coef * value_loss - hp.ent_coef * entropy
        stats = (policy_loss, value_loss, entropy, ((ratio - 1.0) - log_ratio).mean(),
                 (jnp.abs(ratio - 1.0) > hp.clip_eps).mean())
        return total, stats

    def update(runner: RunnerState, hp: PPOHyperparams, env_params: EnvParams) -> tuple[RunnerState, Metrics]:
        tx = make_optimizer(cfg, hp)
        runner, traj = rollout(runner, hp, env_params)
        advantages, targets = compute_gae(traj.reward, traj.value, traj.bootstrap_value, traj.terminated,
                                          traj.truncated, hp.gamma, hp.gae_lambda)
        by_env = shard(jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), (traj, advantages, targets)))  # (N, T, ...)

        def epoch(carry, _):
            train_state, key = carry
            key, k_perm = jax.random.split(key)
            order = jnp.argsort(jax.random.uniform(k_perm, (N, T)), axis=1)  # each env's steps, shuffled

            def split(x):  # (N, T, ...) -> (M, N * T/M, ...): minibatch m = T/M shuffled steps of every env
                rest = x.shape[2:]
                x = jax.vmap(lambda row, o: row[o])(x, order).reshape((N, M, T // M) + rest)
                return jnp.swapaxes(x, 0, 1).reshape((M, N * (T // M)) + rest)

            minibatches = jax.tree.map(split, by_env)

            def minibatch(train_state, batch):
                batch = shard(batch)  # (N * T/M, ...), env-major: each device keeps its own envs' steps
                (_, stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(train_state.params, batch, hp)
                updates, opt_state = tx.update(grads, train_state.opt_state, train_state.params)
                params = optax.apply_updates(train_state.params, updates)
                return TrainState(params, opt_state), (*stats, optax.tree.norm(grads))

            train_state, stats = lax.scan(minibatch, train_state, minibatches)
            return (train_state, key), stats

        (train_state, key), stats = lax.scan(epoch, (runner.train_state, runner.key), None,
                                             length=cfg.update_epochs)
        policy_loss, value_loss, entropy, approx_kl, clip_fraction, grad_norm = (s.mean() for s in stats)
        done = traj.terminated | traj.truncated
        episodes = done.sum()
        lr = learning_rate_at(cfg, hp, runner.update)  # what this update's optimiser steps used
        metrics = Metrics(
            episode_return=jnp.where(done, traj.episode_return, 0.0).sum() / jnp.maximum(episodes, 1),
            episodes=episodes,
            reward=traj.env_reward.mean(),
            reward_components=traj.components.mean(axis=(0, 1)),
            policy_loss=policy_loss,
            value_loss=value_loss,
            entropy=entropy,
            approx_kl=approx_kl,
            clip_fraction=clip_fraction,
            grad_norm=grad_norm,
            learning_rate=lr,
        )
        runner = runner._replace(train_state=train_state, key=key, update=runner.update + 1)
        return runner, metrics

    def run_chunk(runner: RunnerState, hp: PPOHyperparams, env_params: EnvParams,
                  num_updates: int = cfg.updates_per_chunk) -> tuple[RunnerState, Metrics]:
        return lax.scan(lambda r, _: update(r, hp, env_params), runner, None, length=num_updates)

    def train(key: jax.Array, hp: PPOHyperparams, env_params: EnvParams) -> tuple[RunnerState, Metrics]:
        return run_chunk(init(key, hp, env_params), hp, env_params, cfg.num_updates)

    return Trainer(init, update, run_chunk, train)
