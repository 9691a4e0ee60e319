"""PPO training throughput: env steps per second of rollout + GAE + update: MLP, tiny and full models.

Builds the env on the bundled daily stocks and runs `Trainer.run_chunk` (the
jitted, fully on-device loop) for a few updates per model, timing the second
call (the first compiles). Env steps/s = updates x num_envs x rollout_len /
seconds. The MLP is the quickstart's network (64-64 tanh torso, 64-wide heads) at
the quickstart's batch (`--mlp-envs`, default 128 x 64 steps). The full model's batch is scaled to the device (`--full-envs`); the
issue's target is >= 100,000 env steps/s for it on an H100. Writes
benchmarks/results/ppo_throughput_<platform>.json.

Also reports the network's FLOPs per env step as XLA counts them: two forward
passes in the rollout (the next observation and the final observation for
truncation bootstraps) plus a forward and backward pass in each of the
update_epochs epochs (environment and optimiser arithmetic are negligible beside
it), and what 100,000 env steps/s would take as a share of an H100's bfloat16 peak.

    python benchmarks/ppo_throughput.py [--full-envs 4096] [--tiny-envs 256] [--updates 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jax

sys.path.insert(0, str(Path(__file__).parent))
from common import H100_BF16_DENSE_TFLOPS, compiled_flops, device_info, timed, write_results  # noqa: E402

from jaxtrade.agents import ActorCritic, AgentConfig, TransformerConfig, count_params  # noqa: E402
from jaxtrade.data.samples import load_sample  # noqa: E402
from jaxtrade.env import EnvConfig, TradingEnv, make_params  # noqa: E402
from jaxtrade.features import compute_features  # noqa: E402
from jaxtrade.train import PPOConfig, PPOHyperparams, make_train  # noqa: E402

TINY = TransformerConfig(num_layers=1, d_model=32, num_heads=2, mlp_dim=64, head_dim=32)
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
           "network_flops_per_env_step": flops, "achieved_network_tflops": flops * rate / 1e12,
           "tflops_for_100k_env_steps_per_s": target_tflops,
           "share_of_h100_bf16_peak_for_100k": target_tflops / H100_BF16_DENSE_TFLOPS}
    print(f"{name:<6} {row['params']:>9,} params, {ppo.num_envs} envs x {ppo.rollout_len} steps x "
          f"{ppo.num_updates} updates: {rate:,.0f} env steps/s (first call {first:.1f} s); "
          f"{flops / 1e6:,.1f} MFLOP per env step = {row['achieved_network_tflops']:.3f} TFLOP/s; "
          f"100k env steps/s needs {target_tflops:.1f} TFLOP/s "
          f"({100 * row['share_of_h100_bf16_peak_for_100k']:.0f} % of an H100's bf16 peak)")
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
    full_dtype = "float32" if on_cpu else "bfloat16"
    results["models"]["full"] = bench("full", TransformerConfig(dtype=full_dtype),
                                      PPOConfig(num_envs=args.full_envs, **common), env, env_params, args.repeats)
    print("wrote", write_results("ppo_throughput", results))


if __name__ == "__main__":
    main()
