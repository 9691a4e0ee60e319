"""PPO on device: rollout -> GAE -> epochs -> minibatches, as nested named `lax.scan`s.

`make_train(ppo_cfg, env, network)` returns a `Trainer` of pure functions; the
env's params (for the trading env: the market) are an argument like any other
(never a constant baked into the program), so one compiled program serves every
symbol or split:

    init(key, hp, env_params)             -> RunnerState              everything the loop carries
    update(runner, hp, env_params)        -> (RunnerState, Metrics)   one PPO update
    run_chunk(runner, hp, env_params)     -> (RunnerState, Metrics[K]) K = updates_per_chunk updates
    train(key, hp, env_params)            -> (RunnerState, Metrics[U]) the whole run

The trainer is generic: any `Environment` (gymnax contract, terminated and
truncated apart, the final observation in the step's info), any `ActorCritic`,
an injected action `distribution` (default categorical over masked logits) and a
`RolloutMetrics` hook for what to log from the env's info (default: the trading
env's episode returns and reward components). `hp` is a `PPOHyperparams` of
traced scalars, so seeds, hyperparameters and env params vmap into one program. A
terminated step bootstraps from 0, a truncated one from the value of its final
observation.

Minibatches are stratified by env: each epoch shuffles every env's rollout steps
independently and minibatch m takes rollout_len / num_minibatches steps of every
env. Nothing moves between envs, so with the env axis sharded over devices
(`batch_sharding`) the whole update stays device-local except the gradient mean.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from jax import lax

from jaxtrade.agents.networks import policy as categorical  # the default action distribution
from jaxtrade.train.config import PPOConfig, PPOHyperparams
from jaxtrade.train.hooks import TradingMetrics
from jaxtrade.train.types import (
    ActorCritic,
    Distribution,
    Environment,
    LossStats,
    Metrics,
    ReturnScale,
    RolloutMetrics,
    RunnerState,
    Trainer,
    TrainState,
    Transition,
    final_observation,
)


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


def ppo_loss(params: Any, network: ActorCritic, distribution: Distribution, batch: tuple[Transition, jax.Array,
             jax.Array], hp: PPOHyperparams, normalize_advantages: bool = True) -> tuple[jax.Array, LossStats]:
    """The clipped PPO objective on a minibatch, and its statistics.

    Args:
      params: network parameters.
      network: the actor-critic.
      distribution: network output -> action distribution.
      batch: (transitions, advantages, value targets), leading axis B.
      hp: clip_eps, vf_coef, ent_coef.
      normalize_advantages: standardise the minibatch's advantages.

    Returns:
      (total loss (), `LossStats`).
    """
    traj, advantages, targets = batch
    inputs, value = network.apply(params, traj.obs)
    pi = distribution(inputs)
    log_ratio = pi.log_prob(traj.action) - traj.log_prob
    ratio = jnp.exp(log_ratio)
    if normalize_advantages:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    policy_loss = -jnp.minimum(
        ratio * advantages, jnp.clip(ratio, 1.0 - hp.clip_eps, 1.0 + hp.clip_eps) * advantages).mean()
    value_clipped = traj.value + jnp.clip(value - traj.value, -hp.clip_eps, hp.clip_eps)
    value_loss = 0.5 * jnp.maximum((value - targets) ** 2, (value_clipped - targets) ** 2).mean()
    entropy = pi.entropy().mean()
    total = policy_loss + hp.vf_coef * value_loss - hp.ent_coef * entropy
    return total, LossStats(policy_loss=policy_loss, value_loss=value_loss, entropy=entropy,
                            approx_kl=((ratio - 1.0) - log_ratio).mean(),
                            clip_fraction=(jnp.abs(ratio - 1.0) > hp.clip_eps).mean())


def stratified_minibatches(by_env: Any, key: jax.Array, num_minibatches: int) -> Any:
    """Leaves (N, T, ...) -> (M, N * T/M, ...): each env's T steps shuffled (one permutation per env from
    `key`), and minibatch m takes T/M of them from every env (env-major, so each device keeps its own envs'
    steps under data parallelism)."""
    N, T = jax.tree.leaves(by_env)[0].shape[:2]
    M = num_minibatches
    order = jnp.argsort(jax.random.uniform(key, (N, T)), axis=1)  # each env's steps, shuffled

    def split(x):
        rest = x.shape[2:]
        x = jax.vmap(lambda row, o: row[o])(x, order).reshape((N, M, T // M) + rest)
        return jnp.swapaxes(x, 0, 1).reshape((M, N * (T // M)) + rest)

    return jax.tree.map(split, by_env)


def sgd_epochs(train_state: TrainState, key: jax.Array, by_env: Any, loss_fn, tx: optax.GradientTransformation,
               epochs: int, num_minibatches: int, shard=lambda tree: tree) -> tuple[TrainState, jax.Array, Any]:
    """`epochs` passes over one rollout, each in `num_minibatches` stratified minibatches (`stratified_minibatches`,
    reshuffled per epoch), one optimiser step per minibatch: the epoch and minibatch scans of an update.

    Args:
      by_env: the rollout's (trajectory, advantages, targets), leaves (N, T, ...).
      loss_fn: (params, minibatch) -> (loss, LossStats).
      shard: the sharding constraint a minibatch keeps (identity: none).
    Returns:
      (train_state, key, (the LossStats and the gradient norm, each averaged over all minibatch steps)).
    """

    def epoch(carry, _):
        train_state, key = carry
        key, k_perm = jax.random.split(key)

        def minibatch(train_state, batch):
            batch = shard(batch)  # (N * T/M, ...), env-major: each device keeps its own envs' steps
            (_, stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(train_state.params, batch)
            updates, opt_state = tx.update(grads, train_state.opt_state, train_state.params)
            params = optax.apply_updates(train_state.params, updates)
            return TrainState(params, opt_state), (stats, optax.tree.norm(grads))

        train_state, stats = lax.scan(minibatch, train_state, stratified_minibatches(by_env, k_perm, num_minibatches))
        return (train_state, key), stats

    (train_state, key), stats = lax.scan(epoch, (train_state, key), None, length=epochs)
    return train_state, key, jax.tree.map(jnp.mean, stats)


def make_train(cfg: PPOConfig, env: Environment, network: ActorCritic,
               batch_sharding: jax.sharding.Sharding | None = None, distribution: Distribution = categorical,
               metrics: RolloutMetrics | None = None) -> Trainer:
    """Build the pure training functions for `network` on `env`.

    Args:
      cfg: loop shape and default hyperparameters.
      env: the environment (its params are passed to each function).
      network: actor-critic: apply(params, obs) -> (distribution inputs, value).
      batch_sharding: where arrays with a leading env axis live, e.g.
        `NamedSharding(mesh, P("data"))` for data parallelism; None: no constraint.
      distribution: network output -> action distribution (default `categorical`).
      metrics: what to record from each step's info (default `TradingMetrics`).
    """
    metrics = TradingMetrics() if metrics is None else metrics
    N, T, M = cfg.num_envs, cfg.rollout_len, cfg.num_minibatches
    reset = jax.vmap(env.reset, in_axes=(0, None))
    step = jax.vmap(env.step, in_axes=(0, 0, 0, None))
    if batch_sharding is None:
        shard = lambda tree: tree  # noqa: E731
    else:
        shard = lambda tree: lax.with_sharding_constraint(tree, batch_sharding)  # noqa: E731

    def init(key: jax.Array, hp: PPOHyperparams, env_params: Any, params: Any = None) -> RunnerState:
        """A fresh run: the network initialised from `key`, or starting from `params` (a warm start; the
        network's full parameter tree)."""
        k_net, k_env, k_run = jax.random.split(key, 3)
        obs, env_state = shard(reset(jax.random.split(k_env, N), env_params))
        params = network.init(k_net, obs) if params is None else params
        opt_state = make_optimizer(cfg, hp).init(params)
        return RunnerState(train_state=TrainState(params, opt_state), env_state=env_state, obs=obs, key=k_run,
                           updates_done=jnp.zeros((), jnp.int32), return_scale=ReturnScale.zeros(N))

    def rollout(runner: RunnerState, hp: PPOHyperparams, env_params: Any) -> tuple[RunnerState, Transition]:
        params = runner.train_state.params

        def env_step(carry, _):
            env_state, obs, key, return_scale = carry
            key, k_act, k_env = jax.random.split(key, 3)
            inputs, value = network.apply(params, obs)
            pi = distribution(inputs)
            action = pi.sample(seed=k_act)
            next_obs, env_state, reward, terminated, truncated, info = step(
                jax.random.split(k_env, N), env_state, action, env_params)
            next_obs, env_state = shard((next_obs, env_state))
            _, bootstrap = network.apply(params, final_observation(info))
            if cfg.normalize_rewards:
                learn_reward, return_scale = scale_rewards(return_scale, reward, terminated | truncated, hp.gamma)
            else:
                learn_reward = reward
            transition = Transition(obs=obs, action=action, log_prob=pi.log_prob(action), value=value,
                                    reward=learn_reward, env_reward=reward, terminated=terminated,
                                    truncated=truncated, bootstrap_value=bootstrap, records=metrics.record(info))
            return (env_state, next_obs, key, return_scale), transition

        (env_state, obs, key, return_scale), traj = lax.scan(
            env_step, (runner.env_state, runner.obs, runner.key, runner.return_scale), None, length=T)
        return runner._replace(env_state=env_state, obs=obs, key=key, return_scale=return_scale), traj

    def loss_fn(params, batch, hp: PPOHyperparams) -> tuple[jax.Array, LossStats]:
        return ppo_loss(params, network, distribution, batch, hp, cfg.normalize_advantages)

    def update(runner: RunnerState, hp: PPOHyperparams, env_params: Any) -> tuple[RunnerState, Metrics]:
        runner, traj = rollout(runner, hp, env_params)
        advantages, targets = compute_gae(traj.reward, traj.value, traj.bootstrap_value, traj.terminated,
                                          traj.truncated, hp.gamma, hp.gae_lambda)
        by_env = shard(jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), (traj, advantages, targets)))  # (N, T, ...)
        train_state, key, (loss_stats, grad_norm) = sgd_epochs(
            runner.train_state, runner.key, by_env, lambda p, b: loss_fn(p, b, hp), make_optimizer(cfg, hp),
            cfg.update_epochs, M, shard)
        done = traj.terminated | traj.truncated
        lr = learning_rate_at(cfg, hp, runner.updates_done)  # what this update's optimiser steps used
        update_metrics = Metrics(
            episodes=done.sum(),
            reward=traj.env_reward.mean(),
            **loss_stats._asdict(),
            grad_norm=grad_norm,
            learning_rate=lr,
            env=metrics.summarise(traj.records, done),
        )
        runner = runner._replace(train_state=train_state, key=key, updates_done=runner.updates_done + 1)
        return runner, update_metrics

    def run_chunk(runner: RunnerState, hp: PPOHyperparams, env_params: Any,
                  num_updates: int = cfg.updates_per_chunk) -> tuple[RunnerState, Metrics]:
        return lax.scan(lambda r, _: update(r, hp, env_params), runner, None, length=num_updates)

    def train(key: jax.Array, hp: PPOHyperparams, env_params: Any) -> tuple[RunnerState, Metrics]:
        return run_chunk(init(key, hp, env_params), hp, env_params, cfg.num_updates)

    return Trainer(init=init, update=update, run_chunk=run_chunk, train=train)
