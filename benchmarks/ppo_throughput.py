"""PPO training throughput: env steps per second of rollout + GAE + update: MLP, tiny and full models.

Builds the env on the bundled daily stocks and runs `Trainer.run_chunk` (the
jitted, fully on-device loop) for a few updates per model, timing the second
call (the first compiles). Env steps/s = updates x num_envs x rollout_len /
seconds. The MLP is the quickstart's network (64-64 tanh torso, 64-wide heads) at
the quickstart's batch (`--mlp-envs`, default 128 x 64 steps). The full model's batch is scaled to the device
(`--full-envs`); the
issue's target is >= 100,000 env steps/s for it on an H100. Writes
benchmarks/results/ppo_throughput_<platform>.json.

Also reports the network's FLOPs per env step as XLA counts them: two forward
passes in the rollout (the next observation and the final observation for
truncation bootstraps) plus a forward and backward pass in each of the
update_epochs epochs (environment and optimiser arithmetic are negligible beside
it), and what 100,000 env steps/s would take as a share of an H100's bfloat16 peak.

With `--sb3` (needs the optional `bench` extra: stable-baselines3 and PyTorch) it
also trains Stable-Baselines3's PPO on the same env through the Gymnasium vector
adapter (`TradingVectorEnv` behind a thin SB3 `VecEnv`), with SB3's default 64-64
tanh MultiInputPolicy and the same batch shape (`--sb3-envs` envs x `--rollout`
steps, 4 epochs of 4 minibatches), beside jaxtrade's MLP at that shape, and
reports the ratio; each side is timed `--repeats` times after a warm-up. That run
writes ppo_throughput_sb3_<platform>.json.

    python benchmarks/ppo_throughput.py [--full-envs 4096] [--tiny-envs 256] [--updates 2] [--sb3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jax

sys.path.insert(0, str(Path(__file__).parent))
from common import H100_BF16_DENSE_TFLOPS, compiled_flops, device_info, timed, write_results  # noqa: E402

from jaxtrade.agents import ActorCritic, AgentConfig, count_params  # noqa: E402
from jaxtrade.data.samples import load_sample  # noqa: E402
from jaxtrade.env import EnvConfig, TradingEnv, make_params  # noqa: E402
from jaxtrade.features import compute_features  # noqa: E402
from jaxtrade.train import PPOConfig, PPOHyperparams, make_train  # noqa: E402

TINY = AgentConfig(num_layers=1, d_model=32, num_heads=2, mlp_dim=64, head_dim=32)
MLP = AgentConfig(kind="mlp", mlp_hidden=(64, 64), head_dim=64)


def bench(name, agent, ppo, env, env_params, repeats):
    network = ActorCritic(agent)
    trainer = make_train(ppo, env, network)
    hp = PPOHyperparams.from_config(ppo)
    runner = jax.jit(trainer.init)(jax.random.key(0), hp, env_params)
    run = jax.jit(trainer.run_chunk, static_argnums=3)
    t = time.perf_counter()
    runner, _ = jax.block_until_ready(run(runner, hp, env_params, ppo.num_updates))
    first = time.perf_counter() - t
    timing = timed(lambda: jax.block_until_ready(run(runner, hp, env_params, ppo.num_updates)), repeats)
    steps = ppo.num_updates * ppo.batch_size
    flops = network_flops_per_env_step(network, runner.train_state.params, runner.obs, ppo.update_epochs)
    rate = steps / timing["median_s"]
    target_tflops = flops * 100_000 / 1e12
    row = {"params": count_params(runner.train_state.params), "agent": vars(agent), "ppo": vars(ppo),
           "first_call_s": first, "run": timing, "env_steps_per_run": steps, "env_steps_per_s": rate,
           "env_steps_per_s_min_max": [steps / timing["max_s"], steps / timing["min_s"]],
           "network_flops_per_env_step": flops, "achieved_network_tflops": flops * rate / 1e12,
           "tflops_for_100k_env_steps_per_s": target_tflops,
           "share_of_h100_bf16_peak_for_100k": target_tflops / H100_BF16_DENSE_TFLOPS}
    print(f"{name:<6} {row['params']:>9,} params, {ppo.num_envs} envs x {ppo.rollout_len} steps x "
          f"{ppo.num_updates} updates: {rate:,.0f} env steps/s (first call {first:.1f} s); "
          f"{flops / 1e6:,.1f} MFLOP per env step = {row['achieved_network_tflops']:.3f} TFLOP/s; "
          f"100k env steps/s needs {target_tflops:.1f} TFLOP/s "
          f"({100 * row['share_of_h100_bf16_peak_for_100k']:.0f} % of an H100's bf16 peak)")
    return row


def sb3_bench(env_params, num_envs: int, rollout: int, updates: int, repeats: int) -> dict:
    """Env steps/s of Stable-Baselines3 PPO (host-side PyTorch loop) on `TradingVectorEnv` (`num_envs`)."""
    import gymnasium
    import numpy as np
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecEnv

    from jaxtrade.env.gym_adapter import TradingVectorEnv

    class SB3VecEnv(VecEnv):
        """SB3's VecEnv protocol over the Gymnasium vector adapter (same-step auto-reset)."""

        def __init__(self, venv: TradingVectorEnv):
            self.venv = venv
            super().__init__(venv.num_envs, venv.single_observation_space, venv.single_action_space)

        def reset(self):
            return self.venv.reset(seed=0)[0]

        def step_async(self, actions):
            self._actions = actions

        def step_wait(self):
            obs, reward, terminated, truncated, info = self.venv.step(self._actions)
            done = terminated | truncated
            infos = [{} for _ in range(self.num_envs)]
            for i in np.flatnonzero(done):  # what SB3 reads to bootstrap truncated episodes
                infos[i] = {"terminal_observation": {k: v[i] for k, v in info["final_obs"].items()},
                            "TimeLimit.truncated": bool(truncated[i] and not terminated[i])}
            return obs, reward.astype(np.float32), done, infos

        def close(self):
            pass

        def get_attr(self, name, indices=None):
            return [getattr(self.venv, name)] * self.num_envs

        def set_attr(self, name, value, indices=None):
            setattr(self.venv, name, value)

        def env_method(self, name, *args, indices=None, **kwargs):
            return [None] * self.num_envs

        def env_is_wrapped(self, wrapper_class, indices=None):
            return [False] * self.num_envs

    del gymnasium
    venv = SB3VecEnv(TradingVectorEnv(env_params, num_envs))
    model = PPO("MultiInputPolicy", venv, n_steps=rollout, batch_size=num_envs * rollout // 4, n_epochs=4,
                learning_rate=3e-4, device="cpu", seed=0, verbose=0)
    steps = updates * num_envs * rollout
    model.learn(total_timesteps=num_envs * rollout)  # warm-up: the env's jit compiles, torch allocates
    timing = timed(lambda: model.learn(total_timesteps=steps, reset_num_timesteps=False), repeats)
    params = sum(p.numel() for p in model.policy.parameters())
    row = {"params": int(params), "torch_threads": torch.get_num_threads(), "num_envs": num_envs,
           "rollout_len": rollout, "run": timing, "env_steps_per_run": steps,
           "env_steps_per_s": steps / timing["median_s"],
           "env_steps_per_s_min_max": [steps / timing["max_s"], steps / timing["min_s"]]}
    print(f"sb3    {params:>9,} params, {num_envs} envs x {rollout} steps x {updates} updates: "
          f"{row['env_steps_per_s']:,.0f} env steps/s (PyTorch {torch.__version__}, {row['torch_threads']} threads)")
    return row


def network_flops_per_env_step(network, params, obs, update_epochs: int) -> float:
    """2 forward passes (rollout) + update_epochs forward-and-backward passes per env step, by XLA's count."""
    batch = obs.technical.shape[0]
    forward = compiled_flops(network.apply, params, obs) / batch

    def outputs_sum(p):
        logits, value = network.apply(p, obs)
        return logits.sum() + value.sum()

    forward_backward = compiled_flops(jax.grad(outputs_sum), params) / batch
    return 2 * forward + update_epochs * forward_backward


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    on_cpu = device_info()["platform"] == "cpu"
    parser.add_argument("--mlp-envs", type=int, default=128)
    parser.add_argument("--tiny-envs", type=int, default=256)
    parser.add_argument("--full-envs", type=int, default=64 if on_cpu else 4096)
    parser.add_argument("--rollout", type=int, default=64)
    parser.add_argument("--updates", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--sb3", action="store_true", help="also time Stable-Baselines3 PPO (optional extra)")
    parser.add_argument("--sb3-envs", type=int, default=64)
    parser.add_argument("--sb3-updates", type=int, default=4)
    parser.add_argument("--skip-full", action="store_true", help="leave out the full transformer")
    args = parser.parse_args()

    data = load_sample("stocks_daily")
    env = TradingEnv()
    env_params = make_params(data, compute_features(data), EnvConfig())
    common = dict(rollout_len=args.rollout, num_updates=args.updates, update_epochs=4, num_minibatches=4)
    results = {"data": "stocks_daily", "models": {}}
    results["models"]["mlp"] = bench("mlp", MLP, PPOConfig(num_envs=args.mlp_envs, **common), env, env_params,
                                     args.repeats)
    results["models"]["tiny"] = bench("tiny", TINY, PPOConfig(num_envs=args.tiny_envs, **common), env,
                                      env_params, args.repeats)
    if not args.skip_full:
        full_dtype = "float32" if on_cpu else "bfloat16"
        results["models"]["full"] = bench("full", AgentConfig(dtype=full_dtype),
                                          PPOConfig(num_envs=args.full_envs, **common), env, env_params,
                                          args.repeats)
    if args.sb3:
        same = dict(common, num_updates=args.sb3_updates)
        ours = bench("mlp@sb3", MLP, PPOConfig(num_envs=args.sb3_envs, **same), env, env_params, args.repeats)
        theirs = sb3_bench(env_params, args.sb3_envs, args.rollout, args.sb3_updates, args.repeats)
        ratio = ours["env_steps_per_s"] / theirs["env_steps_per_s"]
        results["sb3_comparison"] = {"jaxtrade_mlp": ours, "sb3_ppo": theirs, "ratio": ratio}
        print(f"jaxtrade MLP PPO / SB3 PPO, same env and batch shape: {ratio:.1f}x")
    print("wrote", write_results("ppo_throughput_sb3" if args.sb3 else "ppo_throughput", results))


if __name__ == "__main__":
    main()
